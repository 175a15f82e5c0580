"""Batch-predict fixtures: the bundled tweets with a few bad texts, written as CSV, JSONL or Parquet."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tweetops.model import LABELS
from tweetops.serving.inference import load_predictor

FORMATS = ("csv", "jsonl", "parquet")
# Row position -> (bad text, a fragment of the reason batch-predict must give).
BAD_ROWS = {10: ("", "text is empty"), 20: ("   \t", "text is empty"), 30: ("x" * 1001, "the limit is 1,000")}
# A non-string text: JSONL can hold a number, Parquet a null; CSV cells are always strings.
ODD_ROWS = {"jsonl": (40, 12345, "must be a string"), "parquet": (40, None, "text is missing")}
PROBA = [f"p_{label}" for label in LABELS]


@pytest.fixture(scope="session")
def model_dir(trained_project):
    return trained_project / "models" / "champion"


@pytest.fixture(scope="session")
def predictor(model_dir):
    return load_predictor(model_dir)


@pytest.fixture(scope="session")
def tweets(raw_path) -> pd.DataFrame:
    frame = pd.read_csv(raw_path, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE)
    texts = frame["text"].astype(object).tolist()
    for row, (text, _) in BAD_ROWS.items():
        texts[row] = text
    return frame.assign(text=pd.Series(texts, dtype=object))


def bad_rows(fmt: str) -> dict:
    """Row position -> reason fragment, for the input written in `fmt`."""
    rows = {row: reason for row, (_, reason) in BAD_ROWS.items()}
    if fmt in ODD_ROWS:
        row, _, reason = ODD_ROWS[fmt]
        rows[row] = reason
    return rows


def write_input(frame: pd.DataFrame, fmt: str, path):
    """Write `frame` as `fmt` (with that format's odd row); returns the frame as written."""
    frame = frame.copy()
    if fmt in ODD_ROWS:
        row, value, _ = ODD_ROWS[fmt]
        texts = frame["text"].tolist()
        texts[row] = value
        frame["text"] = pd.Series(texts, dtype=object)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict(orient="records")))
    else:
        frame.to_parquet(path, index=False, row_group_size=1000)  # several row groups, as big files have
    return frame


def read_output(path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in ("label", "error"):
            frame[column] = frame[column].replace("", None)
        for column in PROBA:
            frame[column] = pd.to_numeric(frame[column].replace("", np.nan))
        return frame
    if fmt == "jsonl":
        return pd.DataFrame(_records(path))
    return pd.read_parquet(path)


def _records(path) -> list[dict]:
    with open(path) as handle:
        return [json.loads(line) for line in handle]


def read_parts(paths, fmt: str) -> pd.DataFrame:
    """The parts, in name order, as one frame (JSONL: one frame of all records, so dtypes match)."""
    if fmt == "jsonl":
        return pd.DataFrame([r for p in sorted(paths) for r in _records(p)])
    return pd.concat([read_output(p, fmt) for p in sorted(paths)], ignore_index=True)


@pytest.fixture(autouse=True)
def _no_shard_env(monkeypatch):
    """Tests set the AWS Batch variables themselves; the runner's own must not leak in."""
    monkeypatch.delenv("AWS_BATCH_JOB_ARRAY_INDEX", raising=False)
    monkeypatch.delenv("AWS_BATCH_JOB_ARRAY_SIZE", raising=False)


def run_array_job(source, output, model_dir, size: int, chunk_size: int) -> None:
    """`tweetops batch-predict` as an AWS Batch array job of `size` shard processes, all at once."""
    command = [sys.executable, "-m", "tweetops", "batch-predict", "--input", str(source), "--output", str(output),
               "--chunk-size", str(chunk_size)]
    processes = [subprocess.Popen(command, env={**os.environ, "MODEL_DIR": str(model_dir),
                                                "AWS_BATCH_JOB_ARRAY_INDEX": str(i),
                                                "AWS_BATCH_JOB_ARRAY_SIZE": str(size)},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(size)]
    for i, process in enumerate(processes):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        # The summary names the shard as its log lines do, counted from 1.
        assert json.loads(out.splitlines()[-1])["shard"] == f"{i + 1}/{size}"
        assert f"batch-predict shard {i + 1}/{size}: rows in " in err
