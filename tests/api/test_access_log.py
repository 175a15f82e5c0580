"""LOG_FORMAT=json on a real `tweetops serve`: every line a JSON object, one access line per request, and one
request id from the X-Request-ID header through the log lines, the response and the history row; never a text
or a key in the log."""
from __future__ import annotations

import json

import httpx

from tests.api.conftest import serve_env
from tweetops.serving.history import History

KEY = "s3cret-key-of-the-test"
TEXT = "a very particular sentence nobody else would send 8731"


def test_json_logs_carry_the_request_id_and_never_a_text_or_a_key(trained_bundle, tmp_path, start_server):
    server = start_server(serve_env(trained_bundle, tmp_path, LOG_FORMAT="json", TWEETOPS_API_KEYS=KEY,
                                    WEB_CONCURRENCY=2))
    headers = {"X-API-Key": KEY, "X-Request-ID": "trace-42"}
    answer = httpx.post(server.url + "/predict", json={"text": TEXT}, headers=headers)
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "trace-42"
    refused = httpx.post(server.url + "/predict", json={"text": ""}, headers={**headers, "X-Request-ID": "bad-1"})
    assert refused.status_code == 422
    assert httpx.get(server.url + "/model", headers={"X-API-Key": "wrong-key"}).status_code == 401
    assert server.terminate() == 0

    log = server.log()
    lines = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) and line["time"].endswith("Z") for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "tweetops.access"}
    version = trained_bundle.name
    assert access["trace-42"] | {"latency_ms": 0, "time": ""} == {
        "time": "", "level": "INFO", "logger": "tweetops.access", "message": access["trace-42"]["message"],
        "request_id": "trace-42", "route": "/predict", "method": "POST", "status": 200, "latency_ms": 0,
        "model_version": version}
    assert access["trace-42"]["message"].startswith("POST /predict 200 ") and access["trace-42"]["latency_ms"] > 0
    assert access["bad-1"]["status"] == 422
    assert sorted(line["status"] for line in access.values() if line["route"] == "/model") == [401]
    assert TEXT not in log and KEY not in log and "wrong-key" not in log
    assert any(line["message"].startswith("serving model") and line.get("model_version") == version for line in lines)
    history = History(url=f"sqlite:///{tmp_path / 'history.db'}", spool=tmp_path / "spool")
    assert [item["request_id"] for item in history.query()["items"]] == ["trace-42"]  # the same id in the history
