#!/usr/bin/env python3
"""Smoke-test a built tweetops image; exit 0 only when every check passes.

    scripts/smoke_test_image.py IMAGE

1. `serve` answers /ping, /predict and /invocations on a loopback port;
2. `batch-predict` over a mounted sample CSV writes one prediction per input row.
Uses $DOCKER (default: docker) and the standard library only, so CI can run it before any install.
"""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

DOCKER = os.environ.get("DOCKER", "docker")
SAMPLE = ["I love this, best day ever!", "This is the worst service I have ever had.",
          "The meeting is at 3pm.", "so happy :)", "ugh, my flight got cancelled again"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=check)


def http(method: str, url: str, body: bytes | None = None, content_type: str = "application/json"):
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for_ping(base: str, name: str, timeout: float = 60.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if http("GET", f"{base}/ping")[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        state = docker("inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip()
        if state == "false":
            raise SystemExit(f"FAIL: the container exited before answering /ping:\n{docker('logs', name).stderr}")
        time.sleep(0.1)
    raise SystemExit(f"FAIL: /ping did not answer 200 within {timeout:.0f} s")


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        raise SystemExit(1)


def smoke_serve(image: str) -> None:
    name, port = f"tweetops-smoke-{os.getpid()}", free_port()
    docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080", image, "serve")
    try:
        base = f"http://127.0.0.1:{port}"
        seconds = wait_for_ping(base, name)
        print(f"ok   /ping 200 ({seconds:.1f} s after start)")
        status, body = http("POST", f"{base}/predict", json.dumps({"text": SAMPLE[0]}).encode())
        check(status == 200 and json.loads(body).get("label") in ("negative", "neutral", "positive"),
              f"/predict 200 with a label ({status})")
        status, body = http("POST", f"{base}/invocations", json.dumps({"instances": SAMPLE}).encode())
        check(status == 200 and len(json.loads(body).get("predictions", [])) == len(SAMPLE),
              f"/invocations 200 with {len(SAMPLE)} predictions ({status})")
        status, _ = http("POST", f"{base}/predict", json.dumps({"text": ""}).encode())
        check(status == 422, f"/predict refuses an empty text with 422 ({status})")
    finally:
        docker("rm", "-f", name, check=False)


def smoke_batch(image: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tweetops-smoke-") as folder:
        folder = Path(folder)
        with open(folder / "sample.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([i, text] for i, text in enumerate(SAMPLE))
        os.chmod(folder, 0o777)  # the image runs as a non-root user
        result = docker("run", "--rm", "-v", f"{folder}:/data", image, "batch-predict",
                        "--input", "/data/sample.csv", "--output", "/data/predictions.csv", check=False)
        check(result.returncode == 0, f"batch-predict exited 0 ({result.returncode}) {result.stderr[-500:]}")
        outputs = sorted(folder.glob("predictions*.csv"))
        rows = [row for path in outputs for row in csv.DictReader(open(path, encoding="utf-8"))]
        check(len(rows) == len(SAMPLE), f"batch-predict wrote {len(SAMPLE)} rows ({len(rows)} in {outputs})")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    smoke_serve(argv[0])
    smoke_batch(argv[0])
    print(f"smoke test of {argv[0]} passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
