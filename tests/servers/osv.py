"""An OSV vulnerability API on 127.0.0.1, serving the OSV-format records a test gives it.

The real database (api.osv.dev) cannot be reached from the tests. This speaks the two routes pip-audit
and scripts/vulnerability_gate.py use, as OSV does: POST /v1/query ({"package": {"name", "ecosystem"},
"version"} -> {"vulns": [records affecting that version]}, {} when none) and GET /v1/vulns/{id} (one
record, 404 if unknown). A record affects a version listed in its `versions` or inside one of its
ECOSYSTEM ranges (introduced <= version < fixed), compared as PEP 440 versions.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.servers.http import answer_json


def affects(record: dict, name: str, version: str) -> bool:
    for affected in record.get("affected", []):
        package = affected["package"]
        if package["ecosystem"] != "PyPI" or canonicalize_name(package["name"]) != canonicalize_name(name):
            continue
        if version in affected.get("versions", []):
            return True
        for span in affected.get("ranges", []):
            if span["type"] != "ECOSYSTEM":
                continue
            start = next((Version(e["introduced"]) for e in span["events"] if "introduced" in e), Version("0"))
            end = next((Version(e["fixed"]) for e in span["events"] if "fixed" in e), None)
            if start <= Version(version) and (end is None or Version(version) < end):
                return True
    return False


@dataclass
class OsvApi:
    url: str
    records: list = field(default_factory=list)
    queries: list = field(default_factory=list)  # (name, version) of each POST /v1/query


class _Handler(BaseHTTPRequestHandler):
    api: OsvApi

    def _answer(self, status: int, body: dict) -> None:
        answer_json(self, status, body)

    def do_POST(self):  # noqa: N802 (the standard library's name)
        if self.path != "/v1/query":
            return self._answer(404, {"code": 5, "message": "Not Found"})
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name, version = query["package"]["name"], query["version"]
        self.api.queries.append((name, version))
        found = [r for r in self.api.records if affects(r, name, version)]
        self._answer(200, {"vulns": found} if found else {})

    def do_GET(self):  # noqa: N802
        wanted = self.path.removeprefix("/v1/vulns/")
        record = next((r for r in self.api.records if r["id"] == wanted), None)
        self._answer(200, record) if record else self._answer(404, {"code": 5, "message": "Bug not found."})

    def log_message(self, *args):
        pass


@contextmanager
def running_osv_api(records: list | None = None):
    """An OsvApi on 127.0.0.1 holding `records` (append more to .records); .url is the base (OSV_API_URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {}))
    server.RequestHandlerClass.api = api = OsvApi(f"http://127.0.0.1:{server.server_address[1]}", list(records or []))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def osv_api():
    with running_osv_api() as api:
        yield api
