"""Stage 1: read the raw data from a path, file://, https:// or s3:// into one table, and start the run.

Writes data/interim/ingested.parquet, an ingestion record (source, sha256, rows, time, run id) and
the run record (run id and resolved params, read by every later stage). Outputs are written only
after the whole source was read and parsed, so an unreachable source or an unreadable file leaves
the previous outputs untouched.
"""
from __future__ import annotations

import datetime
import hashlib
import logging

import pandas as pd

from tweetops.io.storage import read_bytes, scheme_of
from tweetops.io.files import write_json, write_parquet
from tweetops.io.tables import COLUMNS, STRING_COLUMNS, detect_format, open_table, standardise
from tweetops.logs import timed
from tweetops.monitoring.traffic import from_history
from tweetops.pipeline.options import stage_main
from tweetops.pipeline.runs import Run, record
from tweetops.serving.history import database_url

log = logging.getLogger("tweetops.data_ingestion")
HISTORY_ID_PREFIX = "history-"


def history_rows(run: Run, first_row: int) -> tuple[pd.DataFrame, dict]:
    """Served predictions' texts as unrated rows (opt-in: history_ingestion.enabled).

    They carry no rating, so preparation puts them in train as unlabelled rows (never in test) and
    quarantines any text the data already holds as a duplicate. Their ids are the history's record
    ids with a prefix, and their source_row numbers continue after the source's last line.
    """
    p = run.params.history_ingestion
    window = from_history(p.url or database_url(), None, p.max_rows)
    frame = pd.DataFrame({"source_row": range(first_row, first_row + len(window.texts)),
                          "id": [HISTORY_ID_PREFIX + i for i in window.ids], "rating": None,
                          "text": window.texts, "ingest_error": None})
    summary = {"source": window.source, "rows": len(frame), "rows_without_text": window.skipped,
               "first_source_row": first_row, "max_rows": p.max_rows,
               "sha256": hashlib.sha256("\n".join(window.texts).encode("utf-8")).hexdigest()}
    return frame[COLUMNS].astype(STRING_COLUMNS), summary


def stage(run: Run) -> dict:
    data_params = run.params.data
    source = data_params.source
    with timed(log, f"read {source} ({scheme_of(source)})"):
        raw = read_bytes(source, root=run.catalog.root, endpoint_url=data_params.s3_endpoint_url,
                         timeout=data_params.timeout_seconds)
    fmt = detect_format(source, data_params.format, raw)
    sha256 = hashlib.sha256(raw).hexdigest()
    with timed(log, f"parsed {len(raw):,} bytes as {fmt}"):
        frame = standardise(open_table(raw, fmt, source, data_params.tsv_columns).frame(), source)
    history = None
    if run.params.history_ingestion.enabled:
        with timed(log, "read the prediction history"):
            extra, history = history_rows(run, int(frame["source_row"].max() if len(frame) else 0) + 1)
        frame = pd.concat([frame, extra], ignore_index=True)
    facts = {
        "run_id": run.run_id,
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
    write_parquet(run.catalog.ingested, frame)
    write_json(run.catalog.ingestion_record, facts)
    record(run)
    log.info("ingested %s rows (%s with parse errors) from %s, sha256 %s, run id %s",
             f"{facts['rows']:,}", facts["rows_with_errors"], source, sha256[:12], run.run_id)
    return {**facts, "output": str(run.catalog.published(run.catalog.ingested))}


def main(argv=None) -> int:
    return stage_main("data_ingestion", stage, argv)


if __name__ == "__main__":
    raise SystemExit(main())
