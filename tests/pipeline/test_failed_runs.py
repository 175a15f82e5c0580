"""A run that fails, is stopped or is killed at any stage leaves every output of the run before it exactly as it
was, stage 1's included, and nothing of its own where a stage, the server or a person would look.

Each test works on a copy of the session's trained project (one successful `tweetops run`)."""
from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.ports import wait_until
from tweetops.cli import main
from tweetops.pipeline import data_ingestion

TWEETOPS = str(Path(sys.executable).parent / "tweetops")
SWAPPED = ("error: need at least 2 rated rows of each label to split, found {}; 4,200 of 4,200 rows were "
           "quarantined, 4,200 of them because text is a number, not words (are the columns swapped?).")


@pytest.fixture
def project(trained_project, tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(trained_project, root, symlinks=True)
    raw = (root / "data" / "raw" / "tweets_GroundTruth.txt").read_text(encoding="utf-8").splitlines()
    # The bundled tweets with the id and text columns swapped: every text is a number, so stage 2 stops.
    (root / "swapped.tsv").write_text("\n".join("\t".join(reversed(line.split("\t", 2))) for line in raw),
                                      encoding="utf-8")
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Every folder, file and link under the project: its kind, and a file's sha256 or a link's target."""
    found = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = f"link to {os.readlink(path)}"
        elif path.is_dir():
            found[name] = "folder"
        else:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def staging(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob(".tweetops-run-*"))


def start_run(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([TWEETOPS, "run", *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def stopped_after_stage_2(root: Path, signum) -> subprocess.Popen:
    """A real `tweetops run`, sent `signum` once its second stage finished (in its staging folder)."""
    process = start_run(root)

    def prepared():
        assert process.poll() is None, process.stderr.read()
        return any(root.glob(".tweetops-run-*/data/stages/data_preparation.json"))

    wait_until(prepared, timeout=120, interval=0.05, what="stage 2 of tweetops run")
    process.send_signal(signum)
    process.wait(timeout=120)
    return process


def test_a_run_failing_at_stage_2_leaves_every_previous_output_as_it_was(project, capsys):
    before = snapshot(project)
    assert main(["run", "--params", str(project / "params.yaml"), "--source", str(project / "swapped.tsv")]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == SWAPPED
    assert snapshot(project) == before


def test_a_run_failing_at_stage_1_after_it_wrote_leaves_every_previous_output_as_it_was(
        project, monkeypatch, capsys):
    """Stage 1 writes its table and record, then cannot write the run record (a full disk): one sentence."""
    def full_disk(run):
        raise OSError(errno.ENOSPC, "No space left on device")

    before = snapshot(project)
    monkeypatch.setattr(data_ingestion, "record", full_disk)
    assert main(["run", "--params", str(project / "params.yaml")]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: could not write: no space left on device; free some space (or raise the file size limit) and run the "
        "command again.")
    assert snapshot(project) == before


def test_a_stopped_run_leaves_every_previous_output_as_it_was(project):
    before = snapshot(project)
    process = stopped_after_stage_2(project, signal.SIGTERM)
    assert process.returncode == 130 and process.stderr.read().splitlines()[-1] == "interrupted"
    assert snapshot(project) == before


def test_the_run_after_a_killed_one_removes_its_staging_folder(project):
    before = snapshot(project)
    process = stopped_after_stage_2(project, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    left = staging(project)
    assert len(left) == 1 and {k: v for k, v in snapshot(project).items() if not k.startswith(left[0])} == before
    process = start_run(project, "--source", str(project / "swapped.tsv"))
    assert process.wait(timeout=120) == 2 and process.stderr.read().splitlines()[-1] == SWAPPED
    assert snapshot(project) == before
