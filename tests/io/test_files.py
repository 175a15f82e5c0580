"""Atomic writes: files get the mode the umask allows, and a temporary file is removed once its writer is dead,
never while it lives. Real commands in real processes (the umask and the locks are per process)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import make_project

WRITE = "import sys; from tweetops.io.files import write_text; write_text(sys.argv[1], sys.argv[2])"
HOLD = ("import sys; from tweetops.io.files import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    print(tmp.name, flush=True)\n"
        "    sys.stdin.read()\n")


def tweetops(*args: str, umask: int, cwd=None) -> None:
    done = subprocess.run([sys.executable, "-m", "tweetops", *args], umask=umask, cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def mode(path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_records_and_reports_take_the_umask_mode(tmp_path, trained_bundle, umask, file_mode, folder_mode):
    root = make_project(tmp_path / "project")
    tweetops("stage", "data_ingestion", "--params", str(root / "params.yaml"), umask=umask)
    written = [root / "data" / "interim" / name for name in ("ingested.parquet", "ingestion.json", "run.json")]
    written.append(root / "data" / "stages" / "data_ingestion.json")
    (tmp_path / "texts.csv").write_text("text\nwhat a lovely day\n")
    tweetops("batch-predict", "--input", str(tmp_path / "texts.csv"), "--output", str(tmp_path / "out" / "p.csv"),
             "--model", str(trained_bundle), umask=umask)
    tweetops("gate", "--bundle", str(trained_bundle), "--output", str(tmp_path / "verdict.json"), umask=umask)
    written += [tmp_path / "out" / "p.csv", tmp_path / "verdict.json"]
    assert {str(path): mode(path) for path in written} == {str(path): file_mode for path in written}
    folders = [root / "data" / "interim", root / "data" / "stages", tmp_path / "out"]
    assert {str(path): mode(path) for path in folders} == {str(path): folder_mode for path in folders}


def test_a_temporary_file_is_removed_once_its_writer_is_dead_never_while_it_lives(tmp_path):
    target = tmp_path / "record.json"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    temporary = tmp_path / holder.stdout.readline().strip()
    assert temporary.name.startswith(".record.json.") and temporary.name.endswith(".tmp")
    subprocess.run([sys.executable, "-c", WRITE, str(target), "first"], check=True, timeout=120)
    assert temporary.read_text() == "half" and target.read_text() == "first"  # its writer lives: kept
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=60) == -signal.SIGKILL
    assert sorted(p.name for p in tmp_path.iterdir()) == [temporary.name, "record.json"]
    subprocess.run([sys.executable, "-c", WRITE, str(target), "second"], check=True, timeout=120)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"] and target.read_text() == "second"


SCRATCH = ("import sys; from tweetops.io.files import scratch_folder\n"
           "with scratch_folder('tweetops-download-') as folder:\n"
           "    print(folder.name, flush=True)\n"
           "    sys.stdin.read()\n")


def test_only_what_tweetops_made_is_taken_for_a_leftover(tmp_path):
    """A killed process's scratch folder is removed by the next one; a user's own file or folder whose name only
    starts the same (TMPDIR/tweetops-download-exports, an old one) is theirs (it was removed too, with the traffic
    file in it that `monitor --input` was given)."""
    env = {"TMPDIR": str(tmp_path)}
    mine = [tmp_path / "tweetops-download-exports", tmp_path / "tweetops-download-2026.csv",
            tmp_path / ".record.json.backup.tmp"]
    mine[0].mkdir()
    (mine[0] / "monday.csv").write_text("text\nhello\n")
    for path in mine[1:]:
        path.write_text("text\nhello\n")
    for path in mine:
        os.utime(path, (0, 0))  # older than any process: only the name can tell them apart
    holder = subprocess.Popen([sys.executable, "-c", SCRATCH], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, **env})
    left = tmp_path / holder.stdout.readline().strip()
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=60) == -signal.SIGKILL and left.is_dir()
    os.utime(left, (0, 0))
    again = subprocess.run([sys.executable, "-c", SCRATCH], input="", capture_output=True, text=True, timeout=120,
                           env={**os.environ, **env})
    assert again.returncode == 0, again.stderr
    subprocess.run([sys.executable, "-c", WRITE, str(tmp_path / "record.json"), "first"], check=True, timeout=120)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in mine] + ["record.json"])
    assert (mine[0] / "monday.csv").read_text() == "text\nhello\n"
