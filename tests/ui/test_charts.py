"""The history chart's time buckets: the right size for the span, every prediction counted once, in time order."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from ui.charts import labels_over_time, time_bucket


def _history(times: list[str], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"created_at": pd.to_datetime(times, utc=True), "label": labels})


@pytest.mark.parametrize("span, bucket", [(pd.Timedelta(seconds=90), ("s", "%H:%M:%S")),
                                          (pd.Timedelta(hours=2), ("min", "%H:%M")),
                                          (pd.Timedelta(days=2), ("h", "%m-%d %H:00")),
                                          (pd.Timedelta(days=30), ("D", "%Y-%m-%d"))])
def test_the_bucket_suits_the_span(span, bucket):
    start = pd.Timestamp("2026-11-20T09:00:00Z")
    assert time_bucket(_history([str(start), str(start + span)], ["positive", "negative"])) == bucket


def test_every_prediction_is_counted_once_in_its_utc_hour_in_time_order():
    table = _history(["2026-11-22T23:59:59+00:00", "2026-11-23T00:10:00+00:00", "2026-11-23T01:30:00+01:00",
                      "2026-11-21T08:00:00Z", "2026-11-22T23:00:01Z"],
                     ["negative", "positive", "positive", "neutral", "negative"])
    spec = json.loads(labels_over_time(table).to_json())
    rows = next(iter(spec["datasets"].values()))
    assert spec["encoding"]["x"]["sort"] == ["11-21 08:00", "11-22 23:00", "11-23 00:00"]
    assert {(r["time"], r["label"], r["predictions"]) for r in rows} == {
        ("11-21 08:00", "neutral", 1), ("11-22 23:00", "negative", 2), ("11-23 00:00", "positive", 2)}
