"""Tracking off: the champion is the local models/champion symlink, and the gate works without MLflow."""
from __future__ import annotations

import shutil
import sys

import pytest

from tests.conftest import ROOT
from tweetops.cli import main
from tweetops.io.files import read_json
from tweetops.model.bundle import digest
from tweetops.release import tracking
from tweetops.serving.inference import load_predictor
from tweetops.settings import load_config


def test_the_session_model_was_gated_against_the_baselines_and_published_as_the_local_champion(trained_project):
    models = trained_project / "models"
    run_id = (models / "champion").readlink().name
    [entry] = read_json(models / "champions.json")
    assert entry["version"] == run_id and entry["digest"] == digest(models / run_id)
    gate = read_json(models / run_id / "manifest.json")["gate"]
    assert gate["promote"] and gate["against"] == "baselines" and gate["registry"] == "local"
    assert "## Promotion gate" in (trained_project / "reports" / run_id / "summary.md").read_text()
    predictor = load_predictor(models / "champion")
    assert predictor.choice.registry is None and predictor.choice.champion is True


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
    assert main(["run", *params]) == 0
    out, err = capsys.readouterr()
    assert "tracking is off (tracking.enabled is false" in err and "127.0.0.1:9" not in err
    gate = read_json(root / "models" / "again" / "manifest.json")["gate"]
    assert not gate["promote"] and gate["champion"] == first and gate["delta"] == pytest.approx(0.0)
    assert "publish: not published: run again was not promoted by its gate" in out
    assert (root / "models" / "champion").readlink().name == first
    assert not (root / "models" / "challenger").exists() and not (root / "models" / "latest").exists()

    # A run that was never published cannot be made champion by hand either.
    assert main(["publish", "again", *params]) == 2
    assert "run again was not promoted by its gate" in capsys.readouterr().err
    assert main(["registry", "promote", "again", *params]) == 2
    assert "again was never published" in capsys.readouterr().err
    assert main(["registry", "promote", first, *params]) == 0  # the champion already: nothing changes
    assert capsys.readouterr().out == f"version {first} is already the champion; nothing changed.\n"
    assert main(["registry", "status", *params]) == 0
    [published] = read_json(root / "models" / "champions.json")
    assert capsys.readouterr().out.splitlines()[2:] == [
        f"{first:<20} {first:<20} {'champion':<12} {published['macro_f1']:>8.4f}  {published['at']}: the gate "
        "promoted it",
        f"champion: {first}; champion history (oldest first): {first}",
        f"champion since: {published['at']}: the gate promoted it"]
    assert main(["registry", "rollback", *params]) == 2  # no earlier *different* champion
    assert "there is no earlier champion to roll back to" in capsys.readouterr().err
    history = root / "models" / "champions.json"
    assert (root / "models" / "champion").readlink().name == first and len(read_json(history)) == 1

    # A folder where the champion link belongs: one sentence, exit 2, nothing written.
    before = history.read_bytes()
    (root / "models" / "champion").unlink()
    shutil.copytree(root / "models" / first, root / "models" / "champion")
    assert main(["registry", "promote", first, *params]) == 2
    assert "champion is a folder, not the link to the champion's bundle" in capsys.readouterr().err
    assert history.read_bytes() == before
    shutil.rmtree(root / "models" / "champion")
    (root / "models" / "champion").symlink_to(first)
    # A hand-edited score that is not a number: the damaged sentence, not a traceback.
    history.write_text(before.decode().replace('"macro_f1": ', '"macro_f1": "high", "was": ', 1))
    assert main(["registry", "status", *params]) == 2
    assert "recorded macro-F1 ('high') is not a number" in capsys.readouterr().err


def test_without_mlflow_installed_tracking_is_off_with_one_log_line(monkeypatch, caplog, tmp_path):
    """As inside the serving image (mlflow is not in requirements.txt): no crash, one line saying why."""
    monkeypatch.setitem(sys.modules, "mlflow", None)  # makes `import mlflow` raise ImportError
    monkeypatch.setenv("TWEETOPS_TRACKING", "on")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    config = load_config(tmp_path / "params.yaml")
    assert config.params.tracking.enabled
    with caplog.at_level("INFO", logger="tweetops.tracking"):
        assert tracking.tracking_for(config.params.tracking, config.catalog) is None
    assert [r.getMessage() for r in caplog.records] == [
        "tracking is off: MLflow is not installed here (it is in requirements-train.txt); "
        "the champion is the local models/champion"]


def test_a_registry_uri_needs_mlflow_and_a_well_formed_name(monkeypatch):
    from tweetops.errors import TweetopsError
    from tweetops.serving.inference import resolve_model

    monkeypatch.delenv("MODEL_DIR", raising=False)
    monkeypatch.setenv("MODEL_URI", "models:/tweet-sentiment")
    with pytest.raises(TweetopsError, match="must look like models:/NAME@ALIAS or models:/NAME/VERSION"):
        resolve_model()
    monkeypatch.setenv("MODEL_URI", "models:/tweet-sentiment@champion")
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(TweetopsError, match="needs MLflow, which is not installed here"):
        resolve_model()


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
