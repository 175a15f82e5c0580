"""The current window: only the last window_hours of the history, newest first, at most max_rows."""
from __future__ import annotations

import datetime

from tweetops.serving.history import History, new_record
from tweetops.monitoring.traffic import from_history


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
