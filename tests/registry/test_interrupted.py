"""A change of champion killed half way (SIGKILL right after the registry's commit, before its mirrors), then
the same command run again: it repairs, and says so. Promoting the champion again changes nothing; a bundle
rolled back from is not published again as a new version. Both registries, on real stores and processes."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.release.seal import reseal
from tests.servers.mlflow import mlflow_server  # noqa: F401  (fixture)
from tweetops.cli import main
from tweetops.io.files import read_json
from tweetops.release.registry import open_registry
from tweetops.settings import load_config

# Runs the tweetops command in argv[3:], with argv[1]'s attribute argv[2] wrapped to SIGKILL the process right
# after it returns, as a power cut or an OOM kill would at that point.
KILLER = """
import importlib, os, signal, sys
owner = importlib.import_module(sys.argv[1])
*parents, name = sys.argv[2].split(".")
for parent in parents:
    owner = getattr(owner, parent)
original = getattr(owner, name)
def killed(*args, **kwargs):
    original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
setattr(owner, name, killed)
from tweetops.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture
def project(trained_project, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "project"
    shutil.copytree(trained_project, root, symlinks=True)
    (tmp_path / "killer.py").write_text(KILLER)
    monkeypatch.setenv("TWEETOPS_TRACKING", "off")
    return root


def cli(root: Path, *args: str, capsys) -> tuple[int, str, str]:
    code = main([*args, "--params", str(root / "params.yaml")])
    out, err = capsys.readouterr()
    return code, out, err


def killed(root: Path, module: str, attribute: str, *args: str) -> int:
    """`tweetops ARGS` in a real process killed right after `module.attribute` returns; its exit status."""
    done = subprocess.run([sys.executable, str(root.parent / "killer.py"), module, attribute, *args, "--params",
                           str(root / "params.yaml")], cwd=root, capture_output=True, text=True, timeout=300)
    return done.returncode


def linked(root: Path) -> str:
    return (root / "models" / "champion").readlink().name


def store(root: Path):
    config = load_config(root / "params.yaml")
    return open_registry(config.params.tracking, config.catalog, quiet=True)


def promoted(root: Path, source: str, name: str, registry: str) -> str:
    """A copy of bundle `source` as run `name`, its gate having promoted it against the current champion."""
    champion = store(root).champion()
    shutil.copytree(root / "models" / source, root / "models" / name)
    manifest = read_json(root / "models" / name / "manifest.json")
    gate = {**manifest["gate"], "challenger": name, "promote": True, "registry": registry,
            "champion_id": champion.identity() if champion else None}
    reseal(root / "models" / name, {**manifest, "run_id": name, "gate": gate})
    return name


def test_local_registry_a_killed_publication_or_rollback_is_repaired_by_running_it_again(project, capsys):
    first = linked(project)
    second = promoted(project, first, "second", "local")
    history = project / "models" / "champions.json"
    # Killed right after the history (the local registry's truth) was written, before the link followed it.
    assert killed(project, "tweetops.release.registry", "write_json", "publish", second) == -signal.SIGKILL
    assert linked(project) == first and [e["version"] for e in read_json(history)] == [first, second]
    code, out, _ = cli(project, "registry", "status", capsys=capsys)
    assert code == 0 and out.splitlines()[-3:] == [
        f"champion: {second}; champion history (oldest first): {first}, {second}",
        f"champion since: {read_json(history)[1]['at']}: the gate promoted it",
        f"{project / 'models' / 'champion'} names {first}, not the champion's bundle: `tweetops registry promote "
        f"{second}` points it back."]

    assert cli(project, "publish", second, capsys=capsys)[:2] == (
        0, f"run {second} is already the champion (version {second}); repaired: models/champion named {first}, "
           f"now {second}.\n")
    assert linked(project) == second and len(read_json(history)) == 2
    assert cli(project, "publish", second, capsys=capsys)[:2] == (
        0, f"run {second} is already the champion (version {second}); nothing changed.\n")
    assert cli(project, "registry", "promote", second, capsys=capsys)[:2] == (
        0, f"version {second} is already the champion; nothing changed.\n")
    assert len(read_json(history)) == 2 and "names" not in cli(project, "registry", "status", capsys=capsys)[1]

    # A rollback killed the same way: running it again completes it and does not roll back a second time.
    assert killed(project, "tweetops.release.registry", "write_json", "registry", "rollback") == -signal.SIGKILL
    assert linked(project) == second and store(project).champion().version == first
    assert cli(project, "registry", "rollback", capsys=capsys)[:2] == (
        0, f"the last change of champion was cut short; repaired: models/champion named {second}, now {first}; "
           f"nothing rolled back: version {first} is the champion (`tweetops registry rollback` again rolls back "
           "from it).\n")
    assert linked(project) == first and ["rolled_back" in e for e in read_json(history)] == [False, True]

    # Publishing the bundle rolled back from would silently undo the rollback: refused, naming the way back.
    assert cli(project, "publish", second, capsys=capsys) == (
        2, "", f"error: run {second} was published before as version {second}, no longer the champion; `tweetops "
               f"registry promote {second}` makes it the champion again.\n")
    assert linked(project) == first and len(read_json(history)) == 2
    assert cli(project, "registry", "promote", second, capsys=capsys)[:2] == (0, f"champion is now version {second}\n")
    assert cli(project, "registry", "rollback", capsys=capsys)[:2] == (
        0, f"rolled back: champion moved from version {second} to version {first}\n")
    assert linked(project) == first and store(project).champion().version == first
    assert store(project).champion().since.endswith(": rolled back to (tweetops registry rollback)")


def test_mlflow_registry_a_killed_publication_or_rollback_is_repaired_by_running_it_again(
        project, mlflow_server, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("TWEETOPS_TRACKING", "on")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    params = project / "params.yaml"  # a model of its own on the shared server
    params.write_text(params.read_text().replace("registered_model: tweet-sentiment", "registered_model: killed"))
    first = linked(project)
    a = promoted(project, first, "a", "mlflow")
    code, out, _ = cli(project, "publish", a, capsys=capsys)  # MLflow's "View run" print()s go to the log
    assert (code, out) == (0, "published: run a is the champion (mlflow registry version 1).\n")
    b = promoted(project, first, "b", "mlflow")
    registry = store(project)

    # Killed right after the alias (the truth) moved to version 2, before the history tag and the link followed.
    assert killed(project, "mlflow.tracking", "MlflowClient.set_registered_model_alias", "publish", b) == \
        -signal.SIGKILL
    assert registry.champion().version == "2" and registry.history() == ["1"] and linked(project) == a
    assert cli(project, "registry", "status", capsys=capsys)[1].splitlines()[-1] == (
        f"{project / 'models' / 'champion'} names a, not the champion's bundle: `tweetops registry promote 2` points "
        "it back.")
    assert cli(project, "publish", b, capsys=capsys)[:2] == (
        0, "run b is already the champion (version 2); repaired: the champion history now ends with version 2; "
           "models/champion named a, now b.\n")
    assert registry.history() == ["1", "2"] and linked(project) == b and len(registry.versions()) == 2
    assert cli(project, "registry", "promote", "2", capsys=capsys)[:2] == (
        0, "version 2 is already the champion; nothing changed.\n")
    assert registry.history() == ["1", "2"]

    # A rollback killed right after the alias moved back: running it again completes it, once.
    assert killed(project, "mlflow.tracking", "MlflowClient.set_registered_model_alias", "registry", "rollback") == \
        -signal.SIGKILL
    assert registry.champion().version == "1" and registry.history() == ["1"] and linked(project) == b
    assert cli(project, "registry", "rollback", capsys=capsys)[:2] == (
        0, "the last change of champion was cut short; repaired: models/champion named b, now a; nothing rolled "
           "back: version 1 is the champion (`tweetops registry rollback` again rolls back from it).\n")
    assert registry.champion().version == "1" and registry.history() == ["1"] and linked(project) == a

    # Publishing version 2's bundle again would silently undo the rollback as a version 3: refused.
    assert cli(project, "publish", b, capsys=capsys) == (
        2, "", "error: run b was published before as version 2, no longer the champion; `tweetops registry promote "
               "2` makes it the champion again.\n")
    assert len(registry.versions()) == 2 and registry.champion().version == "1"

    # Killed after registering, before the alias moved: the version is not champion and never was, so publishing
    # again crowns it instead of registering the bundle twice.
    c = promoted(project, first, "c", "mlflow")
    assert killed(project, "mlflow", "register_model", "publish", c) == -signal.SIGKILL
    assert registry.champion().version == "1" and len(registry.versions()) == 3
    code, out, _ = cli(project, "publish", c, capsys=capsys)
    assert (code, out) == (0, "published: run c is the champion (mlflow registry version 3).\n")
    assert len(registry.versions()) == 3 and registry.history() == ["1", "3"] and linked(project) == c
    assert cli(project, "registry", "rollback", capsys=capsys)[:2] == (
        0, "rolled back: champion moved from version 3 to version 1\n")
    assert registry.champion().version == "1" and linked(project) == a

    # A machine whose link is merely behind (a fresh clone has none) rolls back at once: it did not cut anything
    # short (it said "cut short" and rolled nothing back, so an incident needed the command twice).
    assert cli(project, "registry", "promote", "3", capsys=capsys)[:2] == (0, "champion is now version 3\n")
    (project / "models" / "champion").unlink()
    assert cli(project, "registry", "rollback", capsys=capsys)[:2] == (
        0, "rolled back: champion moved from version 3 to version 1\n")
    assert registry.champion().version == "1" and linked(project) == a


def test_a_lost_champion_folder_is_mended_by_promote_whatever_the_trace_holds(project, capsys):
    """models/.published as older versions left it (empty) and the champion's folder gone: the mend serving names,
    `registry promote`, stopped with a FileNotFoundError traceback while recording the lost bundle's digest."""
    first = linked(project)
    second = promoted(project, first, "second", "local")
    assert cli(project, "publish", second, capsys=capsys)[0] == 0
    (project / "models" / ".published").write_text("")
    shutil.rmtree(project / "models" / second)
    assert cli(project, "registry", "promote", first, capsys=capsys)[:2] == (0, f"champion is now version {first}\n")
    assert linked(project) == first
    assert main(["model-path", "--params", str(project / "params.yaml")]) == 0
    assert capsys.readouterr().out.strip() == str(project / "models" / first)


def test_a_link_to_a_run_published_elsewhere_is_not_taken_for_a_lagging_one(project, capsys):
    """Published with tracking off, then with tracking on (the link names a run the local history never held):
    status without tracking named the local history's last run and called the link behind, and any local command
    pointed the served link back at it."""
    first = linked(project)
    elsewhere = promoted(project, first, "elsewhere", "mlflow")
    (project / "models" / "champion").unlink()
    (project / "models" / "champion").symlink_to(elsewhere)
    out = cli(project, "registry", "status", capsys=capsys)[1]
    assert f"champion: {elsewhere}; champion history (oldest first): not recorded here" in out and "names" in out
    assert "not the champion's bundle" not in out
    assert cli(project, "registry", "rollback", capsys=capsys)[0] == 2 and linked(project) == elsewhere
    assert main(["model-path", "--params", str(project / "params.yaml")]) == 0
    assert capsys.readouterr().out.strip() == str(project / "models" / elsewhere)
    local = promoted(project, first, "local", "local")
    assert cli(project, "publish", local, capsys=capsys)[0] == 0 and linked(project) == local
