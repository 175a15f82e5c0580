"""Champion/challenger against a real MLflow server: three runs, publishing, a rollback, status, and
serving @champion. Only published runs become registry versions."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.registry.conftest import MODEL, RUNS, registry_cli
from tests.servers.ports import free_port, wait_until
from tweetops.model.bundle import digest
from tweetops.release.registry import open_registry


def test_the_first_model_beats_the_baselines_and_is_published_as_champion(tracked):
    first = tracked["runs"]["r1"]
    gate = first["manifest"]["gate"]
    assert gate["promote"] and gate["against"] == "baselines" and gate["champion"] is None
    assert first["published"] and first["champion"].version == "1" and first["champion_link"] == "r1"
    version = first["versions"]["r1"]
    assert version.aliases == ["champion"] and version.tags["run_id"] == "r1"
    assert version.tags["bundle_digest"] == digest(tracked["root"] / "models" / "r1")
    assert version.tags["gate.sentence"] == gate["sentence"]


def test_a_worse_model_is_not_published_and_its_reasons_are_recorded(tracked):
    worse = tracked["runs"]["r2"]
    gate = worse["manifest"]["gate"]
    assert not gate["promote"] and gate["against"] == "champion" and gate["champion"] == "1 (run r1)"
    assert gate["champion_id"]["digest"] == digest(tracked["root"] / "models" / "r1")
    assert gate["delta"] < 0 and gate["champion_macro_f1"] == tracked["runs"]["r1"]["manifest"]["metrics"]["macro_f1"]
    assert any("below the required +0.0020" in reason for reason in gate["reasons"])
    assert any(reason.startswith("F1 neutral drops by") for reason in gate["reasons"])
    # Never registered: the registry holds only what passed every gate; the champion did not move.
    assert not worse["published"] and "r2" not in worse["versions"]
    assert worse["champion"].version == "1" and worse["champion_link"] == "r1"
    assert "Decision: **not promoted** (challenger r2 against champion 1 (run r1)" in worse["summary"]
    assert all(f"- {reason}" in worse["summary"] for reason in gate["reasons"])


def test_a_better_model_is_published(tracked):
    better = tracked["runs"]["r3"]
    gate = better["manifest"]["gate"]
    assert gate["promote"] and gate["delta"] >= gate["min_delta"]
    assert max(gate["class_f1_drop"].values()) <= gate["max_class_drop"]
    assert better["published"] and better["champion"].version == "2" and better["champion_link"] == "r3"
    assert better["versions"]["r3"].aliases == ["champion"] and better["versions"]["r1"].aliases == []
    assert "Decision: **promoted**" in better["summary"]


def test_every_run_is_tracked_even_the_one_not_published(tracked):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracked["uri"])
    for run_id in ("r2", "r3"):
        run = client.get_run(tracked["runs"][run_id]["result"]["mlflow_run_id"])
        assert run.data.params["training.C"] == {run_id: str(c) for run_id, c in RUNS}[run_id]
        assert run.data.metrics["macro_f1"] == tracked["runs"][run_id]["manifest"]["metrics"]["macro_f1"]
        assert {"baseline_vader_compound_macro_f1", "champion_macro_f1", "f1_neutral"} <= set(run.data.metrics)
        assert run.data.tags["gate.decision"] == {"r2": "keep", "r3": "promote"}[run_id]
    reports = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "reports")}
    assert {"summary.md", "metrics.json", "confusion_matrix.png"} <= reports


def test_the_logged_model_is_code_not_a_pickle_and_predicts_as_the_bundle(tracked, tmp_path):
    """Logged as code (models from code): MLflow keeps our source, not a CloudPickle of an object."""
    import mlflow.pyfunc
    from mlflow.tracking import MlflowClient

    from tweetops.model.bundle import load_bundle

    result = tracked["runs"]["r3"]["result"]
    files = {Path(a.path).name for a in MlflowClient(tracked["uri"]).list_artifacts(result["mlflow_run_id"], "model")}
    assert "mlflow_model.py" in files and "python_model.pkl" not in files
    mlflow.set_tracking_uri(tracked["uri"])
    texts = ["I love this, best day ever!", "This is the worst service I have ever had.", "The meeting is at 3pm."]
    loaded = mlflow.pyfunc.load_model(f"runs:/{result['mlflow_run_id']}/model", dst_path=str(tmp_path))
    assert list(loaded.predict(texts)) == list(load_bundle(tracked["root"] / "models" / "r3").model.predict(texts))


def test_status_lists_published_versions_aliases_and_champion_history(tracked, capsys):
    assert registry_cli(tracked, "status") == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:1].isdigit()}
    assert set(lines) == {"1", "2"} and "r3" in lines["2"] and "champion" in lines["2"]
    assert "r2" not in out
    assert "champion: 2 (run r3); champion history (oldest first): 1, 2" in out
    since = tracked["runs"]["r3"]["champion"].tags["champion_since"]
    assert since.endswith(": the gate promoted it")
    assert out.splitlines()[-1] == f"champion since: {since}"


def test_with_no_tracking_status_names_the_mlflow_champion_instead_of_claiming_no_history(tracked, capsys):
    """models/champion mirrors MLflow's champion; the local registry never published it and says so."""
    from tweetops.cli import main

    root = tracked["root"]
    assert main(["registry", "status", "--no-tracking", "--params", str(root / "params.yaml")]) == 0
    assert capsys.readouterr().out.splitlines()[2:] == [
        "(nothing published in this registry yet: `tweetops run`, or `tweetops publish RUN_ID` after a run)",
        f"champion: r3; champion history (oldest first): not recorded here ({root / 'models' / 'champion'} names "
        "r3, but the local registry never published it: it was published with tracking on, or linked by hand; "
        "`tweetops registry status` without --no-tracking shows MLflow's registry)"]


