"""Traffic fed through the API into a real PostgreSQL, then judged by `tweetops monitor` from that database."""
from __future__ import annotations

import random
import warnings

import pytest

from tweetops.serving.app import create_app
from tests.monitoring.conftest import DRIFT, DRIFT_SETS, read_texts
from tweetops.serving.service import Service

with warnings.catch_warnings():  # Starlette 1.x nudges towards httpx2; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def api(trained_bundle, postgres_server, tmp_path, monkeypatch):
    """(client, service) of the app started as a deployment starts it: MODEL_DIR and a plain DATABASE_URL."""
    database = postgres_server.create_database()
    monkeypatch.setenv("MODEL_DIR", str(trained_bundle))
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{postgres_server.port}/{database}")
    monkeypatch.setenv("TWEETOPS_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.delenv("TWEETOPS_API_KEYS", raising=False)
    service = Service()
    with TestClient(create_app(service)) as client:
        yield client, service


def _feed(api, texts):
    client, service = api
    response = client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 200
    service.history.flush()


def test_the_verdict_follows_the_traffic_recorded_in_postgres(api, run_monitor, held_out_tweets):
    n = len(held_out_tweets)
    _feed(api, held_out_tweets[:150])
    run = run_monitor()  # no --history: DATABASE_URL, as the scheduled workflow runs it
    assert run.code == 4 and run.report["verdict"] == "not_enough_data" and run.report["current_rows"] == 150
    assert run.report["source"].startswith("postgresql+psycopg://postgres@127.0.0.1:")

    _feed(api, held_out_tweets[150:])
    run = run_monitor("--max-rows", n)
    assert run.code == 0 and run.report["verdict"] == "no_drift", run.out
    assert run.report["current_rows"] == n
    assert run.report["served_by"] == {api[1].predictor.version: n}

    reviews = random.Random(7).sample(read_texts(DRIFT / DRIFT_SETS[1]), n)
    _feed(api, reviews)
    run = run_monitor("--max-rows", n)  # the newest n: only the product reviews
    assert run.code == 3 and run.report["verdict"] == "drift", run.out
    assert "domain_classifier_auc" in run.fired()
