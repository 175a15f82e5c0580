"""The prediction history in SQLite and in a real PostgreSQL, including a database outage mid-load."""
from __future__ import annotations

import json
import logging
import os

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from tests.servers.ports import wait_until
from tweetops.serving.history import History, is_outage
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


def _journals(history: History) -> list[str]:
    return sorted(p.name for p in history.spool.glob("journal-*.jsonl"))


def _quarantined(history: History) -> list[dict]:
    path = history.spool / "quarantine.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def _gauge(client, name: str) -> float:
    """One unlabelled gauge's value from the API's /metrics."""
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(name + " ")]
    assert len(lines) == 1, lines
    return float(lines[0].split()[1])


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


def test_postgres_outage_mid_load_journals_then_ships_every_record(
        history_client, postgres_server, postgres_url, tweets):
    client, history = history_client(postgres_url, flush_seconds=0.1)
    answered = 0
    try:
        for i, text in enumerate(tweets[:400]):
            if i == 100:
                wait_until(lambda: history.count() == 100, what="the first 100 rows")
                postgres_server.stop()
            if i == 300:
                assert history.pending() == 200  # journaled, waiting for the database
                unshipped = sum(len(line) + 1 for p in history.spool.glob("journal-*.jsonl")
                                for line in p.read_bytes().splitlines()[100:])
                assert _gauge(client, "tweetops_history_backlog_bytes") == unshipped > 0  # what an alert watches
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
    wait_until(lambda: history.pending() == 0, timeout=60, what="the journal shipped")
    assert history.count() == answered == 400
    assert _gauge(client, "tweetops_history_backlog_bytes") == 0
    assert _gauge(client, "tweetops_history_quarantined_records") == 0
    assert client.get("/predictions").json()["total"] == 400


