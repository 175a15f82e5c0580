"""The monitor workflow's steps, run for real in a scratch copy against a real PostgreSQL history.

GitHub cannot be reached from the tests, so `gh` is a stand-in on PATH that records its argv and
answers as GitHub would (a run id; the retrain run's artefact, here the session's trained bundle).
Slack is a real HTTP server on 127.0.0.1 that receives the webhook's JSON.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.ci.test_workflows import WORKFLOWS, scratch_clone
from tests.ci.workflow_runner import WorkflowRun
from tests.monitoring.conftest import DRIFT, DRIFT_SETS, held_out, read_texts
from tests.release.seal import reseal
from tests.repo_copy import head_sha
from tweetops.serving.history import History, new_record

MONITOR = WORKFLOWS / "monitor_and_retrain.yml"
RETRAIN_RUN_ID = "4242"  # promoted its model: the champion
NOT_PROMOTED_RUN_ID = "5000"  # newer, but its gate kept the champion
FAKE_GH = r"""#!/usr/bin/env bash
# Stand-in for GitHub's `gh` (GitHub cannot be reached from the tests): records argv, answers like GitHub.
set -euo pipefail
printf '%s\n' "$*" >> "$FAKE_GH_LOG"
case "$1 $2" in
  "run list") printf '%s\n' $FAKE_GH_RUN_IDS ;;
  "run download")
    run_id=$3 dir=""
    while [ $# -gt 0 ]; do [ "$1" = "--dir" ] && dir="$2"; shift; done
    mkdir -p "$dir/models/$run_id"
    cp -r "$FAKE_GH_BUNDLES/$run_id/." "$dir/models/$run_id/" ;;
  "workflow run") ;;
  *) echo "fake gh: unexpected command: $*" >&2; exit 1 ;;
esac
"""


class RunWithSecrets(WorkflowRun):
    """WorkflowRun with repository secrets (the base runner has none)."""

    def __init__(self, *args, secrets: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.secrets = secrets

    def _context(self, steps: dict) -> dict:
        return {**super()._context(steps), "secrets": self.secrets}


class _SlackHandler(BaseHTTPRequestHandler):
    received: list

    def do_POST(self):  # noqa: N802 (the standard library's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def slack():
    """(webhook URL, received posts) of a local webhook receiver standing in for Slack."""
    handler = type("Handler", (_SlackHandler,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX", handler.received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def clone(tmp_path_factory, trained_bundle):
    root = scratch_clone(tmp_path_factory.mktemp("monitor-clone"))
    bin_dir = tmp_path_factory.mktemp("fake-bin")
    gh = bin_dir / "gh"
    gh.write_text(FAKE_GH)
    gh.chmod(gh.stat().st_mode | stat.S_IEXEC)
    bundles = tmp_path_factory.mktemp("artefacts")
    for run_id, promoted in ((RETRAIN_RUN_ID, True), (NOT_PROMOTED_RUN_ID, False)):
        shutil.copytree(trained_bundle, bundles / run_id)
        manifest = json.loads((bundles / run_id / "manifest.json").read_text())
        manifest["gate"]["promote"] = promoted
        reseal(bundles / run_id, manifest)  # two retrain runs' artefacts, one promoted and one not
    return root, bin_dir, bundles


def _history(postgres_server, texts: list[str]) -> str:
    url = postgres_server.url(postgres_server.create_database())
    history = History(url=url, spool=Path(os.environ.get("TMPDIR", "/tmp")) / f"spool-{random.random()}")
    history.record([new_record("wf", t, "neutral", {"negative": 0.3, "neutral": 0.4, "positive": 0.3}, "v", 1.0)
                    for t in texts])
    assert history.flush() == len(texts)
    history.close()
    return url


def _run(clone, trained_bundle, slack_url, database_url, tmp_path) -> tuple[WorkflowRun, list[str]]:
    root, bin_dir, bundles = clone
    log = tmp_path / "gh.log"
    log.touch()
    run = RunWithSecrets(MONITOR, root, run_id="77", sha=head_sha(), inputs={"window_hours": "2"},
                         secrets={"DATABASE_URL": database_url, "SLACK_WEBHOOK_URL": slack_url},
                         env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_GH_LOG": str(log),
                              "FAKE_GH_RUN_IDS": f"{NOT_PROMOTED_RUN_ID} {RETRAIN_RUN_ID}",
                              "FAKE_GH_BUNDLES": str(bundles)})
    run.run()
    return run, log.read_text().splitlines()


def test_drift_dispatches_the_retrain_and_notifies(clone, trained_bundle, postgres_server, slack, tmp_path):
    url = _history(postgres_server, random.Random(3).sample(read_texts(DRIFT / DRIFT_SETS[0]), 400))
    run, gh_calls = _run(clone, trained_bundle, slack[0], url, tmp_path)
    assert not run.failed(), run.report()
    status = {r.name: r.status for r in run.results}
    assert status["Dispatch the retrain pipeline"] == status["Notify Slack"] == "success"
    assert gh_calls == [
        "run list --workflow manual_retrain_pipeline.yml --status success --limit 20 --json databaseId --jq "
        ".[].databaseId",
        f"run download {NOT_PROMOTED_RUN_ID} --name tweetops-run-{NOT_PROMOTED_RUN_ID} --dir candidates/"
        f"{NOT_PROMOTED_RUN_ID}",
        f"run download {RETRAIN_RUN_ID} --name tweetops-run-{RETRAIN_RUN_ID} --dir candidates/{RETRAIN_RUN_ID}",
        "workflow run manual_retrain_pipeline.yml -f log_level=INFO"]
    found = next(r for r in run.results if r.name == "Find the champion model")
    assert found.outputs == {"model_dir": f"candidates/{RETRAIN_RUN_ID}/models/{RETRAIN_RUN_ID}"}
    report = json.loads((clone[0] / "reports" / "monitoring" / "latest" / "drift.json").read_text())
    assert report["verdict"] == "drift" and report["current_rows"] == 400
    assert "## Drift monitor: drift" in run.summary and "Retraining dispatched" in run.summary
    path, content_type, message = slack[1][-1]
    assert path == "/services/T000/B000/XXXX" and content_type == "application/json"
    assert "*drift*" in message["text"] and "Retraining dispatched" in message["text"]
    assert "https://github.com/local/tweetops/actions/runs/77" in message["text"]


def test_no_drift_neither_dispatches_nor_pings_slack(clone, trained_bundle, trained_project, postgres_server, slack,
                                                     tmp_path):
    url = _history(postgres_server, held_out(trained_project, trained_bundle))
    posts_before = len(slack[1])
    run, gh_calls = _run(clone, trained_bundle, slack[0], url, tmp_path)
    assert not run.failed(), run.report()
    status = {r.name: r.status for r in run.results}
    assert status["Dispatch the retrain pipeline"] == status["Notify Slack"] == "skipped"
    assert not any(call.startswith("workflow run") for call in gh_calls)
    assert len(slack[1]) == posts_before
    assert "## Drift monitor: no drift" in run.summary and "No retraining dispatched" in run.summary
