"""Bad input is a 4xx with a message that says what to fix, never a 500."""
from __future__ import annotations

import pytest

from tweetops.serving.service import Service

EMPTY = "text is empty; send the tweet's words."
TEXT, TEXTS = ["body", "text"], ["body", "texts"]
SEND = {"/predict": 'send a JSON object such as {"text": "..."}.',
        "/predict/batch": 'send a JSON object such as {"texts": ["..."]}.',
        "/invocations": 'send {"instances": [...]} or a list.'}


def invalid(loc: list, msg: str, kind: str = "value_error") -> dict:
    """FastAPI's 422 body, with one error."""
    return {"detail": [{"loc": loc, "msg": msg, "type": kind}]}


@pytest.mark.parametrize("payload, loc, message, kind", [
    ({"text": ""}, TEXT, EMPTY, "value_error"),
    ({"text": "   \n\t"}, TEXT, EMPTY, "value_error"),
    ({"text": "\u3000\x1c\x85"}, TEXT, EMPTY, "value_error"),  # what str.strip() removes, as the schema says
    ({"text": "\u200b\ufeff\u2060\u00ad\x01"}, TEXT, EMPTY, "value_error"),  # invisible: nothing to classify
    ({"text": 42}, TEXT, "text must be a string, got int.", "value_error"),
    ({"text": None}, TEXT, "text must be a string, got NoneType.", "value_error"),
    ({"text": ["a"]}, TEXT, "text must be a string, got list.", "value_error"),
    ({"text": "x" * 1001}, TEXT, "text has 1,001 characters; the limit is 1,000.", "value_error"),
    ({"text": "a\u0000b"}, TEXT, "text has a NUL character (U+0000) at character 1; remove it.", "value_error"),
    ({}, TEXT, "text is required.", "missing"),
    ({"txt": "hello"}, TEXT, "text is required.", "missing"),
])
def test_predict_rejects_bad_text_with_422_and_a_clear_message(client, payload, loc, message, kind):
    response = client.post("/predict", json=payload)
    assert (response.status_code, response.json()) == (422, invalid(loc, message, kind))


