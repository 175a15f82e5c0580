"""AWS Batch array shards: contiguous row ranges whose parts add up to the unsharded output."""

import pandas as pd
import pytest

from tests.batch.conftest import FORMATS, read_output, read_parts, run_array_job, write_input
from tweetops.serving import batch


@pytest.mark.parametrize("total", [0, 1, 3, 4, 7, 4200])
def test_shard_ranges_are_contiguous_and_cover_every_row(total):
    ranges = [batch.Shard(i, 4).rows(total) for i in range(4)]
    assert ranges[0][0] == 0 and ranges[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert max(b - a for a, b in ranges) - min(b - a for a, b in ranges) <= 1


def run_shard(monkeypatch, index, size, *args, **kwargs):
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", str(index))
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_SIZE", str(size))
    return batch.run(*args, **kwargs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_four_shards_add_up_to_the_unsharded_run(tmp_path, monkeypatch, tweets, predictor, fmt):
    source = tmp_path / f"tweets.{fmt}"
    write_input(tweets, fmt, source)
    whole = read_output(batch.run(str(source), str(tmp_path / f"whole.{fmt}"), predictor=predictor)["output"], fmt)
    for index in range(4):
        summary = run_shard(monkeypatch, index, 4, str(source), str(tmp_path / "parts"), chunk_size=300,
                            predictor=predictor)
        start, stop = batch.Shard(index, 4).rows(len(tweets))
        assert summary["rows_in"] == summary["rows_out"] == stop - start
    parts = sorted((tmp_path / "parts").iterdir())
    assert [p.name for p in parts] == [f"part-0000{i}-of-00004.{fmt}" for i in range(4)]
    pd.testing.assert_frame_equal(read_parts(parts, fmt), whole)


def test_four_shard_processes_add_up_to_the_unsharded_run(tmp_path, tweets, predictor, model_dir):
    source = tmp_path / "tweets.parquet"
    write_input(tweets, "parquet", source)
    whole = read_output(batch.run(str(source), str(tmp_path / "whole.parquet"), predictor=predictor)["output"],
                        "parquet")
    run_array_job(source, tmp_path / "parts", model_dir, size=4, chunk_size=500)
    pd.testing.assert_frame_equal(read_parts((tmp_path / "parts").iterdir(), "parquet"), whole)


def test_more_shards_than_rows_write_empty_parts(tmp_path, monkeypatch, predictor):
    source = tmp_path / "few.csv"
    source.write_text("id,text\n1,good morning\n2,awful traffic again\n")
    for index in range(3):
        run_shard(monkeypatch, index, 3, str(source), str(tmp_path / "parts"), predictor=predictor)
    sizes = [len(read_output(p, "csv")) for p in sorted((tmp_path / "parts").iterdir())]
    assert sizes == [0, 1, 1]


def test_a_retried_shard_replaces_only_its_own_part(tmp_path, monkeypatch, tweets, predictor):
    source = tmp_path / "tweets.parquet"
    write_input(tweets, "parquet", source)
    parts = tmp_path / "parts"
    for index in range(4):
        run_shard(monkeypatch, index, 4, str(source), str(parts), predictor=predictor)
    first = read_output(parts / "part-00002-of-00004.parquet", "parquet")
    (parts / "part-00002-of-00004.parquet").write_bytes(b"half-written by a killed attempt")
    others = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in parts.iterdir() if "00002" not in p.name}
    run_shard(monkeypatch, 2, 4, str(source), str(parts), predictor=predictor)
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in parts.iterdir() if "00002" not in p.name} == others
    pd.testing.assert_frame_equal(read_output(parts / "part-00002-of-00004.parquet", "parquet"), first)
    assert len(list(parts.iterdir())) == 4  # no temporary file left behind
