"""API keys: every route but /health, /ping, /metrics and /execution-parameters needs one once TWEETOPS_API_KEYS
is set."""
from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

KEYS = "first-key-123,second-key-456"
NON_ASCII = "clé-ключ-鍵-🔑"
MISSING = "an API key is required: send it as X-API-Key or Authorization: Bearer <key>."


@pytest.fixture
def secured(make_client):
    return make_client(TWEETOPS_API_KEYS=KEYS)


@pytest.mark.parametrize("method, path", [
    ("post", "/predict"), ("post", "/predict/batch"), ("get", "/model"), ("get", "/predictions"),
    ("post", "/invocations"), ("get", "/docs"), ("get", "/openapi.json"),
])
def test_protected_routes_need_a_key(secured, method, path):
    response = getattr(secured, method)(path)
    assert response.status_code == 401
    assert response.json() == {"detail": MISSING}
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/health", "/ping", "/metrics", "/execution-parameters"])
def test_open_routes_need_no_key(secured, path):
    assert secured.get(path).status_code == 200


@pytest.mark.parametrize("headers", [
    {"X-API-Key": "first-key-123"}, {"X-API-Key": "second-key-456"},
    {"Authorization": "Bearer second-key-456"}, {"Authorization": "bearer first-key-123"},
])
def test_either_header_with_any_configured_key_passes(secured, headers):
    response = secured.post("/predict", json={"text": "great"}, headers=headers)
    assert response.status_code == 200
    assert response.json()["label"] == "positive"


@pytest.mark.parametrize("headers, reason", [
    ({"X-API-Key": "wrong"}, "the API key is not valid."),
    ({"Authorization": "Bearer wrong"}, "the API key is not valid."),
    ({"X-API-Key": "first-key-12"}, "the API key is not valid."),
    ({"Authorization": "Basic Zmlyc3Q6a2V5"}, "the Authorization header must be 'Bearer <key>'."),
    ({"Authorization": "Bearer "}, "the Authorization header must be 'Bearer <key>'."),
])
def test_wrong_keys_get_401_with_the_reason(secured, headers, reason):
    response = secured.post("/predict", json={"text": "great"}, headers=headers)
    assert (response.status_code, response.json()) == (401, {"detail": reason})


def send_raw(app, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
    """GET /model with these exact header bytes (TestClient would decode and re-encode them)."""
    async def get():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            return await client.get("/model", headers=headers)

    return asyncio.run(get())


@pytest.mark.parametrize("key", ["first-key-123", NON_ASCII])
@pytest.mark.parametrize("header, prefix", [(b"x-api-key", b""), (b"authorization", b"Bearer ")])
def test_ascii_and_non_ascii_keys_pass_as_their_utf8_bytes(make_client, service, key, header, prefix):
    app = make_client(TWEETOPS_API_KEYS=f"{NON_ASCII},first-key-123").app
    response = send_raw(app, [(header, prefix + key.encode())])
    assert (response.status_code, response.json()["run_id"]) == (200, service.predictor.version)


def test_a_non_ascii_key_in_another_encoding_is_not_valid(make_client):
    app = make_client(TWEETOPS_API_KEYS="clé").app
    assert send_raw(app, [(b"x-api-key", "clé".encode())]).status_code == 200
    for raw in ("clé".encode("latin-1"), "clé".encode("utf-16-le")):
        response = send_raw(app, [(b"x-api-key", raw)])
        assert (response.status_code, response.json()) == (401, {"detail": "the API key is not valid."})


def test_without_keys_configured_everything_is_open(client):
    assert client.post("/predict", json={"text": "great"}).status_code == 200


def test_keys_never_reach_the_log(secured, caplog):
    with caplog.at_level(logging.DEBUG):
        secured.post("/predict", json={"text": "great"}, headers={"X-API-Key": "first-key-123"})
        secured.post("/predict", json={"text": "great"}, headers={"X-API-Key": "guess-789"})
    assert "first-key-123" not in caplog.text and "guess-789" not in caplog.text