def test_a_lone_surrogate_escaped_in_json_is_422_saying_so(client):
    response = client.post("/predict", content=b'{"text": "a\\ud800b"}', headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (422, invalid(TEXT, (
        "text has a lone surrogate (U+D800) at character 1, which is not a character; send valid Unicode.")))


def test_text_limit_follows_tweetops_max_chars_and_the_schema_says_so(service, make_client, monkeypatch):
    monkeypatch.setenv("TWEETOPS_MAX_CHARS", "20")
    client = make_client(Service(predictor=service.predictor, history=service.history))  # limits read at start
    response = client.post("/predict", json={"text": "x" * 21})
    assert (response.status_code, response.json()) == (422, invalid(TEXT, "text has 21 characters; the limit is 20."))
    assert client.post("/predict", json={"text": "x" * 20}).status_code == 200
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["text"]["maxLength"] == 20
    assert schemas["BatchRequest"]["properties"]["texts"]["items"]["maxLength"] == 20


@pytest.mark.parametrize("payload, loc, message", [
    ({"texts": []}, TEXTS, "texts is empty; send at least one text."),
    ({"texts": "one text"}, TEXTS, "texts must be a list of strings, got str."),
    ({"texts": ["fine", ""]}, [*TEXTS, 1], f"texts[1]: {EMPTY}"),
    ({"texts": ["fine", 3]}, [*TEXTS, 1], "texts[1]: text must be a string, got int."),
    ({"texts": ["ok"] * 1001}, TEXTS, "texts has 1,001 items; the limit is 1,000 per request, so split it."),
    ({"texts": ["ok", "y" * 1001]}, [*TEXTS, 1], "texts[1]: text has 1,001 characters; the limit is 1,000."),
])
def test_batch_rejects_bad_texts_with_422_and_a_clear_message(client, payload, loc, message):
    response = client.post("/predict/batch", json=payload)
    assert (response.status_code, response.json()) == (422, invalid(loc, message))


def test_every_bad_text_of_a_batch_is_named_in_one_422(client):
    """Each bad text with its index, in order, so a client fixes them all at once (only the first was named)."""
    response = client.post("/predict/batch", json={"texts": ["ok", "", 3, "y" * 1001, "fine", "a\u0000"]})
    assert (response.status_code, response.json()) == (422, {"detail": [
        {"loc": [*TEXTS, 1], "msg": f"texts[1]: {EMPTY}", "type": "value_error"},
        {"loc": [*TEXTS, 2], "msg": "texts[2]: text must be a string, got int.", "type": "value_error"},
        {"loc": [*TEXTS, 3], "msg": "texts[3]: text has 1,001 characters; the limit is 1,000.", "type": "value_error"},
        {"loc": [*TEXTS, 5], "msg": "texts[5]: text has a NUL character (U+0000) at character 1; remove it.",
         "type": "value_error"}]})
    many = client.post("/predict/batch", json={"texts": [" "] * 1000}).json()["detail"]
    assert [item["loc"] for item in many] == [[*TEXTS, i] for i in range(100)] + [TEXTS]
    assert many[-1]["msg"] == "texts has more bad items; only the first 100 are listed."


def test_a_batch_without_texts_is_422_saying_it_is_required(client):
    response = client.post("/predict/batch", json={})
    assert (response.status_code, response.json()) == (422, invalid(TEXTS, "texts is required.", "missing"))


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
@pytest.mark.parametrize("body, reason, kind", [
    (b"", "the body is empty", "missing"),
    (b" \r\n", "the body is empty", "missing"),
    (b'{"text": "caf\xe9"}', "the body is not valid UTF-8 (byte 0xe9 at position 13)", "json_invalid"),
    (b'{"text": "unterminated',
     "the body is not valid JSON (Unterminated string starting at: line 1 column 10 (char 9))", "json_invalid"),
    (b"[" * 10_000 + b"]" * 10_000, "the body nests arrays or objects too deeply to read", "json_invalid"),
    (b'{"text": ' + b"9" * 5000 + b"}", "the body has a number over 4,300 digits long", "json_invalid"),
])
def test_an_unreadable_json_body_is_422_saying_why(client, path, body, reason, kind):
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (422, invalid(["body"], f"{reason}; {SEND[path]}", kind))


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.parametrize("body, kind", [
    (b'["hello"]', "an array"), (b'"hello"', "a string"), (b"42", "a number"), (b"4.2", "a number"),
    (b"true", "true or false"), (b"null", "null"),
])
def test_a_json_body_that_is_not_an_object_is_422_naming_what_it_is(client, path, body, kind):
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    send = SEND[path].removeprefix("send ").removesuffix(".")
    assert (response.status_code, response.json()) == (
        422, invalid(["body"], f"the body must be {send}, not {kind}.", "model_attributes_type"))


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.parametrize("headers, what", [
    ({"content-type": "text/plain"}, "Content-Type text/plain"),
    ({"content-type": "application/x-www-form-urlencoded"}, "Content-Type application/x-www-form-urlencoded"),
    ({}, "a body without a Content-Type"),
])
def test_a_body_that_is_not_json_is_415_naming_the_type_to_use(client, path, headers, what):
    response = client.post(path, content=b'{"text": "hello", "texts": ["hello"]}', headers=headers)
    assert (response.status_code, response.json()) == (415, {"detail": f"{what} is not supported; use "
                                                                       "application/json."})


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.tweet+json"])
def test_json_media_types_with_parameters_or_a_json_suffix_are_read(client, content_type):
    body = b'\xef\xbb\xbf{"text": "lovely"}'  # a leading byte order mark is ignored
    response = client.post("/predict", content=body, headers={"content-type": content_type})
    assert (response.status_code, response.json()["label"]) == (200, "positive")


@pytest.mark.parametrize("path", ["/predict", "/predict/batch", "/invocations"])
def test_a_body_over_one_megabyte_is_413(client, path):
    body = b'{"texts": ["' + b"a" * (1024 * 1024) + b'"]}'
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (413, {
        "detail": "the request body is over 1,048,576 bytes; send fewer or shorter texts per request."})


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
    response = client.get("/predictions", params={"label": "angry"})
    assert (response.status_code, response.json()) == (422, invalid(
        ["query", "label"], "query.label: Input should be 'negative', 'neutral' or 'positive'", "literal_error"))
    assert client.get("/predictions", params={"limit": 0}).status_code == 422
    assert client.get("/predictions", params={"offset": -1}).status_code == 422


@pytest.mark.parametrize("moment", ["yesterday", "2026-01-31", "2026-01-31T12:00:00", "2026-01-31 12:00:00Z",
                                    "1769860800", "0.5"])
def test_history_times_must_be_rfc_3339_as_the_schema_says(client, moment):
    response = client.get("/predictions", params={"since": moment})
    assert (response.status_code, response.json()) == (422, invalid(["query", "since"], (
        "query.since: not an RFC 3339 time; send one with its offset, such as 2026-01-31T12:00:00Z.")))


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
