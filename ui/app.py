"""The tweetops web UI: classify a tweet or a file, browse the prediction history, read about the model.

Talks to the API over HTTP only (API_URL, TWEETOPS_API_KEY), so it works against a local or a deployed
server. Run: streamlit run ui/app.py (or `make ui`, which starts the API too).
"""
from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

import pandas as pd
import streamlit as st

# `streamlit run ui/app.py` puts only ui/ on sys.path; the modules import each other as the `ui` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ui import charts  # noqa: E402
from ui.client import ApiError, Client  # noqa: E402
from ui.tables import FileError, as_csv, history_table, read_upload, results_table, text_columns, texts_in  # noqa: E402

LABELS = ("negative", "neutral", "positive")
TIME_RANGES = {"Last hour": datetime.timedelta(hours=1), "Last 24 hours": datetime.timedelta(days=1),
               "Last 7 days": datetime.timedelta(days=7), "Last 30 days": datetime.timedelta(days=30),
               "All time": None, "Custom dates": None}


def client() -> Client:
    return Client.from_env()


def predict_page() -> None:
    st.title("Classify a tweet")
    with st.form("predict"):
        text = st.text_area("Tweet", height=120, placeholder="Paste or type a tweet, e.g. I love my new phone :)")
        submitted = st.form_submit_button("Classify", type="primary")
    if not submitted:
        return
    if not text.strip():
        st.warning("Type or paste a tweet first.")
        return
    try:
        result = client().predict(text)
    except ApiError as exc:
        st.error(str(exc))
        return
    probs = result["probabilities"]
    left, right = st.columns([1, 2])
    left.metric("Label", result["label"])
    left.metric("Confidence", f"{probs[result['label']]:.1%}")
    right.altair_chart(charts.probabilities(probs), width="stretch")
    st.caption(f"Model version {result['model_version']} · request {result['request_id']}")


def file_page() -> None:
    st.title("Classify a file")
    st.write("Upload a CSV or JSON lines file with one tweet per row, pick the column holding the text, "
             "and download the labels.")
    upload = st.file_uploader("CSV or JSON lines file", type=["csv", "tsv", "txt", "jsonl", "ndjson", "json"])
    if upload is None:
        return
    try:
        frame = read_upload(upload.name, upload.getvalue())
        columns = text_columns(frame, upload.name)
    except FileError as exc:
        st.error(str(exc))
        return
    column = st.selectbox("Text column", columns)
    st.caption(f"{upload.name}: {len(frame):,} rows, {len(frame.columns)} columns")
    st.dataframe(frame.head(5), hide_index=True)
    key = (upload.file_id, column)
    if st.button(f"Classify {len(frame):,} rows", type="primary"):
        st.session_state["file_results"] = (key, *_classify(frame, column))
    stored = st.session_state.get("file_results")
    if stored and stored[0] == key and stored[1] is not None:
        _show_file_results(upload.name, *stored[1:])


def _classify(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame | None, list[int]]:
    texts, rows, blank = texts_in(frame, column)
    if not texts:
        st.error(f"The column {column} is blank in every row; pick the column holding the tweets.")
        return None, blank
    bar = st.progress(0.0, text=f"Classifying {len(texts):,} texts…")
    try:
        result = client().predict_batch(
            texts, progress=lambda done, total: bar.progress(done / total, text=f"{done:,} of {total:,} texts"))
    except ApiError as exc:
        bar.empty()
        st.error(f"Row {rows[exc.index]}: {exc}" if exc.index is not None else str(exc))
        return None, blank
    bar.empty()
    return results_table(texts, rows, result.predictions, result.model_version), blank


def _show_file_results(name: str, table: pd.DataFrame, blank: list[int]) -> None:
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (" …" if len(blank) > 10 else "")
        several = len(blank) > 1
        st.info(f"{len(blank):,} row{'s' * several} had no text and {'were' if several else 'was'} not classified "
                f"(row{'s' * several} {shown}).")
    st.success(f"Classified {len(table):,} texts with model {table['model_version'].iat[0]}.")
    left, right = st.columns(2)
    left.altair_chart(charts.label_counts(table), width="stretch")
    right.altair_chart(charts.confidence(table), width="stretch")
    st.dataframe(table, hide_index=True)
    st.download_button("Download results (CSV)", as_csv(table), file_name=f"{Path(name).stem}-predictions.csv",
                       mime="text/csv", on_click="ignore")


