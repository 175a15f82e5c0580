"""Typed parameters from params.yaml, plus the paths every stage reads and writes.

An unknown key or a wrong type in params.yaml is a clear error, never a silent default.
Environment variables override what deployment needs to change (paths, data source, S3 endpoint).
"""
from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tweetops.errors import TweetopsError

LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class DataParams:
    source: str
    format: str = "auto"
    tsv_columns: list[str] = field(default_factory=lambda: ["id", "rating", "text"])
    s3_endpoint_url: str | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class LabelParams:
    negative_below: float = -0.5
    positive_above: float = 0.5
    rating_min: float = -4.0
    rating_max: float = 4.0


@dataclass(frozen=True)
class SplitParams:
    test_size: float = 0.2
    seed: int = 42
    labeled_fraction: float = 1.0


@dataclass(frozen=True)
class PreprocessingParams:
    replace_urls: bool = True
    replace_mentions: bool = True
    max_char_repeat: int = 2


@dataclass(frozen=True)
class FeatureParams:
    word_ngram_max: int = 2
    char_ngram_min: int = 2
    char_ngram_max: int = 5
    char_min_df: int = 2
    max_features: int = 200000
    lexicon: bool = True
    negation: bool = True
    fit_sample_rows: int = 200000


@dataclass(frozen=True)
class ClusteringParams:
    n_clusters: int = 24
    svd_components: int = 100
    min_confidence: float = 0.6
    seed: int = 42
    fit_sample_rows: int = 50000


@dataclass(frozen=True)
class TrainingParams:
    C: float = 2.0
    class_weight: str | None = "balanced"
    boundary_weights: bool = True
    max_iter: int = 3000
    validation_size: float = 0.2
    seed: int = 42


@dataclass(frozen=True)
class TrackingParams:
    enabled: bool = True
    experiment: str = "tweetops"
    registered_model: str = "tweet-sentiment"


@dataclass(frozen=True)
class GateParams:
    min_delta: float = 0.002
    max_class_drop: float = 0.02


@dataclass(frozen=True)
class HistoryIngestionParams:
    enabled: bool = False
    url: str | None = None
    max_rows: int = 50000


@dataclass(frozen=True)
class MonitoringParams:
    window_hours: float = 24.0
    max_rows: int = 5000
    min_samples: int = 200
    reference_rows: int = 2000
    domain_auc: float = 0.7
    psi: float = 0.2
    chi2_p: float = 0.01
    confidence_drop: float = 0.1
    oov_increase: float = 0.1
    length_ks: float = 0.3
    seed: int = 42


@dataclass(frozen=True)
class Params:
    data: DataParams
    labels: LabelParams = field(default_factory=LabelParams)
    split: SplitParams = field(default_factory=SplitParams)
    preprocessing: PreprocessingParams = field(default_factory=PreprocessingParams)
    features: FeatureParams = field(default_factory=FeatureParams)
    clustering: ClusteringParams = field(default_factory=ClusteringParams)
    training: TrainingParams = field(default_factory=TrainingParams)
    history_ingestion: HistoryIngestionParams = field(default_factory=HistoryIngestionParams)
    monitoring: MonitoringParams = field(default_factory=MonitoringParams)
    tracking: TrackingParams = field(default_factory=TrackingParams)
    gate: GateParams = field(default_factory=GateParams)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Paths:
    """Where each stage writes; everything lives under one project root."""

    root: Path

    @property
    def interim(self) -> Path:
        return self.root / "data" / "interim"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def features(self) -> Path:
        return self.root / "data" / "features"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def ingested(self) -> Path:
        return self.interim / "ingested.parquet"

    @property
    def ingestion_record(self) -> Path:
        return self.interim / "ingestion.json"


@dataclass(frozen=True)
class Config:
    params: Params
    paths: Paths


