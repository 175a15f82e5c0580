"""A real Docker daemon for the image tests: one that already answers, else a private one.

The private daemon (scripts/docker_sandbox.sh) runs under its own folder with its own socket, and
builds a stand-in python:3.11-slim from a Debian mirror when no registry is reachable. It is removed
at the end of the session (containers, daemon, docker0, mounts, folder).
Skipped, with the reason, only where Docker cannot run at all: not root and no daemon to talk to,
no dockerd installable, or a daemon that will not start. Any other failure is a test failure.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "scripts" / "docker_sandbox.sh"


@dataclass
class DockerDaemon:
    host: str
    client: str

    def env(self, **extra) -> dict:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER": self.client, **extra}

    def __call__(self, *args, check: bool = True, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
        """Run the docker client; on failure the assertion shows its output."""
        result = subprocess.run([self.client, *map(str, args)], env=self.env(), capture_output=True, text=True,
                                timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} exited {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result


def _existing_daemon() -> DockerDaemon | None:
    client = shutil.which("docker")
    if not client or os.environ.get("TWEETOPS_PRIVATE_DOCKERD") == "1":
        return None
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        ok = subprocess.run([client, "info"], env={**os.environ, "DOCKER_HOST": host}, capture_output=True,
                            timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return DockerDaemon(host, client) if ok else None


@pytest.fixture(scope="session")
def docker_daemon():
    existing = _existing_daemon()
    if existing:
        yield existing
        return
    if os.geteuid() != 0:
        pytest.skip("Docker cannot run here: no daemon answers and starting a private dockerd needs root "
                    "(run the tests as root, or start Docker and set DOCKER_HOST).")
    folder = tempfile.mkdtemp(prefix="tod-", dir="/tmp")  # short: the daemon's unix socket lives here
    up = subprocess.run([str(SANDBOX), "up", folder], capture_output=True, text=True, timeout=900)
    try:
        if up.returncode == 3:  # the sandbox's "Docker cannot run on this machine"
            pytest.skip(f"Docker cannot run here: {up.stderr.strip().splitlines()[-1] if up.stderr.strip() else ''}")
        if up.returncode != 0:
            pytest.fail(f"the private Docker daemon did not come up:\n{up.stderr[-3000:]}")
        values = dict(line.split("=", 1) for line in up.stdout.splitlines() if "=" in line)
        yield DockerDaemon(values["DOCKER_HOST"], values["DOCKER"])
    finally:
        subprocess.run([str(SANDBOX), "down", folder], capture_output=True, text=True, timeout=300)
