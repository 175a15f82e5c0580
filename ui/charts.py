"""Altair charts for the UI (Altair ships with Streamlit). Fixed colours per label, so every page agrees."""
from __future__ import annotations

import altair as alt
import pandas as pd

LABEL_COLOURS = {"negative": "#d62728", "neutral": "#7f7f7f", "positive": "#2ca02c"}


def _label_scale(labels) -> alt.Scale:
    known = [label for label in LABEL_COLOURS if label in set(labels)] or list(LABEL_COLOURS)
    return alt.Scale(domain=known, range=[LABEL_COLOURS[label] for label in known])


def probabilities(probs: dict[str, float]) -> alt.LayerChart:
    """One horizontal bar per class with its probability written beside it."""
    data = pd.DataFrame({"label": list(probs), "probability": list(probs.values())})
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("label:N", sort=list(LABEL_COLOURS), title=None, axis=alt.Axis(labelOverlap=False)),
        color=alt.Color("label:N", scale=_label_scale(probs), legend=None),
        tooltip=["label", alt.Tooltip("probability:Q", format=".1%")],
    )
    text = bars.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".1%"),
                                                     color=alt.value("#31333f"))
    return (bars + text).properties(height=alt.Step(36), title="Probability of each class")


def comparison(table: pd.DataFrame, score: str) -> alt.LayerChart:
    """One bar per model (this one first), its score written beside it, names in full."""
    data = table[["model", score]].rename(columns={score: "score"})
    bars = alt.Chart(data).mark_bar(color="#4c78a8").encode(
        x=alt.X("score:Q", scale=alt.Scale(domain=[0, 1]), title=score),
        y=alt.Y("model:N", sort=data["model"].tolist(), title=None, axis=alt.Axis(labelLimit=0)),
        tooltip=["model", alt.Tooltip("score:Q", format=".3f")],
    )
    text = bars.mark_text(align="left", dx=4, color="#31333f").encode(text=alt.Text("score:Q", format=".3f"))
    return (bars + text).properties(height=alt.Step(36), title="Balanced score: higher is better")


def label_counts(table: pd.DataFrame) -> alt.Chart:
    """How many texts got each label."""
    counts = table["label"].value_counts().rename_axis("label").reset_index(name="texts")
    return alt.Chart(counts).mark_bar().encode(
        x=alt.X("label:N", sort=list(LABEL_COLOURS), title=None, axis=alt.Axis(labelAngle=0)), y="texts:Q",
        color=alt.Color("label:N", scale=_label_scale(counts["label"]), legend=None), tooltip=["label", "texts"],
    ).properties(title="Labels", height=260)


def confidence(table: pd.DataFrame) -> alt.Chart:
    """How sure the model was: the top probability of each text, in 5% bins, stacked by label."""
    return alt.Chart(table[["label", "confidence"]]).mark_bar().encode(
        x=alt.X("confidence:Q", bin=alt.Bin(extent=[0.3, 1.0], step=0.05), axis=alt.Axis(format="%"),
                title="confidence (top probability)"),
        y=alt.Y("count():Q", title="texts"),
        color=alt.Color("label:N", scale=_label_scale(table["label"])),
    ).properties(title="Confidence", height=260)


def time_bucket(table: pd.DataFrame) -> tuple[str, str]:
    """(pandas frequency, label format): seconds, minutes, hours or days, whichever suits the time span."""
    span = table["created_at"].max() - table["created_at"].min()
    if span <= pd.Timedelta(minutes=5):
        return "s", "%H:%M:%S"
    if span <= pd.Timedelta(hours=3):
        return "min", "%H:%M"
    if span <= pd.Timedelta(days=4):
        return "h", "%m-%d %H:00"
    return "D", "%Y-%m-%d"


def labels_over_time(table: pd.DataFrame) -> alt.Chart:
    """Predictions per time bucket in the table's time zone, stacked by label; buckets are counted here so labels
    read plainly. Buckets start on the zone's wall clock (a day is that zone's day)."""
    freq, fmt = time_bucket(table)
    zone = str(table["created_at"].dt.tz or "UTC")
    wall_clock = table["created_at"].dt.tz_localize(None)  # no ambiguous hour to floor on a clock change
    counts = (table.assign(start=wall_clock.dt.floor(freq)).groupby(["start", "label"]).size()
              .reset_index(name="predictions"))
    counts["time"] = counts["start"].dt.strftime(fmt)
    order = counts.drop_duplicates("start").sort_values("start")["time"].tolist()
    return alt.Chart(counts[["time", "label", "predictions"]]).mark_bar().encode(
        x=alt.X("time:O", sort=order, title=f"time ({zone})", axis=alt.Axis(labelAngle=0, labelOverlap=True)),
        y=alt.Y("predictions:Q", stack="zero"),
        color=alt.Color("label:N", scale=_label_scale(counts["label"])),
        tooltip=["time", "label", "predictions"],
    ).properties(title="Labels over time", height=280)
