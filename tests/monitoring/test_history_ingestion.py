"""Opt-in: served predictions become unlabelled training rows, counted, de-duplicated, never in test."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import make_project
from tests.monitoring.conftest import DRIFT, DRIFT_SETS, read_texts
from tweetops.pipeline.runner import run_stage
from tweetops.pipeline.runs import ORDER, Request
from tweetops.serving.history import History, new_record


@pytest.fixture(scope="module")
def history_project(tmp_path_factory, raw_path):
    """A project whose history holds 40 new texts, 5 tweets already in the data, and one repeat."""
    root = make_project(tmp_path_factory.mktemp("history-ingestion"))
    tweets = read_texts(raw_path)
    served = read_texts(DRIFT / DRIFT_SETS[1])[:40] + tweets[10:15] + read_texts(DRIFT / DRIFT_SETS[1])[:1]
    history = History(url=f"sqlite:///{root / 'history.db'}", spool=root / "spool")
    history.record([new_record("r1", text, "neutral", {"negative": 0.2, "neutral": 0.6, "positive": 0.2}, "v1", 1.0)
                    for text in served])
    history.flush()
    history.close()
    request = Request(root / "params.yaml", {"history_ingestion.enabled": True,
                                             "history_ingestion.url": f"sqlite:///{root / 'history.db'}"})
    for stage in ORDER[:-1]:
        run_stage(stage, request)
    return root


def _json(path):
    return json.loads(path.read_text())


def test_history_rows_are_ingested_and_counted(history_project):
    record = _json(history_project / "data" / "interim" / "ingestion.json")
    assert record["history"]["rows"] == 46 and record["rows"] == 4200 + 46
    assert record["history"]["first_source_row"] == 4201  # after the source's last line
    ingested = pd.read_parquet(history_project / "data" / "interim" / "ingested.parquet")
    assert ingested["id"].str.startswith("history-").sum() == 46
    assert ingested.loc[ingested["id"].str.startswith("history-"), "rating"].isna().all()


def test_history_rows_train_unlabelled_and_duplicates_are_quarantined(history_project):
    counts = _json(history_project / "data" / "processed" / "preparation.json")
    assert counts["history"] == {"rows_in": 46, "train_unlabeled": 40, "rows_quarantined": 6, "test": 0,
                                 "quarantine_reasons": {"duplicate text": 6}}
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"] == 4246
    train = pd.read_parquet(history_project / "data" / "processed" / "train.parquet")
    mine = train[train["id"].str.startswith("history-")]
    assert len(mine) == 40 and not mine["labeled"].any() and mine["rating"].isna().all()


def test_history_rows_never_reach_the_test_split(history_project, trained_project):
    test = pd.read_parquet(history_project / "data" / "processed" / "test.parquet")
    assert not test["id"].str.startswith("history-").any()
    # The split of the rated rows is the one a run without history makes (the session's trained project).
    without = pd.read_parquet(trained_project / "data" / "processed" / "test.parquet")
    assert test["id"].tolist() == without["id"].tolist()
    assert _json(trained_project / "data" / "interim" / "ingestion.json")["history"] is None  # off by default


def test_clustering_gives_history_rows_pseudo_labels(history_project):
    pseudo = pd.read_parquet(history_project / "data" / "features" / "pseudo_labels.parquet")
    mine = pseudo[pseudo["id"].str.startswith("history-")]
    assert len(mine) == 40 and mine["pseudo_label"].isin(["negative", "neutral", "positive"]).all()
