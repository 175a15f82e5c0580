"""Bad input is a 4xx with a message that says what to fix, never a 500."""
from __future__ import annotations

import pytest

from tweetops.serving.service import Service

EMPTY = "text is empty; send the tweet's words."


@pytest.mark.parametrize("payload, message", [
    ({"text": ""}, EMPTY),
    ({"text": "   \n\t"}, EMPTY),
    ({"text": 42}, "text must be a string, got int."),
    ({"text": None}, "text must be a string, got NoneType."),
    ({"text": ["a"]}, "text must be a string, got list."),
    ({"text": "x" * 1001}, "text has 1,001 characters; the limit is 1,000."),
    ({"text": "a\u0000b"}, "text has a NUL character (U+0000) at character 1; remove it."),
    ({}, "text is required."),
    ({"txt": "hello"}, "text is required."),
    (["hello"], "the body must be a JSON object"),
])
def test_predict_rejects_bad_text_with_422_and_a_clear_message(client, payload, message):
    response = client.post("/predict", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"] == message


def test_a_lone_surrogate_escaped_in_json_is_422_saying_so(client):
    response = client.post("/predict", content=b'{"text": "a\\ud800b"}', headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == ("text has a lone surrogate (U+D800) at character 1, which is not a character; "
                                         "send valid Unicode.")


def test_text_limit_follows_tweetops_max_chars_and_the_schema_says_so(service, make_client, monkeypatch):
    monkeypatch.setenv("TWEETOPS_MAX_CHARS", "20")
    client = make_client(Service(predictor=service.predictor, history=service.history))  # limits read at start
    response = client.post("/predict", json={"text": "x" * 21})
    assert (response.status_code, response.json()["detail"]) == (422, "text has 21 characters; the limit is 20.")
    assert client.post("/predict", json={"text": "x" * 20}).status_code == 200
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["text"]["maxLength"] == 20
    assert schemas["BatchRequest"]["properties"]["texts"]["items"]["maxLength"] == 20


@pytest.mark.parametrize("payload, message", [
    ({"texts": []}, "texts is empty; send at least one text."),
    ({"texts": "one text"}, "texts must be a list of strings, got str."),
    ({"texts": ["fine", ""]}, f"texts[1]: {EMPTY}"),
    ({"texts": ["fine", 3]}, "texts[1]: text must be a string, got int."),
    ({"texts": ["ok"] * 1001}, "texts has 1,001 items; the limit is 1,000 per request, so split it."),
    ({"texts": ["ok", "y" * 1001]}, "texts[1]: text has 1,001 characters; the limit is 1,000."),
    ({}, "texts is required."),
])
def test_batch_rejects_bad_texts_with_422_and_a_clear_message(client, payload, message):
    response = client.post("/predict/batch", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"] == message


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
def test_malformed_json_is_422_saying_so(client, path):
    response = client.post(path, content=b'{"text": "unterminated', headers={"content-type": "application/json"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("the body is not valid JSON (") and detail.endswith(
        'send a JSON object such as {"text": "..."}.')


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
def test_a_body_over_one_megabyte_is_413(client, path):
    body = b'{"texts": ["' + b"a" * (1024 * 1024) + b'"]}'
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "the request body is over 1,048,576 bytes; send fewer or shorter texts per request.")


def test_a_chunked_body_over_the_limit_is_413_too(client):
    def chunks():
        for _ in range(1100):
            yield b"a" * 1024  # no Content-Length: the limit is enforced while reading

    response = client.post("/predict/batch", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_the_body_limit_honours_sagemaker_max_payload(service, make_client, monkeypatch):
    monkeypatch.setenv("SAGEMAKER_MAX_PAYLOAD_IN_MB", "2")
    client = make_client(Service(predictor=service.predictor, history=service.history))
    body = b'{"texts": ["' + b"a" * (1024 * 1024) + b'"]}'
    response = client.post("/predict/batch", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422  # past the size check; now it is the text that is too long


def test_bad_history_queries_are_422(client):
    assert client.get("/predictions", params={"label": "angry"}).json()["detail"] == (
        "query.label: Input should be 'negative', 'neutral' or 'positive'")
    assert client.get("/predictions", params={"limit": 0}).status_code == 422
    assert client.get("/predictions", params={"offset": -1}).status_code == 422


@pytest.mark.parametrize("moment", ["yesterday", "2026-01-31", "2026-01-31T12:00:00", "2026-01-31 12:00:00Z",
                                    "1769860800", "0.5"])
def test_history_times_must_be_rfc_3339_as_the_schema_says(client, moment):
    response = client.get("/predictions", params={"since": moment})
    assert (response.status_code, response.json()["detail"]) == (
        422, "query.since: not an RFC 3339 time; send one with its offset, such as 2026-01-31T12:00:00Z.")


def test_history_times_at_the_calendars_ends_mean_before_or_after_every_record(client, service):
    client.post("/predict", json={"text": "a day to remember"})
    service.history.flush()
    everything = client.get("/predictions", params={"limit": 1}).json()["total"]
    assert everything >= 1
    first, last = "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"  # past datetime's range in UTC
    assert client.get("/predictions", params={"since": first, "limit": 1}).json()["total"] == everything
    assert client.get("/predictions", params={"until": first, "limit": 1}).json()["total"] == 0
    assert client.get("/predictions", params={"since": last, "limit": 1}).json()["total"] == 0
    assert client.get("/predictions", params={"until": last, "limit": 1}).json()["total"] == everything


def test_a_request_with_more_than_100_headers_is_431(client):
    sent = len(client.build_request("GET", "/ping").headers)  # the client's own: host, accept, user-agent, ...
    extra = {f"x-extra-{i}": "1" for i in range(100 - sent)}
    assert client.get("/ping", headers=extra).status_code == 200
    response = client.get("/ping", headers={**extra, "x-one-more": "1"})
    assert (response.status_code, response.json()) == (
        431, {"detail": "the request has 101 headers; the limit is 100, so send fewer."})
