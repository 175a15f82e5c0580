"""The pipeline is a list: the six stages in the order they run. Each reads only what the one before it wrote."""
from __future__ import annotations

import dataclasses
import logging
import time

from tweetops.catalog import check_run_id
from tweetops.io.files import locked_folder, publish_tree
from tweetops.pipeline import (clustering, data_ingestion, data_preparation, feature_engineering, model_training,
                               preprocessing)
from tweetops.pipeline.runs import Request, execute
from tweetops.settings import new_run_id

STAGES = {module.__name__.rsplit(".", 1)[-1]: module.stage for module in (
    data_ingestion, data_preparation, preprocessing, feature_engineering, clustering, model_training)}

log = logging.getLogger("tweetops.pipeline")


def run_stage(name: str, request: Request) -> dict:
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}")
    return execute(name, STAGES[name], request)


STAGING_PREFIX = ".tweetops-run-"  # the staging folders of runs in progress, under the project root


def run_all(request: Request) -> dict:
    """Every stage, in order, writing into a staging folder; the outputs replace the previous run's (a rename
    each) only once all of them succeeded, so a run that fails or is stopped leaves every earlier output as
    it was. A folder left by a killed run is removed by the next one."""
    started = time.perf_counter()
    request = dataclasses.replace(request, run_id=check_run_id(request.run_id or new_run_id()))
    root = request.catalog().root
    with locked_folder(root, STAGING_PREFIX) as staging:
        staged = dataclasses.replace(request, staging=staging)
        results = {name: execute(name, stage, staged) for name, stage in STAGES.items()}
        publish_tree(staging, root)
    log.info("pipeline done in %.2fs", time.perf_counter() - started)
    return results
