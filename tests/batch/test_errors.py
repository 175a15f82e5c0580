"""Mistakes a user can make: one clear sentence on stderr and a non-zero exit, before the model loads."""
import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import unprivileged
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
    assert err == (f"error: cannot tell the format of {tmp_path / 'tweets.xlsx'} from its name; use .tsv, .csv, "
                   ".jsonl, .parquet or .txt (one text per line), or set data.format.")
    assert code == 2


@pytest.mark.parametrize("name", ["out.tsv", "out.txt"])
def test_an_output_in_a_format_no_writer_writes(capsys, tmp_path, csv_input, name):
    code, err = run_cli(capsys, "--input", str(csv_input), "--output", str(tmp_path / name))
    assert code == 2
    assert err == (f"error: batch-predict cannot write {name[3:]} files ({tmp_path / name}: a tab or a line break in "
                   "a text would break its rows); name the output .csv, .jsonl or .parquet, or give a folder.")


def test_an_output_ending_in_a_slash_is_a_folder_whatever_dots_its_name_holds(capsys, tmp_path, model_dir):
    """`out.v2/` (or s3://bucket/runs/2026.12.03/) was read as a file of format .v2 and refused when unsharded."""
    source = tmp_path / "tweets.csv"
    source.write_text("id,text\n1,hello there\n2,what an awful day\n")
    code, err = run_cli(capsys, "--input", str(source), "--output", f"{tmp_path / 'out.v2'}/",
                        "--model", str(model_dir))
    assert code == 0, err
    written = pd.read_csv(tmp_path / "out.v2" / "part-00000-of-00001.csv")
    assert written["id"].tolist() == [1, 2] and written["label"].notna().all()
    code, err = run_cli(capsys, "--input", str(source), "--output", str(tmp_path / "out.v3"), "--model", str(model_dir))
    assert (code, err) == (2, f"error: cannot tell the output format of {tmp_path / 'out.v3'} from its name; name it "
                              ".csv, .jsonl or .parquet, or end it with / to write into that folder.")


def test_a_column_of_numbers_named_as_the_texts_is_refused_before_the_model_loads(capsys, tmp_path, tweets):
    """--text-column id, or a file whose text column holds the ids (columns swapped): 996 of 1,000 ids were labelled
    neutral at p 0.95, exit 0, none flagged. A column with a few numeric tweets among its texts is still read."""
    frame = pd.DataFrame({"id": range(1, 1001), "text": tweets["text"].head(1000).tolist()})
    frame.to_csv(tmp_path / "tweets.csv", index=False)
    code, err = run_cli(capsys, "--input", str(tmp_path / "tweets.csv"), "--output", str(tmp_path / "out.csv"),
                        "--text-column", "id", "--model", str(tmp_path / "none"))
    assert (code, err) == (2, f"error: {tmp_path / 'tweets.csv'}'s column 'id' holds numbers, not texts (1,000 of the "
                              "1,000 cells read); pass --text-column naming the tweets' column.")
    frame.rename(columns={"id": "text", "text": "id"}).to_csv(tmp_path / "swapped.csv", index=False)
    code, err = run_cli(capsys, "--input", str(tmp_path / "swapped.csv"), "--output", str(tmp_path / "out.csv"),
                        "--model", str(tmp_path / "none"))
    assert code == 2 and err.startswith(f"error: {tmp_path / 'swapped.csv'}'s column 'text' holds numbers, not texts")
    assert not (tmp_path / "out.csv").exists()


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


