"""Tracking off: the champion is the local models/champion symlink, and the gate works without MLflow."""
from __future__ import annotations

import shutil
import sys

import pytest

from tests.conftest import ROOT
from tweetops import tracking
from tweetops.cli import main
from tweetops.config import load_config
from tweetops.inference import load_predictor
from tweetops.io import read_json


def test_the_session_model_was_gated_against_the_baselines_and_became_the_local_champion(trained_project):
    models = trained_project / "models"
    run_id = (models / "latest").readlink().name
    assert (models / "champion").readlink().name == run_id
    assert [entry["version"] for entry in read_json(models / "champions.json")] == [run_id]
    gate = read_json(models / run_id / "manifest.json")["gate"]
    assert gate["promote"] and gate["against"] == "baselines" and gate["registry"] == "local"
    assert "## Promotion gate" in (trained_project / "reports" / run_id / "summary.md").read_text()
    assert load_predictor(models / "champion").registry is None  # a plain bundle, not fetched from a registry


def test_no_tracking_keeps_mlflow_out_and_an_identical_retrain_is_not_promoted(trained_project, tmp_path,
                                                                               monkeypatch, capsys):
    root = tmp_path / "copy"
    shutil.copytree(trained_project, root, symlinks=True)
    first = (root / "models" / "champion").readlink().name
    # Tracking asked for, at an address nothing listens on: --no-tracking must win and never call it.
    monkeypatch.setenv("TWEETOPS_TRACKING", "on")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("TWEETOPS_RUN_ID", "again")
    params = ["--params", str(root / "params.yaml"), "--no-tracking"]
    assert main(["stage", "data_ingestion", *params]) == 0
    assert main(["stage", "model_training", *params]) == 0
    err = capsys.readouterr().err
    assert "tracking is off (tracking.enabled is false" in err and "127.0.0.1:9" not in err
    gate = read_json(root / "models" / "again" / "manifest.json")["gate"]
    assert not gate["promote"] and gate["champion"] == first and gate["delta"] == pytest.approx(0.0)
    assert (root / "models" / "champion").readlink().name == first
    assert (root / "models" / "challenger").readlink().name == "again"

    local = ["--params", str(root / "params.yaml"), "--no-tracking"]
    assert main(["registry", "promote", "again", *local]) == 0
    assert (root / "models" / "champion").readlink().name == "again"
    assert main(["registry", "status", *local]) == 0
    out = capsys.readouterr().out
    assert f"champion history (oldest first): {first}, again" in out
    assert main(["registry", "rollback", *local]) == 0
    assert f"from version again to version {first}" in capsys.readouterr().out
    assert (root / "models" / "champion").readlink().name == first
    assert main(["registry", "promote", "nope", *local]) == 2
    assert "no model bundle" in capsys.readouterr().err


def test_without_mlflow_installed_tracking_is_off_with_one_log_line(monkeypatch, caplog, tmp_path):
    """As inside the serving image (mlflow is not in requirements.txt): no crash, one line saying why."""
    monkeypatch.setitem(sys.modules, "mlflow", None)  # makes `import mlflow` raise ImportError
    monkeypatch.setenv("TWEETOPS_TRACKING", "on")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    config = load_config(tmp_path / "params.yaml")
    assert config.params.tracking.enabled
    with caplog.at_level("INFO", logger="tweetops.tracking"):
        assert tracking.tracking_for(config) is None
    assert [r.getMessage() for r in caplog.records] == [
        "tracking is off: MLflow is not installed here (it is in requirements-train.txt); "
        "the champion is the local models/champion"]


def test_a_registry_uri_needs_mlflow_and_a_well_formed_name(monkeypatch):
    from tweetops.errors import TweetopsError
    from tweetops.inference import resolve_model_dir

    monkeypatch.delenv("MODEL_DIR", raising=False)
    monkeypatch.setenv("MODEL_URI", "models:/tweet-sentiment")
    with pytest.raises(TweetopsError, match="must look like models:/NAME@ALIAS or models:/NAME/VERSION"):
        resolve_model_dir()
    monkeypatch.setenv("MODEL_URI", "models:/tweet-sentiment@champion")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(TweetopsError, match="needs MLflow, which is not installed here"):
        resolve_model_dir()


def test_a_bad_tracking_switch_is_one_sentence(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TWEETOPS_TRACKING", "maybe")
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", "params.yaml")
    assert main(["registry", "status"]) == 2
    assert capsys.readouterr().err == "error: TWEETOPS_TRACKING must be on or off, got 'maybe'.\n"


def test_an_unreachable_mlflow_server_is_one_sentence(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TWEETOPS_TRACKING", "on")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing answers
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", "params.yaml")
    assert main(["registry", "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: MLflow at http://127.0.0.1:9 failed: ") and err.count("\n") == 1
    assert err.endswith("check MLFLOW_TRACKING_URI or run with --no-tracking.\n")
