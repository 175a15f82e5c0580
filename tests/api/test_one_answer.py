"""One answer everywhere: the in-process Pipeline, /predict/batch, /invocations (JSON, JSON lines,
CSV) and batch-predict give identical labels and probabilities for the same real tweets."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tweetops.model.bundle import load_bundle

LABELS = ["negative", "neutral", "positive"]


@pytest.fixture(scope="module")
def texts(tweets):
    # CSV bodies carry one text per line, unquoted: take tweets without quotes, as the others do.
    return [t for t in tweets if '"' not in t][:300]


def from_json_predictions(items):
    return [p["label"] for p in items], np.array([[p["probabilities"][x] for x in LABELS] for p in items])


def test_every_front_door_gives_the_same_answer(client, texts, trained_bundle, tmp_path):
    model = load_bundle(trained_bundle).model
    expected_proba = model.predict_proba(texts)  # the sklearn Pipeline itself, no fast path
    expected_labels = [LABELS[i] for i in expected_proba.argmax(axis=1)]
    answers = {}

    response = client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 200, response.text
    answers["/predict/batch"] = from_json_predictions(response.json()["predictions"])

    response = client.post("/invocations", json={"instances": texts})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    answers["/invocations json"] = from_json_predictions(response.json()["predictions"])

    body = "".join(json.dumps(t) + "\n" for t in texts)
    response = client.post("/invocations", content=body, headers={"content-type": "application/jsonlines"})
    assert response.status_code == 200, response.text
    answers["/invocations jsonlines"] = from_json_predictions([json.loads(x) for x in response.text.splitlines()])

    response = client.post("/invocations", content="\n".join(texts), headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    rows = [line.split(",") for line in response.text.splitlines()]
    answers["/invocations csv"] = ([r[0] for r in rows], np.array([[float(x) for x in r[1:]] for r in rows]))

    source, output = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_parquet(source)
    result = subprocess.run([sys.executable, "-m", "tweetops", "batch-predict", "--input", str(source),
                             "--output", str(output), "--model", str(trained_bundle)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    scored = pd.read_parquet(output)
    assert scored["id"].tolist() == list(range(len(texts)))
    answers["batch-predict"] = (scored["label"].tolist(), scored[[f"p_{x}" for x in LABELS]].to_numpy())

    for door, (labels, proba) in answers.items():
        assert labels == expected_labels, door
        assert np.array_equal(proba, expected_proba), door
