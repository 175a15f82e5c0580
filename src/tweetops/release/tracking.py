"""MLflow tracking: each training run's params, metrics (model and baselines), reports and bundle.

Training logs the run and registers nothing; `tweetops publish` registers the logged model as a new
version of the registered model once the gate said yes. MLflow is a training dependency only
(requirements-train.txt), absent from the serving image, so it is imported where it is used, here and
in tweetops.release.registry. MLFLOW_TRACKING_URI points at a server; unset, an embedded SQLite store
under <root>/mlruns/ (git-ignored) is used.

The model is logged as the verified joblib bundle inside a small pyfunc wrapper: MLflow's default
sklearn format (skops) took 45 s for this model, the bundle takes about a second.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from tweetops.catalog import Catalog
from tweetops.errors import TweetopsError
from tweetops.io.files import write_json
from tweetops.model import LABELS
from tweetops.model.bundle import LIBRARIES, load_manifest
from tweetops.settings import Params, TrackingParams, environment

log = logging.getLogger("tweetops.tracking")
# MLflow draws a progress bar with carriage returns for each artifact it moves: noise in a log file.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
MODEL_ARTIFACT = "model"
PYFUNC_SOURCE = Path(__file__).with_name("mlflow_model.py")  # logged as code, not pickled


def mlflow_installed() -> bool:
    try:
        import mlflow  # noqa: F401  (optional: absent from the serving image)
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class Tracking:
    """Where runs and the registry live; None from `tracking_for` means tracking is off."""

    uri: str
    artifact_root: str | None  # only for the embedded store; a server decides its own
    experiment: str
    model_name: str

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


def failure(uri: str, exc: Exception) -> TweetopsError:
    """An unreachable or refusing MLflow: one sentence, not a stack of HTTP retries."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    return TweetopsError(f"MLflow at {uri} failed: {first}; check MLFLOW_TRACKING_URI or run with --no-tracking.")


@contextlib.contextmanager
def speaking_to(uri: str):
    """Turn any MLflow client error inside the block into one TweetopsError sentence."""
    try:
        yield
    except TweetopsError:
        raise
    except Exception as exc:
        raise failure(uri, exc) from exc


def store_uri(catalog: Catalog) -> tuple[str, str | None]:
    """MLFLOW_TRACKING_URI, else the embedded store under the project root (and its artifact root)."""
    uri = environment().mlflow_tracking_uri
    if uri:
        return uri, None
    folder = catalog.mlruns.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", (folder / "artifacts").as_uri()


def tracking_for(p: TrackingParams, catalog: Catalog, quiet: bool = False) -> Tracking | None:
    """The tracking target, or None (the reason logged unless quiet) when tracking is off."""
    reason = None
    if not p.enabled:
        reason = "tracking is off (tracking.enabled is false, TWEETOPS_TRACKING=off or --no-tracking)"
    elif not mlflow_installed():
        reason = "tracking is off: MLflow is not installed here (it is in requirements-train.txt)"
    if reason:
        if not quiet:
            log.info("%s; the champion is the local models/champion", reason)
        return None
    uri, artifact_root = store_uri(catalog)
    return Tracking(uri=uri, artifact_root=artifact_root, experiment=p.experiment, model_name=p.registered_model)


def _flat(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value
    return out


def run_metrics(manifest: dict) -> dict[str, float]:
    """Test-split metrics of the model and every baseline, plus the gate's comparison when there is one."""
    out = {"macro_f1": manifest["metrics"]["macro_f1"], "accuracy": manifest["metrics"]["accuracy"]}
    for label in LABELS:
        out[f"f1_{label}"] = manifest["metrics"]["per_class"][label]["f1"]
    for name, m in manifest["baselines"].items():
        out[f"baseline_{name}_macro_f1"] = m["macro_f1"]
        out[f"baseline_{name}_accuracy"] = m["accuracy"]
    gate = manifest.get("gate") or {}
    if gate.get("champion_macro_f1") is not None:
        out["champion_macro_f1"] = gate["champion_macro_f1"]
        out["delta_macro_f1"] = gate["delta"]
    return {k: float(v) for k, v in out.items()}


def log_run(tracking: Tracking, manifest: dict, bundle: Path, reports: Path) -> dict:
    """Log one run (params, metrics, reports, the bundle as a pyfunc model); registers nothing."""
    import mlflow

    mlflow.set_tracking_uri(tracking.uri)
    mlflow.set_registry_uri(tracking.uri)
    client = tracking.client()
    # MLflow print()s where it logged the run ("View run ... at: URL") as the run ends: to the log, not stdout,
    # which holds each command's own answer (`tweetops publish`'s one line).
    with speaking_to(tracking.uri), contextlib.redirect_stdout(io.StringIO()) as printed:
        experiment = client.get_experiment_by_name(tracking.experiment)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(
            tracking.experiment, artifact_location=tracking.artifact_root)
        with mlflow.start_run(experiment_id=experiment_id, run_name=str(manifest["run_id"])) as run:
            params = _flat("", manifest["params"], {})
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            mlflow.log_metrics(run_metrics(manifest))
            mlflow.set_tags({"tweetops.run_id": manifest["run_id"], "git_commit": manifest.get("git_commit", ""),
                             "data_sha256": manifest["data"]["sha256"],
                             "gate.decision": "promote" if manifest["gate"]["promote"] else "keep"})
            mlflow.log_artifacts(str(reports), "reports")
            # The pyfunc wrapper needs only what loads the bundle; listing it skips MLflow's slow inference.
            info = mlflow.pyfunc.log_model(name=MODEL_ARTIFACT, python_model=str(PYFUNC_SOURCE),
                                           artifacts={"bundle": str(bundle)}, pip_requirements=list(LIBRARIES))
    for line in printed.getvalue().splitlines():
        log.info("mlflow: %s", line)
    log.info("logged run %s to MLflow %s (experiment %s)", manifest["run_id"], tracking.uri, tracking.experiment)
    return {"mlflow_run_id": run.info.run_id, "model_uri": info.model_uri, "tracking_uri": tracking.uri}


def log_training(params: Params, catalog: Catalog, bundle: Path, reports: Path) -> str | None:
    """Log a freshly trained run when tracking is on; its MLflow run id goes to reports/<run_id>/tracking.json."""
    target = tracking_for(params.tracking, catalog, quiet=True)  # the gate has said already when it is off
    if target is None:
        return None
    manifest = load_manifest(bundle)
    logged = log_run(target, manifest, bundle, reports)
    write_json(catalog.tracking_record(manifest["run_id"]), logged)
    return logged["mlflow_run_id"]
