"""The current window: only the last window_hours of the history, newest first, at most max_rows; of a file,
its newest usable rows, read as a stream."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import unprivileged
from tweetops.errors import TweetopsError
from tweetops.monitoring import traffic
from tweetops.monitoring.traffic import from_file, from_history
from tweetops.serving.history import History, new_record


def test_the_window_takes_the_newest_rows_of_the_last_hours(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    now = datetime.datetime.now(datetime.timezone.utc)
    history = History(url=url, spool=tmp_path / "spool")
    history.record([new_record("r", f"text {i}", "neutral", {"neutral": 1.0}, f"v{i % 2}", 1.0,
                               now - datetime.timedelta(hours=i)) for i in range(10)])
    history.flush()
    history.close()

    window = from_history(url, 4.5, 100, now=now)
    assert window.texts == [f"text {i}" for i in range(5)]
    assert window.model_versions == {"v0": 3, "v1": 2}
    assert from_history(url, 4.5, 2, now=now).texts == ["text 0", "text 1"]
    assert len(from_history(url, None, 100).texts) == 10  # no window: what history ingestion reads


def test_a_file_is_read_in_chunks_keeping_the_newest_usable_texts_and_counting_the_rest(tmp_path, monkeypatch):
    """The file is read a chunk at a time (3 rows here, so every kind of row meets a chunk boundary); only the
    newest max_rows usable texts are kept, and every other row is counted once, as what it is."""
    monkeypatch.setattr(traffic, "CHUNK_ROWS", 3)
    lines = []
    for i in range(20):
        # source_row: a name tweetops gives a column of its own; the window adds none, so it is the file's to use
        lines.append(json.dumps({"id": i, "text": f"tweet number {i}", "source_row": i}))
        if i % 4 == 1:
            lines.append("{not json")  # unreadable
        if i % 5 == 2:
            lines.append(json.dumps({"id": i, "text": " \u200b"}))  # blank to the API: without text
        if i % 7 == 3:
            lines.append(json.dumps({"id": i}))  # no text at all
    path = tmp_path / "traffic.jsonl"
    path.write_text("\n".join(lines) + "\n")

    window = from_file(str(path), 6)
    assert window.texts == [f"tweet number {i}" for i in range(14, 20)]
    assert (window.rows, window.skipped, window.unreadable, window.left_out) == (len(lines), 12, 5, 14)
    assert window.accounting() == ("6 of 32 rows used: the newest; 14 older left out (more than max_rows), 5 "
                                   "unreadable, 7 without text")


def test_a_parquet_column_of_integer_ids_is_refused_as_numbers(tmp_path):
    """Parquet keeps ids as integers, not the strings of a CSV; they are numbers all the same."""
    path = tmp_path / "traffic.parquet"
    pq.write_table(pa.table({"id": list(range(300)), "text": [f"tweet {i}" for i in range(300)]}), path)
    with pytest.raises(TweetopsError) as refused:
        from_file(str(path), 5000, text_column="id")
    assert str(refused.value) == (f"{path}'s column 'id' holds numbers, not texts (300 of the 300 cells read); "
                                  "pass --text-column naming the tweets' column.")
    assert from_file(str(path), 5000).texts == [f"tweet {i}" for i in range(300)]


@pytest.mark.parametrize("content, said", [(b"", "holds no data rows."),
                                           (b"{bad\n[2\n", "is not readable as JSONL: every row failed")])
def test_a_file_with_no_readable_row_is_one_sentence(tmp_path, content, said):
    path = tmp_path / "traffic.jsonl"
    path.write_bytes(content)
    with pytest.raises(TweetopsError, match=said):
        from_file(str(path), 5000)


def test_traffic_from_s3_and_http_is_downloaded_and_read_like_a_local_file(
        tmp_path, s3_server, s3_bucket, http_folder, monkeypatch):
    """Against a real S3 server (SeaweedFS) and a real HTTP server on 127.0.0.1: the object is written to a
    scratch file as it arrives and read from there as a stream; nothing is left behind."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    folder, base = http_folder
    lines = "".join(json.dumps({"text": f"tweet {i}"}) + "\n" for i in range(500)) + "{bad\n"
    (folder / "traffic.jsonl").write_text(lines)
    s3_server.client().put_object(Bucket=s3_bucket, Key="exports/traffic.jsonl", Body=lines.encode())
    for uri in (f"s3://{s3_bucket}/exports/traffic.jsonl", base + "traffic.jsonl"):
        window = from_file(uri, 300)
        assert (window.texts, window.source) == ([f"tweet {i}" for i in range(200, 500)], uri)
        assert window.accounting() == ("300 of 501 rows used: the newest; 200 older left out (more than max_rows), 1 "
                                       "unreadable, 0 without text")
    with pytest.raises(TweetopsError, match=f"cannot download {base}missing.jsonl: the server answered HTTP 404."):
        from_file(base + "missing.jsonl", 300)
    with pytest.raises(TweetopsError, match=f"S3 refused s3://{s3_bucket}/missing.jsonl"):
        from_file(f"s3://{s3_bucket}/missing.jsonl", 300)
    assert list((tmp_path / "tmp").iterdir()) == []


