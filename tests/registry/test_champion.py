"""Champion/challenger against a real MLflow server: three runs, a rollback, status, and serving @champion."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.registry.conftest import MODEL, registry_cli
from tests.servers.ports import free_port, wait_until
from tweetops.registry import open_registry


def test_the_first_model_beats_the_baselines_and_becomes_champion(tracked):
    first = tracked["runs"]["r1"]
    gate = first["manifest"]["gate"]
    assert gate["promote"] and gate["against"] == "baselines" and gate["champion"] is None
    assert first["champion"].version == first["result"]["registry"]["version"] == "1"
    assert first["champion_link"] == "r1"
    assert set(first["version"].aliases) == {"champion", "challenger"}
    assert first["version"].tags["gate.decision"] == "promote" and first["version"].tags["run_id"] == "r1"


def test_a_worse_model_is_not_promoted_and_its_reasons_are_recorded_everywhere(tracked):
    worse = tracked["runs"]["r2"]
    gate = worse["manifest"]["gate"]
    assert not gate["promote"] and gate["against"] == "champion" and gate["champion"] == "1 (run r1)"
    assert gate["delta"] < 0 and gate["champion_macro_f1"] == tracked["runs"]["r1"]["manifest"]["metrics"]["macro_f1"]
    assert any("below the required +0.0020" in reason for reason in gate["reasons"])
    assert any(reason.startswith("F1 neutral drops by") for reason in gate["reasons"])
    assert worse["champion"].version == "1" and worse["champion_link"] == "r1"
    assert worse["version"].aliases == ["challenger"]
    assert worse["version"].tags["gate.decision"] == "keep"
    assert worse["version"].tags["gate.sentence"] == gate["sentence"]
    assert "Decision: **not promoted** (challenger r2 against champion 1 (run r1)" in worse["summary"]
    assert all(f"- {reason}" in worse["summary"] for reason in gate["reasons"])


def test_a_better_model_is_promoted(tracked):
    better = tracked["runs"]["r3"]
    gate = better["manifest"]["gate"]
    assert gate["promote"] and gate["delta"] >= gate["min_delta"]
    assert max(gate["class_f1_drop"].values()) <= gate["max_class_drop"]
    assert better["champion"].version == "3" and better["champion_link"] == "r3"
    assert set(better["version"].aliases) == {"champion", "challenger"}
    assert "Decision: **promoted**" in better["summary"]


def test_the_run_logged_params_metrics_reports_and_model(tracked):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracked["uri"])
    run = client.get_run(tracked["runs"]["r3"]["result"]["registry"]["mlflow_run_id"])
    assert run.data.params["training.C"] == "2.0"
    assert run.data.metrics["macro_f1"] == tracked["runs"]["r3"]["manifest"]["metrics"]["macro_f1"]
    assert {"baseline_vader_compound_macro_f1", "champion_macro_f1", "f1_neutral"} <= set(run.data.metrics)
    reports = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "reports")}
    assert {"summary.md", "metrics.json", "confusion_matrix.png"} <= reports


def test_status_lists_versions_aliases_and_champion_history(tracked, capsys):
    assert registry_cli(tracked, "status") == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:1].isdigit()}
    assert set(lines) == {"1", "2", "3"}
    assert "champion" in lines["3"] and "r2" in lines["2"] and "not promoted" in lines["2"]
    assert "champion history (oldest first): 1, 3" in out


def test_serving_models_champion_loads_that_version(tracked, tmp_path):
    """The API started with MODEL_URI=models:/tweet-sentiment@champion serves the registry's champion."""
    port = free_port()
    env = {**os.environ, "MODEL_URI": f"models:/{MODEL}@champion", "MLFLOW_TRACKING_URI": tracked["uri"],
           "TWEETOPS_MODEL_CACHE": str(tmp_path / "cache")}
    env.pop("MODEL_DIR", None)
    tweetops = str(Path(sys.executable).parent / "tweetops")
    process = subprocess.Popen([tweetops, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                               env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/ping").status_code == 200, timeout=60, what="API")
        model = httpx.get(f"http://127.0.0.1:{port}/model").json()
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"text": "I love this, best day ever"}).json()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert model["registry"] == {"name": MODEL, "version": "3", "alias": "champion", "run_id": "r3",
                                 "uri": f"models:/{MODEL}@champion"}
    assert model["run_id"] == "r3" and answer["model_version"] == "r3" and answer["label"] == "positive"


def test_rollback_moves_the_champion_back_and_an_unknown_version_is_one_sentence(tracked, capsys):
    root = tracked["root"]
    assert registry_cli(tracked, "rollback") == 0
    assert "from version 3 to version 1" in capsys.readouterr().out
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TWEETOPS_TRACKING", "on")
        patch.setenv("MLFLOW_TRACKING_URI", tracked["uri"])
        assert open_registry(tracked["config"]).champion().version == "1"
    assert (root / "models" / "champion").readlink().name == "r1"
    assert registry_cli(tracked, "rollback") == 2
    assert "no earlier champion" in capsys.readouterr().err
    assert registry_cli(tracked, "promote", "42") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: tweet-sentiment has no version 42") and "Traceback" not in err
