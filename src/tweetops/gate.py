"""`tweetops gate --bundle models/<run_id>`: does the new model beat every baseline in its manifest?

The interim promotion gate (the champion/challenger comparison comes later). It reads only the
verified manifest, compares test macro-F1 with each baseline's, writes its decision as JSON and
exits non-zero with one sentence when the model does not beat them all.

`supervised_only` is the same classifier fitted without pseudo-labels; when the ablation did not use
pseudo-labels it IS the model, so it is recorded as the model itself rather than as a rival.
"""
from __future__ import annotations

import os
from pathlib import Path

from tweetops.artifacts import verify_bundle
from tweetops.errors import TweetopsError
from tweetops.io import write_json

METRIC = "macro_f1"


class GateFailed(TweetopsError):
    """The model does not beat every baseline; the message names the ones it did not beat."""


def decide(manifest: dict) -> dict:
    """The gate's decision for one manifest: passed, the model's score and one row per baseline."""
    try:
        score = float(manifest["metrics"][METRIC])
        baselines = {name: float(b[METRIC]) for name, b in manifest["baselines"].items()}
    except (KeyError, TypeError, ValueError):
        raise TweetopsError(f"the manifest has no metrics.{METRIC} or baselines.*.{METRIC}; retrain the model.")
    if not baselines:
        raise TweetopsError("the manifest lists no baselines, so the gate has nothing to compare against.")
    same_model = not manifest.get("ablation", {}).get("used", False)
    rows = []
    for name, value in sorted(baselines.items()):
        if name == "supervised_only" and same_model:
            rows.append({"baseline": name, METRIC: value, "beaten": None,
                         "note": "the model itself (pseudo-labels were not used), not a rival"})
        else:
            rows.append({"baseline": name, METRIC: value, "beaten": score > value, "margin": score - value})
    failed = [r["baseline"] for r in rows if r["beaten"] is False]
    return {"run_id": manifest.get("run_id"), "metric": METRIC, "model": score, "passed": not failed,
            "failed": failed, "baselines": rows}


def sentence(decision: dict) -> str:
    score = decision["model"]
    if decision["passed"]:
        rivals = [r for r in decision["baselines"] if r["beaten"]]
        return (f"gate passed: run {decision['run_id']} macro-F1 {score:.4f} beats "
                + ", ".join(f"{r['baseline']} ({r[METRIC]:.4f})" for r in rivals) + ".")
    lost = [r for r in decision["baselines"] if r["beaten"] is False]
    return (f"gate failed: run {decision['run_id']} macro-F1 {score:.4f} does not beat "
            + ", ".join(f"{r['baseline']} ({r[METRIC]:.4f})" for r in lost)
            + "; do not promote this model (see the run's reports).")


def default_output(run_id: str) -> Path:
    return Path(os.environ.get("TWEETOPS_HOME", ".")) / "reports" / str(run_id) / "gate.json"


def run(bundle: str | Path, output: str | Path | None = None) -> dict:
    """Decide, write the decision JSON, and raise GateFailed when the model must not be promoted."""
    decision = decide(verify_bundle(Path(bundle)))
    decision["bundle"] = str(bundle)
    decision["sentence"] = sentence(decision)
    path = Path(output) if output else default_output(decision["run_id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, decision)
    decision["output"] = str(path)
    if not decision["passed"]:
        raise GateFailed(decision["sentence"].removeprefix("gate failed: ") + f" Decision: {path}")
    return decision


def add_parser(sub) -> None:
    p = sub.add_parser("gate", help="fail unless the model beats every baseline in its manifest")
    p.add_argument("--bundle", required=True, help="model bundle folder, e.g. models/<run_id>")
    p.add_argument("--output", default=None, help="decision JSON (default: reports/<run_id>/gate.json)")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (default: LOG_LEVEL or INFO)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    decision = run(args.bundle, args.output)
    print(decision["sentence"])
    print(f"decision: {decision['output']}")
    return 0


def main(argv=None) -> int:
    import sys

    from tweetops.cli import main as cli_main

    return cli_main(["gate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
