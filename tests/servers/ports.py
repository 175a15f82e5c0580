"""Helpers for the real servers the tests start on 127.0.0.1."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_port_with_grpc(offset: int = 10000) -> int:
    """A free port p whose p + offset is free too (SeaweedFS puts its gRPC port there)."""
    for _ in range(200):
        port = random.randint(20000, 65535 - offset - 1)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + offset))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair found on 127.0.0.1")


def wait_until(check, timeout: float = 30.0, interval: float = 0.1, what: str = "server"):
    """Call `check` until it returns a truthy value (exceptions count as not yet); else fail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(interval)
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f}s (last error: {last!r})")


def stop_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the server's whole process group (it was started with start_new_session), SIGKILL if it lingers."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
