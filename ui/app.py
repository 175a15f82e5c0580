"""The tweetops web UI: classify a tweet or a file, browse the prediction history, read about the model.

Talks to the API over HTTP only (API_URL, TWEETOPS_API_KEY), so it works against a local or a deployed
server. Run: `make ui` (it starts the API too), or `streamlit run ui/app.py` with the options
scripts/run_ui.sh passes: --client.disableDataExport true turns off each table's own "Download as CSV",
which writes texts a spreadsheet runs as formulas; the page's download buttons write them safely (as_csv).
"""
from __future__ import annotations

import datetime
import re
import sys
import zoneinfo
from pathlib import Path

import pandas as pd
import streamlit as st

# `streamlit run ui/app.py` puts only ui/ on sys.path; the modules import each other as the `ui` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ui import charts  # noqa: E402
from ui.client import ApiError, Client  # noqa: E402
from ui.tables import (CSV_SUFFIXES, DOWNLOAD_NOTE, JSON_SUFFIXES, FileError, as_csv, history_table,  # noqa: E402
                       read_upload, results_table, text_columns, texts_in)
from ui.wording import (SCORE_MEANING, SCORE_NAME, comparison_sentences, model_name, split_card,  # noqa: E402
                        status_label, version_label)

LABELS = ("negative", "neutral", "positive")
REFUSALS_SHOWN = 10  # a file's refused rows named in the page, each with the API's sentence
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
    st.caption(f"Model of {version_label(result['model_version'])} · request {result['request_id']}")


def file_page() -> None:
    st.title("Classify a file")
    st.write("Upload a CSV, TSV or JSON lines file with one tweet per row (or a text file with one tweet per "
             "line), pick the column holding the text, and download the labels.")
    upload = st.file_uploader("CSV, TSV, JSON lines, or text with one tweet per line",
                              type=[suffix.lstrip(".") for suffix in CSV_SUFFIXES + JSON_SUFFIXES])
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


def _classify(frame: pd.DataFrame, column: str) -> tuple[pd.DataFrame | None, list[int], list[str]]:
    """(the results table, the rows with no text, a sentence for each row the API refused)."""
    try:
        api = client()
    except ApiError as exc:
        st.error(str(exc))
        return None, [], []
    texts, rows, blank = texts_in(frame, column, api.text_rule())
    if not texts:
        st.error(f"The column {column} is blank in every row; pick the column holding the tweets.")
        return None, blank, []
    bar = st.progress(0.0, text=f"Classifying {len(texts):,} texts…")
    try:
        result = api.predict_batch(
            texts, progress=lambda done, total: bar.progress(done / total, text=f"{done:,} of {total:,} texts"))
    except ApiError as exc:
        bar.empty()
        st.error("\n\n".join(map(str, exc.each())))  # a refusal of the request, each of its sentences
        return None, blank, []
    bar.empty()
    refused = [f"Row {rows[i]}: {sentence}" for i, sentence in sorted(result.refused)]
    if not result.accepted:
        st.error("\n\n".join(["The API refused every text; nothing was classified.", *refused[:REFUSALS_SHOWN]]))
        return None, blank, refused
    return results_table(frame, [rows[i] for i in result.accepted], result.predictions,
                         result.model_version), blank, refused


def _show_file_results(name: str, table: pd.DataFrame, blank: list[int], refused: list[str]) -> None:
    if blank:
        shown = ", ".join(map(str, blank[:10])) + (" …" if len(blank) > 10 else "")
        several = len(blank) > 1
        st.info(f"{len(blank):,} row{'s' * several} had no text and {'were' if several else 'was'} not classified "
                f"(row{'s' * several} {shown}).")
    if refused:
        several = len(refused) > 1
        head = (f"{len(refused):,} row{'s' * several} the API refused {'were' if several else 'was'} not classified; "
                f"fix {'them' if several else 'it'} and classify the file again:")
        more = [f"… and {len(refused) - REFUSALS_SHOWN:,} more."] if len(refused) > REFUSALS_SHOWN else []
        st.warning("\n\n".join([head, *refused[:REFUSALS_SHOWN], *more]))
    st.success(f"Classified {len(table):,} texts with the model of {version_label(table['model_version'].iat[0])}.")
    left, right = st.columns(2)
    left.altair_chart(charts.label_counts(table), width="stretch")
    right.altair_chart(charts.confidence(table), width="stretch")
    st.dataframe(table, hide_index=True)
    st.download_button("Download results (CSV)", as_csv(table), file_name=f"{Path(name).stem}-predictions.csv",
                       mime="text/csv", on_click="ignore", help=DOWNLOAD_NOTE)


def history_page() -> None:
    st.title("Prediction history")
    left, middle, right = st.columns(3)
    label = left.selectbox("Label", ("All", *LABELS))
    span = middle.selectbox("Time range", list(TIME_RANGES), index=1)
    most = right.selectbox("Most recent", (100, 1000, 5000), index=1)
    zone = browser_zone()
    since, until = _window(span, zone)
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
    table = history_table(items, zone)
    newest = table["created_at"].iat[0]
    where = (f"{zone}, your browser's time zone" if zone == st.context.timezone
             else "UTC (your browser did not say its time zone)")
    st.caption(f"Showing the {len(items):,} most recent of {total:,} matching predictions. Times are in {where}; "
               f"the newest is {newest.day} {newest:%b %Y, %H:%M:%S}.")
    st.altair_chart(charts.labels_over_time(table), width="stretch")
    st.dataframe(table, hide_index=True)
    st.download_button("Download history (CSV)", as_csv(table), file_name="predictions-history.csv",
                       mime="text/csv", on_click="ignore", help=DOWNLOAD_NOTE)


