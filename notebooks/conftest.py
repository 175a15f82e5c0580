"""For `pytest --nbval-lax notebooks/`: one pipeline run in a temporary folder, shared by every notebook
(through TWEETOPS_NOTEBOOK_RUN, read by tweetops.explore.project) instead of one run per notebook."""
import os
import shutil
from pathlib import Path

from tweetops.explore import RUN_ENV, project

SHARED = {}


def pytest_sessionstart(session):
    if not os.environ.get(RUN_ENV):
        config = project(None, until="model_training", source_root=Path(__file__).resolve().parents[1])
        SHARED["root"] = config.root
        os.environ[RUN_ENV] = str(config.root)


def pytest_sessionfinish(session, exitstatus):
    if "root" in SHARED:
        os.environ.pop(RUN_ENV, None)
        shutil.rmtree(SHARED.pop("root"), ignore_errors=True)