def files_in(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_an_output_under_a_file_is_refused_before_the_model_loads(capsys, tmp_path, csv_input):
    """--model names nothing: had the model been loaded first, that would be the error."""
    (tmp_path / "somefile.txt").write_text("kept\n")
    output = tmp_path / "somefile.txt" / "out.csv"
    code, err = run_cli(capsys, "--input", str(csv_input), "--output", str(output), "--model", str(tmp_path / "none"))
    assert code == 2
    assert err == (f"error: cannot write the output {output}: {tmp_path / 'somefile.txt'} is a file, not a folder; "
                   "choose another --output.")
    assert (tmp_path / "somefile.txt").read_text() == "kept\n" and files_in(tmp_path) == ["somefile.txt", "tweets.csv"]


@pytest.mark.parametrize("name", ["same", "relative", "symlink", "hard link"])
def test_the_input_is_never_the_output(capsys, monkeypatch, tmp_path, csv_input, name):
    monkeypatch.chdir(tmp_path)
    output = {"same": str(csv_input), "relative": "./sub/../tweets.csv", "symlink": "link.csv",
              "hard link": "hard.csv"}[name]
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(csv_input)
    os.link(csv_input, tmp_path / "hard.csv")
    before = csv_input.read_bytes()
    code, err = run_cli(capsys, "--input", str(csv_input), "--output", output, "--model", str(tmp_path / "none"))
    assert code == 2
    assert err == (f"error: the output {output} is the input {csv_input}, and batch-predict never replaces its "
                   "input; choose another --output.")
    assert csv_input.read_bytes() == before and files_in(tmp_path) == ["hard.csv", "link.csv", "sub", "tweets.csv"]


def test_an_unwritable_output_folder_is_refused_before_the_model_loads(tmp_path, csv_input):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    done = subprocess.run([*unprivileged(), sys.executable, "-m", "tweetops", "batch-predict", "--input",
                           str(csv_input), "--output", str(locked / "out.csv"), "--model", str(tmp_path / "none")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: cannot write the output {locked / 'out.csv'}: {locked} is not "
                                        "writable (permission denied); choose another --output."]
    assert files_in(locked) == []


def test_a_shard_that_predicted_nothing_fails_and_still_writes_every_row_flagged(capsys, tmp_path, model_dir):
    """Fault: a headerless TSV of ids and texts, where the archive's TSV (id, rating, text) is expected. Each
    row alone is merely flagged; all of them flagged is a failed job, which AWS Batch and CI must see."""
    source, out = tmp_path / "tweets.tsv", tmp_path / "out.csv"
    source.write_text("1\twhat a lovely day\n2\tthis is awful\n3\tmeh\n")
    code = cli.main(["batch-predict", "--input", str(source), "--output", str(out), "--model", str(model_dir)])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: every one of the 3 rows was flagged and none predicted (see the error column of {out}); "
        "check the input's format and --text-column.")
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(written) == 3 and written["label"].eq("").all()
    assert written["error"].str.contains("wrong number of fields").all()


def _empty_parquet(path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": pa.array([], pa.int64()), "text": pa.array([], pa.string())}), path)


@pytest.mark.parametrize("name, write", [
    ("empty.jsonl", lambda path: path.write_bytes(b"")),
    ("blank.jsonl", lambda path: path.write_bytes(b"\n  \n\n")),
    ("empty.txt", lambda path: path.write_bytes(b"")),
    ("empty.tsv", lambda path: path.write_bytes(b"")),
    ("header.csv", lambda path: path.write_bytes(b"id,text\n")),
    ("empty.parquet", _empty_parquet),
])
def test_an_input_without_rows_is_refused_before_the_model_loads(capsys, tmp_path, name, write):
    """An empty export (each of these answered exit 0 with an empty output, so an AWS Batch job that predicted
    nothing "succeeded"; only a CSV without even a header exited 2): one sentence, exit 2, the previous output
    byte for byte."""
    source, out = tmp_path / name, tmp_path / "out.csv"
    write(source)
    out.write_bytes(b"id,text,label\n1,earlier,positive\n")
    code, err = run_cli(capsys, "--input", str(source), "--output", str(out), "--model", str(tmp_path / "no-model"))
    assert code == 2
    assert err == (f"error: {source} holds no rows, so there is nothing to predict; give batch-predict a file with "
                   "one tweet per row.")
    assert out.read_bytes() == b"id,text,label\n1,earlier,positive\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "out.csv"])  # no temporary file left
