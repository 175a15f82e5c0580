"""Registry fixtures: a real MLflow server, and three pipeline runs on the bundled tweets logged to it."""
from __future__ import annotations

import pytest

from tests.conftest import make_project
from tests.servers.mlflow import mlflow_server  # noqa: F401  (fixture)
from tweetops.config import load_config
from tweetops.io import read_json
from tweetops.pipeline import run_all, run_stage

MODEL = "tweet-sentiment"
# Measured on the bundled split: C 0.3 -> macro-F1 0.750, C 0.02 -> 0.735 (neutral F1 -0.024), C 2.0 -> 0.761.
RUNS = (("r1", 0.3), ("r2", 0.02), ("r3", 2.0))


@pytest.fixture(scope="module")
def tracked(mlflow_server, tmp_path_factory):  # noqa: F811
    """The same project trained three times with tracking on; the state after each run, in order.

    r1 runs all six stages; r2 and r3 re-ingest (a new run id) and retrain with another C on the
    same stage outputs, so all three face the same held-out test split.
    """
    root = make_project(tmp_path_factory.mktemp("tracked"))
    patch = pytest.MonkeyPatch()
    patch.setenv("TWEETOPS_TRACKING", "on")
    patch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    from tweetops.registry import open_registry

    snapshots = {}
    try:
        for run_id, C in RUNS:
            patch.setenv("TWEETOPS_RUN_ID", run_id)
            config = load_config(root / "params.yaml", **{"training.C": C})
            if run_id == "r1":
                result = run_all(config)["model_training"]
            else:
                run_stage("data_ingestion", config)
                result = run_stage("model_training", config)
            store = open_registry(config)
            snapshots[run_id] = {
                "result": result, "manifest": read_json(root / "models" / run_id / "manifest.json"),
                "summary": (root / "reports" / run_id / "summary.md").read_text(),
                "champion": store.champion(),
                "version": store.client.get_model_version(MODEL, result["registry"]["version"]),
                "champion_link": (root / "models" / "champion").readlink().name}
        yield {"root": root, "uri": mlflow_server, "runs": snapshots, "config": config}
    finally:
        patch.undo()


def registry_cli(tracked, *args) -> int:
    """`tweetops registry ...` against the tracked project's MLflow server; its exit code."""
    from tweetops.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TWEETOPS_TRACKING", "on")
        patch.setenv("MLFLOW_TRACKING_URI", tracked["uri"])
        return main(["registry", *args, "--params", str(tracked["root"] / "params.yaml")])
