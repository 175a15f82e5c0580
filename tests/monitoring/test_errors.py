"""Too little data is its own verdict; a bad history URL, file or model is one clear sentence, exit 2."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from tests.release.seal import reseal
from tests.servers.ports import free_port
from tweetops.cli import main


def _one_clear_line(run, *fragments):
    assert run.code == 2, run.out + run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in run.err, run.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert run.report is None  # no report for a run that never looked at traffic


def test_too_few_texts_say_not_enough_data_instead_of_guessing(run_monitor, held_out_tweets, tmp_path):
    path = tmp_path / "few.jsonl"
    pd.DataFrame({"text": held_out_tweets[:150]}).to_json(path, orient="records", lines=True)
    run = run_monitor("--input", path)
    assert run.code == 4
    assert run.report["verdict"] == "not_enough_data" and run.report["checks"] == []
    assert run.report["reason"].startswith("150 current and")
    assert "Not enough data" in (run.folder / "drift.html").read_text()


@pytest.mark.parametrize("url, fragment", [
    ("not a database url", "is not a database URL this can open"),
    ("postgres://u@127.0.0.1:1/db", "is not a database URL this can open"),
    ("sqlite:////nonexistent/history.db", "/nonexistent/history.db does not exist"),
])
def test_a_bad_history_url_is_one_clear_error(run_monitor, url, fragment):
    _one_clear_line(run_monitor("--history", url), fragment)


def test_an_unreachable_postgres_is_one_clear_error(run_monitor):
    url = f"postgresql+psycopg://postgres:secret@127.0.0.1:{free_port()}/postgres"
    run = run_monitor("--history", url)
    _one_clear_line(run, "cannot read the prediction history at", "OperationalError")
    assert "secret" not in run.err  # the password is never printed


def test_a_database_without_a_history_is_one_clear_error(run_monitor, tmp_path):
    import sqlite3

    sqlite3.connect(tmp_path / "other.db").execute("create table t (x int)").connection.commit()
    _one_clear_line(run_monitor("--history", f"sqlite:///{tmp_path / 'other.db'}"), "holds no 'predictions' table")


def test_bad_traffic_files_are_one_clear_error(run_monitor, tmp_path):
    _one_clear_line(run_monitor("--input", tmp_path / "missing.csv"), "missing.csv does not exist")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("tweet\nhello there\n")
    _one_clear_line(run_monitor("--input", wrong), "has no column 'text'; its columns are")
    with pytest.raises(SystemExit) as exited:  # argparse: usage plus one error line
        run_monitor("--input", wrong, "--history", "sqlite:///h.db")
    assert exited.value.code == 2


def test_bad_options_are_one_clear_error(run_monitor, tmp_path):
    _one_clear_line(run_monitor("--max-rows", "10"), "below monitoring.min_samples")
    # nan, inf and 1e12 hours were a ValueError or an OverflowError from timedelta (found by a hostile review)
    for hours in ("0", "nan", "inf", "1e12"):
        _one_clear_line(run_monitor("--window-hours", hours), "--window-hours must be positive and at most 876,000 "
                                                              "(100 years), got")
    # an --output that is a file, or under one, failed with a traceback after the whole analysis
    (tmp_path / "taken").write_text("mine\n")
    taken = tmp_path / "taken"
    _one_clear_line(run_monitor("--output", taken), f"the output {taken} is a file; give --output a folder.")
    _one_clear_line(run_monitor("--output", taken / "report"), "is a file, not a folder; choose another --output.")
    assert (tmp_path / "taken").read_text() == "mine\n"


def test_a_model_from_before_monitoring_is_one_clear_error(run_monitor, trained_bundle, tmp_path):
    old = tmp_path / "old-model"
    shutil.copytree(trained_bundle, old)
    (old / "reference.parquet").unlink()
    manifest = json.loads((old / "manifest.json").read_text())
    del manifest["files"]["reference.parquet"]
    reseal(old, manifest)  # as a bundle sealed without a reference would be
    _one_clear_line(run_monitor("--input", tmp_path / "any.csv", model=old), "has no reference.parquet",
                    "retrain it")


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_text_column_of_numbers_is_one_clear_error(run_monitor, held_out_tweets, tmp_path, suffix):
    """--text-column naming the ids (a hostile review's): their "drift" was judged as if they were tweets."""
    path = tmp_path / f"traffic.{suffix}"
    frame = pd.DataFrame({"id": range(1000, 1000 + len(held_out_tweets)), "tweet": held_out_tweets})
    frame.to_csv(path, index=False) if suffix == "csv" else frame.to_json(path, orient="records", lines=True)
    _one_clear_line(run_monitor("--input", path, "--text-column", "id"),
                    f"{path}'s column 'id' holds numbers, not texts ({len(frame):,} of the {len(frame):,} cells read); "
                    "pass --text-column naming the tweets' column.")
    assert run_monitor("--input", path, "--text-column", "tweet").code == 0  # the tweets themselves: no drift


REPORT = {"verdict": "drift", "reason": "r", "source": "s", "current_rows": 1, "reference_rows": 1,
          "model": {"version": "v"}}


@pytest.mark.parametrize("report, missing", [
    ({"verdict": "drift"}, "reason"), ([1, 2], "verdict"),
    ({**REPORT, "verdict": "maybe", "checks": []}, "known verdict"),
    ({**REPORT, "checks": [{"name": "x", "value": 1, "threshold": 1}]}, "checks[0].drift"),
    ({**REPORT, "checks": "none"}, "checks[0].name")])
def test_notify_refuses_a_json_file_that_is_not_a_drift_report(tmp_path, capsys, report, missing):
    """A drift.json without "checks" (another JSON file given by mistake) was a KeyError traceback."""
    path = tmp_path / "drift.json"
    path.write_text(json.dumps(report))
    for channel in ("summary", "slack"):
        assert main(["notify", channel, str(path)]) == 2
        assert capsys.readouterr().err.strip() == (f"error: {path} is not a drift report written by `tweetops "
                                                   f"monitor` (it has no {missing!r}); pass the monitor's drift.json.")
