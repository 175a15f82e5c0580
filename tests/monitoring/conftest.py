"""Monitoring fixtures: the session's trained bundle, its reference, the tweets it never saw, and the CLI."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT
from tweetops.cli import main

DRIFT = ROOT / "data" / "drift"
DRIFT_SETS = ["movieReviewSnippets_GroundTruth.txt", "amazonReviewSnippets_GroundTruth.txt",
              "nytEditorialSnippets_GroundTruth.txt"]


def read_texts(path: Path) -> list[str]:
    frame = pd.read_csv(path, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE)
    return frame["text"].astype(str).tolist()


def held_out(project: Path, bundle: Path) -> list[str]:
    """Test-split tweets that are not in the bundle's reference: unseen by the model and by the monitor."""
    test = pd.read_parquet(project / "data" / "processed" / "test.parquet")
    reference_ids = set(pd.read_parquet(bundle / "reference.parquet")["id"])
    return test.loc[~test["id"].astype(str).isin(reference_ids), "text"].tolist()


@pytest.fixture(scope="session")
def held_out_tweets(trained_project, trained_bundle) -> list[str]:
    return held_out(trained_project, trained_bundle)


@dataclass
class MonitorRun:
    code: int
    out: str
    err: str
    folder: Path  # where drift.json and drift.html were asked for

    @property
    def report(self) -> dict | None:
        path = self.folder / "drift.json"
        return json.loads(path.read_text()) if path.exists() else None

    def fired(self) -> set[str]:
        return {c["name"] for c in self.report["checks"] if c["drift"]}


@pytest.fixture
def run_monitor(trained_bundle, tmp_path, capsys):
    """run_monitor(*args) -> MonitorRun of `tweetops monitor` in this process (the CLI's own main)."""
    runs = []

    def run(*args, model: Path | None = None) -> MonitorRun:
        output = tmp_path / f"report-{len(runs)}"
        runs.append(output)
        code = main(["monitor", "--model", str(model or trained_bundle), "--params", str(ROOT / "params.yaml"),
                     "--output", str(output), *map(str, args)])
        out, err = capsys.readouterr()
        return MonitorRun(code, out, err, output)

    return run
