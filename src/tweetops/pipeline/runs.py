"""One pipeline run: its id, the params it was started with, and where its artefacts live.

The first stage resolves the params once (params.yaml, then the environment's overrides, then the
flags), and writes them with their hash and the run id to data/interim/run.json. Every later stage
reads them from there, so the manifest records exactly what produced the bundle. A later stage
refuses, in one sentence, a flag or environment override that contradicts the record, and a
params.yaml edited since the run started: both would describe data that was prepared otherwise.

Each stage leaves a stamp (data/stages/<stage>.json: the run id and what the stage returned), and
the next one starts only when the stage before it finished for the same run, so a bundle is never
made from the outputs of two runs.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from tweetops.catalog import Catalog, check_run_id
from tweetops.errors import TweetopsError, stop_if_terminated
from tweetops.io.files import read_record, write_json
from tweetops.pipeline.order import ORDER
from tweetops.settings import (Params, build_params, environment_overrides, new_run_id, params_path, project_root,
                               read_params_file)

log = logging.getLogger("tweetops.pipeline")
FIRST_STAGE = ORDER[0]
ORIGINS = {"data.source": "--source or TWEETOPS_SOURCE", "split.labeled_fraction": "--labeled-fraction",
           "tracking.enabled": "--no-tracking or TWEETOPS_TRACKING", "data.s3_endpoint_url": "AWS_ENDPOINT_URL_S3"}


@dataclass(frozen=True)
class Request:
    """What a command line asks of a stage: a params file, dotted overrides from its flags, a root."""

    params_file: str | Path | None = None
    overrides: dict = field(default_factory=dict)
    root: str | Path | None = None
    run_id: str | None = None  # a new run's id (default: TWEETOPS_RUN_ID, GITHUB_RUN_ID, else the UTC time)
    staging: Path | None = None  # where a whole run writes until it is published (see Catalog)

    def asked(self) -> dict:
        """Overrides from the environment, then from the flags (which win); unset ones left out."""
        return {**environment_overrides(), **{k: v for k, v in self.overrides.items() if v is not None}}

    def catalog(self) -> Catalog:
        root = Path(self.root) if self.root else project_root(self.params_file)
        return Catalog(root, self.staging, self.run_id) if self.staging else Catalog(root)


@dataclass(frozen=True)
class Run:
    run_id: str
    params: Params
    catalog: Catalog
    params_sha256: str
    params_file: str  # where the params were read, and the overrides applied on top
    overrides: dict
    started_at: str  # when stage 1 started it: tells this run from an earlier one with the same id


def params_hash(params: Params) -> str:
    return hashlib.sha256(json.dumps(params.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()


def start(request: Request) -> Run:
    """A new run (stage 1): params resolved now, a new run id. The record is written by `record`."""
    path, asked = params_path(request.params_file), request.asked()
    params = build_params(read_params_file(path), asked)
    run_id = check_run_id(request.run_id or new_run_id())
    started = datetime.datetime.now(datetime.timezone.utc).isoformat()  # to the microsecond: one attempt
    return Run(run_id, params, request.catalog(), params_hash(params), str(path.resolve()), asked, started)


def record(run: Run) -> Path:
    """Write data/interim/run.json: the run id, the resolved params and how they were arrived at."""
    return write_json(run.catalog.run_record, {
        "run_id": run.run_id, "params": run.params.to_dict(), "params_sha256": run.params_sha256,
        "params_file": run.params_file, "overrides": run.overrides, "started_at": run.started_at})


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _differences(a: dict, b: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    out = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if isinstance(left, dict) and isinstance(right, dict):
            out += _differences(left, right, f"{prefix}{key}.")
        elif left != right:
            out.append((f"{prefix}{key}", left, right))
    return out


def resume(request: Request, stage: str) -> Run:
    """The run stage 1 started, once the request agrees with its record; else a TweetopsError."""
    catalog = request.catalog()
    path = catalog.run_record
    if not path.is_file():
        raise TweetopsError(f"{path} not found: no run has been started here; run the {FIRST_STAGE} stage first "
                            "(or `tweetops run`).")
    saved = read_record(path, dict, ("run_id", "params", "params_sha256", "params_file", "overrides", "started_at"))
    before = ORDER[ORDER.index(stage) - 1]
    stamp = read_record(catalog.stamp(before), dict, ("run_id",)) if catalog.stamp(before).is_file() else {}
    if (stamp.get("run_id"), stamp.get("run_started")) != (saved["run_id"], saved["started_at"]):
        raise TweetopsError(f"the {before} stage has not finished for run {saved['run_id']} started at "
                            f"{saved['started_at']} (its last stamp is for run {stamp.get('run_id', 'none')} started "
                            f"at {stamp.get('run_started', 'an unknown time')}); run the stages in order from "
                            f"{before}, or all of them with `tweetops run`.")
    params = build_params(saved["params"])
    asked = request.asked()
    now = build_params(read_params_file(params_path(request.params_file)), {**saved["overrides"], **asked})
    for key, was, wanted in _differences(params.to_dict(), now.to_dict()):
        how = f"{key} {wanted!r} (from {ORIGINS.get(key, 'an override')})" if key in asked \
            else f"{key} {wanted!r} in {params_path(request.params_file)}"
        raise TweetopsError(f"{how} contradicts run {saved['run_id']}, which {FIRST_STAGE} started with {key} "
                            f"{was!r}; the {stage} stage keeps the run's params, so re-run from {FIRST_STAGE} "
                            "(`tweetops run`) to change them.")
    return Run(saved["run_id"], params, catalog, saved["params_sha256"], saved["params_file"], saved["overrides"],
               saved["started_at"])


def execute(name: str, stage, request: Request) -> dict:
    """Run one stage function on the run the request names, timed."""
    stop_if_terminated()
    started = time.perf_counter()
    run = start(request) if name == FIRST_STAGE else resume(request, name)
    result = stage(run)
    write_json(run.catalog.stamp(name), {"run_id": run.run_id, "run_started": run.started_at, "stage": name,
                                         "result": result, "finished_at": _now()})
    log.info("stage %s done in %.2fs", name, time.perf_counter() - started)
    return result