def test_a_lost_champion_link_is_an_error_not_a_fallback_to_another_bundle(tracked, tmp_path, capsys):
    """MLflow holds the history here, so models/champion is the only local sign of the champion; with it lost,
    model-path took the newest promoted bundle "as no champion is published" (found by a README audit)."""
    from tweetops.cli import main

    root = tmp_path / "copy"
    shutil.copytree(tracked["root"], root, symlinks=True)
    (root / "models" / "champion").unlink()
    assert main(["model-path", "--params", str(root / "params.yaml")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.splitlines()[-1].startswith(f"error: the champion {root}/models/champion is missing or "
                                                         "not a model bundle; restore it")


def test_another_bundle_copied_into_the_champions_folder_is_refused(tracked, tmp_path, capsys):
    """A promoted run's bundle copied over the champion's folder (sealed, so it verifies) was served as the
    champion ("champion: yes", macro-F1 of the other run); registry promote and the gate refused the same folder."""
    from tweetops.cli import main

    root = tmp_path / "copy"
    shutil.copytree(tracked["root"], root, symlinks=True)
    champion = (root / "models" / "champion").resolve()
    assert main(["model-path", "--params", str(root / "params.yaml")]) == 0
    assert capsys.readouterr().out.strip() == str(champion)
    other = next(run for run, _ in RUNS if run != champion.name and tracked["runs"][run]["published"])
    shutil.rmtree(champion)
    shutil.copytree(root / "models" / other, champion)
    assert main(["model-path", "--params", str(root / "params.yaml")]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {root}/models/champion names {champion.name}, whose folder no longer holds the bundle published "
        "there (its manifest's sha256 differs); restore it, or make a published version champion with `tweetops "
        "registry promote VERSION`.")


def test_publishing_a_refused_run_is_one_sentence_and_changes_nothing(tracked, capsys):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TWEETOPS_TRACKING", "on")
        patch.setenv("MLFLOW_TRACKING_URI", tracked["uri"])
        from tweetops.cli import main

        assert main(["publish", "r2", "--params", str(tracked["root"] / "params.yaml")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: run r2 was not promoted by its gate (not promoted: macro-F1")
        assert err.count("\n") == 1
        # r1's verdict was made when there was no champion: publishing it now would use a stale verdict.
        assert main(["publish", "r1", "--params", str(tracked["root"] / "params.yaml")]) == 2
        assert "the champion changed since run r1 was judged (then: none, now: 2 (run r3))" in capsys.readouterr().err
        assert open_registry(tracked["config"].params.tracking, tracked["config"].catalog).champion().version == "2"


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
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"text": "I love this, best day ever"}).json()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert model["registry"] == {"name": MODEL, "version": "2", "alias": "champion", "run_id": "r3",
                                 "uri": f"models:/{MODEL}@champion", "champion": True}
    assert model["run_id"] == "r3" and answer["model_version"] == "r3" and answer["label"] == "positive"
    assert health["champion"] is True and "version 2" in health["model_source"]


def test_rollback_moves_the_champion_back_and_an_unknown_version_is_one_sentence(tracked, capsys):
    root = tracked["root"]
    assert registry_cli(tracked, "rollback") == 0
    assert "from version 2 to version 1" in capsys.readouterr().out
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TWEETOPS_TRACKING", "on")
        patch.setenv("MLFLOW_TRACKING_URI", tracked["uri"])
        assert open_registry(tracked["config"].params.tracking, tracked["config"].catalog).champion().version == "1"
    assert (root / "models" / "champion").readlink().name == "r1"
    assert registry_cli(tracked, "status") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "champion: 1 (run r1); champion history (oldest first): 1"
    assert lines[-1].startswith("champion since: ") and lines[-1].endswith(": rolled back to (tweetops registry "
                                                                           "rollback)")
    assert registry_cli(tracked, "rollback") == 2
    assert "no earlier champion" in capsys.readouterr().err
    assert registry_cli(tracked, "promote", "42") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: tweet-sentiment has no version 42") and "Traceback" not in err

    # Back to version 2 by hand: status says so, on the version that is champion now.
    assert registry_cli(tracked, "promote", "2") == 0
    assert capsys.readouterr().out == "champion is now version 2\n"
    assert registry_cli(tracked, "status") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == "champion: 2 (run r3); champion history (oldest first): 1, 2"
    assert lines[-1].startswith("champion since: ") and lines[-1].endswith(
        ": promoted by hand (tweetops registry promote)")
