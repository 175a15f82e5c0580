"""One log line per event, tagged with the stage (logger name) that wrote it: text for a terminal, or one JSON
object a line for a log system (LOG_FORMAT=json; the image's default), which CloudWatch Logs and ELK parse.

A JSON line holds time (UTC), level, logger and message, plus whichever of the request fields the event has
(request id, route, method, status, latency, model version). Records never carry a text or a key: the access
log names the route, not the body or the headers.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime
import logging
import os
import sys
import time

import orjson

FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
FIELDS = ("request_id", "route", "method", "status", "latency_ms", "model_version")
# Set by the API's middleware for the request being answered: every line logged while answering it carries it.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_process = {"model_version": None, "format": "text"}  # the served model, once loaded; LOG_FORMAT


def set_model_version(version: str) -> None:
    _process["model_version"] = version


class _RequestContext(logging.Filter):
    """Adds the current request id and the served model version to every record that lacks them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        if getattr(record, "model_version", None) is None:
            record.model_version = _process["model_version"]
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
                 .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """`level` is the command's --log-level, else LOG_LEVEL, else INFO; `fmt` is LOG_FORMAT (tweetops.settings)."""
    _process["format"] = fmt
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(FORMAT))
    handler.addFilter(_RequestContext())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.captureWarnings(True)  # a library's warning becomes a line of the same format, not stray text
    # MLflow would give its loggers their own handler and format on import; this way its lines are ours, and
    # the schema migrations of its store (78 lines on a first run) are kept to warnings, as MLflow keeps them.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@contextlib.contextmanager
def timed(log: logging.Logger, what: str):
    """Log `what` with its wall time once the block ends."""
    start = time.perf_counter()
    yield
    log.info("%s in %.2fs", what, time.perf_counter() - start)


class Progress:
    """Progress of long work, suited to where it runs: a bar on a terminal (text logs), and otherwise (CI,
    AWS Batch, CloudWatch, a JSON log) one log line per step: done of total, percent, rate and time left.
    A bar's carriage returns would reach a log file as one unreadable line, or nothing until the end.

        with Progress(log, "shard 1/4", total=250_000, unit="rows") as progress:
            for chunk in chunks:
                ...
                progress.update(len(chunk))
    """

    def __init__(self, log: logging.Logger, what: str, total: int, unit: str):
        self.log, self.what, self.total, self.unit = log, what, total, unit
        self.done, self.began, self.bar = 0, time.perf_counter(), None
        if _process["format"] == "text" and _on_terminal(sys.stderr):  # where the log handler writes
            from tqdm import tqdm  # only on a terminal

            self.bar = tqdm(total=total, unit=unit, desc=what, file=sys.stderr)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
            return
        seconds = time.perf_counter() - self.began
        rate = self.done / seconds if seconds > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        percent = 100.0 * self.done / self.total if self.total else 100.0
        self.log.info("%s: %s of %s %s (%.0f%%), %s %s/s, %s left", self.what, f"{self.done:,}", f"{self.total:,}",
                      self.unit, percent, f"{rate:,.0f}", self.unit, _duration(left))


def _on_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"
