"""The encoder family through every way a bundle is served: the HTTP API (2 workers), SageMaker's
/invocations and batch-predict as an AWS Batch array job. Each gives a text the answer it gets in process."""
from __future__ import annotations

import csv

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.api.conftest import serve_env
from tests.batch.conftest import run_array_job
from tests.conftest import RAW
from tweetops.model import LABELS
from tweetops.serving.inference import load_predictor

PROBA = [f"p_{label}" for label in LABELS]


@pytest.fixture(scope="module")
def tweets() -> pd.DataFrame:
    frame = pd.read_csv(RAW, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE)
    return frame.iloc[2000:2300][["id", "text"]].reset_index(drop=True)  # rows the small run never saw


@pytest.fixture(scope="module")
def predictor(encoder_bundle):
    return load_predictor(encoder_bundle)


def test_the_api_answers_single_and_batch_requests_as_the_model_does_in_process(encoder_bundle, tmp_path,
                                                                                start_server, tweets, predictor):
    server = start_server(serve_env(encoder_bundle, tmp_path, WEB_CONCURRENCY=2))
    texts = tweets["text"].iloc[:40].tolist()
    expected = predictor.predict_proba(texts)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        singles = [client.post("/predict", json={"text": t}).json() for t in texts[:10]]
        batch = client.post("/predict/batch", json={"texts": texts})
        invocations = client.post("/invocations", content="\n".join(texts[:10]).encode(),
                                  headers={"content-type": "text/csv"})
        health = client.get("/health").json()
    assert batch.status_code == 200 and invocations.status_code == 200
    answered = [[r["probabilities"][label] for label in LABELS] for r in batch.json()["predictions"]]
    np.testing.assert_allclose(answered, expected, rtol=0, atol=1e-9)
    assert [s["label"] for s in singles] == [LABELS[i] for i in expected[:10].argmax(axis=1)]
    np.testing.assert_allclose([[s["probabilities"][label] for label in LABELS] for s in singles], expected[:10],
                               rtol=0, atol=1e-9)
    assert invocations.text.count("\n") >= 9 and health["model_version"] == predictor.version


def test_batch_predict_as_a_two_shard_array_job_adds_up_to_the_in_process_answers(encoder_bundle, tmp_path, tweets,
                                                                                  predictor):
    source = tmp_path / "tweets.csv"
    tweets.to_csv(source, index=False)
    run_array_job(source, tmp_path / "parts", encoder_bundle, size=2, chunk_size=64)
    parts = sorted((tmp_path / "parts").iterdir())
    assert len(parts) == 2
    out = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)
    assert out["id"].tolist() == tweets["id"].tolist()
    np.testing.assert_allclose(out[PROBA].to_numpy(float), predictor.predict_proba(tweets["text"].tolist()),
                               rtol=0, atol=1e-9)
    assert out["error"].isna().all()
