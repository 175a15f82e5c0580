"""Mistakes a user can make: one clear sentence on stderr and a non-zero exit, before the model loads."""
import os
import subprocess
import sys

import pytest

from tweetops import cli


@pytest.fixture
def csv_input(tmp_path):
    path = tmp_path / "tweets.csv"
    path.write_text("id,tweet\n1,hello there\n")
    return path


def run_cli(capsys, *args):
    code = cli.main(["batch-predict", *args])
    return code, capsys.readouterr().err.strip()


def test_missing_input(capsys, tmp_path):
    code, err = run_cli(capsys, "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "out.csv"))
    assert code == 2
    assert err == f"error: the input {tmp_path / 'nope.csv'} does not exist or is not a file; check --input."


def test_missing_text_column_names_the_columns_found(capsys, tmp_path, csv_input):
    code, err = run_cli(capsys, "--input", str(csv_input), "--output", str(tmp_path / "out.csv"))
    assert code == 2 and "has no column 'text'; its columns are id, tweet; pass --text-column." in err


def test_unknown_format(capsys, tmp_path):
    (tmp_path / "tweets.xlsx").write_bytes(b"PK")
    code, err = run_cli(capsys, "--input", str(tmp_path / "tweets.xlsx"), "--output", str(tmp_path / "out"))
    assert code == 2 and "cannot tell the format" in err and ".csv, .jsonl or .parquet" in err


def test_output_in_another_format(capsys, tmp_path, csv_input):
    code, err = run_cli(capsys, "--input", str(csv_input), "--output", str(tmp_path / "out.parquet"))
    assert code == 2 and "must be csv like the input" in err


def test_unreadable_parquet(capsys, tmp_path):
    (tmp_path / "tweets.parquet").write_text("id,text\n1,hi\n")
    code, err = run_cli(capsys, "--input", str(tmp_path / "tweets.parquet"), "--output", str(tmp_path / "o"))
    assert code == 2 and "is not a readable Parquet file" in err


@pytest.mark.parametrize("index, size, message", [
    ("4", "4", "AWS_BATCH_JOB_ARRAY_INDEX=4 must be in 0..3 for AWS_BATCH_JOB_ARRAY_SIZE=4"),
    ("1", None, "AWS_BATCH_JOB_ARRAY_INDEX=1 must be in 0..0 for AWS_BATCH_JOB_ARRAY_SIZE=1"),
    ("x", "4", "AWS_BATCH_JOB_ARRAY_INDEX must be a whole number, got 'x'"),
])
def test_bad_shard_environment(capsys, monkeypatch, tmp_path, csv_input, index, size, message):
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", index)
    if size:
        monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_SIZE", size)
    code, err = run_cli(capsys, "--input", str(csv_input), "--output", str(tmp_path / "out"))
    assert code == 2 and message in err


def test_the_command_exits_non_zero_with_one_line_and_no_traceback(tmp_path, csv_input):
    env = {**os.environ, "AWS_BATCH_JOB_ARRAY_INDEX": "9", "AWS_BATCH_JOB_ARRAY_SIZE": "4"}
    done = subprocess.run([sys.executable, "-m", "tweetops", "batch-predict", "--input", str(csv_input),
                           "--output", str(tmp_path / "out")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: AWS_BATCH_JOB_ARRAY_INDEX=9 must be in 0..3 for AWS_BATCH_JOB_ARRAY_SIZE=4; "
        "set the size to the array job's size."]
