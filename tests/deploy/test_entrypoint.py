"""The image's entrypoint maps serve/batch-predict/train/pipeline/monitor onto the CLI (no Docker needed)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT, swallow_a_sigterm
from tests.servers.ports import wait_until
from tweetops import entrypoint


@pytest.fixture
def restore_sigterm():
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_no_command_prints_usage(capsys):
    assert entrypoint.main([]) == 2
    assert "serve | batch-predict" in capsys.readouterr().err


def test_an_unknown_command_is_one_sentence(capsys):
    assert entrypoint.main(["no-such-command-here"]) == 2
    assert "unknown command 'no-such-command-here'" in capsys.readouterr().err


@pytest.mark.parametrize("command, cli", [("pipeline", "run"), ("monitor", "monitor")])
def test_image_commands_are_tweetops_subcommands(capsys, restore_sigterm, command, cli):
    with pytest.raises(SystemExit) as exit_info:
        entrypoint.main([command, "--help"])
    assert exit_info.value.code == 0 and f"usage: tweetops {cli}" in capsys.readouterr().out


def test_train_runs_the_sagemaker_contract(tmp_path, restore_sigterm):
    (tmp_path / "input" / "data").mkdir(parents=True)  # no channel: fails fast with a failure file
    assert entrypoint.main(["train", "--ml-root", str(tmp_path)]) == 2
    assert (tmp_path / "output" / "failure").is_file()


def test_sigterm_stops_training_cleanly(tmp_path, raw_path):
    """As `docker stop` does, once the first stage finished: the failure file says so, no scratch is left."""
    channel, scratch = tmp_path / "ml" / "input" / "data" / "training", tmp_path / "tmp"
    channel.mkdir(parents=True)
    scratch.mkdir()
    shutil.copy(raw_path, channel / "tweets.tsv")
    process = subprocess.Popen([sys.executable, "-m", "tweetops.entrypoint", "train", "--ml-root",
                                str(tmp_path / "ml")], cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ingested():
        assert process.poll() is None, process.stderr.read()
        return any(scratch.glob("tweetops-train-*/**/data/stages/data_ingestion.json"))

    wait_until(ingested, timeout=120, interval=0.05, what="the first stage of training")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 130 and process.stderr.read().splitlines()[-1] == "interrupted"
    assert (tmp_path / "ml" / "output" / "failure").read_text() == (
        "training was stopped (SIGTERM or interrupt) before it finished.\n")
    assert list(scratch.iterdir()) == [] and not (tmp_path / "ml" / "model").exists()


def test_a_sigterm_that_passed_through_code_cpython_runs_still_exits_with_our_status(tmp_path):
    """CPython marks an exact KeyboardInterrupt that leaves code it runs itself (PyRun_String, as some
    extension modules do while they load) as unhandled, and a program run with -m (as the image runs the
    entrypoint) then ends by SIGINT whatever it returned: a training job stopped during a lazy import exited -2
    instead of 130. Here the C API runs the code that receives the SIGTERM; the job goes on and its status stands."""
    (tmp_path / "stopped_job.py").write_text(
        "import ctypes, sys\n"
        "from tweetops.errors import guarded\n"
        "def job():\n"
        "    ctypes.pythonapi.PyRun_SimpleString(b'import os, signal, time\\n'\n"
        "                                        b'os.kill(os.getpid(), signal.SIGTERM)\\ntime.sleep(30)')\n"
        "    print('finished')\n"
        "    return 0\n"
        "sys.exit(guarded(job))\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "stopped_job"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout) == (0, "finished\n"), done.stderr
    assert done.stderr.splitlines()[-1] == "tweetops.errors.Terminated"  # what PyRun_SimpleString printed


def test_a_sigterm_a_library_swallowed_stops_the_pipeline_at_its_next_stage(tmp_path, raw_path, restore_sigterm):
    """A bare `except:` (around an optional import, say) can swallow the exception a SIGTERM raised, and the
    signal is ignored from then on so the clean-up is not cut short: the job then ran to its end. The next
    stage boundary raises it again; nothing of the run is published."""
    from tweetops.errors import Terminated, sigterm_interrupts, stop_if_terminated
    from tweetops.pipeline.runner import run_all
    from tweetops.pipeline.runs import Request

    with sigterm_interrupts():
        swallow_a_sigterm()
        with pytest.raises(Terminated):
            run_all(Request(str(ROOT / "params.yaml"), {"data.source": str(raw_path)}, root=str(tmp_path)))
    assert list(tmp_path.iterdir()) == []  # the staging folder is gone, nothing published
    stop_if_terminated()  # the block cleared it: a later job is not stopped by an old signal
