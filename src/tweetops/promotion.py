"""The end of a training run: score the champion on this run's test split, decide, log, register, promote.

`challenge` runs before the bundle is written so the decision lands in the manifest and the reports;
`publish` runs after it: MLflow logging and registration (tracking on) and the champion move.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from tweetops import gate, tracking
from tweetops.artifacts import load_bundle
from tweetops.config import LABELS, Config
from tweetops.errors import TweetopsError
from tweetops.evaluation import evaluate
from tweetops.inference import fast_predict_proba
from tweetops.logs import timed
from tweetops.registry import open_registry

log = logging.getLogger("tweetops.promotion")


def champion_metrics(bundle: Path, test: pd.DataFrame) -> dict:
    """The champion bundle's metrics on THIS run's test split, so both models face the same rows."""
    model = load_bundle(bundle).model
    if tuple(model.classes_) != LABELS:
        raise TweetopsError(f"the champion at {bundle} predicts {list(model.classes_)}, not {list(LABELS)}.")
    # The serving fast path: the same probabilities as the Pipeline's, in a fraction of the time.
    predicted = np.array(LABELS, dtype=object)[fast_predict_proba(model, test["text"].tolist()).argmax(axis=1)]
    return evaluate(test["label"].to_numpy(object), predicted)


def challenge(config: Config, manifest: dict, test: pd.DataFrame) -> dict:
    store = open_registry(config)
    with store.guard():
        current = store.champion()
        bundle = store.bundle_of(current) if current else None
    scores = name = None
    if current is not None:
        name = current.version if current.version == current.run_id else f"{current.version} (run {current.run_id})"
        with timed(log, f"scored the champion (version {name}) on this run's test split"):
            scores = champion_metrics(bundle, test)
    decision = gate.challenge(manifest, scores, config.params.gate, name)
    decision["registry"] = store.where
    log.info("gate: %s", decision["sentence"])
    return decision


def publish(config: Config, manifest: dict, bundle: Path, reports: Path) -> dict:
    """Log and register the run (tracking on), mark it challenger, and promote it when the gate said so."""
    target = tracking.tracking_for(config, quiet=True)  # challenge() has said already when tracking is off
    store = open_registry(config, quiet=True)
    logged = None
    if target is not None:
        with timed(log, "logged the run and its model to MLflow"):
            logged = tracking.log_run(target, manifest, bundle, reports)
    decision = manifest["gate"]
    with store.guard():
        version = store.register(manifest, logged)
        if decision["promote"]:
            store.promote(version.version, decision["sentence"])
    if decision["promote"]:
        log.info("version %s (run %s) is the new champion", version.version, manifest["run_id"])
    else:
        log.info("version %s (run %s) stays challenger; the champion is unchanged", version.version,
                 manifest["run_id"])
    return {"registry": store.where, "version": version.version, "promoted": decision["promote"],
            "mlflow_run_id": (logged or {}).get("mlflow_run_id")}
