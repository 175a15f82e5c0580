"""The committed drift sets are the archive's files as extracted: hashes and row counts match PROVENANCE.md."""
from __future__ import annotations

import re

import pytest

from tests.monitoring.conftest import DRIFT, DRIFT_SETS, read_texts
from tweetops.io.files import sha256_file

ROWS = re.compile(r"^\| `(?P<name>[^`]+\.txt)` \|.*\| (?P<rows>[\d,]+) \| (?P<bytes>[\d,]+) \| [\w-]+ \| "
                  r"`(?P<sha>[0-9a-f]{64})` \|$", re.MULTILINE)


@pytest.mark.parametrize("name", DRIFT_SETS)
def test_each_drift_set_matches_its_provenance(name):
    listed = {m["name"]: m for m in ROWS.finditer((DRIFT / "PROVENANCE.md").read_text())}
    entry = listed[name]
    path = DRIFT / name
    assert sha256_file(path) == entry["sha"]
    assert path.stat().st_size == int(entry["bytes"].replace(",", ""))
    assert len(read_texts(path)) == int(entry["rows"].replace(",", ""))
