"""The image's entrypoint maps serve/batch-predict/train/pipeline/monitor onto the CLI (no Docker needed)."""
from __future__ import annotations

import signal

import pytest

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


def test_train_runs_the_sagemaker_contract_and_sigterm_becomes_a_clean_stop(tmp_path, restore_sigterm):
    (tmp_path / "input" / "data").mkdir(parents=True)  # no channel: fails fast with a failure file
    assert entrypoint.main(["train", "--ml-root", str(tmp_path)]) == 2
    assert (tmp_path / "output" / "failure").is_file()
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGTERM, None)
