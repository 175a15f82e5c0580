"""Turn the bytes of a TSV, CSV, JSONL or Parquet file into a table of raw string cells.

Nothing is dropped here: a line that cannot be parsed, or that is not valid UTF-8, becomes a
row with an `ingest_error` that the preparation stage quarantines with that reason.
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import PurePosixPath
from urllib.parse import urlparse

import pandas as pd

from tweetops.errors import TweetopsError

FORMATS = ("tsv", "csv", "jsonl", "parquet")
COLUMNS = ["id", "rating", "text", "source_row", "ingest_error"]
STRING_COLUMNS = {"id": "string", "rating": "string", "text": "string", "ingest_error": "string"}
_EXTENSIONS = {".txt": "tsv", ".tsv": "tsv", ".tab": "tsv", ".csv": "csv",
               ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def detect_format(uri: str, declared: str = "auto") -> str:
    if declared != "auto":
        return declared
    suffixes = PurePosixPath(urlparse(str(uri)).path).suffixes
    for suffix in reversed(suffixes):
        if suffix.lower() in _EXTENSIONS:
            return _EXTENSIONS[suffix.lower()]
    raise TweetopsError(
        f"cannot tell the format of {uri} from its name; use .tsv, .csv, .jsonl or .parquet, or set data.format."
    )


def _decode(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), False


def _lines(data: bytes):
    """Yield (line number, text, utf8 ok) for each non-blank line; CRLF and a missing final newline are fine."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if raw.strip():
            text, ok = _decode(raw)
            yield number, text, ok


def _row(number: int, cells: dict, error: str | None) -> dict:
    return {"source_row": number, "ingest_error": error, **cells}


def _parse_tsv(data: bytes, columns: list[str]) -> list[dict]:
    rows = []
    lines = list(_lines(data))
    if lines and [c.strip().lower() for c in lines[0][1].split("\t")] == [c.lower() for c in columns]:
        lines = lines[1:]  # a header row that names the expected columns
    for number, text, ok in lines:
        # The text is the last column and may itself hold tabs: split at most len-1 times.
        parts = text.split("\t", len(columns) - 1)
        error = None if ok else "line is not valid UTF-8"
        if len(parts) < len(columns):
            error = error or f"wrong number of fields: expected {len(columns)} tab-separated, found {len(parts)}"
            parts = parts + [None] * (len(columns) - len(parts))
        rows.append(_row(number, dict(zip(columns, parts)), error))
    return rows


def _clean_cell(value):
    """(value with undecodable bytes replaced, whether it was valid UTF-8)."""
    if not isinstance(value, str):
        return value, True
    try:
        value.encode("utf-8")
        return value, True
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), False


def _parse_csv(data: bytes) -> list[dict]:
    # surrogateescape keeps undecodable bytes so each bad row can be flagged on its own.
    text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        error = None
        if len(cells) != len(header):
            error = f"wrong number of fields: expected {len(header)} comma-separated, found {len(cells)}"
        record = {}
        for name, cell in zip(header, cells + [None] * (len(header) - len(cells))):
            record[name], ok = _clean_cell(cell)
            if not ok:
                error = error or "line is not valid UTF-8"
        rows.append(_row(reader.line_num, record, error))
    return rows


def _parse_jsonl(data: bytes) -> list[dict]:
    rows = []
    for number, text, ok in _lines(data):
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            rows.append(_row(number, {}, "line is not valid JSON"))
            continue
        if not isinstance(record, dict):
            rows.append(_row(number, {}, "line is not a JSON object"))
            continue
        rows.append(_row(number, record, None if ok else "line is not valid UTF-8"))
    return rows


def parse_table(data: bytes, fmt: str, tsv_columns: list[str], name: str = "the file") -> pd.DataFrame:
    """A DataFrame with the file's columns (as read), plus `source_row` and `ingest_error`."""
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:
            raise TweetopsError(f"{name} is not a readable Parquet file ({type(exc).__name__}).") from exc
        frame.insert(0, "source_row", range(1, len(frame) + 1))
        frame["ingest_error"] = None
        return frame
    if fmt not in FORMATS:
        raise TweetopsError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if b"\x00" in data[:4096]:
        raise TweetopsError(f"{name} looks binary, not {fmt.upper()} text; check the file and data.format.")
    rows = {"tsv": lambda: _parse_tsv(data, tsv_columns), "csv": lambda: _parse_csv(data),
            "jsonl": lambda: _parse_jsonl(data)}[fmt]()
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise TweetopsError(f"{name} holds no data rows.")
    if frame["ingest_error"].notna().all():
        first = frame["ingest_error"].iloc[0]
        raise TweetopsError(f"{name} is not readable as {fmt.upper()}: every row failed ({first}).")
    return frame


def _as_text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def standardise(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """id, rating and text as raw strings, plus source_row and ingest_error (validation comes later)."""
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
