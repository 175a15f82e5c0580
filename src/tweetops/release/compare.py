"""`tweetops report compare BASE HEAD`: a pull request's model metrics against its base branch's, in Markdown.

BASE and HEAD are bundle folders (models/<run_id>), their manifest.json, or a run's metrics.json. The
report has the metric table with deltas, HEAD's confusion matrix (with its change from BASE) and the
gate's verdict as it would be with BASE's model as the champion. It starts with MARKER, so a workflow
can find and update its own comment.
"""
from __future__ import annotations

import json
from pathlib import Path

from tweetops.errors import TweetopsError
from tweetops.model import LABELS
from tweetops.model.bundle import MANIFEST_FILE
from tweetops.release import gate, render
from tweetops.settings import GateParams

MARKER = "<!-- tweetops-metrics -->"


def load_run(path: str | Path) -> dict:
    """The metrics of one run from a bundle folder, a manifest.json or a metrics.json.

    Read as plain JSON, whatever the bundle's format: the base branch may be older code."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise TweetopsError(f"{path} not found; give a bundle folder (models/<run_id>), its {MANIFEST_FILE} "
                            "or a run's metrics.json.")
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise TweetopsError(f"{path} is not valid JSON; give a manifest.json or a metrics.json.")
    if not isinstance(run, dict) or not {"metrics", "baselines"} <= set(run):
        raise TweetopsError(f"{path} has no metrics and baselines; give a manifest.json or a metrics.json.")
    return run


def _change(base: float | None, head: float) -> str:
    return "" if base is None else f"{head - base:+.4f}"


def _metric_rows(base: dict, head: dict) -> list[str]:
    rows = [("macro-F1", lambda r: r["metrics"]["macro_f1"]), ("accuracy", lambda r: r["metrics"]["accuracy"])]
    rows += [(f"F1 {label}", lambda r, label=label: r["metrics"]["per_class"][label]["f1"]) for label in LABELS]
    rows += [(f"{render.name(key)} macro-F1", lambda r, key=key: r["baselines"][key]["macro_f1"])
             for key in head["baselines"]]
    cells = []
    for title, get in rows:
        try:
            old = get(base)
        except KeyError:  # a metric the base branch did not compute yet
            old = None
        cells.append([title, render.score(old), render.score(get(head)), _change(old, get(head))])
    used = [("yes" if render.pseudo_labels_used(r) else "no") for r in (base, head)]
    cells.append(["pseudo-labels used", *used, ""])
    return render.table(["metric", "base", "this PR", "change"], cells)


def _verdict(base: dict, head: dict) -> list[str]:
    params = GateParams(**(head.get("params", {}).get("gate") or {}))
    champion = {"registry": "base branch", "version": "base", "run_id": base.get("run_id"), "digest": None,
                "name": f"base {base.get('run_id')}"}
    as_champion = gate.verdict(head, params, champion, base["metrics"])
    return [f"- against this PR's baselines: {gate.against_baselines(head)['sentence']}",
            f"- with the base branch's model as champion: {as_champion['sentence']}"]


def _provenance(base: dict, head: dict) -> list[str]:
    def describe(run: dict) -> str:
        return f"run `{run.get('run_id')}`, commit `{str(run.get('git_commit', 'unknown'))[:12]}`"

    lines = [f"This PR: {describe(head)}. Base: {describe(base)}."]
    # A manifest records the data's sha256 and the split; a metrics.json neither.
    recorded = [((r.get("data") or {}).get("sha256"), (r.get("params") or {}).get("split")) for r in (base, head)]
    unknown = [side for side, pair in zip(("base", "this PR"), recorded) if None in pair]
    if unknown:
        lines.append(f"**Note:** {' and '.join(unknown)} recorded no data or split (a metrics.json never does), so "
                     "whether both were scored on the same test rows is not known; give bundles or manifests.")
    elif recorded[0] != recorded[1]:
        lines.append("**Note:** the two runs used different data or split parameters, so their test rows "
                     "differ and the changes compare different test sets.")
    return lines


def render_report(base: dict, head: dict) -> str:
    lines = [MARKER, "## Model metrics: this PR against its base branch", "", *_provenance(base, head), "",
             "### Test-split metrics", "", *_metric_rows(base, head), "",
             "### Confusion matrix of this PR (change against base in brackets)", "",
             *render.confusion_table(head["metrics"]["confusion_matrix"], base["metrics"].get("confusion_matrix")),
             "",
             "### Gate verdict, as it would be", "", *_verdict(base, head)]
    return "\n".join(lines) + "\n"


def compare(base_path: str | Path, head_path: str | Path) -> str:
    return render_report(load_run(base_path), load_run(head_path))