def history_page() -> None:
    st.title("Prediction history")
    left, middle, right = st.columns(3)
    label = left.selectbox("Label", ("All", *LABELS))
    span = middle.selectbox("Time range", list(TIME_RANGES), index=1)
    most = right.selectbox("Most recent", (100, 1000, 5000), index=1)
    since, until = _window(span)
    if since is not None and until is not None and since >= until:
        st.error("The start date must be before the end date.")
        return
    try:
        items, total = client().recent_predictions(
            most, label=None if label == "All" else label, since=since and since.isoformat(),
            until=until and until.isoformat())
    except ApiError as exc:
        st.error(str(exc))
        return
    if not items:
        st.info("No predictions match these filters yet; classify a tweet or widen the time range.")
        return
    table = history_table(items)
    st.caption(f"Showing the {len(items):,} most recent of {total:,} matching predictions.")
    st.altair_chart(charts.labels_over_time(table), width="stretch")
    st.dataframe(table, hide_index=True)
    st.download_button("Download history (CSV)", as_csv(table), file_name="predictions-history.csv",
                       mime="text/csv", on_click="ignore")


def _window(span: str) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """(since, until) in UTC for the chosen range; custom dates are whole UTC days, end date included."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if span != "Custom dates":
        length = TIME_RANGES[span]
        return (now - length if length else None), None
    today = now.date()
    chosen = st.date_input("Dates (UTC)", (today - datetime.timedelta(days=7), today))
    if len(chosen) != 2:
        return None, None  # the second date is still being picked
    start, end = (datetime.datetime.combine(day, datetime.time(), datetime.timezone.utc) for day in chosen)
    return start, end + datetime.timedelta(days=1)


def model_page() -> None:
    st.title("The model")
    try:
        manifest = client().model()
    except ApiError as exc:
        st.error(str(exc))
        return
    metrics = manifest.get("metrics", {})
    cols = st.columns([2, 1, 1])
    cols[0].metric("Version", manifest.get("run_id", "unknown"))
    cols[1].metric("Macro-F1", _number(metrics.get("macro_f1")))
    cols[2].metric("Accuracy", _number(metrics.get("accuracy")))
    commit = str(manifest.get("git_commit") or "unknown")[:12]
    st.caption(f"{manifest.get('model_name', 'model')} trained {manifest.get('created_at', 'at an unknown time')} "
               f"from commit {commit} on {manifest.get('data', {}).get('rows', '?')} rows.")
    _champion_status(manifest.get("served") or {}, manifest.get("gate") or {})
    st.subheader("Against baselines (held-out test set)")
    comparison = _comparison(metrics, manifest.get("baselines", {}))
    st.table(comparison.set_index("model").style.format("{:.3f}", na_rep="n/a"))
    st.bar_chart(comparison, x="model", y="macro_f1", horizontal=True, height=220)
    st.subheader("Model card")
    card = manifest.get("model_card")
    if card:
        with st.container(border=True):
            st.markdown(_demote_headings(card))
    else:
        st.info("No model card in this bundle.")


def _champion_status(served: dict, gate: dict) -> None:
    """Whether the API serves the published champion, in one sentence, with where the model came from."""
    source = served.get("source", "an unknown source")
    if served.get("champion") is True:
        st.success(f"This is the published champion: it passed every gate before it was released ({source}).")
    elif served.get("champion") is False:
        st.warning(f"This is not the published champion: the API serves {source}.")
    else:
        st.info(f"The API serves {source}; whether it is still the champion is the registry's to say.")
    if gate.get("sentence"):
        st.caption(f"Gate verdict when it was trained: {gate['sentence']}")


def _comparison(metrics: dict, baselines: dict) -> pd.DataFrame:
    rows = []
    for name, values in {"this model": metrics, **baselines}.items():
        row = {"model": name, "macro_f1": values.get("macro_f1"), "accuracy": values.get("accuracy")}
        for label, scores in values.get("per_class", {}).items():
            row[f"f1_{label}"] = scores.get("f1")
        rows.append(row)
    return pd.DataFrame(rows)


def _demote_headings(markdown: str) -> str:
    """Two levels down, so the card's own title sits under the page's headings instead of dwarfing them."""
    return re.sub(r"^(#{1,4}) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", markdown, flags=re.MULTILINE)


def _number(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "n/a"


def sidebar() -> None:
    api = client()
    st.sidebar.caption(f"API: {api.url}")
    try:
        health = api.health()
    except ApiError as exc:
        st.sidebar.error(str(exc))
        return
    champion = {True: " · the champion", False: " · not the champion"}.get(health.get("champion"), "")
    st.sidebar.success(f"Connected · model {health.get('model_version')}{champion}")


st.set_page_config(page_title="tweetops", page_icon=":speech_balloon:", layout="wide")
page = st.navigation([st.Page(predict_page, title="Classify a tweet", icon=":material/chat:", default=True),
                      st.Page(file_page, title="Classify a file", icon=":material/upload_file:", url_path="file"),
                      st.Page(history_page, title="History", icon=":material/history:", url_path="history"),
                      st.Page(model_page, title="Model", icon=":material/model_training:", url_path="model")])
sidebar()
page.run()
