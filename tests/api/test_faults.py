"""The real `tweetops serve` under faults: SIGKILL of workers and of the supervisor, PostgreSQL stopped
mid-load, texts no database can store mixed into the load, a busy port, oversized headers, slow clients.

Counts are by unique request id (X-Request-ID): the rows are exactly the answered predictions, each once
(clients retry a request a kill cut with the same Idempotency-Key).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tests.api.conftest import TWEETOPS, serve_env
from tests.servers.ports import wait_until
from tweetops.io.processes import pid_alive


def _children(pid: int) -> list[int]:
    """The worker processes of a supervisor (not multiprocessing's resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        children = [int(child) for child in handle.read().split()]
    return [child for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


def _workers(server, count: int) -> list[int]:
    """The worker pids, once `count` of them answer."""
    return wait_until(lambda: len(_children(server.process.pid)) == count and _children(server.process.pid),
                      what=f"{count} workers")


class Load:
    """Threads posting /predict with unique request ids until stopped; every 40th text has a NUL or a lone
    surrogate (sent as raw JSON), which must be refused and never recorded. A request whose connection breaks
    (its worker was killed) is sent again with the same Idempotency-Key until it is answered, as a careful
    client does, so every request ends answered or refused."""

    def __init__(self, url: str, tweets: list[str], threads: int = 4):
        self.url, self.tweets = url, tweets
        self.answered: set[str] = set()   # 200
        self.refused: set[str] = set()    # 422
        self.retried: set[str] = set()    # a connection broke at least once: the process was killed
        self.abandoned: set[str] = set()  # still unanswered when stop(abandon=True) gave up on them
        self.unexpected: list[str] = []
        self.sent = 0
        self._stop, self._abandon = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send, args=(k, threads)) for k in range(threads)]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def unstorable(request_id: str) -> bool:
        return int(request_id.split("-")[1]) % 40 in (7, 23)

    def _body(self, i: int) -> bytes:
        tweet = self.tweets[i % len(self.tweets)]
        if i % 40 == 7:
            tweet = f"{tweet[:20]}\x00{tweet[20:]}"
        elif i % 40 == 23:
            tweet = f"\ud83d {tweet}"
        return json.dumps({"text": tweet}).encode()  # ASCII, "\\u0000" and "\\ud83d" escaped

    def _post(self, client: httpx.Client, i: int, request_id: str) -> httpx.Response | None:
        headers = {"content-type": "application/json", "x-request-id": request_id, "idempotency-key": request_id}
        while True:
            try:
                return client.post("/predict", content=self._body(i), headers=headers)
            except httpx.TransportError:
                with self._lock:
                    self.retried.add(request_id)
                if self._abandon.wait(0.02):  # a short back-off while the supervisor replaces the worker
                    return None

    def _send(self, k: int, threads: int) -> None:
        i = k
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                request_id = f"load-{i}"
                response = self._post(client, i, request_id)
                if response is None:
                    self.abandoned.add(request_id)
                    return
                outcome = {200: self.answered, 422: self.refused}.get(response.status_code)
                with self._lock:
                    if outcome is None:
                        self.unexpected.append(f"{request_id}: {response.status_code} {response.text}")
                    else:
                        outcome.add(request_id)
                    self.sent += 1
                i += threads

    def wait_for(self, sent: int) -> None:
        wait_until(lambda: self.sent >= sent, timeout=120, what=f"{sent} requests")

    def stop(self, abandon: bool = False) -> None:
        """Send no new request; wait until each thread's last one is answered, unless `abandon` (the server is
        gone for good)."""
        self._stop.set()
        if abandon:
            self._abandon.set()
        for thread in self._threads:
            thread.join()


