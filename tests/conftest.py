"""Shared fixtures: real servers on 127.0.0.1, and the bundled data."""
from pathlib import Path

import pytest

from tests.servers.s3 import s3_bucket, s3_server  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "tweets_GroundTruth.txt"


@pytest.fixture(scope="session")
def raw_path() -> Path:
    return RAW
