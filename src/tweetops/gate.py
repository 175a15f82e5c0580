"""The promotion gate: may this run's model (the challenger) replace the champion?

`challenge` is the rule the pipeline applies: with a champion, both are scored on the SAME held-out
test split and the challenger wins only when its macro-F1 is higher by at least gate.min_delta and
no class's F1 drops by more than gate.max_class_drop; without one, the first model must beat every
baseline in its manifest (`decide`).

`tweetops gate --bundle models/<run_id>` checks a bundle against its baselines alone: it reads only
the verified manifest, writes its decision as JSON and exits non-zero with one sentence when the
model does not beat them all.

`supervised_only` is the same classifier fitted without pseudo-labels; when the ablation did not use
pseudo-labels it IS the model, so it is recorded as the model itself rather than as a rival.
"""
from __future__ import annotations

import os
from pathlib import Path

from tweetops.artifacts import verify_bundle
from tweetops.config import GateParams
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


def challenge(manifest: dict, champion_metrics: dict | None, params: GateParams,
              champion: str | None = None) -> dict:
    """The champion/challenger decision; both metrics dicts come from evaluate() on the same test split."""
    rule = {"min_delta": params.min_delta, "max_class_drop": params.max_class_drop}
    score = float(manifest["metrics"][METRIC])
    if champion_metrics is None:
        first = decide(manifest)
        return {"promote": first["passed"], "against": "baselines", "challenger": manifest.get("run_id"),
                "champion": None, "challenger_macro_f1": score, "champion_macro_f1": None, "delta": None,
                "class_f1_drop": {}, **rule, "reasons": [sentence(first)],
                "sentence": ("promoted: no champion yet and the model beats every baseline" if first["passed"]
                             else "not promoted: no champion yet and the model does not beat every baseline")}
    best = float(champion_metrics[METRIC])
    delta = score - best
    drops = {label: float(champion_metrics["per_class"][label]["f1"] - manifest["metrics"]["per_class"][label]["f1"])
             for label in champion_metrics["per_class"]}
    reasons = [f"macro-F1 {score:.4f} vs champion {best:.4f} on this run's test split: {delta:+.4f} "
               f"({'meets' if delta >= params.min_delta else 'below'} the required +{params.min_delta:.4f})"]
    too_far = {label: drop for label, drop in drops.items() if drop > params.max_class_drop}
    reasons += [f"F1 {label} drops by {drop:.4f}, more than max_class_drop {params.max_class_drop:.4f}"
                for label, drop in sorted(too_far.items())]
    promote = delta >= params.min_delta and not too_far
    return {"promote": promote, "against": "champion", "challenger": manifest.get("run_id"), "champion": champion,
            "challenger_macro_f1": score, "champion_macro_f1": best, "delta": delta, "class_f1_drop": drops,
            **rule, "reasons": reasons,
            "sentence": f"{'promoted' if promote else 'not promoted'}: " + "; ".join(reasons)}


def default_output(run_id: str) -> Path:
    return Path(os.environ.get("TWEETOPS_HOME", ".")) / "reports" / str(run_id) / "gate.json"


def run(bundle: str | Path, output: str | Path | None = None) -> dict:
    """Decide, write the decision JSON, and raise GateFailed when the model must not be promoted."""
    manifest = verify_bundle(Path(bundle))
    decision = decide(manifest)
    decision["bundle"] = str(bundle)
    decision["sentence"] = sentence(decision)
    # The pipeline's champion/challenger decision, when training made one: it alone moves `champion`.
    decision["challenge"] = manifest.get("gate")
    decision["promote"] = bool(decision["challenge"]["promote"] if decision["challenge"] else decision["passed"])
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
    if decision["challenge"]:
        print(f"champion/challenger: {decision['challenge']['sentence']}")
    print(f"decision: {decision['output']}")
    return 0


def main(argv=None) -> int:
    import sys

    from tweetops.cli import main as cli_main

    return cli_main(["gate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
