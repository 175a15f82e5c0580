"""LOG_FORMAT: the pipeline and batch-predict write one JSON object a line when asked (the image's default),
text otherwise; a format that does not exist is one sentence and exit 2."""
from __future__ import annotations

import json
import logging
import sys

from tests.conftest import make_project
from tests.e2e.test_pipeline import run_cli
from tweetops.logs import JsonFormatter


def _tweetops(*args, cwd, **env):
    return run_cli(["-m", "tweetops", *args], cwd, **env)


def test_a_pipeline_stage_logs_json_lines_and_text_by_default(tmp_path):
    project = make_project(tmp_path)
    done = _tweetops("stage", "data_ingestion", "--params", str(project / "params.yaml"), cwd=project,
                     LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert {line["logger"] for line in lines} >= {"tweetops.data_ingestion", "tweetops.pipeline"}
    assert all(line["level"] in ("INFO", "WARNING") and line["message"] for line in lines)

    text = _tweetops("stage", "data_ingestion", "--params", str(project / "params.yaml"), cwd=project,
                     LOG_FORMAT="text", TWEETOPS_RUN_ID="second")
    assert text.returncode == 0 and " INFO [tweetops.pipeline] " in text.stderr
    assert not any(line.startswith("{") for line in text.stderr.splitlines())


def test_batch_predict_logs_json_lines(trained_bundle, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("text\nI love it\nThis is awful\n", encoding="utf-8")
    done = _tweetops("batch-predict", "--input", str(source), "--output", str(tmp_path / "out.csv"),
                     "--model", str(trained_bundle), cwd=tmp_path, LOG_FORMAT="json")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(line["logger"].startswith("tweetops.batch") for line in lines)
    assert "I love it" not in done.stderr  # texts never reach the log


def test_an_unknown_log_format_is_one_sentence(tmp_path):
    done = _tweetops("stage", "data_ingestion", cwd=tmp_path, LOG_FORMAT="xml")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: LOG_FORMAT")


def test_an_exception_is_one_field_of_its_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("tweetops.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed here" and line["level"] == "ERROR" and line["logger"] == "tweetops.x"
    assert line["exception"].startswith("Traceback") and line["exception"].endswith("ValueError: boom")