def _read_only(postgres_server, database: str, on: bool) -> None:
    """Make a database read-only (as a hot standby after a failover is), or writable again: the setting holds
    for sessions started afterwards, so every other session of that database is ended."""
    with psycopg.connect(f"host=127.0.0.1 port={postgres_server.port} user=postgres dbname=postgres",
                         autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = {"on" if on else "off"}')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [database])


def test_a_read_only_postgres_keeps_the_records_in_the_journal_until_it_is_writable(
        history_client, postgres_server, postgres_url, tweets, caplog):
    client, history = history_client(postgres_url, flush_seconds=0.1)
    database = make_url(postgres_url).database
    for text in tweets[:10]:
        assert client.post("/predict", json={"text": text}).status_code == 200
    wait_until(lambda: history.count() == 10, what="the first 10 rows")
    caplog.set_level(logging.WARNING, logger="tweetops.history")
    _read_only(postgres_server, database, on=True)
    try:
        assert client.post("/predict/batch", json={"texts": tweets[10:50]}).status_code == 200
        for text in tweets[50:60]:
            assert client.post("/predict", json={"text": text}).status_code == 200
        # The shipper has tried them: the database refused (read-only), or (the defect) they were quarantined.
        wait_until(lambda: "history database unavailable" in caplog.text or _quarantined(history),
                   what="the shipper's first try")
        assert _quarantined(history) == [] and "InternalError" in caplog.text
        assert history.count() == 10 and history.pending() == 50  # none stored, all waiting
    finally:
        _read_only(postgres_server, database, on=False)
    wait_until(lambda: history.pending() == 0, what="the journal shipped")
    assert history.count() == 60 and _quarantined(history) == []
    assert _gauge(client, "tweetops_history_quarantined_records") == 0


def test_what_waits_in_the_journal_is_told_by_sqlstate_class_not_by_exception_type():
    waits = ["25006", "57P01", "57P02", "57P03", "53100", "53200", "53300", "08006", "40001", "40P01", "42P01", "42501"]
    refused = ["22P05", "22001", "23502"]  # a NUL in a text, a value too long, a null: the record itself
    told = {sqlstate: is_outage(DBAPIError.instance("INSERT ...", {}, psycopg.errors.lookup(sqlstate)(), psycopg.Error))
            for sqlstate in waits + refused}
    assert told == {sqlstate: sqlstate in waits for sqlstate in waits + refused}
    assert is_outage(OperationalError("connect", {}, psycopg.OperationalError("refused")))  # no SQLSTATE: by type
    assert not is_outage(ValueError("a journal line that is not JSON"))


def test_close_ships_the_journal(service, tmp_path, tweets):
    history = History(url=f"sqlite:///{tmp_path / 'h.db'}", spool=tmp_path / "spool", flush_seconds=3600).start()
    own = Service(predictor=service.predictor, history=history)
    own.predict(tweets[:250], "req-1")
    own.stop()  # a shipping interval of an hour: only close() can have shipped them
    assert History(url=f"sqlite:///{tmp_path / 'h.db'}", spool=tmp_path / "spool").count() == 250
    assert _journals(history) == []  # shipped to its end, so deleted


def test_close_with_the_database_down_keeps_the_journal_and_the_next_process_ships_it(
        service, tmp_path, tweets, postgres_server, postgres_url):
    history = History(url=postgres_url, spool=tmp_path / "spool", flush_seconds=3600).start()
    Service(predictor=service.predictor, history=history).predict(tweets[:30], "req-2")
    postgres_server.stop()
    try:
        history.close()
        assert len(_journals(history)) == 1 and history.pending() == 30
    finally:
        postgres_server.start()
    journal = history.spool / _journals(history)[0]
    dead = history.spool / "journal-999999999-0123456789ab.jsonl"  # as if its writer were gone: no such pid
    os.rename(journal, dead)
    later = History(url=postgres_url, spool=tmp_path / "spool")
    assert later.flush() == 30
    assert later.count() == 30 and later.pending() == 0 and _journals(later) == []
    later.close()


def test_a_record_shipped_twice_is_never_duplicated(service, tmp_path, tweets):
    history = History(url=f"sqlite:///{tmp_path / 'h.db'}", spool=tmp_path / "spool")
    own = Service(predictor=service.predictor, history=history)
    own.predict(tweets[:10], "req-3")
    assert history.flush() == 10
    for marker in history.spool.glob("*.shipped"):
        marker.unlink()  # as if the process died between the insert and marking it shipped
    assert history.pending() == 10
    assert history.flush() == 10
    assert history.count() == 10 and history.pending() == 0
    history.close()


def test_records_postgres_refuses_are_quarantined_and_never_block_the_others(
        service, tmp_path, tweets, postgres_url):
    """The API refuses NUL and lone surrogates; a direct caller still must not block the history."""
    history = History(url=postgres_url, spool=tmp_path / "spool")
    own = Service(predictor=service.predictor, history=history)
    texts = list(tweets[:600])
    for i in (5, 250, 599):
        texts[i] = f"bad{i}\x00nul"
    texts[300] = "lone \ud800 surrogate"
    for at in range(0, 600, 50):
        own.predict(texts[at:at + 50], f"req-{at}")
    assert history.flush() == 597
    assert history.count() == 597 and history.pending() == 0
    quarantined = _quarantined(history)
    assert [json.loads(q["record"])["text"] for q in quarantined] == [texts[5], texts[250], texts[599]]
    assert all(q["reason"].startswith("DataError: ") for q in quarantined)
    assert history.backlog() == (0, 3)  # /metrics' tweetops_history_quarantined_records
    stored = {item["text"] for item in history.query(limit=1000)["items"]}
    assert "lone ? surrogate" in stored  # sanitised on the way into the journal
    history.close()


def test_a_full_disk_refuses_the_prediction_with_503_and_records_nothing(history_client, tmp_path, tweets):
    client, history = history_client(f"sqlite:///{tmp_path / 'h.db'}")
    assert client.post("/predict", json={"text": tweets[0]}).status_code == 200
    journal_fd = history.journal.fd
    history.journal.fd = os.open("/dev/full", os.O_WRONLY)  # the kernel's own ENOSPC on every write
    try:
        refused = client.post("/predict", json={"text": tweets[1]})
        batch = client.post("/predict/batch", json={"texts": tweets[2:5]})
    finally:
        os.close(history.journal.fd)
        history.journal.fd = journal_fd
    assert (refused.status_code, batch.status_code) == (503, 503)
    assert refused.json()["detail"] == ("the prediction journal cannot be written (No space left on device); the "
                                        "prediction was not answered because it could not be recorded, retry in a "
                                        "moment.")
    assert client.post("/predict", json={"text": tweets[5]}).status_code == 200
    history.flush()
    assert {item["text"] for item in history.query()["items"]} == {tweets[0], tweets[5]}


def test_two_histories_in_one_process_never_retire_each_others_live_journal(service, tmp_path, tweets):
    url, spool = f"sqlite:///{tmp_path / 'h.db'}", tmp_path / "spool"
    first, second = History(url=url, spool=spool), History(url=url, spool=spool)
    Service(predictor=service.predictor, history=first).predict(tweets[:10], "req-a")
    Service(predictor=service.predictor, history=second).predict(tweets[10:30], "req-b")
    assert first.flush() == 10  # its own journal only, and it keeps the other's
    assert len(_journals(first)) == 2
    Service(predictor=service.predictor, history=second).predict(tweets[30:35], "req-c")
    assert second.flush() == 25
    first.close()
    second.close()
    assert first.count() == 35 and _journals(first) == []


def test_a_retry_with_the_same_idempotency_key_is_recorded_once(history_client, tmp_path, tweets):
    client, history = history_client(f"sqlite:///{tmp_path / 'h.db'}")
    texts = tweets[400:403]
    for attempt in range(3):  # a client that lost the answers sends each request again, same keys
        assert client.post("/predict", json={"text": texts[0]}, headers={"Idempotency-Key": "one"}).status_code == 200
        batch = client.post("/predict/batch", json={"texts": texts}, headers={"Idempotency-Key": "batch-1"})
        assert batch.status_code == 200
        invoked = client.post("/invocations", json={"instances": texts[1:]}, headers={"Idempotency-Key": "inv:1"})
        assert invoked.status_code == 200
    assert client.post("/predict", json={"text": texts[0]}).status_code == 200  # no key: each request counts
    assert client.post("/predict", json={"text": texts[0]}).status_code == 200
    history.flush()
    items = client.get("/predictions", params={"limit": 1000}).json()["items"]
    assert history.count() == len(items) == 1 + 3 + 2 + 2
    assert sorted(item["text"] for item in items) == sorted([texts[0]] * 3 + texts + texts[1:])


def test_a_key_used_again_for_other_texts_records_them_too(history_client, tmp_path, tweets):
    """Keys are the clients' own: a second client (or a bug) sending another text with a key already used was
    answered 200 and its record silently dropped as "already recorded" (found by a hostile review)."""
    client, history = history_client(f"sqlite:///{tmp_path / 'h.db'}")
    for text in tweets[500:503]:
        assert client.post("/predict", json={"text": text}, headers={"Idempotency-Key": "K"}).status_code == 200
    assert client.post("/predict/batch", json={"texts": tweets[500:502][::-1]},
                       headers={"Idempotency-Key": "K"}).status_code == 200  # the same texts, at other positions
    history.flush()
    items = client.get("/predictions", params={"limit": 1000}).json()["items"]
    assert history.count() == 5
    assert sorted(item["text"] for item in items) == sorted(tweets[500:503] + tweets[500:502])


@pytest.mark.parametrize("key", ["", "x" * 65, "a key", "ключ"])
def test_a_malformed_idempotency_key_is_refused_with_a_sentence(client, key):
    response = client.post("/predict", json={"text": "fine"}, headers={"Idempotency-Key": key.encode()})
    assert response.status_code == 422
    assert response.json()["detail"] == [{
        "loc": ["header", "Idempotency-Key"], "type": "value_error",
        "msg": "Idempotency-Key must be 1 to 64 letters, digits or . _ : - (send the same key again when you retry)."}]
