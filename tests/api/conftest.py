"""API fixtures: one loaded service shared by in-process apps, and real `tweetops serve` processes."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

with warnings.catch_warnings():  # Starlette 1.x nudges towards httpx2; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tweetops.serving.app import create_app
from tests.servers.ports import free_port, wait_until
from tweetops.serving.history import History
from tweetops.serving.service import Service

TWEETOPS = str(Path(sys.executable).parent / "tweetops")


@pytest.fixture(scope="session")
def tweets(raw_path) -> list[str]:
    """The bundled tweets' texts (4,200)."""
    frame = pd.read_csv(raw_path, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE)
    return frame["text"].astype(str).tolist()


@pytest.fixture(scope="session")
def service(trained_bundle, tmp_path_factory):
    """The trained model, loaded once, with a SQLite history of its own."""
    folder = tmp_path_factory.mktemp("service")
    history = History(url=f"sqlite:///{folder / 'history.db'}", spool=folder / "spool", flush_seconds=0.1).start()
    svc = Service().start(trained_bundle, history=history)
    yield svc
    svc.stop()


@pytest.fixture
def make_client(service, monkeypatch):
    """Build an in-process client (the app reads TWEETOPS_API_KEYS when its first request arrives)."""
    monkeypatch.delenv("TWEETOPS_API_KEYS", raising=False)
    clients = []

    def make(svc: Service | None = None, **env) -> TestClient:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        client = TestClient(create_app(svc or service, load=False), raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


@dataclass
class ServeProcess:
    """A real `tweetops serve` subprocess on 127.0.0.1."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (a graceful shutdown), then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise


def serve_env(model_dir: Path, folder: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TWEETOPS_API_KEYS", "DATABASE_URL", "MODEL_DIR",
                                                            "PROMETHEUS_MULTIPROC_DIR")}
    env.update(HOST="127.0.0.1", PORT=str(free_port()), MODEL_DIR=str(model_dir),
               TWEETOPS_HISTORY_DB=str(folder / "history.db"), TWEETOPS_SPOOL_DIR=str(folder / "spool"))
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def start_server(tmp_path):
    """start_server(env, verify=...) -> a ready ServeProcess; every one is stopped after the test."""
    started = []

    def start(env: dict, verify=True) -> ServeProcess:
        scheme = "https" if env.get("TWEETOPS_TLS_CERT") else "http"
        log_path = tmp_path / f"serve-{len(started)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen([TWEETOPS, "serve"], env=env, cwd=tmp_path, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        server = ServeProcess(process, f"{scheme}://127.0.0.1:{env['PORT']}", log_path)
        started.append(server)

        def ready():
            exited = process.poll() is not None
            return exited or httpx.get(server.url + "/ping", verify=verify, timeout=2).status_code == 200

        wait_until(ready, timeout=90, interval=0.25, what="tweetops serve")
        if process.poll() is not None:
            raise AssertionError(f"tweetops serve exited with {process.returncode}:\n{server.log()}")
        return server

    yield start
    for server in started:
        if server.process.poll() is None:
            server.terminate()
