"""Every route of the API, in process, on the trained model and the bundled tweets."""
from __future__ import annotations

import datetime

import pytest
from tweetops.serving.app import create_app
from tests.api.conftest import TestClient
from tweetops.model import LABELS
from tweetops.serving.history import History
from tweetops.serving.service import Service


def test_ping_is_503_before_the_model_loads_and_200_with_an_empty_body_after(trained_bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(trained_bundle))
    monkeypatch.setenv("TWEETOPS_HISTORY_DB", str(tmp_path / "history.db"))
    monkeypatch.setenv("TWEETOPS_SPOOL_DIR", str(tmp_path / "spool"))
    app = create_app()
    before = TestClient(app)  # no `with`: the lifespan (which loads the model) has not run
    assert before.get("/ping").status_code == 503
    assert before.get("/health").json()["status"] == "loading"
    assert before.post("/predict", json={"text": "fine"}).json() == {
        "detail": "the model is still loading; retry in a moment."}
    with TestClient(app) as after:
        response = after.get("/ping")
        assert (response.status_code, response.content) == (200, b"")
        assert after.get("/health").json()["status"] == "ok"


def test_health_reports_status_version_and_uptime(client, service):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["model_version"] == service.predictor.version
    assert body["uptime_seconds"] >= 0


def test_predict_answers_label_probabilities_version_and_request_id(client, service, tweets):
    response = client.post("/predict", json={"text": tweets[0]})
    body = response.json()
    assert response.status_code == 200
    assert body["label"] in LABELS
    assert set(body["probabilities"]) == set(LABELS)
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    assert body["model_version"] == service.predictor.version
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["label"] == service.predictor.predict([tweets[0]])[0]["label"]


def test_predict_keeps_a_well_formed_incoming_request_id(client):
    response = client.post("/predict", json={"text": "lovely"}, headers={"X-Request-ID": "abc-123"})
    assert response.json()["request_id"] == "abc-123"


def test_clear_texts_get_the_expected_labels(client):
    assert client.post("/predict", json={"text": "I love this, best day ever! :)"}).json()["label"] == "positive"
    assert client.post("/predict", json={"text": "I hate this, worst day ever :("}).json()["label"] == "negative"


def test_batch_answers_in_order_and_agrees_with_single_predictions(client, service, tweets):
    texts = tweets[:50]
    body = client.post("/predict/batch", json={"texts": texts}).json()
    assert [p["label"] for p in body["predictions"]] == [p["label"] for p in service.predictor.predict(texts)]
    assert body["model_version"] == service.predictor.version
    single = client.post("/predict", json={"text": texts[7]}).json()
    assert single["probabilities"] == pytest.approx(body["predictions"][7]["probabilities"])


def test_batch_takes_exactly_the_limit(client, tweets):
    body = client.post("/predict/batch", json={"texts": tweets[:1000]}).json()
    assert len(body["predictions"]) == 1000


def test_model_returns_the_manifest(client, trained_bundle):
    manifest = client.get("/model").json()
    assert manifest["run_id"] == trained_bundle.name
    assert "model.joblib" in manifest["files"]


