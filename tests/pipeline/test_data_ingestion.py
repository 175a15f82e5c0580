import hashlib
import json

import pandas as pd
import pytest

from tests.conftest import make_project
from tweetops.errors import TweetopsError
from tweetops.pipeline.runner import run_stage
from tweetops.pipeline.runs import Request

BUNDLED_SHA = "dfbe7102e2f92579ed8b19df9a3822491880697c67adf712fb66e520cc05102f"


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "project")


def ingest(project, source=None, **overrides):
    """(the project's catalog, what data_ingestion returned)."""
    request = Request(project / "params.yaml", {**({"data.source": source} if source else {}), **overrides})
    return request.catalog(), run_stage("data_ingestion", request)


def sample(raw_path, n=50) -> pd.DataFrame:
    lines = raw_path.read_text().splitlines()[:n]
    rows = [line.split("\t", 2) for line in lines]
    return pd.DataFrame(rows, columns=["id", "rating", "text"])


def test_bundled_tsv_is_ingested_whole_with_its_record(project):
    catalog, record = ingest(project)
    frame = pd.read_parquet(catalog.ingested)
    assert record["rows"] == len(frame) == 4200
    assert record["sha256"] == BUNDLED_SHA
    assert record["format"] == "tsv" and record["rows_with_errors"] == 0
    saved = json.loads(catalog.ingestion_record.read_text())
    assert saved["sha256"] == BUNDLED_SHA and saved["run_id"] == record["run_id"]
    first = frame.iloc[0]
    assert (first["id"], first["rating"]) == ("1", "2.726315789")
    assert first["text"].startswith("Somehow I was blessed")
    assert not frame["text"].str.endswith("\r").any()  # CRLF handled


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_csv_jsonl_and_parquet_sources(project, raw_path, fmt):
    table = sample(raw_path)
    path = project / f"sample.{fmt}"
    {"csv": lambda: table.to_csv(path, index=False),
     "jsonl": lambda: table.to_json(path, orient="records", lines=True),
     "parquet": lambda: table.to_parquet(path, index=False)}[fmt]()
    catalog, record = ingest(project, str(path))
    frame = pd.read_parquet(catalog.ingested)
    assert record["format"] == fmt and record["rows"] == 50
    assert frame["text"].tolist() == table["text"].tolist()
    assert frame["id"].tolist() == table["id"].tolist()


def test_file_uri_and_the_https_source(project, raw_path, http_folder):
    folder, base = http_folder
    (folder / "tweets.tsv").write_bytes(raw_path.read_bytes())
    _, record = ingest(project, base + "tweets.tsv")
    assert record["rows"] == 4200 and record["sha256"] == BUNDLED_SHA
    _, record = ingest(project, raw_path.as_uri())
    assert record["rows"] == 4200


def test_s3_source_on_a_real_s3_server(project, raw_path, s3_server, s3_bucket, monkeypatch):
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    s3_server.client().put_object(Bucket=s3_bucket, Key="raw/tweets.tsv", Body=raw_path.read_bytes())
    catalog, record = ingest(project, f"s3://{s3_bucket}/raw/tweets.tsv")
    assert record["rows"] == 4200 and record["sha256"] == BUNDLED_SHA
    assert len(pd.read_parquet(catalog.ingested)) == 4200


def test_failed_sources_are_one_clear_error_and_keep_previous_outputs(project, http_folder, s3_server, s3_bucket,
                                                                      monkeypatch):
    catalog, _ = ingest(project)
    before = catalog.ingested.read_bytes(), catalog.ingestion_record.read_bytes()
    _, base = http_folder
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    (project / "loop.tsv").symlink_to(project / "loop.tsv")
    cases = {
        str(project / "missing.tsv"): "does not exist",
        # OSErrors other than missing, folder, permission were tracebacks (found by a hostile review)
        str(project / "loop.tsv"): r"loop.tsv cannot be read \(Too many levels of symbolic links\); check the path",
        str(project / ("a" * 300 + ".tsv")): r"cannot be read \(File name too long\)",
        str(project / "params.yaml" / "x.tsv"): r"cannot be read \(Not a directory\)",
        base + "missing.tsv": "server answered HTTP 404",
        "https://127.0.0.1:9/tweets.tsv": "cannot download",
        f"s3://{s3_bucket}/missing.tsv": r"S3 refused .*NoSuchKey",
        "s3://no-such-bucket-here/x.tsv": "S3 refused",
        "s3://bucket-only.tsv": "not a full S3 object URI",
        "s3://" + s3_bucket + "/notes.docx": "NoSuchKey",
    }
    for source, message in cases.items():
        with pytest.raises(TweetopsError, match=message):
            ingest(project, source, **{"data.timeout_seconds": 3})
    assert (catalog.ingested.read_bytes(), catalog.ingestion_record.read_bytes()) == before


def test_a_wrong_secret_is_refused_by_the_s3_server(project, raw_path, s3_server, s3_bucket, monkeypatch):
    s3_server.client().put_object(Bucket=s3_bucket, Key="t.tsv", Body=raw_path.read_bytes())
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(TweetopsError, match="SignatureDoesNotMatch"):
        ingest(project, f"s3://{s3_bucket}/t.tsv")


def test_unreadable_files_and_wrong_columns(project):
    cases = {
        "binary.parquet": (b"PAR1 not really", "not a readable Parquet file"),
        "binary.tsv": (b"\x00\x01\x02" * 100, "looks binary"),
        "empty.tsv": (b"", "holds no data rows"),
        "nocols.csv": (b"tweet,score\nhello,1\n", r"has no 'text' column \(it has: score, tweet\)"),
        "onecol.tsv": (b"just one field\nanother\n", r"has no 'text' column \(it has: just one field\)"),
        "noheader.tsv": (b"1\tno rating\n2\tnone here either\n", "every row failed"),
        "notes.docx": (b"PK\x03\x04", "cannot tell the format"),
    }
    for name, (content, message) in cases.items():
        (project / name).write_bytes(content)
        with pytest.raises(TweetopsError, match=message):
            ingest(project, str(project / name))


def test_bad_lines_become_rows_with_a_reason_not_lost(project):
    content = b"1\t0.5\tfine\r\n2\t1.0\tcaf\xe9 latin-1\r\n3\tonly two\r\n4\t-1\ttext\twith\ttabs"
    (project / "mixed.tsv").write_bytes(content)
    catalog, record = ingest(project, str(project / "mixed.tsv"))
    frame = pd.read_parquet(catalog.ingested).set_index("id")
    assert record["rows"] == 4 and record["rows_with_errors"] == 2
    assert frame.loc["2", "ingest_error"] == "line is not valid UTF-8"
    assert frame.loc["3", "ingest_error"].startswith("wrong number of fields")
    assert frame.loc["4", "text"] == "text\twith\ttabs"
    assert hashlib.sha256(content).hexdigest() == record["sha256"]
