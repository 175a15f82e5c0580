"""The prediction history in SQLite and in a real PostgreSQL, including a database outage mid-load."""
from __future__ import annotations

import pytest

from tests.servers.ports import wait_until
from tweetops.serving.history import History
from tweetops.serving.service import Service


@pytest.fixture
def history_client(make_client, service, tmp_path):
    """(client, history) for a history at `url`, sharing the loaded model."""
    made = []

    def make(url: str, **kwargs):
        history = History(url=url, spool=tmp_path / "spool", **kwargs).start()
        own = Service(predictor=service.predictor, history=history)
        made.append(own)
        return make_client(own), history

    yield make
    for own in made:
        own.stop()


def _spooled(history: History) -> int:
    return sum(1 for _ in history.spool.glob("*.jsonl*"))


def _check_records_match(client, texts):
    items = client.get("/predictions", params={"limit": 1000}).json()["items"]
    by_text = {item["text"]: item for item in items}
    assert set(by_text) == set(texts)
    for item in by_text.values():
        assert item["label"] == max(item["probabilities"], key=item["probabilities"].get)
        assert item["latency_ms"] > 0


def test_sqlite_history_records_every_answered_prediction(history_client, tmp_path, tweets):
    client, history = history_client(f"sqlite:///{tmp_path / 'h.db'}")
    texts = tweets[100:160]
    for text in texts[:20]:
        assert client.post("/predict", json={"text": text}).status_code == 200
    assert client.post("/predict/batch", json={"texts": texts[20:]}).status_code == 200
    assert client.post("/predict", json={"text": ""}).status_code == 422  # not answered: not recorded
    history.flush()
    assert history.count() == 60
    _check_records_match(client, texts)


def test_postgres_history_records_every_answered_prediction(history_client, postgres_url, tweets):
    client, history = history_client(postgres_url)
    texts = tweets[200:300]
    assert client.post("/predict/batch", json={"texts": texts[:50]}).status_code == 200
    for text in texts[50:]:
        assert client.post("/predict", json={"text": text}).status_code == 200
    history.flush()
    assert history.count() == 100
    _check_records_match(client, texts)
    assert client.get("/predictions", params={"label": "positive"}).json()["total"] == sum(
        1 for p in history.query(limit=1000)["items"] if p["label"] == "positive")


def test_postgres_outage_mid_load_spools_then_replays_every_record(
        history_client, postgres_server, postgres_url, tweets):
    client, history = history_client(postgres_url, flush_seconds=0.1)
    answered = 0
    try:
        for i, text in enumerate(tweets[:400]):
            if i == 100:
                wait_until(lambda: history.count() == 100, what="the first 100 rows")
                postgres_server.stop()
            if i == 300:
                wait_until(lambda: _spooled(history) > 0, what="spooled records")
                down = client.get("/predictions")
                assert down.status_code == 503
                assert down.json()["detail"].startswith("the prediction history database is unavailable")
                postgres_server.start()
            response = client.post("/predict", json={"text": text})
            assert response.status_code == 200  # answered whether or not the database is up
            answered += 1
    finally:
        if i < 300:
            postgres_server.start()
    wait_until(lambda: history.count() == answered and _spooled(history) == 0, timeout=60, what="the replay")
    assert history.count() == answered == 400
    assert client.get("/predictions").json()["total"] == 400


def test_close_flushes_the_buffer(service, tmp_path, tweets):
    history = History(url=f"sqlite:///{tmp_path / 'h.db'}", spool=tmp_path / "spool", flush_seconds=3600).start()
    own = Service(predictor=service.predictor, history=history)
    own.predict(tweets[:250], "req-1")
    own.stop()  # a flush interval of an hour: only close() can have written them
    assert History(url=f"sqlite:///{tmp_path / 'h.db'}", spool=tmp_path / "spool").count() == 250


def test_close_with_the_database_down_spools_and_a_later_writer_replays(service, tmp_path, tweets,
                                                                        postgres_server, postgres_url):
    history = History(url=postgres_url, spool=tmp_path / "spool", flush_seconds=3600).start()
    Service(predictor=service.predictor, history=history).predict(tweets[:30], "req-2")
    postgres_server.stop()
    try:
        history.close()
        assert _spooled(history) == 1
    finally:
        postgres_server.start()
    later = History(url=postgres_url, spool=tmp_path / "spool")
    assert later.flush() == 30
    assert later.count() == 30 and _spooled(later) == 0
    later.close()


def test_a_replayed_batch_is_never_duplicated(service, tmp_path, tweets):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    history = History(url=url, spool=tmp_path / "spool")
    own = Service(predictor=service.predictor, history=history)
    own.predict(tweets[:10], "req-3")
    batch = list(history._buffer)
    history.flush()
    history._spool_batch(batch, RuntimeError("simulated: written, but the process died before knowing"))
    history.flush()
    assert history.count() == 10 and _spooled(history) == 0
    history.close()
