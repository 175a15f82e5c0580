"""SageMaker's training contract: `docker run IMAGE train`.

Reads (under /opt/ml, or TWEETOPS_ML_ROOT for a local run):
  input/data/<channel>/...              the data; the channel `training` (or `train`, or the only one),
                                        one file in it (or the one named by the `file` hyperparameter)
  input/config/hyperparameters.json     SageMaker passes every value as a string; keys are params.yaml
                                        keys, dotted (`split.labeled_fraction`) or bare when unambiguous
                                        (`labeled_fraction`, `C`); `source` names a URI instead of a channel
Writes:
  model/                                the bundle (model.joblib + manifest.json); SM_MODEL_DIR overrides
  output/data/                          reports, data manifests and the gate decision (uploaded by SageMaker)
  output/failure                        on error, one sentence (SageMaker shows its first 1024 characters)
Exit status 0 on success, non-zero on failure, as the contract asks.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

import yaml

from tweetops.catalog import Catalog
from tweetops.errors import TweetopsError
from tweetops.model.bundle import CHECKSUM_FILE, MANIFEST_FILE, SIGNATURE_FILE, load_manifest, verify_bundle
from tweetops.pipeline.runner import run_all
from tweetops.pipeline.runs import Request
from tweetops.release.gate import against_baselines
from tweetops.settings import Params, configure_logging, environment, limit_threads, params_path

log = logging.getLogger("tweetops.sagemaker_train")

CHANNEL_PREFERENCE = ("training", "train")
RESERVED = ("channel", "file", "source")  # hyperparameters that choose the data, not params


@dataclass(frozen=True)
class MLPaths:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "input" / "data"

    @property
    def hyperparameters(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    @property
    def model(self) -> Path:
        return environment().sm_model_dir or self.root / "model"

    @property
    def output_data(self) -> Path:
        return environment().sm_output_data_dir or self.root / "output" / "data"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"


def read_hyperparameters(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TweetopsError(f"{path} is not valid JSON ({exc}).")
    if not isinstance(raw, dict):
        raise TweetopsError(f"{path} must hold a JSON object of hyperparameters.")
    # SageMaker's own keys (sagemaker_*, _tuning_objective_metric) are not ours to read.
    return {str(k): v for k, v in raw.items() if not str(k).startswith(("sagemaker_", "_"))}


def _param_keys() -> dict[str, list[str]]:
    """Bare key -> the dotted keys it could mean, from the typed params sections."""
    found: dict[str, list[str]] = {}
    for section, spec in Params.model_fields.items():
        for name in spec.annotation.model_fields:
            found.setdefault(name, []).append(f"{section}.{name}")
    return found


def to_overrides(hyperparameters: dict) -> dict:
    """Dotted params overrides from SageMaker's string values ("0.5" -> 0.5, "null" -> None)."""
    keys = _param_keys()
    dotted_known = {d for options in keys.values() for d in options}
    overrides = {}
    for key, value in hyperparameters.items():
        if key in RESERVED:
            continue
        if "." in key:
            if key not in dotted_known:
                raise TweetopsError(f"hyperparameter {key!r} is not a params.yaml key.")
            dotted = key
        else:
            options = keys.get(key, [])
            if len(options) != 1:
                hint = f"it could be {' or '.join(options)}; use the dotted name" if options else "no such parameter"
                raise TweetopsError(f"hyperparameter {key!r} is ambiguous or unknown ({hint}).")
            dotted = options[0]
        overrides[dotted] = yaml.safe_load(value) if isinstance(value, str) else value
    return overrides


