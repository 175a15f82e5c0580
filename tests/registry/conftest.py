"""Registry fixtures: a real MLflow server, and three pipeline runs on the bundled tweets logged to it,
each published (as the retrain workflow does, after its smoke test) when its gate promoted it."""
from __future__ import annotations

import pytest

from tests.conftest import make_project
from tests.servers.mlflow import mlflow_server  # noqa: F401  (fixture)
from tweetops.cli import main
from tweetops.io.files import read_json
from tweetops.pipeline.runner import run_all
from tweetops.pipeline.runs import Request
from tweetops.settings import load_config

MODEL = "tweet-sentiment"
# Measured on the bundled split: C 0.3 -> macro-F1 0.743, C 0.01 -> 0.724 (neutral F1 -0.030), C 2.0 -> 0.766.
RUNS = (("r1", 0.3), ("r2", 0.01), ("r3", 2.0))


@pytest.fixture(scope="module")
def tracked(mlflow_server, tmp_path_factory):  # noqa: F811
    """The same project trained three times with tracking on; the state after each run, in order.

    Each run is all six stages with another C (the same data and split, so all three face the same
    held-out test rows), then `tweetops publish` when its gate promoted it.
    """
    root = make_project(tmp_path_factory.mktemp("tracked"))
    patch = pytest.MonkeyPatch()
    patch.setenv("TWEETOPS_TRACKING", "on")
    patch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    from tweetops.release.registry import open_registry

    snapshots = {}
    try:
        for run_id, C in RUNS:
            patch.setenv("TWEETOPS_RUN_ID", run_id)
            result = run_all(Request(root / "params.yaml", {"training.C": C}))["model_training"]
            config = load_config(root / "params.yaml", **{"training.C": C})
            store = open_registry(config.params.tracking, config.catalog)
            published = main(["publish", run_id, "--params", str(root / "params.yaml")]) == 0 \
                if result["gate"]["promote"] else False
            champion = store.champion()
            snapshots[run_id] = {
                "result": result, "manifest": read_json(root / "models" / run_id / "manifest.json"),
                "summary": (root / "reports" / run_id / "summary.md").read_text(), "published": published,
                "champion": champion, "versions": {v.run_id: v for v in store.versions()},
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
