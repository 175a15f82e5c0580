"""The current window of traffic: recent predictions from the history database, or texts from a file.

Only the texts are taken: the monitor re-scores them with the bundle it compares against, so the
reference and the current window are seen through the same model, whichever version served them.
"""
from __future__ import annotations

import datetime
import sys
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from tweetops.errors import TweetopsError
from tweetops.io.storage import local_input
from tweetops.io.tables import detect_format, open_table
from tweetops.model.normalizer import BLANK
from tweetops.serving.history import make_engine, predictions
from tweetops.serving.inference import is_number, refuse_a_number_column

CHUNK_ROWS = 65_536  # as the whole-table read's Parquet batches: a binary column is judged text or bytes per chunk


@dataclass
class Window:
    texts: list[str]
    source: str  # where the texts came from (a database URL with its password hidden, or a file URI)
    since: str | None = None
    skipped: int = 0  # rows without a usable text (unreadable, or no text)
    unreadable: int = 0  # of them, rows that could not be read at all (history: none)
    left_out: int = 0  # usable rows past max_rows: only the newest max_rows are taken
    model_versions: dict = field(default_factory=dict)  # which served models answered them (history only)
    ids: list[str] = field(default_factory=list)  # the history's record ids, one per text (history only)

    @property
    def rows(self) -> int:
        """Every row the source held (in the time window): used, skipped or left out."""
        return len(self.texts) + self.skipped + self.left_out

    def accounting(self) -> str:
        """What was used of the source and what was not, e.g. "5,000 of 19,503 rows used: the newest; ..."."""
        used = f"{len(self.texts):,} of {self.rows:,} rows used" + (": the newest" if self.left_out else "")
        return (f"{used}; {self.left_out:,} older left out (more than max_rows), {self.unreadable:,} unreadable, "
                f"{self.skipped - self.unreadable:,} without text")


def _engine(url: str):
    try:
        parsed = make_url(url)
        engine = make_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError):
        raise TweetopsError(f"{url!r} is not a database URL this can open; write it as "
                            "postgresql+psycopg://user@host:port/db or sqlite:///path/to/history.db.")
    except ImportError as exc:
        raise TweetopsError(f"the driver for {url.split(':', 1)[0]} is not installed ({exc.name}); "
                            "use postgresql+psycopg:// or sqlite:///.")
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        # SQLite would quietly create an empty file; a missing history is a mistake in the URL.
        raise TweetopsError(f"the history database {parsed.database} does not exist; check the history URL "
                            "(--history, history_ingestion.url or DATABASE_URL).")
    return engine, parsed.render_as_string(hide_password=True)


def from_history(url: str, window_hours: float | None, max_rows: int,
                 now: datetime.datetime | None = None) -> Window:
    """The newest `max_rows` predictions of the last `window_hours` (None: of all time)."""
    engine, shown = _engine(url)
    since = None
    query = select(predictions.c.id, predictions.c.text, predictions.c.model_version)
    total = select(func.count()).select_from(predictions)
    if window_hours is not None:
        since = (now or datetime.datetime.now(datetime.timezone.utc)) - datetime.timedelta(hours=window_hours)
        query, total = query.where(predictions.c.created_at >= since), total.where(predictions.c.created_at >= since)
    query = query.order_by(predictions.c.created_at.desc(), predictions.c.id).limit(max_rows)
    try:
        if not inspect(engine).has_table(predictions.name):
            raise TweetopsError(f"{shown} holds no '{predictions.name}' table; point --history at the API's "
                                "prediction history database.")
        with engine.connect() as conn:
            rows, count = conn.execute(query).all(), conn.execute(total).scalar_one()
    except SQLAlchemyError as exc:
        raise TweetopsError(f"cannot read the prediction history at {shown} ({type(exc).__name__}); "
                            "check the URL, that the database is up, and its credentials.")
    finally:
        engine.dispose()
    usable = [row for row in rows if row.text and row.text.strip(BLANK)]  # the API's blank: no text
    return Window(texts=[row.text for row in usable], ids=[row.id for row in usable], source=shown,
                  since=since.isoformat(timespec="seconds") if since else None, skipped=len(rows) - len(usable),
                  left_out=max(count - len(rows), 0), model_versions=dict(Counter(row.model_version for row in rows)))


def from_file(uri: str, max_rows: int, root: Path | None = None, endpoint_url: str | None = None,
              text_column: str = "text") -> Window:
    """Texts from a file (a path, file://, https:// or s3://, downloaded first) in any format tweetops.io.tables
    reads: the newest `max_rows` usable cells of `text_column` (files grow at the end). Read as a stream, keeping
    only those: the whole table in memory took about 20 times the file's size."""
    with local_input(uri, "traffic file", root=root, endpoint_url=endpoint_url) as source:
        reader = open_table(source, detect_format(uri, source=source), uri)
        reader.require(text_column)
        usable = deque(maxlen=min(max_rows, sys.maxsize))  # the newest: what is judged
        rows = unreadable = readable = numbers = found = 0
        first_error = None
        for chunk in reader.chunks(CHUNK_ROWS):
            rows += len(chunk)
            for cell, error in zip(chunk.column(text_column), chunk.errors):
                if error:
                    unreadable += 1
                    first_error = first_error or error
                elif cell is not None:
                    readable += 1
                    numbers += is_number(cell)
                    if isinstance(cell, str) and cell.strip(BLANK):
                        usable.append(cell)
                        found += 1
    reader.refuse_unreadable(rows, unreadable, first_error)
    refuse_a_number_column(numbers, readable, uri, text_column)
    return Window(texts=list(usable), source=uri, skipped=rows - found, unreadable=unreadable,
                  left_out=found - len(usable))
