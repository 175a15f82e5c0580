"""Schemathesis with every check it has, against a real `tweetops serve`: each response matches /openapi.json
(status, content type, headers, body), schema-valid requests are answered, schema-violating ones refused with a
4xx, and none is a 5xx. Bounded and repeatable: 50 examples an operation, deterministic generation."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import serve_env

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


def test_schemathesis_with_every_check_finds_nothing(trained_bundle, tmp_path, start_server):
    server = start_server(serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=1))
    result = subprocess.run(
        [SCHEMATHESIS, "run", f"{server.url}/openapi.json", "--checks", "all", "--max-examples", "50",
         "--generation-deterministic", "--workers", "1", "--no-color"],
        cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}, capture_output=True, text=True,
        timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-10_000:]
    assert re.search(r"Selected: 9/9\s+Tested: 9\n", report), report[-10_000:]  # every route, none skipped
    assert "No issues found" in report
