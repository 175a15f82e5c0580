"""The one inference core: find and load a verified bundle, validate texts, predict.

The HTTP API, SageMaker's /invocations and batch-predict all call this module, so they
cannot disagree.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
from sklearn.pipeline import Pipeline

from tweetops.artifacts import Bundle, is_bundle, load_bundle
from tweetops.config import LABELS
from tweetops.errors import TweetopsError
from tweetops.fast_path import CompiledModel, compile_model, walk

SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")
# Where the Docker image bakes its bundle: outside /opt/ml/model, which SageMaker mounts read-only.
BAKED_MODEL_DIR = Path("/opt/tweetops/model")
DEFAULT_MAX_CHARS = 1000
MAX_BATCH = 1000  # texts per request (/predict/batch, /invocations)
# Written beside a bundle fetched from the registry: which registered version it is (not part of the hashes).
REGISTRY_FILE = "registry.json"


class InputError(TweetopsError):
    """A text the model cannot take; the message says what to fix."""


def resolve_model_dir(explicit: str | Path | None = None) -> Path:
    """MODEL_DIR, else MODEL_URI (models:/NAME@ALIAS or models:/NAME/VERSION, fetched from MLflow),
    else /opt/ml/model when it holds a bundle, else the baked bundle, else models/latest."""
    chosen = explicit or os.environ.get("MODEL_DIR")
    if chosen:
        return Path(chosen)
    if os.environ.get("MODEL_URI"):
        from tweetops.registry import fetch_registry_model  # imports MLflow: only when a registry is asked for

        return fetch_registry_model(os.environ["MODEL_URI"])
    for candidate in (SAGEMAKER_MODEL_DIR, BAKED_MODEL_DIR):
        if is_bundle(candidate):
            return candidate
    return Path("models") / "latest"


def max_chars() -> int:
    return int(os.environ.get("TWEETOPS_MAX_CHARS", DEFAULT_MAX_CHARS))


def validate_text(text, limit: int | None = None) -> str:
    """The text itself, or an InputError saying what is wrong with it."""
    limit = limit or max_chars()
    if not isinstance(text, str):
        raise InputError(f"text must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise InputError("text is empty; send the tweet's words.")
    if len(text) > limit:
        raise InputError(f"text has {len(text):,} characters; the limit is {limit:,}.")
    return text


def validate_batch(texts, limit: int | None = None, max_items: int = MAX_BATCH) -> list[str]:
    """The texts themselves, or an InputError naming the first bad one by its index."""
    if not isinstance(texts, list):
        raise InputError(f"texts must be a list of strings, got {type(texts).__name__}.")
    if not texts:
        raise InputError("texts is empty; send at least one text.")
    if len(texts) > max_items:
        raise InputError(f"texts has {len(texts):,} items; the limit is {max_items:,} per request, so split it.")
    for i, text in enumerate(texts):
        try:
            validate_text(text, limit)
        except InputError as exc:
            raise InputError(f"texts[{i}]: {exc}") from None
    return texts


def fast_predict_proba(model: Pipeline, texts: list[str]) -> np.ndarray:
    """model.predict_proba(texts), bit for bit, without scikit-learn's per-call overhead.

    Measured on one text: Pipeline + FeatureUnion spend most of their time in input validation,
    joblib dispatch and output wrapping, not in the model. The trained bundle's shape runs through
    tweetops.fast_path (its exact arithmetic on raw arrays); any other Pipeline has its steps walked
    directly with validation of the already-validated internal arrays switched off.
    tests/model/test_inference.py and tests/model/test_fast_path.py check both equal
    model.predict_proba exactly.
    """
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        compiled = compiled_model(model)
        if compiled is not None:
            return compiled.predict_proba(texts)
        X = texts
        for _, step in model.steps[:-1]:
            X = walk(step, X)
        return model.steps[-1][1].predict_proba(X)


_COMPILED: dict[int, tuple] = {}


def compiled_model(model: Pipeline) -> CompiledModel | None:
    """The model's fast path, compiled once per loaded model (None: the generic path)."""
    entry = _COMPILED.get(id(model))
    if entry is None or entry[0] is not model:  # an id can be reused once a model is garbage-collected
        entry = _COMPILED[id(model)] = (model, compile_model(model))
    return entry[1]


@dataclass
class Predictor:
    bundle: Bundle

    @property
    def version(self) -> str:
        return self.bundle.version

    @property
    def registry(self) -> dict | None:
        """{name, version, alias, uri} when the bundle came from the model registry (MODEL_URI), else None."""
        source = self.bundle.path / REGISTRY_FILE
        return json.loads(source.read_text(encoding="utf-8")) if source.is_file() else None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.bundle.model.classes_)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return fast_predict_proba(self.bundle.model, list(texts))

    def predict(self, texts: list[str]) -> list[dict]:
        """One {label, probabilities} per text, in order."""
        if not texts:
            return []
        proba = self.predict_proba(texts)
        labels = self.labels
        best = proba.argmax(axis=1)
        return [{"label": labels[b], "probabilities": {label: float(p) for label, p in zip(labels, row)}}
                for b, row in zip(best, proba)]


def load_predictor(path: str | Path | None = None) -> Predictor:
    bundle = load_bundle(resolve_model_dir(path))
    if tuple(bundle.model.classes_) != LABELS:
        raise TweetopsError(f"the model at {bundle.path} predicts {list(bundle.model.classes_)}, not {list(LABELS)}.")
    return Predictor(bundle)
