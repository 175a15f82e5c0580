"""Progress where long work runs: one log line per chunk outside a terminal (CI, AWS Batch, CloudWatch), with
rows done, percent, rate and time left, and the shard counted the same way (1-based) as the bar would."""
from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from tests.e2e.test_pipeline import run_cli
from tweetops import logs
from tweetops.logs import Progress, setup_logging


@pytest.fixture
def logging_as(caplog):
    """setup_logging(level, fmt) as an entry point calls it, with caplog still listening; undone afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, dict(logs._process)

    def configure(fmt: str):
        setup_logging("INFO", fmt)
        root.addHandler(caplog.handler)
        return root.handlers[0]
    yield configure
    root.handlers[:], root.level = saved[0], saved[1]
    logs._process.update(saved[2])


def test_batch_predict_logs_one_progress_line_per_chunk_in_a_log(model_dir, tweets, tmp_path):
    """4,200 rows in chunks of 1,000 as an AWS Batch shard 2 of 3 (rows 1,400 to 2,799): two chunks."""
    tweets.to_csv(tmp_path / "in.csv", index=False)
    done = run_cli(["-m", "tweetops", "batch-predict", "--input", str(tmp_path / "in.csv"), "--output",
                    str(tmp_path / "out"), "--chunk-size", "1000", "--model", str(model_dir)], tmp_path,
                   AWS_BATCH_JOB_ARRAY_INDEX="1", AWS_BATCH_JOB_ARRAY_SIZE="3", LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line)["message"] for line in done.stderr.splitlines()]
    progress = [m for m in messages if m.startswith("shard 2/3: ")]
    assert [re.sub(r", [\d,]+ rows/s, .* left$", "", m) for m in progress] == [
        "shard 2/3: 1,000 of 1,400 rows (71%)", "shard 2/3: 1,400 of 1,400 rows (100%)"]
    assert progress[-1].endswith(", 0 s left")
    assert any(m.startswith("batch-predict shard 2/3: rows in 1400, out 1400, flagged ") for m in messages)
    assert "\r" not in done.stderr  # no bar redrawn into the log


def test_a_terminal_gets_a_bar_and_no_progress_lines(logging_as, caplog, tmp_path, monkeypatch):
    with open(tmp_path / "tty", "w") as sink:
        sink.isatty = lambda: True  # the one stand-in: pytest has no terminal to give
        monkeypatch.setattr(sys, "stderr", sink)
        logging_as("text")
        with Progress(logging.getLogger("t"), "features", 10, "texts") as bar:
            bar.update(4)
            bar.update(6)
    assert [r.getMessage() for r in caplog.records if r.name == "t"] == []
    drawn = (tmp_path / "tty").read_text()
    assert "features: 100%" in drawn and "10/10" in drawn


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_outside_a_terminal_each_step_is_one_line(logging_as, caplog, fmt):
    logging_as(fmt)
    with Progress(logging.getLogger("t"), "features", 150_000, "texts") as progress:
        for _ in range(3):
            progress.update(50_000)
    lines = [r.getMessage() for r in caplog.records if r.name == "t"]
    assert [line.split(" (")[0] for line in lines] == [
        "features: 50,000 of 150,000 texts", "features: 100,000 of 150,000 texts", "features: 150,000 of 150,000 texts"]
    assert all(re.search(r"\(\d+%\), [\d,]+ texts/s, \d+ s left$", line) for line in lines)
