"""The pipeline is a list: the six stages in the order they run. Each reads only what the one before it wrote."""
from __future__ import annotations

import logging
import time

from tweetops.pipeline import (clustering, data_ingestion, data_preparation, feature_engineering, model_training,
                               preprocessing)
from tweetops.pipeline.runs import Request, execute

STAGES = {module.__name__.rsplit(".", 1)[-1]: module.stage for module in (
    data_ingestion, data_preparation, preprocessing, feature_engineering, clustering, model_training)}

log = logging.getLogger("tweetops.pipeline")


def run_stage(name: str, request: Request) -> dict:
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}")
    return execute(name, STAGES[name], request)


def run_all(request: Request) -> dict:
    started = time.perf_counter()
    results = {name: execute(name, stage, request) for name, stage in STAGES.items()}
    log.info("pipeline done in %.2fs", time.perf_counter() - started)
    return results
