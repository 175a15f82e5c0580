"""Stage 1: read the raw data from a path, file://, https:// or s3:// into one table.

Writes data/interim/ingested.parquet and an ingestion record (source, sha256, rows, time, run id).
Outputs are written only after the whole source was read and parsed, so an unreachable source
or an unreadable file leaves the previous outputs untouched.
"""
from __future__ import annotations

import datetime
import hashlib
import logging
import math

import pandas as pd

from tweetops.config import Config, new_run_id
from tweetops.errors import TweetopsError
from tweetops.history import database_url
from tweetops.io import write_json, write_parquet
from tweetops.logs import timed
from tweetops.storage import read_bytes, scheme_of
from tweetops.tables import detect_format, parse_table

log = logging.getLogger("tweetops.data_ingestion")
COLUMNS = ["id", "rating", "text", "source_row", "ingest_error"]
STRING_COLUMNS = {"id": "string", "rating": "string", "text": "string", "ingest_error": "string"}


def _as_text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def standardise(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Keep id, rating and text as raw strings (validation is the next stage's job)."""
    columns = {c for c in frame.columns if c not in ("source_row", "ingest_error")}
    if "text" not in columns:
        raise TweetopsError(
            f"{source} has no 'text' column (it has: {', '.join(sorted(map(str, columns))) or 'none'}); "
            "name the tweet column 'text', with optional 'id' and 'rating'."
        )
    out = pd.DataFrame({"source_row": frame["source_row"].astype("int64")})
    out["id"] = frame["id"].map(_as_text) if "id" in frame else None
    out["id"] = out["id"].fillna("row-" + out["source_row"].astype(str))
    out["rating"] = frame["rating"].map(_as_text) if "rating" in frame else None
    out["text"] = frame["text"].map(_as_text)
    out["ingest_error"] = frame["ingest_error"].map(_as_text)
    return out[COLUMNS].astype(STRING_COLUMNS)


HISTORY_ID_PREFIX = "history-"


def history_rows(config: Config, first_row: int) -> tuple[pd.DataFrame, dict]:
    """Served predictions' texts as unrated rows (opt-in: history_ingestion.enabled).

    They carry no rating, so preparation puts them in train as unlabelled rows (never in test) and
    quarantines any text the data already holds as a duplicate. Their ids are the history's record
    ids with a prefix, and their source_row numbers continue after the source's last line.
    """
    from tweetops.monitoring.traffic import from_history  # imports this module: only when opted in

    p = config.params.history_ingestion
    window = from_history(p.url or database_url(), None, p.max_rows)
    frame = pd.DataFrame({"source_row": range(first_row, first_row + len(window.texts)),
                          "id": [HISTORY_ID_PREFIX + i for i in window.ids], "rating": None,
                          "text": window.texts, "ingest_error": None})
    record = {"source": window.source, "rows": len(frame), "rows_without_text": window.skipped,
              "first_source_row": first_row, "max_rows": p.max_rows,
              "sha256": hashlib.sha256("\n".join(window.texts).encode("utf-8")).hexdigest()}
    return frame[COLUMNS].astype(STRING_COLUMNS), record


def run(config: Config) -> dict:
    data_params = config.params.data
    source = data_params.source
    with timed(log, f"read {source} ({scheme_of(source)})"):
        raw = read_bytes(source, root=config.paths.root, endpoint_url=data_params.s3_endpoint_url,
                         timeout=data_params.timeout_seconds)
    fmt = detect_format(source, data_params.format)
    sha256 = hashlib.sha256(raw).hexdigest()
    with timed(log, f"parsed {len(raw):,} bytes as {fmt}"):
        frame = standardise(parse_table(raw, fmt, data_params.tsv_columns, name=source), source)
    history = None
    if config.params.history_ingestion.enabled:
        with timed(log, "read the prediction history"):
            extra, history = history_rows(config, int(frame["source_row"].max() if len(frame) else 0) + 1)
        frame = pd.concat([frame, extra], ignore_index=True)
    record = {
        "run_id": new_run_id(),
        "source": source,
        "format": fmt,
        "sha256": sha256,
        "bytes": len(raw),
        "rows": len(frame),
        "rows_with_errors": int(frame["ingest_error"].notna().sum()),
        # Rows from the prediction history (included in rows), or null when history ingestion is off.
        "history": history,
        "ingested_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_parquet(config.paths.ingested, frame)
    write_json(config.paths.ingestion_record, record)
    log.info("ingested %s rows (%s with parse errors) from %s, sha256 %s, run id %s",
             f"{record['rows']:,}", record["rows_with_errors"], source, sha256[:12], record["run_id"])
    return {**record, "output": str(config.paths.ingested)}


def main(argv=None) -> int:
    from tweetops.cli import stage_main

    return stage_main("data_ingestion", argv)


if __name__ == "__main__":
    raise SystemExit(main())
