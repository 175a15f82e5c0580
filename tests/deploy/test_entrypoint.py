"""The image's entrypoint maps serve/batch-predict/train/pipeline/monitor onto the CLI (no Docker needed)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
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
