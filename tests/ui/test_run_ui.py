"""scripts/run_ui.sh (what `make ui` runs): it starts the API and the UI, and Ctrl-C stops both and exits 0."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api.conftest import serve_env
from tests.servers.ports import free_port, wait_until
from tests.ui.conftest import ROOT


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_the_api_and_the_ui_and_exits_0(trained_bundle, tmp_path):
    api_port, ui_port = free_port(), free_port()
    env = serve_env(trained_bundle, tmp_path, API_PORT=api_port, UI_PORT=ui_port, BIN=Path(sys.executable).parent)
    for name in ("PORT", "HOST", "API_URL", "TWEETOPS_API_KEY"):
        env.pop(name, None)
    log = tmp_path / "run_ui.log"
    with open(log, "wb") as out:
        # Its own process group, as a terminal's foreground job is, with SIGINT's default disposition.
        script = subprocess.Popen([str(ROOT / "scripts" / "run_ui.sh")], env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(lambda: script.poll() is not None or f"tweetops UI: http://127.0.0.1:{ui_port}" in log.read_text(),
                   timeout=120, interval=0.2, what="run_ui.sh's URL line")
        assert script.poll() is None, log.read_text()
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{ui_port}/_stcore/health", timeout=2).text == "ok",
                   timeout=60, interval=0.2, what="the UI")
        assert httpx.get(f"http://127.0.0.1:{api_port}/ping", timeout=5).status_code == 200

        os.killpg(script.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground job
        assert script.wait(60) == 0, log.read_text()
        wait_until(lambda: not _group_alive(script.pid), timeout=30, interval=0.2, what="every process to end")
        assert not _listening(api_port) and not _listening(ui_port)
        assert "stopping the UI and the API" in log.read_text()
        assert "error:" not in log.read_text()
    finally:
        if _group_alive(script.pid):
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