FROM_FILE = ("import resource, sys\n"
             "from tweetops.errors import TweetopsError\n"
             "from tweetops.monitoring.traffic import from_file\n"
             "if len(sys.argv) > 2:\n"
             "    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))\n"
             "try:\n"
             "    print(from_file(sys.argv[1], 300).accounting())\n"
             "except TweetopsError as exc:\n"
             "    print(exc)\n")


def test_traffic_that_cannot_be_read_or_downloaded_is_one_sentence(tmp_path, s3_server, s3_bucket, http_folder):
    """A file this user may not read (was a PermissionError traceback), and a download that fills its disk
    (a file-size limit here, as a full TMPDIR: it said "cannot reach S3 ... (OSError)")."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, **s3_server.env(), "TMPDIR": str(scratch)}
    secret = tmp_path / "secret.csv"
    secret.write_text("text\nhello\n")
    secret.chmod(0)
    said = subprocess.run([*unprivileged(), sys.executable, "-c", FROM_FILE, str(secret)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert said.stdout == f"traffic file {secret} is not readable (permission denied); check --input and who may " \
                          "read it.\n", said.stderr
    folder, base = http_folder
    lines = "".join(json.dumps({"text": f"tweet number {i}"}) + "\n" for i in range(20_000))
    (folder / "big.jsonl").write_text(lines)
    s3_server.client().put_object(Bucket=s3_bucket, Key="big.jsonl", Body=lines.encode())
    for uri in (base + "big.jsonl", f"s3://{s3_bucket}/big.jsonl"):
        said = subprocess.run([sys.executable, "-c", FROM_FILE, uri, "100000"], capture_output=True, text=True,
                              env=env, timeout=120)
        assert said.stdout == f"no room to download {uri} into {scratch} (file too large); free space there or " \
                              "set TMPDIR to a larger disk.\n", said.stderr
    assert list(scratch.iterdir()) == []  # no download left behind


def test_the_number_check_weighs_the_whole_column_and_max_rows_may_be_any_size(tmp_path):
    """Newest rows of numbers after many texts: the texts judged are tweets, so no refusal (the check counted
    only the newest max_rows cells); and a --max-rows past what a deque takes was an OverflowError."""
    path = tmp_path / "late_ids.jsonl"
    path.write_text("".join(json.dumps({"text": f"tweet {i}"}) + "\n" for i in range(600))
                    + "".join(json.dumps({"text": 100_000 + i}) + "\n" for i in range(300)))
    window = from_file(str(path), 400)
    assert window.texts == [f"tweet {i}" for i in range(200, 600)] and window.skipped == 300
    assert len(from_file(str(path), 2**63).texts) == 600