def test_predictions_history_pages_and_filters(make_client, service, tmp_path, tweets):
    history = History(url=f"sqlite:///{tmp_path / 'h.db'}", spool=tmp_path / "spool").start()
    own = Service(predictor=service.predictor, history=history)
    client = make_client(own)
    start = datetime.datetime.now(datetime.timezone.utc)
    labels = [p["label"] for p in client.post("/predict/batch", json={"texts": tweets[:30]}).json()["predictions"]]
    history.flush()
    page = client.get("/predictions", params={"limit": 10}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (30, 10, 0, 10)
    item = page["items"][0]
    assert set(item) == {"id", "request_id", "created_at", "text", "label", "probabilities", "model_version",
                         "latency_ms"}
    every = client.get("/predictions", params={"limit": 1000}).json()["items"]
    assert sorted(i["text"] for i in every) == sorted(tweets[:30])
    second = client.get("/predictions", params={"limit": 10, "offset": 10}).json()["items"]
    assert not {i["id"] for i in second} & {i["id"] for i in page["items"]}
    for label in LABELS:
        filtered = client.get("/predictions", params={"label": label, "limit": 1000}).json()
        assert filtered["total"] == labels.count(label)
        assert all(i["label"] == label for i in filtered["items"])
    assert client.get("/predictions", params={"since": start.isoformat()}).json()["total"] == 30
    assert client.get("/predictions", params={"until": start.isoformat()}).json()["total"] == 0
    later = (start + datetime.timedelta(hours=1)).isoformat()
    assert client.get("/predictions", params={"since": later}).json()["total"] == 0
    own.stop()


def _metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_by_route_and_status_and_predictions_by_label(client, service):
    before = client.get("/metrics").text
    label = client.post("/predict", json={"text": "I love it"}).json()["label"]
    client.post("/predict", json={"text": ""})
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    ok = 'tweetops_http_requests_total{method="POST",route="/predict",status="200"}'
    bad = 'tweetops_http_requests_total{method="POST",route="/predict",status="422"}'
    predicted = f'tweetops_predictions_total{{label="{label}"}}'
    assert _metric(after.text, ok) - _metric(before, ok) == 1
    assert _metric(after.text, bad) - _metric(before, bad) == 1
    assert _metric(after.text, predicted) - _metric(before, predicted) == 1
    assert f'tweetops_model_info{{version="{service.predictor.version}"}} 1.0' in after.text
    assert 'tweetops_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/predict",status="200"}' \
        in after.text


def test_unknown_paths_are_404_and_counted_as_unmatched(client):
    assert client.get("/nope").status_code == 404
    assert 'route="unmatched"' in client.get("/metrics").text


def test_docs_redoc_and_openapi_are_served(client):
    assert "swagger" in client.get("/docs").text.lower()
    assert "redoc" in client.get("/redoc").text.lower()
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/predict", "/predict/batch", "/model", "/predictions", "/metrics", "/ping", "/invocations",
            "/execution-parameters"} <= set(paths)


def test_openapi_states_each_routes_answer_and_every_invocations_body(client):
    spec = client.get("/openapi.json").json()
    ok = {path: next(iter(operations.values()))["responses"]["200"] for path, operations in spec["paths"].items()}
    json_answers = {path: answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                    for path, answer in ok.items() if "application/json" in answer.get("content", {})}
    assert json_answers == {"/health": "Health", "/predict": "PredictResponse", "/predict/batch": "BatchResponse",
                            "/model": "ModelInfo", "/predictions": "HistoryPage", "/invocations": "Predictions",
                            "/execution-parameters": "ExecutionParameters"}
    assert (set(ok["/metrics"]["content"]), "content" in ok["/ping"]) == ({"text/plain"}, False)
    invocations = spec["paths"]["/invocations"]["post"]
    kinds = {"application/json", "application/jsonlines", "text/csv"}
    assert set(invocations["requestBody"]["content"]) == set(invocations["responses"]["200"]["content"]) == kinds
    wrapped, bare = invocations["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert (wrapped["required"], wrapped["properties"]["instances"], bare["type"]) == (["instances"], bare, "array")
    errors = spec["paths"]["/predict"]["post"]["responses"]
    assert {status: errors[status]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            for status in ("401", "413", "415", "422", "503")} == {
        "401": "Problem", "413": "Problem", "415": "Problem", "422": "ValidationProblem", "503": "Problem"}


def test_execution_parameters_default_and_honour_sagemaker_variables(client, monkeypatch):
    for name in ("WEB_CONCURRENCY", "TWEETOPS_WORKERS", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS",
                 "SAGEMAKER_BATCH_STRATEGY", "SAGEMAKER_MAX_PAYLOAD_IN_MB"):
        monkeypatch.delenv(name, raising=False)
    assert client.get("/execution-parameters").json() == {
        "MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}
    monkeypatch.setenv("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "4")
    monkeypatch.setenv("SAGEMAKER_BATCH_STRATEGY", "SINGLE_RECORD")
    monkeypatch.setenv("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")
    assert client.get("/execution-parameters").json() == {
        "MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 6}
