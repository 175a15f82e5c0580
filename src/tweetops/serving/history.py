"""The prediction history: every answered prediction, journaled before its answer, shipped in batches.

A request appends its records to this process's journal on local disk (tweetops.serving.journal)
before the response is sent; a background thread ships journal lines to the database in batches
and marks how far it got. When the database is down or cannot take writes (read-only, a full disk)
the lines wait in the journal and are shipped once it takes them again, and a journal left by a
killed process is claimed and shipped by the next one. Records carry a unique id and are inserted
with "on conflict do nothing", so shipping a line twice never duplicates a row. A record the
database refuses (a bad value, not an outage) goes to quarantine.jsonl with the reason, and the
records behind it are shipped.

SQLite by default (TWEETOPS_HISTORY_DB, else data/history.db); DATABASE_URL selects another
database such as PostgreSQL (postgresql+psycopg://...).
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import threading
import uuid
from pathlib import Path

import orjson
from sqlalchemy import JSON, Column, DateTime, Float, Index, MetaData, String, Table, Text, create_engine, event
from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tweetops.catalog import Catalog
from tweetops.errors import TweetopsError
from tweetops.serving.journal import QUARANTINE, Journal, JournalFull, mark_shipped, quarantine, read_unshipped
from tweetops.serving.journal import shipped_offset
from tweetops.settings import environment, project_root

log = logging.getLogger("tweetops.history")

SHIP_BATCH = 500  # journal lines per insert
# SQLSTATE classes saying the database cannot take writes now, whatever the records: retry later. A lost connection
# (08), a read-only transaction (25: a standby after a failover, default_transaction_read_only), a serialization
# failure or deadlock (40), no table or no permission (42), a full disk, no memory, too many connections (53), a
# lock not available (55), a shutdown or a server still starting (57), an I/O error (58), an internal error (XX).
# The exception type does not say it: a read-only database is psycopg's InternalError, like its internal errors.
# Any other class is about the records themselves (22 a value the column refuses, 23 a constraint): quarantined.
OUTAGE_CLASSES = frozenset({"08", "25", "40", "42", "53", "55", "57", "58", "XX"})
# Without a SQLSTATE (SQLite, a connection never made, the pool exhausted), by type.
OUTAGE = (OperationalError, InterfaceError, ProgrammingError, PoolTimeout)


def is_outage(exc: BaseException) -> bool:
    """Whether shipping stops and the records wait in the journal, rather than being quarantined."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if sqlstate:
        return sqlstate[:2] in OUTAGE_CLASSES
    return isinstance(exc, OUTAGE)


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


class HistoryFull(HistoryUnavailable):
    """The journal cannot be written, so a prediction cannot be answered without losing its record."""


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


def record_ids(texts: list[str], idempotency_key: str | None = None) -> list[str]:
    """Random ids, or ids derived from a client's Idempotency-Key and the request's texts: a retried request (its
    answer lost to a cut connection, say) then writes the same ids as the first attempt, and "on conflict do
    nothing" keeps one. The texts are in the ids because keys are the clients' own: a key used again for another
    request (another client's, a bug's) records it too, where the key alone dropped it as "already recorded"."""
    if idempotency_key is None:
        return [uuid.uuid4().hex for _ in texts]
    request = hashlib.sha256(json.dumps([idempotency_key, texts]).encode()).hexdigest()
    return [hashlib.sha256(f"{request}\n{i}".encode()).hexdigest()[:32] for i in range(len(texts))]


def new_record(request_id: str, text: str, label: str, probabilities: dict, model_version: str,
               latency_ms: float, created_at: datetime.datetime | None = None, record_id: str | None = None) -> dict:
    return {"id": record_id or uuid.uuid4().hex, "request_id": request_id,
            "created_at": created_at or datetime.datetime.now(datetime.timezone.utc), "text": text,
            "label": label, "probabilities": probabilities, "model_version": model_version,
            "latency_ms": latency_ms}


def _insert_statement(engine):
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(engine.dialect.name)
    if dialect is None:
        return insert(predictions)
    return dialect.insert(predictions).on_conflict_do_nothing(index_elements=["id"])


def _from_json_line(line: bytes) -> dict:
    record = orjson.loads(line)
    record["created_at"] = datetime.datetime.fromisoformat(record["created_at"])
    return record


def _journal_lines(records: list[dict]) -> bytes:
    try:
        return b"".join(orjson.dumps(r) + b"\n" for r in records)
    except TypeError:  # a lone surrogate: the API refuses them, so only a direct caller gets here
        return _journal_lines([{**r, "text": r["text"].encode("utf-8", "replace").decode()} for r in records])


