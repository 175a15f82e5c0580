"""The encoder family, trained once per session in a small configuration: the first 800 bundled tweets,
one epoch, 32 tokens. The same pipeline, export and bundle as a full run, in about a minute."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.api.conftest import start_server  # noqa: F401  (a fixture)
from tests.conftest import RAW, make_project, shared_run
from tweetops.model.bundle import is_bundle

ROWS = 800


def make_encoder_project(root: Path) -> Path:
    make_project(root)
    sample = root / "data" / "raw" / "tweets_sample.txt"
    sample.write_bytes(b"".join(RAW.read_bytes().splitlines(keepends=True)[:ROWS]))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["source"] = "data/raw/tweets_sample.txt"
    params["model"]["family"] = "encoder"
    params["model"]["encoder"].update(epochs=1, max_tokens=32)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


@pytest.fixture(scope="session")
def encoder_project(tmp_path_factory, worker_id) -> Path:
    return shared_run(tmp_path_factory, worker_id, "encoder", make_encoder_project)


@pytest.fixture(scope="session")
def encoder_bundle(encoder_project) -> Path:
    """The encoder family's bundle (models/<run_id>; published or not, as its gate decided)."""
    bundles = [folder for folder in (encoder_project / "models").iterdir()
               if not folder.is_symlink() and is_bundle(folder)]
    assert len(bundles) == 1, bundles
    return bundles[0]
