"""A real MLflow tracking server with its model registry (SQLite store) on 127.0.0.1."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.ports import free_port, stop_group, wait_until


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> str:
    """A running `mlflow server`; yields its URI and stops it (by process group) at the end."""
    binary = Path(sys.executable).parent / "mlflow"
    if not binary.exists():
        pytest.skip("MLflow is not installed; `make install` installs it (requirements-train.txt)")
    import httpx

    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [str(binary), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1"]
    # Without this MLflow 3 also starts its job runner: ~10 processes and 2.6 GB instead of one worker.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(folder / "server.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        def ready():
            if process.poll() is not None:
                raise pytest.fail(f"mlflow server exited early; see {folder / 'server.log'}")
            return httpx.get(f"{uri}/health", timeout=2).status_code == 200

        wait_until(ready, timeout=90, what="mlflow server")
        yield uri
    finally:
        stop_group(process)
        log.close()
