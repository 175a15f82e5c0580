"""A real PostgreSQL (Debian's `postgresql` package) on 127.0.0.1, for the prediction history tests.

initdb and postgres refuse to run as root, so both run as the `postgres` system user (runuser);
the server is started and stopped with pg_ctl. Its folder lives under /tmp (not pytest's
tmp_path, which is private to root) so that user can reach it.
"""
from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers.ports import free_port


def _bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not found or not shutil.which("runuser"):
        pytest.skip("PostgreSQL is missing; `make test` installs it (scripts/install_system_deps.sh)")
    return Path(found[-1])


def _as_postgres(*command: str) -> None:
    result = subprocess.run(["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")


@dataclass
class PostgresServer:
    bin: Path
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def start(self) -> None:
        _as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                     "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder}", "start")

    def stop(self) -> None:
        _as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """An SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL for the session; stopped by pg_ctl at the end."""
    binaries = _bin()
    folder = Path(tempfile.mkdtemp(prefix="tweetops-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    server = PostgresServer(bin=binaries, folder=folder, port=free_port())
    _as_postgres(str(binaries / "initdb"), "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--locale=C.UTF-8")
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except RuntimeError:
            pass  # already stopped by a test that failed mid-outage
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The SQLAlchemy URL of a fresh, empty database for one test."""
    return postgres_server.url(postgres_server.create_database())