class History:
    """Journaling writer, shipper and reader of the predictions table."""

    def __init__(self, url: str | None = None, spool: str | Path | None = None,
                 flush_seconds: float | None = None, batch_size: int = 64):
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        self.spool = Path(spool or spool_dir())
        self.journal = Journal(self.spool)
        self.flush_seconds = flush_seconds or environment().history_flush_seconds
        self.batch_size = batch_size
        self._unshipped = 0  # appended since the last shipment, to wake the shipper early under load
        self._flush_lock = threading.Lock()  # one shipment at a time: the thread, or an explicit flush()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._schema_ready = False
        self._down = False
        self._thread: threading.Thread | None = None

    # -- writing ---------------------------------------------------------------------------
    def start(self) -> "History":
        """Start shipping, this process's records and those a killed process left behind."""
        self._thread = threading.Thread(target=self._run, name="history-shipper", daemon=True)
        self._thread.start()
        return self

    def record(self, records: list[dict]) -> None:
        """Journal the records before the answer is sent; HistoryFull when the journal cannot take them."""
        try:
            self.journal.append(_journal_lines(records))
        except JournalFull as exc:
            log.error("%s in %s: answering 503 until it can", exc.strerror, self.spool)
            raise HistoryFull(f"{exc.strerror}; the prediction was not answered because it could not be "
                              "recorded, retry in a moment.") from None
        self._unshipped += len(records)
        if self._unshipped >= self.batch_size:
            self._wake.set()

    def close(self) -> None:
        """Stop the thread and ship what is journaled; what the database cannot take waits for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.journal.close()
        self.flush()
        self.engine.dispose()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the thread must survive anything; the next round retries
                log.exception("history shipment failed")

    def flush(self) -> int:
        """Ship every journaled record this process owns; returns how many reached the database."""
        with self._flush_lock:
            self._unshipped = 0
            shipped = 0
            try:
                for path in self.journal.owned():
                    shipped += self._ship(path)
                    self.journal.retire(path)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._schema_ready = False  # the table may be gone too
                if not self._down:
                    log.warning("history database unavailable (%s); records wait in the journal in %s",
                                type(exc).__name__, self.spool)
                self._down = True
                return shipped
            if self._down:
                log.info("history database answers again; journaled records shipped")
            self._down = False
            return shipped

    def _ship(self, path: Path) -> int:
        unshipped = read_unshipped(path)
        shipped = 0
        for at in range(0, len(unshipped.lines), SHIP_BATCH):
            lines = unshipped.lines[at:at + SHIP_BATCH]
            try:
                shipped += self._insert([_from_json_line(line) for line in lines])
            except Exception as exc:  # an outage, or some record in the batch is refused: find it, keep the others
                if is_outage(exc):
                    raise
                shipped += self._ship_one_by_one(lines)
            mark_shipped(path, unshipped.ends[at + len(lines) - 1])
        return shipped

    def _ship_one_by_one(self, lines: list[bytes]) -> int:
        shipped = 0
        for line in lines:
            try:
                shipped += self._insert([_from_json_line(line)])
            except Exception as exc:
                if is_outage(exc):
                    raise  # the lines already in the database are ignored when the batch is shipped again
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                quarantine(self.spool, line, reason)
                log.error("history: a record the database refuses is quarantined in %s (%s)",
                          self.spool / QUARANTINE, reason)
        return shipped

    def _insert(self, batch: list[dict]) -> int:
        if not self._schema_ready:
            ensure_schema(self.engine)
            self._schema_ready = True
        with self.engine.begin() as conn:
            conn.execute(_insert_statement(self.engine), batch)
        return len(batch)

    def backlog(self) -> tuple[int, int]:
        """Journal bytes not yet shipped (every process's), and records quarantined: what /metrics exports so
        an alert sees a database that stopped taking records long before the disk fills."""
        unshipped = 0
        for path in self.spool.glob("journal-*.jsonl"):
            with contextlib.suppress(OSError):  # shipped and removed meanwhile
                unshipped += max(path.stat().st_size - shipped_offset(path), 0)
        try:
            with open(self.spool / QUARANTINE, "rb") as handle:
                quarantined = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        except FileNotFoundError:
            quarantined = 0
        return unshipped, quarantined

    def pending(self) -> int:
        """Records journaled but not yet shipped, by every process using this spool folder."""
        return sum(len(read_unshipped(path).lines) for path in self.spool.glob("*.jsonl")
                   if path.name != QUARANTINE)

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