def _check_value(value, hint, where: str):
    """Return value converted to the annotated type, or raise a TweetopsError naming the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(value, inner[0], where)
    if origin is list:
        if not isinstance(value, list):
            raise TweetopsError(f"params: {where} must be a list, got {value!r}.")
        return [_check_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise TweetopsError(f"params: {where} must be true or false, got {value!r}.")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TweetopsError(f"params: {where} must be a number, got {value!r}.")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TweetopsError(f"params: {where} must be an integer, got {value!r}.")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise TweetopsError(f"params: {where} must be a string, got {value!r}.")
        return value
    raise TypeError(f"unsupported parameter type {hint!r}")  # a programming error, not a user one


def _build(cls, raw, where: str):
    if not isinstance(raw, dict):
        raise TweetopsError(f"params: {where or 'the file'} must be a mapping, got {raw!r}.")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise TweetopsError(
            f"params: unknown key {where + '.' if where else ''}{unknown[0]}; "
            f"known keys here are {', '.join(sorted(known))}."
        )
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name in raw:
            kwargs[f.name] = _check_value(raw[f.name], hints[f.name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise TweetopsError(f"params: {key} is required.")
    return cls(**kwargs)


def _validate(params: Params) -> None:
    checks = [
        (params.data.format in ("auto", "tsv", "csv", "jsonl", "parquet"),
         "data.format must be one of auto, tsv, csv, jsonl, parquet"),
        (params.labels.negative_below <= params.labels.positive_above,
         "labels.negative_below must not exceed labels.positive_above"),
        (params.labels.rating_min < params.labels.rating_max,
         "labels.rating_min must be below labels.rating_max"),
        (0 < params.split.test_size < 1, "split.test_size must be between 0 and 1"),
        (0 < params.split.labeled_fraction <= 1, "split.labeled_fraction must be in (0, 1]"),
        (0 < params.training.validation_size < 1, "training.validation_size must be between 0 and 1"),
        (0 <= params.clustering.min_confidence <= 1, "clustering.min_confidence must be in [0, 1]"),
        (params.clustering.n_clusters >= 2, "clustering.n_clusters must be at least 2"),
        (params.history_ingestion.max_rows >= 1, "history_ingestion.max_rows must be at least 1"),
        (params.monitoring.min_samples >= 10, "monitoring.min_samples must be at least 10"),
        (params.monitoring.max_rows >= params.monitoring.min_samples,
         "monitoring.max_rows must be at least monitoring.min_samples"),
        (params.monitoring.window_hours > 0, "monitoring.window_hours must be positive"),
        (0.5 <= params.monitoring.domain_auc < 1, "monitoring.domain_auc must be in [0.5, 1)"),
        (0 < params.monitoring.chi2_p < 1, "monitoring.chi2_p must be between 0 and 1"),
        (0 < params.monitoring.length_ks < 1, "monitoring.length_ks must be between 0 and 1"),
        (params.gate.min_delta >= 0, "gate.min_delta must not be negative"),
        (params.gate.max_class_drop >= 0, "gate.max_class_drop must not be negative"),
    ]
    for ok, message in checks:
        if not ok:
            raise TweetopsError(f"params: {message}.")


def _switch(name: str) -> bool | None:
    """An on/off environment variable: None when unset."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    raise TweetopsError(f"{name} must be on or off, got {value!r}.")


def load_params(path: str | Path = "params.yaml", **overrides) -> Params:
    """Load and validate params.yaml; overrides are dotted keys such as split.labeled_fraction."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise TweetopsError(f"params file {path} not found; run from the project root or pass --params.")
    except yaml.YAMLError as exc:
        raise TweetopsError(f"params file {path} is not valid YAML: {exc}.")
    env_source = os.environ.get("TWEETOPS_SOURCE")
    if env_source and overrides.get("data.source") is None:
        overrides["data.source"] = env_source
    tracking = _switch("TWEETOPS_TRACKING")
    if tracking is not None and overrides.get("tracking.enabled") is None:
        overrides["tracking.enabled"] = tracking
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    if endpoint:
        overrides.setdefault("data.s3_endpoint_url", endpoint)
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        raw.setdefault(section, {})[key] = value
    params = _build(Params, raw, "")
    _validate(params)
    return params


def load_config(params_path: str | Path | None = None, root: str | Path | None = None, **overrides) -> Config:
    """The config every stage takes: params plus paths under the project root.

    The root is TWEETOPS_HOME when set, else the folder holding params.yaml.
    """
    params_path = Path(params_path or os.environ.get("TWEETOPS_PARAMS", "params.yaml"))
    root = Path(root or os.environ.get("TWEETOPS_HOME") or params_path.resolve().parent)
    return Config(params=load_params(params_path, **overrides), paths=Paths(root=root))


def new_run_id() -> str:
    """TWEETOPS_RUN_ID, else GitHub's run id, else a UTC time stamp (sortable, unique per second)."""
    import datetime

    for name in ("TWEETOPS_RUN_ID", "GITHUB_RUN_ID"):
        if os.environ.get(name):
            return os.environ[name]
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