def find_source(paths: MLPaths, hyperparameters: dict) -> str:
    """The data URI: the `source` hyperparameter, else the one data file in the chosen channel."""
    if hyperparameters.get("source"):
        return str(hyperparameters["source"])
    channels = sorted(p.name for p in paths.data.iterdir() if p.is_dir()) if paths.data.is_dir() else []
    wanted = hyperparameters.get("channel")
    if wanted:
        channel = wanted
    else:
        channel = next((c for c in CHANNEL_PREFERENCE if c in channels), channels[0] if len(channels) == 1 else None)
    if not channel or channel not in channels:
        raise TweetopsError(f"no data channel to train on under {paths.data} (found: {', '.join(channels) or 'none'}); "
                            f"name it 'training' or set the 'channel' hyperparameter.")
    folder = environment().sm_channels.get(channel.lower()) or paths.data / channel
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if hyperparameters.get("file"):
        files = [p for p in files if p.name == hyperparameters["file"]]
    if len(files) != 1:
        names = ", ".join(p.name for p in files[:5]) or "none"
        raise TweetopsError(f"channel {channel!r} must hold exactly one data file, or name it with the 'file' "
                            f"hyperparameter (found: {names}).")
    return str(files[0])


def export(bundle: Path, reports: Path, catalog: Catalog, paths: MLPaths) -> dict:
    """Copy the bundle into the model dir (a mount: its files, not the folder) and the rest to output/data."""
    model_dir = paths.model
    model_dir.mkdir(parents=True, exist_ok=True)
    seal = [name for name in (MANIFEST_FILE, CHECKSUM_FILE, SIGNATURE_FILE) if (bundle / name).is_file()]
    for name in [*load_manifest(bundle)["files"], *seal]:  # the seal last: then the bundle is complete
        shutil.copyfile(bundle / name, model_dir / name)
    manifest = verify_bundle(model_dir)
    out = paths.output_data
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(reports, out / "reports", dirs_exist_ok=True)
    for record in (catalog.ingestion_record, catalog.preparation_record, catalog.run_record):
        if record.is_file():
            shutil.copyfile(record, out / record.name)
    # Baselines, plus the pipeline's champion/challenger decision (MLflow is absent from the image, so the
    # champion is the job's local one: none in a fresh container, hence the first-model rule).
    decision = {**against_baselines(manifest), "verdict": manifest.get("gate")}
    (out / "gate.json").write_text(json.dumps(decision, indent=2) + "\n", encoding="utf-8")
    return {"run_id": manifest["run_id"], "model_dir": str(model_dir), "macro_f1": manifest["metrics"]["macro_f1"],
            "gate_passed": decision["passed"], "promoted": bool((manifest.get("gate") or {}).get("promote"))}


def train(paths: MLPaths, params_file: str | None = None) -> dict:
    hyperparameters = read_hyperparameters(paths.hyperparameters)
    overrides = to_overrides(hyperparameters)
    overrides["data.source"] = find_source(paths, hyperparameters)
    env = environment()
    # Intermediate stage files are scratch here: only the bundle and the reports leave the container.
    with tempfile.TemporaryDirectory(prefix="tweetops-train-") as work:
        request = Request(params_path(params_file), overrides, root=work,
                          run_id=env.run_id or env.training_job_name)  # the run id is the job's name
        log.info("training on %s with overrides %s", overrides["data.source"],
                 {k: v for k, v in overrides.items() if k != "data.source"})
        result = run_all(request)["model_training"]
        return export(Path(result["bundle"]), Path(result["reports"]), request.catalog(), paths)


def write_failure(paths: MLPaths, message: str) -> None:
    try:
        paths.failure.parent.mkdir(parents=True, exist_ok=True)
        paths.failure.write_text(message[:1024] + "\n", encoding="utf-8")
    except OSError as exc:  # the failure file is best effort: the exit status still says it failed
        print(f"could not write {paths.failure}: {exc}", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="train", description="Train under SageMaker's /opt/ml contract.")
    parser.add_argument("--ml-root", default=None, help="the /opt/ml folder (default: TWEETOPS_ML_ROOT or /opt/ml)")
    parser.add_argument("--params", default=None, help="params file (default: TWEETOPS_PARAMS or params.yaml)")
    parser.add_argument("--log-level", default=None, type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.log_level)
    limit_threads()
    paths = MLPaths(Path(args.ml_root or environment().ml_root))
    try:
        result = train(paths, args.params)
    except TweetopsError as exc:
        write_failure(paths, str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        write_failure(paths, "training was stopped (SIGTERM or interrupt) before it finished.")
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the contract wants the reason in the failure file, whatever it was
        traceback.print_exc()
        write_failure(paths, f"{type(exc).__name__}: {exc}")
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
