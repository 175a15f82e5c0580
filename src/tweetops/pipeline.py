"""The six stages, in the order they run. Each reads only what the one before it wrote."""
from __future__ import annotations

import importlib
import logging
import time

from tweetops.config import Config

STAGES = ("data_ingestion", "data_preparation", "preprocessing", "feature_engineering", "clustering",
          "model_training")

log = logging.getLogger("tweetops.pipeline")


def run_stage(name: str, config: Config) -> dict:
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}")
    start = time.perf_counter()
    result = importlib.import_module(f"tweetops.{name}").run(config)
    log.info("stage %s done in %.2fs", name, time.perf_counter() - start)
    return result


def run_all(config: Config) -> dict:
    start = time.perf_counter()
    results = {name: run_stage(name, config) for name in STAGES}
    log.info("pipeline done in %.2fs", time.perf_counter() - start)
    return results