def browser_zone() -> str:
    """The browser's IANA time zone (Streamlit runs on the server; the browser reports its zone), else UTC."""
    zone = st.context.timezone
    try:
        zoneinfo.ZoneInfo(zone)
    except (TypeError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return "UTC"
    return zone


def _window(span: str, zone: str) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """(since, until) for the chosen range; custom dates are whole days in `zone`, end date included."""
    if span != "Custom dates":  # an elapsed length: counted in UTC, so a clock change in `zone` cannot bend it
        length = TIME_RANGES[span]
        return (datetime.datetime.now(datetime.timezone.utc) - length if length else None), None
    today = datetime.datetime.now(zoneinfo.ZoneInfo(zone)).date()
    chosen = st.date_input(f"Dates ({zone})", (today - datetime.timedelta(days=7), today))
    if len(chosen) != 2:
        return None, None  # the second date is still being picked
    start, end = (datetime.datetime.combine(day, datetime.time(), zoneinfo.ZoneInfo(zone)) for day in chosen)
    return start, end + datetime.timedelta(days=1)


def model_page() -> None:
    st.title("The model")
    try:
        manifest = client().model()
    except ApiError as exc:
        st.error(str(exc))
        return
    metrics, served = manifest.get("metrics", {}), manifest.get("served") or {}
    cols = st.columns(2) + st.columns(4)  # the version and status in full, then the scores
    cols[0].metric("Version (trained)", version_label(manifest.get("run_id", "unknown")))
    cols[1].metric("Status", status_label(served.get("champion")))
    cols[2].metric("Balanced score", _number(metrics.get("macro_f1")), help=SCORE_MEANING)
    accuracy = metrics.get("accuracy")
    cols[3].metric("Correct", f"{accuracy:.1%}" if isinstance(accuracy, (int, float)) else "n/a",
                   help="The share of held-out test tweets it labels as people did.")
    _champion_status(served.get("champion"))
    st.subheader("How it compares")
    rows = sum(scores.get("support", 0) for scores in metrics.get("per_class", {}).values())
    st.write(f"This model and each comparison were scored on the same {f'{rows:,} ' if rows else ''}test tweets, "
             f"which the model never saw in training. {SCORE_MEANING}")
    st.markdown("\n".join(f"- {sentence}" for sentence in comparison_sentences(manifest)))
    comparison = _comparison(metrics, manifest.get("baselines", {}))
    st.altair_chart(charts.comparison(comparison, SCORE_NAME), width="stretch")
    st.table(comparison.set_index("model").style.format("{:.3f}", na_rep="n/a"))
    st.subheader("Model card")
    plain, technical = split_card(manifest.get("model_card") or "")
    if plain:
        with st.container(border=True):
            st.markdown(_demote_headings(plain))
    else:
        st.info("No model card in this bundle.")
    with st.expander("Technical details: file hashes, paths and versions"):
        st.markdown(f"- run id `{manifest.get('run_id', 'unknown')}`, trained {manifest.get('created_at', '?')} "
                    f"from git commit `{manifest.get('git_commit') or 'unknown'}`\n"
                    f"- served from {served.get('source', 'an unknown source')}\n"
                    f"- bundle digest (sha256) `{served.get('digest', 'unknown')}`")
        if technical:
            st.markdown(_demote_headings(technical))


def _champion_status(champion: bool | None) -> None:
    """Whether the API serves the published champion, in one sentence."""
    if champion is True:
        st.success("This model is in production: it is the published champion, which passed every check before "
                   "it was released.")
    elif champion is False:
        st.warning("This model is a candidate, not the published champion: the API serves another model than the "
                   "one in production.")
    else:
        st.info("Whether this model is the one in production is not known here: it was built into the API's "
                "image, and the model registry says which model is the champion.")


def _comparison(metrics: dict, baselines: dict) -> pd.DataFrame:
    rows = []
    for name, values in {"this model": metrics, **baselines}.items():
        row = {"model": model_name(name), SCORE_NAME: values.get("macro_f1"), "accuracy": values.get("accuracy")}
        for label, scores in values.get("per_class", {}).items():
            row[f"F1 {label}"] = scores.get("f1")
        rows.append(row)
    return pd.DataFrame(rows)


def _demote_headings(markdown: str) -> str:
    """Two levels down, so the card's own title sits under the page's headings instead of dwarfing them."""
    return re.sub(r"^(#{1,4}) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", markdown, flags=re.MULTILINE)


def _number(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "n/a"


def sidebar() -> None:
    try:
        api = client()
        st.sidebar.caption(f"API: {api.url}")
        health = api.health()
    except ApiError as exc:
        st.sidebar.error(str(exc))
        return
    st.sidebar.success(f"Connected · model of {version_label(health.get('model_version'))} · "
                       f"{status_label(health.get('champion'))}")


st.set_page_config(page_title="tweetops", page_icon=":speech_balloon:", layout="wide")
page = st.navigation([st.Page(predict_page, title="Classify a tweet", icon=":material/chat:", default=True),
                      st.Page(file_page, title="Classify a file", icon=":material/upload_file:", url_path="file"),
                      st.Page(history_page, title="History", icon=":material/history:", url_path="history"),
                      st.Page(model_page, title="Model", icon=":material/model_training:", url_path="model")])
sidebar()
page.run()