def _stored(url: str) -> tuple[int, set[str]]:
    """(rows, their request ids); fails if a record id or a request id (one text per request) is stored twice."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("select count(*), count(distinct id) from predictions")).one()
        ids = {row[0] for row in conn.execute(text("select request_id from predictions"))}
        doubled = conn.execute(text("select request_id, id from predictions where request_id in "
                                    "(select request_id from predictions group by request_id having count(*) > 1)"))
        doubled = doubled.all()
    engine.dispose()
    assert rows[0] == rows[1] and not doubled, f"stored more than once: {doubled[:6]}"
    return rows[0], ids


def test_sigkill_and_a_database_outage_under_load_lose_no_answered_prediction(
        trained_bundle, tmp_path, start_server, tweets, postgres_server, postgres_url):
    env = serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=2, DATABASE_URL=postgres_url,
                    TWEETOPS_HISTORY_FLUSH_SECONDS=0.2)
    server = start_server(env)
    workers = _workers(server, 2)
    load = Load(server.url, tweets)
    try:
        load.wait_for(300)
        os.kill(workers[0], signal.SIGKILL)  # the supervisor starts another
        load.wait_for(600)
        postgres_server.stop()  # answered meanwhile: journaled, shipped when it is back
        load.wait_for(900)
        postgres_server.start()
        load.wait_for(1200)
        os.kill(workers[1], signal.SIGKILL)
        load.wait_for(1500)
    finally:
        load.stop()
    assert server.terminate() == 0  # the journals of both killed workers are shipped by their successors
    rows, ids = _stored(postgres_url)
    assert load.unexpected == [] and load.abandoned == set()
    assert all(map(Load.unstorable, load.refused)) and not any(map(Load.unstorable, load.answered))
    assert load.retried <= load.answered | load.refused  # each request cut by a kill was answered on a retry
    # Exactly the answered requests, each once: a retry of a request journaled before its worker died
    # wrote the same record id (its Idempotency-Key), and "on conflict do nothing" kept one.
    assert ids == load.answered and rows == len(load.answered)
    print(f"sent {load.sent}: answered {len(load.answered)}, refused {len(load.refused)}, "
          f"retried after a SIGKILL cut them {len(load.retried)}; rows {rows}")


def test_a_killed_supervisor_takes_its_workers_down_and_the_next_server_ships_their_journals(
        trained_bundle, tmp_path, start_server, tweets):
    # Its own temporary folder: a server another test starts meanwhile removes a dead supervisor's metrics folder
    # from the shared one (as it should), which this test must see the next server do.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=2, TWEETOPS_HISTORY_FLUSH_SECONDS=3600, TMPDIR=scratch)
    server = start_server(env)
    workers = _workers(server, 2)
    metrics_dirs = set(scratch.glob(f"tweetops-metrics-{server.process.pid}-*"))
    assert len(metrics_dirs) == 1
    load = Load(server.url, tweets)
    try:
        load.wait_for(400)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        wait_until(lambda: not any(pid_alive(pid) for pid in workers), what="the orphaned workers to exit")
    finally:
        load.stop(abandon=True)  # nothing answers on the port now: what was refused a connection never arrived
    assert {p for p in metrics_dirs if p.exists()} == metrics_dirs  # nobody could remove it yet

    # An hour between shipments: only the graceful shutdown of the orphans or the next server ships.
    following = start_server(serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=2, PORT=env["PORT"], TMPDIR=scratch))
    assert not any(p.exists() for p in metrics_dirs)  # the dead supervisor's folder is removed
    assert following.terminate() == 0
    rows, ids = _stored(f"sqlite:///{tmp_path / 'history.db'}")
    assert load.unexpected == []
    assert ids == load.answered  # the orphans finished what they had started; what they refused is not recorded
    assert rows == len(ids) and not list((tmp_path / "spool").glob("journal-*.jsonl"))


def test_a_second_server_on_a_busy_port_is_refused_with_one_sentence(trained_bundle, tmp_path, start_server):
    env = serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=2)
    start_server(env)
    second = subprocess.run([TWEETOPS, "serve"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    assert second.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{env['PORT']} (Address already in use); stop what uses it or set PORT "
        "to a free port."]


def _exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_header_count_and_size_are_bounded_and_slow_clients_are_dropped(trained_bundle, tmp_path, start_server):
    env = serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=1, TWEETOPS_READ_TIMEOUT=2)
    start_server(env)
    port = int(env["PORT"])

    def request(headers: list[str]) -> bytes:
        return ("GET /ping HTTP/1.1\r\nhost: x\r\nconnection: close\r\n" + "".join(h + "\r\n" for h in headers)
                + "\r\n").encode()

    assert _exchange(port, request([f"x-h{i}: v" for i in range(98)])).startswith(b"HTTP/1.1 200 ")  # 100 in all
    too_many = _exchange(port, request([f"x-h{i}: v" for i in range(99)]))
    assert too_many.startswith(b"HTTP/1.1 431 ")
    assert too_many.endswith(b'{"detail":"the request has more than 100 headers; send fewer."}')
    too_long = _exchange(port, b"GET /ping HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 66_000)  # just over 64 KB
    assert too_long.startswith(b"HTTP/1.1 431 ")
    assert too_long.endswith(b'{"detail":"the request\'s headers exceed 64 KB; send fewer or shorter headers."}')
    # Whole requests, each sent at once: the chunk that ends the headers counts too (70 KB and 100 KB were
    # answered 200), and a client that reads only once it has sent 200 KB gets the answer, not a reset.
    assert _exchange(port, request(["x-big: " + "a" * 60_000])).startswith(b"HTTP/1.1 200 ")
    for size in (70_000, 100_000, 200_000):
        refused = _exchange(port, request(["x-big: " + "a" * size]))
        assert refused.startswith(b"HTTP/1.1 431 ")
        assert refused.endswith(b'{"detail":"the request\'s headers exceed 64 KB; send fewer or shorter headers."}')
    # Pipelined behind a request still being answered, the 431 waits its turn (the first answer was lost).
    body = b'{"text": "a pipelined tweet"}'
    first = (b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
             % (len(body), body))
    answered, refusal, rest = _exchange(port, first + request(["x-big: " + "a" * 70_000])).partition(
        b"HTTP/1.1 431 ")
    assert answered.startswith(b"HTTP/1.1 200 ") and b'"label":' in answered and refusal
    assert rest.endswith(b"send fewer or shorter headers.\"}")
    # A URL that arrives in many pieces counts once (each piece was charged a request line: 4 KB gave a 431).
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        slow = b"GET /ping?" + b"a" * 4000 + b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        for piece in re.findall(b".{1,8}", slow, re.DOTALL):
            sock.send(piece)
            time.sleep(0.0005)  # pacing to split the URL into pieces, not a wait on a condition
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")

    # A 128 MB header: the connection is closed once 64 KB have arrived, long before the rest is sent.
    assert _sent_until_cut_off(port, b"GET /ping HTTP/1.1\r\nhost: x\r\nx-big: ") < 16 * 1024 * 1024

    # A chunked body's trailers are not headers: 60 headers and 50 trailer fields are answered (counted together,
    # they passed 100 once the app had started, and the request was never answered).
    chunked = (b"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked"
               b"\r\nconnection: close\r\n" + b"".join(b"x-h%d: v\r\n" % i for i in range(57))
               + b"\r\n%x\r\n%s\r\n0\r\n" % (len(body), body)
               + b"".join(b"x-t%d: v\r\n" % i for i in range(50)) + b"\r\n")
    assert _exchange(port, chunked).startswith(b"HTTP/1.1 200 ")

    # A client that sends nothing, or its request a byte every half second, is dropped after the read timeout.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        assert _closed_by_server(sock)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nx-slow: ")
        assert _closed_while_dripping(sock)
    # The same behind a whole request sent with it: its answer used to leave the slow one without a deadline.
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\nGET /ping HTTP/1.1\r\nx-slow: ")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        assert _closed_while_dripping(sock)


def _closed_while_dripping(sock: socket.socket) -> bool:
    """Send a byte every half second until the server closes the connection (True), or 30 s pass."""
    stop = threading.Event()

    def drip():
        try:
            while not stop.wait(0.5):
                sock.send(b"a")
        except OSError:
            pass

    dripping = threading.Thread(target=drip)
    dripping.start()
    try:
        return _closed_by_server(sock)
    finally:
        stop.set()
        dripping.join()


def _sent_until_cut_off(port: int, start: bytes) -> int:
    """Send `start`, then "a" for ever (up to 128 MB); the bytes sent before the server cut the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(start)
        sent = 0
        try:
            while sent < 128 * 1024 * 1024:
                sent += sock.send(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
    return sent


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the server closes (its 2 s read timeout; the socket's own timeout is 30 s)."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:  # closed with our last bytes unread
        return True


def _read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length body, read off a keep-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(
        b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_body_still_arriving_after_its_early_answer_is_not_taken_for_the_next_headers(trained_bundle, tmp_path,
                                                                                        start_server):
    """Fault injected: a 2 MB body, refused 413 from its Content-Length before it is read, and sent on after the
    answer (a client does not know it was refused until it reads). The rest of the body is the same request's,
    not the next request's headers (it was: counted from the answer on, it passed 64 KB and the connection was
    answered 431 and closed, seen as a flaky UI test under load); the connection goes on serving."""
    env = serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=1)
    start_server(env)
    body = b'{"texts": ["' + b"a" * 2_000_000 + b'"]}'
    with socket.create_connection(("127.0.0.1", int(env["PORT"])), timeout=30) as sock:
        sock.sendall(b"POST /predict/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n" % len(body) + body[:1000])
        assert _read_response(sock).startswith(b"HTTP/1.1 413 ")  # answered; 2 MB of its body still to come
        sock.sendall(body[1000:])
        sock.sendall(b"GET /ping HTTP/1.1\r\nhost: x\r\n\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
