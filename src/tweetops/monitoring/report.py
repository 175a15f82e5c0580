"""drift.json (for machines) and drift.html (for people: one file, its plots embedded as base64 PNG)."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from tweetops.io.files import write_json, write_text
from tweetops.model import LABELS

VERDICT_TEXT = {"drift": "DRIFT: the current traffic differs from what the model was trained and evaluated on",
                "no_drift": "No drift: the current traffic looks like the training reference",
                "not_enough_data": "Not enough data: too few texts to judge, so no verdict is guessed"}


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(ref: dict, cur: dict) -> list[tuple[str, str]]:
    """(title, base64 PNG) for the predicted labels, the confidence and the text lengths."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    from matplotlib import pyplot as plt

    out = []
    figure, axis = plt.subplots(figsize=(5, 3))
    x = np.arange(len(LABELS))
    for offset, (side, name) in zip((-0.2, 0.2), ((ref, "reference"), (cur, "current"))):
        shares = np.bincount(side["proba"].argmax(axis=1), minlength=len(LABELS)) / max(side["n"], 1)
        axis.bar(x + offset, shares, width=0.4, label=name)
    axis.set_xticks(x, LABELS)
    axis.set_ylabel("share of texts")
    axis.legend()
    out.append(("Predicted labels", _png(figure)))
    plt.close(figure)
    for title, values, bins in (("Confidence (highest class probability)", lambda s: s["proba"].max(axis=1),
                                 np.linspace(1 / len(LABELS), 1, 21)),
                                ("Text length (characters)", lambda s: s["lengths"], 30)):
        figure, axis = plt.subplots(figsize=(5, 3))
        axis.hist([values(ref), values(cur)], bins=bins, density=True, label=["reference", "current"])
        axis.legend()
        axis.set_ylabel("density")
        out.append((title, _png(figure)))
        plt.close(figure)
    return out


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return "" if value is None else str(value)


def _what_drifted(found: dict | None) -> str:
    """The words that moved most (share of texts holding each) and the texts least like the reference."""
    if not found:
        return ""
    e = html.escape
    parts = []
    for side, title in (("rising", "Words more common now"), ("falling", "Words less common now")):
        rows = "".join(f"<tr><td>{e(w['word'])}</td><td>{w['reference']:.1%}</td><td>{w['current']:.1%}</td></tr>"
                       for w in found["words"][side])
        if rows:
            parts.append(f"<table class='words' id='{side}'><caption>{title}</caption><tr><th>word</th>"
                         f"<th>reference texts</th><th>current texts</th></tr>{rows}</table>")
    items = "".join(f"<li>{e(x['text'])}</li>" for x in found["unlike_reference"])
    if items:
        parts.append("<h3>Current texts least like the reference</h3><p>As the domain classifier scores them, "
                     f"most unlike first.</p><ol id='unlike'>{items}</ol>")
    return "<h2>What drifted</h2>\n" + "\n".join(parts) if parts else ""


def render_html(result: dict, figures: list[tuple[str, str]]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr class='{'fired' if c['drift'] else ''}'><td>{e(c['name'])}</td><td>{e(c['sentence'])}</td>"
        f"<td>{e(_fmt(c['value']))}</td><td>{e(_fmt(c['threshold']))}</td><td>{'drift' if c['drift'] else 'ok'}</td>"
        f"<td>{e(_fmt(c['reference']))}</td><td>{e(_fmt(c['current']))}</td></tr>" for c in result["checks"])
    table = ("<table><tr><th>check</th><th>in words</th><th>value</th><th>threshold</th><th>result</th>"
             f"<th>reference</th><th>current</th></tr>{rows}</table>") if rows else ""
    images = "".join(f"<figure><img alt='{e(t)}' src='data:image/png;base64,{b}'><figcaption>{e(t)}</figcaption>"
                     "</figure>" for t, b in figures)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tweetops drift report {e(result['created_at'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .6em;text-align:left}}
tr.fired{{background:#fdd}}table.words{{display:inline-table;margin:0 1em 1em 0}}
.verdict{{font-size:1.3em;font-weight:bold}}figure{{display:inline-block;margin:.5em}}</style>
</head><body>
<h1>Drift report</h1>
<p class="verdict" id="verdict">{e(VERDICT_TEXT[result['verdict']])}</p>
<p>{e(result['created_at'])}: {result['current_rows']:,} current texts from {e(result['source'])} against
{result['reference_rows']:,} reference texts of model {e(result['model']['version'])}.</p>
<p id="rows-used">Rows: {e(result['rows_used'])}.</p>
{table}
{_what_drifted(result.get('what_drifted'))}
{images}
</body></html>
"""


def write(folder: Path, result: dict, ref: dict | None = None, cur: dict | None = None) -> dict[str, Path]:
    folder = Path(folder)
    figures = plots(ref, cur) if ref is not None and cur is not None else []
    return {"json": write_json(folder / "drift.json", result),
            "html": write_text(folder / "drift.html", render_html(result, figures))}
