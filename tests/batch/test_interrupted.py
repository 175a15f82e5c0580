"""batch-predict stopped half-way: SIGTERM removes its temporary files at once, and after a SIGKILL (which
nothing can catch) the next run removes what the killed one left; the previous output stays as it was."""
import os
import resource
import signal
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import swallow_a_sigterm
from tests.servers.ports import wait_until

REPEATS = 30  # 126,000 rows: seconds of work, so the run is surely stopped in the middle of writing


@pytest.fixture
def folders(tmp_path, tweets, predictor, model_dir):
    """(the output folder with small.csv, big.csv and out.csv predicted from small.csv, the private TMPDIR)."""
    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    tweets.to_csv(work / "small.csv", index=False)
    pd.concat([tweets] * REPEATS, ignore_index=True).to_csv(work / "big.csv", index=False)
    done = batch_predict(work / "small.csv", work, scratch, model_dir)
    assert done.wait(timeout=300) == 0, done.stderr.read()
    return work, scratch


def batch_predict(source, work, scratch, model_dir) -> subprocess.Popen:
    """The real CLI into work/out.csv, its TMPDIR private to the test (other tests make tweetops-batch-* too)."""
    return subprocess.Popen([sys.executable, "-m", "tweetops", "batch-predict", "--input", str(source),
                             "--output", str(work / "out.csv"), "--model", str(model_dir), "--chunk-size", "1000"],
                            env={**os.environ, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def leftovers(work, scratch) -> tuple[list[str], list[str]]:
    """(the output's temporary files, the scratch folders), by name."""
    return sorted(p.name for p in work.glob(".out.csv.*.tmp")), sorted(p.name for p in scratch.iterdir())


def stopped_while_writing(folders, model_dir, signum) -> tuple[subprocess.Popen, list[str], list[str]]:
    """Start on big.csv, wait until predictions are being written to the temporary file, send `signum`."""
    work, scratch = folders
    process = batch_predict(work / "big.csv", work, scratch, model_dir)

    def writing():
        assert process.poll() is None, process.stderr.read()
        temps, scratches = leftovers(work, scratch)
        return temps and scratches and (work / temps[0]).stat().st_size > 0 and (temps, scratches)

    temps, scratches = wait_until(writing, timeout=120, interval=0.05, what="batch-predict writing")
    process.send_signal(signum)
    process.wait(timeout=60)
    return process, temps, scratches


def test_sigterm_removes_the_temporary_files_and_keeps_the_previous_output(folders, model_dir):
    work, scratch = folders
    before = (work / "out.csv").read_bytes()
    process, _, _ = stopped_while_writing(folders, model_dir, signal.SIGTERM)
    assert process.returncode == 130 and process.stderr.read().splitlines()[-1] == "interrupted"
    assert leftovers(work, scratch) == ([], [])
    assert sorted(p.name for p in work.iterdir()) == ["big.csv", "out.csv", "small.csv"]
    assert (work / "out.csv").read_bytes() == before


def test_the_run_after_a_sigkill_removes_what_the_killed_one_left(folders, model_dir):
    work, scratch = folders
    before = (work / "out.csv").read_bytes()
    process, temps, scratches = stopped_while_writing(folders, model_dir, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert leftovers(work, scratch) == (temps, scratches) and len(temps) == len(scratches) == 1
    assert (work / "out.csv").read_bytes() == before
    again = batch_predict(work / "small.csv", work, scratch, model_dir)
    assert again.wait(timeout=300) == 0, again.stderr.read()
    assert leftovers(work, scratch) == ([], [])
    assert sorted(p.name for p in work.iterdir()) == ["big.csv", "out.csv", "small.csv"]
    assert (work / "out.csv").read_bytes() == before  # the same input and model: the same bytes


def test_a_full_disk_is_one_sentence_and_keeps_the_previous_output(folders, model_dir):
    """Writing past the file size limit (ulimit -f: EFBIG, as a full disk gives ENOSPC) was a 34-line traceback
    and exit 1."""
    work, scratch = folders
    before = (work / "out.csv").read_bytes()
    limit = 2 * len(before)  # big.csv's output is 30 times small.csv's

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    process = subprocess.Popen([sys.executable, "-m", "tweetops", "batch-predict", "--input", str(work / "big.csv"),
                                "--output", str(work / "out.csv"), "--model", str(model_dir)],
                               env={**os.environ, "TMPDIR": str(scratch)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=limited)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1] == ("error: could not write: file too large; free some space (or raise the file size "
                                    "limit) and run the command again.")
    assert leftovers(work, scratch) == ([], [])
    assert (work / "out.csv").read_bytes() == before


def test_a_sigterm_a_library_swallowed_stops_batch_predict_at_its_next_chunk(tmp_path, tweets, predictor):
    """The exception a SIGTERM raised was swallowed (a bare `except:`): the next chunk raises it again, and
    nothing is written."""
    from tweetops.errors import Terminated, sigterm_interrupts
    from tweetops.serving import batch

    tweets.to_csv(tmp_path / "in.csv", index=False)
    with sigterm_interrupts():
        swallow_a_sigterm()
        with pytest.raises(Terminated):
            batch.run(str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), chunk_size=100, predictor=predictor)
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]
