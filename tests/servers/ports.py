"""Helpers for the real servers the tests start on 127.0.0.1."""
from __future__ import annotations

import socket
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
