"""`tweetops report compare BASE HEAD`: a pull request's model metrics against its base branch's, in Markdown.

BASE and HEAD are bundle folders (models/<run_id>), their manifest.json, or a run's metrics.json. The
report has the metric table with deltas, HEAD's confusion matrix (with its change from BASE) and the
gate's verdict as it would be: against HEAD's baselines (gate.decide) and with BASE's model as the
champion (gate.challenge). It starts with MARKER, so a workflow can find and update its own comment.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from tweetops import gate, pr_comment
from tweetops.artifacts import MANIFEST_FILE, load_manifest
from tweetops.config import LABELS, GateParams
from tweetops.errors import TweetopsError
from tweetops.io import write_text

MARKER = "<!-- tweetops-metrics -->"


def load_run(path: str | Path) -> dict:
    """The metrics of one run from a bundle folder, a manifest.json or a metrics.json."""
    path = Path(path)
    if path.is_dir():
        return load_manifest(path)
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


def _delta(base: float | None, head: float) -> str:
    return "" if base is None else f"{head - base:+.4f}"


def _metric_rows(base: dict, head: dict) -> list[str]:
    rows = [("macro-F1", lambda r: r["metrics"]["macro_f1"]), ("accuracy", lambda r: r["metrics"]["accuracy"])]
    rows += [(f"F1 {label}", lambda r, label=label: r["metrics"]["per_class"][label]["f1"]) for label in LABELS]
    rows += [(f"baseline {name.replace('_', ' ')} macro-F1", lambda r, name=name: r["baselines"][name]["macro_f1"])
             for name in head["baselines"]]
    lines = ["| metric | base | this PR | change |", "|---|---:|---:|---:|"]
    for name, get in rows:
        try:
            old = get(base)
        except KeyError:  # a metric the base branch did not compute yet
            old = None
        new = get(head)
        lines.append(f"| {name} | {'n/a' if old is None else f'{old:.4f}'} | {new:.4f} | {_delta(old, new)} |")
    used = [("yes" if r.get("ablation", {}).get("used") else "no") for r in (base, head)]
    lines.append(f"| pseudo-labels used | {used[0]} | {used[1]} | |")
    return lines


def _confusion(base: dict, head: dict) -> list[str]:
    new, old = head["metrics"]["confusion_matrix"], base["metrics"].get("confusion_matrix")
    lines = ["| true \\ predicted | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * len(LABELS)]
    for i, (label, row) in enumerate(zip(LABELS, new)):
        cells = [str(n) if old is None else f"{n} ({n - old[i][j]:+d})" for j, n in enumerate(row)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _verdict(base: dict, head: dict) -> list[str]:
    params = GateParams(**(head.get("params", {}).get("gate") or {}))
    against_baselines = gate.sentence(gate.decide(head))
    as_champion = gate.challenge(head, base["metrics"], params, champion=f"base {base.get('run_id')}")
    return [f"- against this PR's baselines: {against_baselines}",
            f"- with the base branch's model as champion: {as_champion['sentence']}"]


def _provenance(base: dict, head: dict) -> list[str]:
    def describe(run: dict) -> str:
        return f"run `{run.get('run_id')}`, commit `{str(run.get('git_commit', 'unknown'))[:12]}`"

    lines = [f"This PR: {describe(head)}. Base: {describe(base)}."]
    data = [r.get("data", {}).get("sha256") for r in (base, head)]
    splits = [r.get("params", {}).get("split") for r in (base, head)]
    if data[0] != data[1] or splits[0] != splits[1]:
        lines.append("**Note:** the two runs used different data or split parameters, so their test rows "
                     "differ and the changes compare different test sets.")
    return lines


def render(base: dict, head: dict) -> str:
    lines = [MARKER, "## Model metrics: this PR against its base branch", "", *_provenance(base, head), "",
             "### Test-split metrics", "", *_metric_rows(base, head), "",
             "### Confusion matrix of this PR (change against base in brackets)", "", *_confusion(base, head), "",
             "### Gate verdict, as it would be", "", *_verdict(base, head)]
    return "\n".join(lines) + "\n"


def compare(base_path: str | Path, head_path: str | Path) -> str:
    return render(load_run(base_path), load_run(head_path))


def add_parser(sub) -> None:
    report = sub.add_parser("report", help="reports about runs").add_subparsers(dest="report", required=True)
    p = report.add_parser("compare", help="Markdown: HEAD's metrics against BASE's, with deltas and the gate")
    p.add_argument("base", help="the base run: a bundle folder, its manifest.json or a metrics.json")
    p.add_argument("head", help="the new run: a bundle folder, its manifest.json or a metrics.json")
    p.add_argument("--output", default=None, help="write the Markdown here instead of stdout")
    p.set_defaults(func=_cmd_compare)
    p = report.add_parser("comment", help="post a report on a pull request, updating its earlier comment in place")
    p.add_argument("body", help="the Markdown file (from `tweetops report compare --output`)")
    p.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"),
                   help="owner/name (default: GITHUB_REPOSITORY)")
    p.add_argument("--pr", type=int, required=True, help="the pull request's number")
    p.set_defaults(func=_cmd_comment)


def _cmd_compare(args) -> int:
    text = compare(args.base, args.head)
    if args.output:
        write_text(args.output, text)
    else:
        print(text, end="")
    return 0


def _cmd_comment(args) -> int:
    if not args.repo:
        raise TweetopsError("no repository: pass --repo owner/name or set GITHUB_REPOSITORY.")
    try:
        body = Path(args.body).read_text(encoding="utf-8")
    except OSError:
        raise TweetopsError(f"{args.body} not found; write it first with `tweetops report compare --output`.")
    done = pr_comment.upsert(args.repo, args.pr, body, MARKER)
    print(f"{done['action']} comment {done['id']} on {args.repo}#{args.pr}")
    return 0
