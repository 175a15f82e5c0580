#!/usr/bin/env python3
"""Markdown for the retrain workflow's job summary: metrics against baselines, the gate, the image.

    scripts/retrain_summary.py models/<run_id> >> "$GITHUB_STEP_SUMMARY"

Standard library only and never fails the job: a missing file is reported in the summary itself.
Reads PUSH_STATUS, GITHUB_SHA and RUN_ID from the environment when set.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _read(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def summary(bundle: Path) -> str:
    run_id = bundle.name
    manifest = _read(bundle / "manifest.json")
    lines = [f"## tweetops retrain: run {run_id}", ""]
    if manifest is None:
        lines += [f"No model bundle at `{bundle}`: a stage failed before training finished; "
                  "the failed step's log names the stage and the reason.", ""]
    else:
        metrics, baselines = manifest["metrics"], manifest["baselines"]
        data, split = manifest.get("data", {}), manifest.get("params", {}).get("split", {})
        rows, sha = data.get("rows", 0), str(data.get("sha256"))[:12]
        lines += [f"- data: `{data.get('source')}` ({rows:,} rows, sha256 `{sha}`)",
                  f"- labeled fraction: {split.get('labeled_fraction')}; pseudo-labels used: "
                  f"{manifest.get('ablation', {}).get('used')}",
                  f"- commit: `{manifest.get('git_commit')}`", "",
                  "| model | macro-F1 | accuracy | model's margin |", "|---|---:|---:|---:|",
                  f"| **this run** | **{metrics['macro_f1']:.4f}** | **{metrics['accuracy']:.4f}** | |"]
        for name, b in sorted(baselines.items()):
            lines.append(f"| {name} | {b['macro_f1']:.4f} | {b['accuracy']:.4f} | "
                         f"{metrics['macro_f1'] - b['macro_f1']:+.4f} |")
        lines.append("")
    gate = _read(Path("reports") / run_id / "gate.json")
    if gate:
        lines.append(f"**Gate: {'passed' if gate['passed'] else 'FAILED'}**: {gate.get('sentence', '')}")
    else:
        lines.append("**Gate: not reached.**")
    challenge = (manifest or {}).get("gate")
    if challenge:
        lines += ["", f"**Champion/challenger: {'PROMOTED' if challenge['promote'] else 'not promoted'}** "
                      f"(against {challenge['champion'] or 'the baselines: no champion yet'}; "
                      f"registry: {challenge.get('registry', 'unknown')})",
                  *[f"- {reason}" for reason in challenge["reasons"]]]
    sha = os.environ.get("GITHUB_SHA", "unknown")
    champion_tag = ", `tweetops:champion`" if os.environ.get("PROMOTED") == "true" else ""
    lines += ["", f"Image tags: `tweetops:{run_id}`, `tweetops:{sha}`{champion_tag}",
              f"Registry: {os.environ.get('PUSH_STATUS', 'unknown')}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    print(summary(Path(sys.argv[1])))
