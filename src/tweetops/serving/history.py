"""The prediction history: every answered prediction, written off the request's critical path.

Requests only append to an in-memory buffer; a background thread writes it in batches. When
the database is down the batch is spooled to local disk as JSONL (one file per batch, written
atomically) and replayed once the database answers again, so predictions keep being answered
and no record is lost. Records carry a unique id and are inserted with "on conflict do
nothing", so a replay that repeats a batch never duplicates rows.

SQLite by default (TWEETOPS_HISTORY_DB, else data/history.db); DATABASE_URL selects another
database such as PostgreSQL (postgresql+psycopg://...).
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import threading
import uuid
from pathlib import Path

import orjson
from sqlalchemy import JSON, Column, DateTime, Float, Index, MetaData, String, Table, Text, create_engine, event
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from tweetops.catalog import Catalog
from tweetops.errors import TweetopsError
from tweetops.io.files import write_text
from tweetops.settings import environment, project_root

log = logging.getLogger("tweetops.history")

MAX_BUFFERED = 1_000_000  # beyond this, with both the database and the spool failing, records are dropped loudly

metadata = MetaData()
predictions = Table(
    "predictions", metadata,
    Column("id", String(32), primary_key=True),
    Column("request_id", String(64), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("text", Text, nullable=False),
    Column("label", String(16), nullable=False),
    Column("probabilities", JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("latency_ms", Float, nullable=False),
    Index("ix_predictions_created_at", "created_at"),
    Index("ix_predictions_label_created_at", "label", "created_at"),
)


class HistoryUnavailable(TweetopsError):
    """The history database cannot be read right now."""


def database_url() -> str:
    """DATABASE_URL, else a SQLite file at TWEETOPS_HISTORY_DB (default data/history.db under the project root)."""
    env = environment()
    url = env.database_url
    if url:
        # Plain postgres URLs (as hosting platforms give them) mean psycopg 3 here.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url
    path = env.history_db or Catalog(project_root()).history_db
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def spool_dir() -> Path:
    return environment().spool_dir or Catalog(project_root()).history_spool


def _json(value) -> str:
    return orjson.dumps(value).decode()  # ~5x faster than json.dumps for the probabilities of every row


def make_engine(url: str):
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, json_serializer=_json)

        @event.listens_for(engine, "connect")
        def _wal(dbapi_connection, _record):  # several worker processes write the same file
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    # pre_ping: after a database restart, pooled connections are dead; test them before use.
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2, connect_args=connect_args,
                         json_serializer=_json)


def ensure_schema(engine) -> None:
    """Create the table if missing; two processes racing to create it is not an error."""
    try:
        metadata.create_all(engine)
    except SQLAlchemyError:
        metadata.create_all(engine)  # the other process won the race; now the table exists


def new_record(request_id: str, text: str, label: str, probabilities: dict, model_version: str,
               latency_ms: float, created_at: datetime.datetime | None = None) -> dict:
    return {"id": uuid.uuid4().hex, "request_id": request_id,
            "created_at": created_at or datetime.datetime.now(datetime.timezone.utc), "text": text,
            "label": label, "probabilities": probabilities, "model_version": model_version,
            "latency_ms": latency_ms}


def _insert_statement(engine):
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(engine.dialect.name)
    if dialect is None:
        return insert(predictions)
    return dialect.insert(predictions).on_conflict_do_nothing(index_elements=["id"])


def _to_json_line(record: dict) -> str:
    return json.dumps({**record, "created_at": record["created_at"].isoformat()})


def _from_json_line(line: str) -> dict:
    record = json.loads(line)
    record["created_at"] = datetime.datetime.fromisoformat(record["created_at"])
    return record


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class History:
    """Buffered, spooling writer plus reader of the predictions table."""

    def __init__(self, url: str | None = None, spool: str | Path | None = None,
                 flush_seconds: float | None = None, batch_size: int = 64):
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        self.spool = Path(spool or spool_dir())
        self.spool.mkdir(parents=True, exist_ok=True)
        self.flush_seconds = flush_seconds or environment().history_flush_seconds
        self.batch_size = batch_size
        self._buffer: list[dict] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time: the thread, or an explicit flush()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._schema_ready = False
        self._thread: threading.Thread | None = None
        self._recover_claims()

    # -- writing ---------------------------------------------------------------------------
    def start(self) -> "History":
        self._thread = threading.Thread(target=self._run, name="history-flusher", daemon=True)
        self._thread.start()
        return self

    def record(self, records: list[dict]) -> None:
        """Queue records for writing; never blocks on the database."""
        with self._lock:
            self._buffer.extend(records)
            if len(self._buffer) > MAX_BUFFERED:
                dropped = len(self._buffer) - MAX_BUFFERED
                del self._buffer[:dropped]
                log.error("history buffer full: dropped %d oldest records (database and spool both failing)", dropped)
            full = len(self._buffer) >= self.batch_size
        if full:
            self._wake.set()

    def close(self) -> None:
        """Stop the thread and write whatever is buffered (to the database, else to the spool)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.flush()
        self.engine.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the thread must survive anything; the next round retries
                log.exception("history flush failed")

    def flush(self) -> int:
        """Write buffered records (and any spooled ones); returns how many reached the database."""
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            written = 0
            if batch:
                try:
                    written += self._insert(batch)
                except SQLAlchemyError as exc:
                    self._spool_batch(batch, exc)
                    return 0
            return written + self._replay_spool()

    def _insert(self, batch: list[dict]) -> int:
        if not self._schema_ready:
            ensure_schema(self.engine)
            self._schema_ready = True
        with self.engine.begin() as conn:
            conn.execute(_insert_statement(self.engine), batch)
        return len(batch)

    def _spool_batch(self, batch: list[dict], exc: Exception) -> None:
        name = f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%dT%H%M%S%f}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            write_text(self.spool / f"{name}.jsonl", "".join(_to_json_line(r) + "\n" for r in batch))
        except OSError as spool_error:
            log.error("history database and spool both failing (%s; %s); keeping %d records in memory",
                      type(exc).__name__, spool_error, len(batch))
            with self._lock:
                self._buffer[:0] = batch
            return
        log.warning("history database unavailable (%s); spooled %d records to %s",
                    type(exc).__name__, len(batch), self.spool)

    def _replay_spool(self) -> int:
        """Write spooled batches to the database; each file is claimed by rename so one process replays it."""
        written = 0
        for path in sorted(self.spool.glob("*.jsonl")):
            claimed = path.with_name(f"{path.name}.{os.getpid()}.claim")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another worker took it
            try:
                batch = [_from_json_line(line) for line in claimed.read_text(encoding="utf-8").splitlines() if line]
                written += self._insert(batch)
            except SQLAlchemyError:
                os.rename(claimed, path)  # still down: keep it for the next round
                break
            claimed.unlink()
            log.info("history: replayed %d spooled records from %s", len(batch), path.name)
        return written

    def _recover_claims(self) -> None:
        """Give back files claimed by a process that died while replaying them."""
        for claimed in self.spool.glob("*.jsonl.*.claim"):
            pid = int(claimed.suffixes[-2].lstrip("."))
            if pid != os.getpid() and not _pid_alive(pid):
                os.rename(claimed, claimed.with_name(claimed.name.rsplit(".", 2)[0]))

    def pending(self) -> int:
        """Records not yet in the database: buffered here plus spooled on disk (all processes)."""
        with self._lock:
            buffered = len(self._buffer)
        spooled = 0
        for path in self.spool.glob("*.jsonl*"):
            with open(path, "rb") as handle:
                spooled += sum(1 for _ in handle)
        return buffered + spooled

    # -- reading ---------------------------------------------------------------------------
    def query(self, label: str | None = None, since: datetime.datetime | None = None,
              until: datetime.datetime | None = None, limit: int = 100, offset: int = 0) -> dict:
        """A page of records, newest first, with the total count matching the filters."""
        conditions = []
        if label:
            conditions.append(predictions.c.label == label)
        if since:
            conditions.append(predictions.c.created_at >= _utc(since))
        if until:
            conditions.append(predictions.c.created_at < _utc(until))
        rows_query = (select(predictions).where(*conditions)
                      .order_by(predictions.c.created_at.desc(), predictions.c.id).limit(limit).offset(offset))
        count_query = select(func.count()).select_from(predictions).where(*conditions)
        try:
            if not self._schema_ready:
                ensure_schema(self.engine)
                self._schema_ready = True
            with self.engine.connect() as conn:
                total = conn.execute(count_query).scalar_one()
                rows = conn.execute(rows_query).mappings().all()
        except SQLAlchemyError as exc:
            raise HistoryUnavailable(f"the prediction history database is unavailable ({type(exc).__name__}); "
                                     "predictions are still served and recorded later, retry this in a moment.")
        return {"total": total, "limit": limit, "offset": offset,
                "items": [{**row, "created_at": _utc(row["created_at"]).isoformat()} for row in rows]}

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(predictions)).scalar_one()


def _utc(moment: datetime.datetime) -> datetime.datetime:
    """Aware UTC; naive values (SQLite returns those) are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)
