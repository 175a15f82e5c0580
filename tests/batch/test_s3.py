"""s3:// in and out against a real S3 server (SeaweedFS on 127.0.0.1)."""
import pandas as pd
import pytest

from tests.batch.conftest import read_output, read_parts, write_input
from tweetops.serving import batch
from tweetops.errors import TweetopsError


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_s3_input_and_output_match_a_local_run(tmp_path, s3_env, s3_bucket, tweets, predictor, fmt):
    source = tmp_path / f"tweets.{fmt}"
    write_input(tweets, fmt, source)
    client = s3_env.client()
    client.upload_file(str(source), s3_bucket, f"in/tweets.{fmt}")
    local = read_output(batch.run(str(source), str(tmp_path / f"local.{fmt}"), predictor=predictor)["output"], fmt)
    summary = batch.run(f"s3://{s3_bucket}/in/tweets.{fmt}", f"s3://{s3_bucket}/out/predicted.{fmt}",
                        chunk_size=1000, predictor=predictor)
    assert summary["rows_out"] == len(tweets) and summary["output"] == f"s3://{s3_bucket}/out/predicted.{fmt}"
    client.download_file(s3_bucket, f"out/predicted.{fmt}", str(tmp_path / f"from-s3.{fmt}"))
    pd.testing.assert_frame_equal(read_output(tmp_path / f"from-s3.{fmt}", fmt), local)


def test_s3_shards_write_one_object_each_and_a_retry_replaces_only_its_own(
        tmp_path, monkeypatch, s3_env, s3_bucket, tweets, predictor):
    source = tmp_path / "tweets.parquet"
    write_input(tweets, "parquet", source)
    client = s3_env.client()
    client.upload_file(str(source), s3_bucket, "in/tweets.parquet")
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_SIZE", "2")
    for index in (0, 1):
        monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", str(index))
        batch.run(f"s3://{s3_bucket}/in/tweets.parquet", f"s3://{s3_bucket}/parts/", predictor=predictor)

    def listing():
        return {o["Key"]: (o["ETag"], o["LastModified"]) for o in client.list_objects_v2(
            Bucket=s3_bucket, Prefix="parts/")["Contents"]}

    before = listing()
    assert sorted(before) == ["parts/part-00000-of-00002.parquet", "parts/part-00001-of-00002.parquet"]
    client.put_object(Bucket=s3_bucket, Key="parts/part-00001-of-00002.parquet", Body=b"a killed attempt")
    batch.run(f"s3://{s3_bucket}/in/tweets.parquet", f"s3://{s3_bucket}/parts", predictor=predictor)
    after = listing()
    assert after["parts/part-00000-of-00002.parquet"] == before["parts/part-00000-of-00002.parquet"]
    assert after["parts/part-00001-of-00002.parquet"][0] == before["parts/part-00001-of-00002.parquet"][0]
    for key in after:
        client.download_file(s3_bucket, key, str(tmp_path / key.replace("/", "-")))
    whole = batch.run(str(source), str(tmp_path / "whole.parquet"), shard=batch.Shard(), predictor=predictor)
    pd.testing.assert_frame_equal(read_parts(tmp_path.glob("parts-*"), "parquet"),
                                  read_output(whole["output"], "parquet"))


def test_a_missing_s3_object_is_one_clear_error(tmp_path, s3_env, s3_bucket):
    with pytest.raises(TweetopsError, match=rf"S3 refused s3://{s3_bucket}/in/none.csv \(NoSuchKey or NoSuchBucket\)"):
        batch.run(f"s3://{s3_bucket}/in/none.csv", f"s3://{s3_bucket}/out/")
