"""The gate: the one place that decides whether a run's model may be published.

A model may be published when it beats every baseline in its manifest AND, when there is a champion,
beats the champion on the SAME held-out test rows (the champion's bundle is scored on this run's test split,
less the rows the champion was fitted on: another version of the data splits differently, and a champion scored
on its own training rows looked unbeatable): macro-F1 higher by at least gate.min_delta, and no class's F1 lower
by more than gate.max_class_drop. Either way, only a model scored on at least gate.min_test_rows test rows.

The model_training stage records the verdict in the manifest (`judge`); `tweetops publish` acts on it;
`tweetops gate --bundle` fails a job whose model does not even beat its baselines (`check_bundle`).
`supervised_only` is the same classifier fitted without pseudo-labels; when the ablation did not use
pseudo-labels it IS the model, so it is recorded as the model itself rather than as a rival.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from tweetops.catalog import Catalog
from tweetops.errors import TweetopsError
from tweetops.io.files import write_json
from tweetops.logs import timed
from tweetops.model import LABELS, predicted_labels
from tweetops.model.bundle import OlderBundle, load_bundle, text_digests, trained_on
from tweetops.model.fast_path import fast_predict_proba
from tweetops.release import render
from tweetops.release.evaluation import evaluate
from tweetops.release.registry import open_registry
from tweetops.settings import GateParams, Params

log = logging.getLogger("tweetops.gate")
METRIC = "macro_f1"
MIN_DUEL_ROWS = 30  # fewer test rows unseen by the champion, with every label among them, compare nothing


class GateFailed(TweetopsError):
    """The model does not beat every baseline; the message names the ones it did not beat."""


def against_baselines(manifest: dict) -> dict:
    """The model's score and one row per baseline: beaten, its margin, or why it is not a rival."""
    try:
        score = float(manifest["metrics"][METRIC])
        baselines = {name: float(b[METRIC]) for name, b in manifest["baselines"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise TweetopsError(f"the manifest has no metrics.{METRIC} or baselines.*.{METRIC}; retrain the model.")
    if not baselines:
        raise TweetopsError("the manifest lists no baselines, so the gate has nothing to compare against.")
    same_model = not render.pseudo_labels_used(manifest)
    rows = []
    for name, value in sorted(baselines.items()):
        if name == "supervised_only" and same_model:
            rows.append({"baseline": name, METRIC: value, "beaten": None,
                         "note": "the model itself (pseudo-labels were not used), not a rival"})
        else:
            rows.append({"baseline": name, METRIC: value, "beaten": score > value, "margin": score - value})
    failed = [r["baseline"] for r in rows if r["beaten"] is False]
    decision = {"run_id": manifest.get("run_id"), "metric": METRIC, "model": score, "passed": not failed,
                "failed": failed, "baselines": rows}
    decision["sentence"] = render.baselines_sentence(decision)
    return decision


def against_champion(metrics: dict, champion_metrics: dict, params: GateParams,
                     where: str = "this run's test split") -> dict:
    """The champion rule on two evaluate() results from the same test rows (`where` names them)."""
    score, best = float(metrics[METRIC]), float(champion_metrics[METRIC])
    delta = score - best
    drops = {label: float(champion_metrics["per_class"][label]["f1"] - metrics["per_class"][label]["f1"])
             for label in champion_metrics["per_class"]}
    reasons = [f"macro-F1 {score:.4f} vs champion {best:.4f} on {where}: {delta:+.4f} "
               f"({'meets' if delta >= params.min_delta else 'below'} the required +{params.min_delta:.4f})"]
    too_far = {label: drop for label, drop in drops.items() if drop > params.max_class_drop}
    reasons += [f"F1 {label} drops by {drop:.4f}, more than max_class_drop {params.max_class_drop:.4f}"
                for label, drop in sorted(too_far.items())]
    return {"passed": delta >= params.min_delta and not too_far, "champion_macro_f1": best, "delta": delta,
            "class_f1_drop": drops, "reasons": reasons}


def verdict(manifest: dict, params: GateParams, champion: dict | None = None, champion_metrics: dict | None = None,
            unscored: str | None = None, duel: dict | None = None) -> dict:
    """Publish or not, with every reason. `champion` identifies the champion the model was compared with
    ({registry, version, run_id, digest, name}); None when there is none. `unscored` says why the champion
    could not be scored when there is one: then the baselines alone decide, and the verdict says why. `duel`
    (score_champion's) holds the challenger's metrics on the rows both were scored on when those are not the
    whole test split."""
    first = against_baselines(manifest)
    rule = {"min_delta": params.min_delta, "max_class_drop": params.max_class_drop,
            "min_test_rows": params.min_test_rows}
    out = {"challenger": manifest.get("run_id"), "challenger_macro_f1": first["model"], "baselines": first,
           "champion": champion["name"] if champion else None, "champion_id": champion, "champion_macro_f1": None,
           "delta": None, "class_f1_drop": {}, **rule}
    if champion_metrics is None:
        reasons = [f"the champion {champion['name']} could not be scored ({unscored}), so the baselines alone "
                   "decided"] if champion else []
        out.update(promote=first["passed"], against="baselines", reasons=[*reasons, first["sentence"]])
    else:
        duel = duel or {}
        rows = {k: duel[k] for k in ("duel_rows", "champion_trained_on") if k in duel}
        decided = against_champion(duel.get("challenger", manifest["metrics"]), champion_metrics, params,
                                   duel.get("where", "this run's test split"))
        out.update(decided, **rows, promote=first["passed"] and decided.pop("passed"), against="champion",
                   reasons=([] if first["passed"] else [first["sentence"]]) + decided["reasons"])
    rows = scored_rows(manifest)
    out["test_rows"] = rows
    if rows is not None and rows < params.min_test_rows:  # a score on a handful of rows is luck, not a verdict
        out["promote"] = False
        out["reasons"].insert(0, f"its test split holds {rows:,} rows, fewer than the {params.min_test_rows:,} a "
                                 "score needs to mean something (gate.min_test_rows); train on more labelled tweets")
    out["sentence"] = render.verdict_sentence(out)
    return out


def scored_rows(manifest: dict) -> int | None:
    """How many test rows the model was scored on (None for a manifest that does not say)."""
    try:
        return int(sum(c["support"] for c in manifest["metrics"]["per_class"].values()))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def score_champion(bundle: Path, test: pd.DataFrame, predicted: np.ndarray) -> dict:
    """Both models' metrics on THIS run's test rows that the champion was not fitted on (all of them for a bundle
    made before it kept its training texts): {"champion", "challenger", "where", "duel_rows",
    "champion_trained_on"}; `predicted` is the challenger's labels for every test row."""
    model = load_bundle(bundle).model
    if tuple(model.classes_) != LABELS:
        raise TweetopsError(f"the champion at {bundle} predicts {list(model.classes_)}, not {list(LABELS)}.")
    seen = trained_on(bundle)
    unseen = np.ones(len(test), bool) if seen is None else ~np.isin(text_digests(test["text"]), seen)
    where = ("this run's test split" if unseen.all() else
             f"the {unseen.sum():,} of this run's {len(test):,} test rows the champion was not trained on")
    rows, truth = test[unseen], test["label"].to_numpy(object)[unseen]
    out = {"where": where, "duel_rows": int(unseen.sum()), "champion_trained_on": int((~unseen).sum())}
    if len(rows) < MIN_DUEL_ROWS or set(truth) != set(LABELS):
        return out
    # The serving fast path: the same probabilities as the Pipeline's, in a fraction of the time.
    champion = predicted_labels(fast_predict_proba(model, rows["text"].tolist()))
    return {**out, "champion": evaluate(truth, champion), "challenger": evaluate(truth, np.asarray(predicted)[unseen])}


def judge(params: Params, catalog: Catalog, manifest: dict, test: pd.DataFrame, predicted: np.ndarray) -> dict:
    """The verdict on a freshly trained model (`predicted`: its labels for the test rows), against the champion its
    registry names now."""
    store = open_registry(params.tracking, catalog)
    with store.guard():
        current = store.champion()
        bundle = store.fetch(current) if current else None
    champion = scores = unscored = duel = None
    if current is not None:
        champion = {**current.identity(), "name": current.label}
        try:
            with timed(log, f"scored the champion (version {current.label}) on this run's test split"):
                duel = score_champion(bundle, test, predicted)
            scores = duel.get("champion")
            if scores is None:  # the baselines decide, and the verdict says why
                unscored = (f"it was trained on {duel['champion_trained_on']:,} of this run's {len(test):,} test "
                            f"rows, so the {duel['duel_rows']:,} left are too few to compare on (at least "
                            f"{MIN_DUEL_ROWS}, with every label)")
        except OlderBundle as exc:  # made before this format or before signing: the baselines decide, said so
            unscored = str(exc)
            log.warning("the champion cannot be scored (%s); judging against the baselines alone", exc)
        except TweetopsError as exc:  # tampered with or missing: no verdict is made without the champion
            raise TweetopsError(f"the champion {current.label} does not verify, so this run cannot be judged "
                                f"against it ({str(exc).rstrip('.')}); restore it or roll it back (`tweetops registry "
                                "rollback`), then run model_training again.") from None
    decision = verdict(manifest, params.gate, champion, scores, unscored, duel)
    decision["registry"] = store.where
    log.info("gate: %s", decision["sentence"])
    return decision


def check_bundle(bundle: str | Path, output: str | Path | None = None) -> dict:
    """`tweetops gate`: the verdict sealed in the bundle's verified manifest (written to `output` when
    given); GateFailed when the model does not beat its baselines, so the job stops there. The model is loaded,
    so a bundle that verifies but does not unpickle is refused here, not promoted."""
    manifest = load_bundle(Path(bundle)).manifest
    decision = manifest.get("gate")
    if not isinstance(decision, dict) or "baselines" not in decision:
        raise TweetopsError(f"{bundle} holds no gate verdict; retrain it with `tweetops run`.")
    if output:
        write_json(output, decision)
    if not decision["baselines"]["passed"]:
        raise GateFailed(decision["baselines"]["sentence"].removeprefix("gate failed: "))
    return decision
