"""The release chain on the real bundled tweets: training publishes nothing, `tweetops publish` only what
its gate promoted, serving loads the champion, and the params of a run are recorded once.

Each test works on a copy of the session's trained project (its champion published by `tweetops run`).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.release.seal import reseal
from tests.servers.ports import free_port, wait_until
from tweetops.cli import main
from tweetops.io.files import read_json

TWEETOPS = str(Path(sys.executable).parent / "tweetops")


@pytest.fixture
def project(trained_project, tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(trained_project, root, symlinks=True)
    return root


def champion(root: Path) -> str:
    return (root / "models" / "champion").readlink().name


def state(root: Path) -> tuple:
    """Everything a publication changes: the champion link and the registry's history."""
    return champion(root), (root / "models" / "champions.json").read_text()


def cli(root: Path, *args: str, capsys) -> tuple[int, str, str]:
    code = main([*args, "--params", str(root / "params.yaml")])
    out, err = capsys.readouterr()
    return code, out, err


def served(root: Path, tmp_path: Path) -> tuple[dict, dict]:
    """(/health, /predict answer) of a real `tweetops serve` started in the project with no model named."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_DIR", "MODEL_URI")}
    env.update(HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="1", TWEETOPS_HISTORY_DB=str(tmp_path / "h.db"),
               TWEETOPS_SPOOL_DIR=str(tmp_path / "spool"))
    process = subprocess.Popen([TWEETOPS, "serve"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        def ready():
            if process.poll() is not None:
                raise AssertionError(f"serve exited {process.returncode}: {process.stderr.read().decode()[-2000:]}")
            return httpx.get(f"http://127.0.0.1:{port}/ping").status_code == 200

        wait_until(ready, timeout=60, what="tweetops serve")
        health = httpx.get(f"http://127.0.0.1:{port}/health").json()
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json={"text": "what a lovely day"}).json()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    return health, answer


def test_a_run_the_gate_refuses_leaves_the_served_model_unchanged(project, tmp_path, capsys, monkeypatch):
    before = state(project)
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("C: 2.0", "C: 0.02"))  # a weaker model: it loses to the champion
    monkeypatch.setenv("TWEETOPS_RUN_ID", "weaker")
    code, out, _ = cli(project, "run", capsys=capsys)
    assert code == 0
    verdict = read_json(project / "models" / "weaker" / "manifest.json")["gate"]
    assert not verdict["promote"] and verdict["against"] == "champion"
    assert f"publish: not published: run weaker was not promoted by its gate ({verdict['sentence']})" in out
    assert state(project) == before
    health, answer = served(project, tmp_path)
    assert health["model_version"] == answer["model_version"] == before[0] and health["champion"] is True
    code, out, err = cli(project, "model-path", capsys=capsys)
    assert Path(out.strip()).name == before[0] and "champion: yes" in err


def test_a_source_with_swapped_columns_stops_before_training_and_changes_nothing(project, capsys):
    """Ids read as texts: every text is a number. Stage 2 says so; nothing after it ran."""
    raw = (project / "data" / "raw" / "tweets_GroundTruth.txt").read_text(encoding="utf-8").splitlines()
    swapped = project / "swapped.tsv"
    swapped.write_text("\n".join("\t".join(reversed(line.split("\t", 2))) for line in raw), encoding="utf-8")
    before, bundles = state(project), sorted(p.name for p in (project / "models").iterdir())
    processed = (project / "data" / "processed" / "train.parquet").read_bytes()
    code, out, err = cli(project, "run", "--source", str(swapped), capsys=capsys)
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == ("error: need at least 2 rated rows of each label to split, found {}; 4,200 of "
                                    "4,200 rows were quarantined, 4,200 of them because text is a number, not words "
                                    "(are the columns swapped?).")
    assert state(project) == before and sorted(p.name for p in (project / "models").iterdir()) == bundles
    assert (project / "data" / "processed" / "train.parquet").read_bytes() == processed  # the last run's, intact


def test_training_alone_publishes_nothing_and_serving_says_what_it_falls_back_to(
        trained_project, tmp_path, capsys, monkeypatch):
    """Stages run one by one (as when debugging) on a project with no champion: the promoted bundle is
    not the champion until `tweetops publish`; until then serve takes it and says so."""
    root = tmp_path / "fresh"
    shutil.copytree(trained_project, root, symlinks=True, ignore=shutil.ignore_patterns("models", "reports"))
    (root / "models").mkdir()
    monkeypatch.setenv("TWEETOPS_RUN_ID", "debug")
    for stage in ("data_ingestion", "data_preparation", "preprocessing", "feature_engineering", "clustering",
                  "model_training"):
        assert cli(root, "stage", stage, capsys=capsys)[0] == 0
    assert read_json(root / "models" / "debug" / "manifest.json")["gate"]["promote"] is True
    assert sorted(p.name for p in (root / "models").glob("[!.]*")) == ["debug"]  # no champion, no history
    health, _ = served(root, tmp_path)
    assert health["champion"] is False and health["model_source"].startswith("the newest bundle that passed its gate")
    code, out, _ = cli(root, "publish", "debug", capsys=capsys)
    assert code == 0 and out == "published: run debug is the champion (local registry version debug).\n"
    assert champion(root) == "debug" and served(root, tmp_path)[0]["champion"] is True
    code, out, _ = cli(root, "publish", "debug", capsys=capsys)  # again: nothing changes
    assert code == 0 and out == "run debug is already the champion (version debug); nothing changed.\n"
    assert len(read_json(root / "models" / "champions.json")) == 1
    # Re-running the last stage would rewrite a published bundle: refused.
    code, _, err = cli(root, "stage", "model_training", capsys=capsys)
    assert code == 2 and "exists already, and a bundle is never rewritten" in err


def test_nothing_to_serve_is_one_sentence(tmp_path, capsys, monkeypatch):
    (tmp_path / "models").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODEL_DIR", raising=False)
    assert main(["model-path"]) == 2
    assert capsys.readouterr().err == (f"error: no champion at {tmp_path}/models/champion and no bundle under "
                                       f"{tmp_path}/models that passed its gate; train one with `make run` (or set "
                                       "MODEL_DIR).\n")


def test_publish_refuses_a_stale_verdict_and_a_bundle_changed_after_training(project, capsys):
    """A verdict names the champion it was judged against; once another is published it no longer holds."""
    first = champion(project)
    other = project / "models" / "rival"
    shutil.copytree(project / "models" / first, other)
    manifest = read_json(other / "manifest.json")
    manifest["gate"] = {**manifest["gate"], "challenger": "rival", "champion_id": None}  # judged with no champion
    reseal(other, {**manifest, "run_id": "rival"})
    code, _, err = cli(project, "publish", "rival", capsys=capsys)
    assert code == 2 and err.splitlines()[-1] == (f"error: the champion changed since run rival was judged (then: "
                                                  f"none, now: {first}); retrain so the gate compares with the "
                                                  "current champion.")
    with open(project / "models" / first / "model.joblib", "ab") as handle:
        handle.write(b"\0")
    code, _, err = cli(project, "publish", first, capsys=capsys)
    assert code == 2 and "does not match the sha256 in its manifest" in err
    assert champion(project) == first and len(read_json(project / "models" / "champions.json")) == 1


def test_a_flag_that_contradicts_the_runs_params_is_refused(project, tmp_path):
    """After a full run with labeled_fraction 1.0, a later stage given 0.3 would describe data prepared with 1.0."""
    run_id = read_json(project / "data" / "interim" / "run.json")["run_id"]
    bundles = sorted(p.name for p in (project / "models").iterdir())
    done = subprocess.run([sys.executable, "-m", "tweetops.pipeline.model_training", "--labeled-fraction", "0.3"],
                          cwd=project, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"error: split.labeled_fraction 0.3 (from --labeled-fraction) contradicts run {run_id}, "
                           "which data_ingestion started with split.labeled_fraction 1.0; the model_training stage "
                           "keeps the run's params, so re-run from data_ingestion (`tweetops run`) to change them.\n")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("n_clusters: 24", "n_clusters: 12"))
    done = subprocess.run([sys.executable, "-m", "tweetops.pipeline.clustering"], cwd=project, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and f"clustering.n_clusters 12 in {params.name} contradicts run {run_id}" in done.stderr
    assert sorted(p.name for p in (project / "models").iterdir()) == bundles
    record = read_json(project / "data" / "interim" / "run.json")
    assert record["params"]["split"]["labeled_fraction"] == 1.0 and record["run_id"] == run_id


def test_a_stage_refuses_outputs_of_another_run(project, monkeypatch):
    """A new run's first stage, then the fourth: the second and third have not run for it."""
    monkeypatch.setenv("TWEETOPS_RUN_ID", "partial")
    params = ["--params", str(project / "params.yaml")]
    assert main(["stage", "data_ingestion", *params]) == 0
    done = subprocess.run([sys.executable, "-m", "tweetops.pipeline.feature_engineering"], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "the preprocessing stage has not finished for run partial" in done.stderr
    stamp = json.loads((project / "data" / "stages" / "data_ingestion.json").read_text())
    assert stamp["run_id"] == "partial" and stamp["result"]["rows"] == 4200


@pytest.mark.parametrize("run_id", ["../outside", "champion", "a b", "monitoring", "x/y"])
def test_a_run_id_that_is_not_a_plain_name_is_refused_before_anything_is_written(project, monkeypatch, run_id):
    monkeypatch.setenv("TWEETOPS_RUN_ID", run_id)
    before = sorted(str(p.relative_to(project)) for p in project.rglob("*"))
    done = subprocess.run([sys.executable, "-m", "tweetops.pipeline.data_ingestion"], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (f"error: run id {run_id!r} cannot name a run: use up to 64 letters, "
                                            "digits, '.', '_' or '-', and none of champion, champions.json, "
                                            "monitoring (TWEETOPS_RUN_ID sets it).")
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == before


def test_restarting_a_run_id_invalidates_the_stages_it_had_finished(project, monkeypatch):
    """GitHub keeps the run id when a workflow is re-run: the later stages of the first attempt must not be
    taken for the second attempt's, or the manifest would describe data the model never saw."""
    monkeypatch.setenv("TWEETOPS_RUN_ID", "rerun")
    params = ["--params", str(project / "params.yaml")]
    for stage in ("data_ingestion", "data_preparation", "preprocessing", "feature_engineering", "clustering"):
        assert main(["stage", stage, *params]) == 0
    assert main(["stage", "data_ingestion", "--labeled-fraction", "0.5", *params]) == 0
    done = subprocess.run([sys.executable, "-m", "tweetops.pipeline.model_training"], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "the clustering stage has not finished for run rerun started at" in done.stderr
    assert not (project / "models" / "rerun").exists()


def test_two_publications_at_once_cannot_both_win(project):
    """Two runs judged when there was no champion: whichever publishes first wins, the other is stale."""
    root = project.parent / "fresh"
    shutil.copytree(project, root, symlinks=True)
    first = champion(root)
    for trace in ("champion", "champions.json", ".published"):  # nothing was ever published here
        (root / "models" / trace).unlink()
    for name in ("one", "two"):
        shutil.copytree(root / "models" / first, root / "models" / name)
        manifest = read_json(root / "models" / name / "manifest.json")
        verdict = {**manifest["gate"], "challenger": name, "champion_id": None}
        reseal(root / "models" / name, {**manifest, "run_id": name, "gate": verdict})
    env = {**os.environ, "TWEETOPS_TRACKING": "off"}
    processes = [subprocess.Popen([TWEETOPS, "publish", name], cwd=root, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for name in ("one", "two")]
    outcomes = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in processes]
    assert sorted(code for code, _, _ in outcomes) == [0, 2], outcomes
    winner = "one" if outcomes[0][0] == 0 else "two"
    loser = next(err for code, _, err in outcomes if code == 2)
    assert f"the champion changed since run {'two' if winner == 'one' else 'one'} was judged" in loser
    assert champion(root) == winner and [e["version"] for e in read_json(root / "models" / "champions.json")] == [
        winner]


def test_a_champion_that_does_not_verify_stops_training_and_an_older_one_lets_the_baselines_decide(
        project, capsys, monkeypatch):
    first = champion(project)
    (project / "models" / first / ".DS_Store").write_bytes(b"stray")
    monkeypatch.setenv("TWEETOPS_RUN_ID", "judged")
    code, _, err = cli(project, "run", capsys=capsys)
    assert code == 2 and not (project / "models" / "judged").exists() and champion(project) == first
    assert err.splitlines()[-1].startswith(f"error: the champion {first} does not verify, so this run cannot be "
                                           f"judged against it ({project}/models/{first}/.DS_Store is not listed")
    (project / "models" / first / ".DS_Store").unlink()
    manifest = read_json(project / "models" / first / "manifest.json")
    del manifest["bundle_format"]  # a champion made by the tweetops before this layout
    reseal(project / "models" / first, manifest)
    code, out, _ = cli(project, "run", capsys=capsys)  # the failed run left nothing to resume: a new attempt
    verdict = read_json(project / "models" / "judged" / "manifest.json")["gate"]
    assert code == 0 and verdict["promote"] and verdict["against"] == "baselines" and verdict["champion"] == first
    assert verdict["reasons"][0].startswith(f"the champion {first} could not be scored (the model at ")
    assert verdict["sentence"].startswith(f"promoted: the champion {first} could not be scored")


def test_a_broken_or_hand_made_champion_link_is_an_error_not_a_fallback(project, capsys):
    first = champion(project)
    shutil.copytree(project / "models" / first, project / "models" / "refused")
    manifest = read_json(project / "models" / "refused" / "manifest.json")
    reseal(project / "models" / "refused", {**manifest, "run_id": "refused",
                                            "gate": {**manifest["gate"], "promote": False}})
    shutil.move(project / "models" / first, project / "elsewhere")
    code, _, err = cli(project, "model-path", capsys=capsys)
    assert code == 2 and err.splitlines()[-1].startswith(f"error: the champion {project}/models/champion is missing "
                                                         "or not a model bundle; restore it")
    (project / "models" / "champion").unlink()
    (project / "models" / "champion").symlink_to("refused")
    code, _, err = cli(project, "model-path", capsys=capsys)
    assert code == 2 and "names refused, a run its gate did not promote, so tweetops never published it" in err


def test_a_lost_champion_link_is_an_error_even_with_no_local_history(project, capsys):
    """With tracking on, MLflow's registry holds the champion history and models/champion is its local mirror:
    losing the link must not make serving take another bundle as if nothing had ever been published (it did).
    A champion linked before models/.published existed gets it the first time it is served."""
    (project / "models" / ".published").unlink()
    assert cli(project, "model-path", capsys=capsys)[0] == 0 and (project / "models" / ".published").exists()
    (project / "models" / "champion").unlink()
    (project / "models" / "champions.json").unlink()
    code, out, err = cli(project, "model-path", capsys=capsys)
    assert code == 2 and out == ""
    assert err.splitlines()[-1] == (f"error: the champion {project}/models/champion is missing or not a model bundle; "
                                    "restore it, or point it at a published version with `tweetops registry promote "
                                    "VERSION` or `rollback`.")


@pytest.mark.parametrize("record, content", [
    ("models/champions.json", "{oops"), ("models/champions.json", '{"a": 1}'), ("data/interim/run.json", "x"),
    ("data/interim/run.json", "{}"), ("data/stages/clustering.json", "[]")])
def test_a_damaged_record_is_one_sentence(project, capsys, record, content):
    (project / record).write_text(content)
    args = ("registry", "status") if record.startswith("models") else ("stage", "model_training")
    code, _, err = cli(project, *args, capsys=capsys)
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[-1] == (f"error: {project / record} is damaged (not the JSON tweetops writes there); "
                                    "restore it, or delete it and run again what writes it.")
