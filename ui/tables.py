"""Uploaded files in, result tables out: reading CSV / JSON lines, picking the text column, shaping results.

Plain pandas (no Streamlit), so every message a person can get about a file is tested without a browser.
"""
from __future__ import annotations

import csv
import io
import json
import re
from typing import Callable

import pandas as pd

from ui.client import ApiError

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000  # 100 batch requests of 1,000: a few minutes at most against one API worker
MAX_COLUMNS = 1_000  # finding the tweet column reads each one: 200,000 columns took minutes
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
PREFERRED_COLUMNS = ("text", "tweet", "content", "message", "body")
# The archive's line shape, the rule tweetops.io.tables.sniff_txt applies (the UI image has no tweetops; a
# test keeps the two patterns equal).
ARCHIVE_LINE = re.compile(r"^[^\t]+\t[-+]?\d+(?:\.\d+)?\t")


class FileError(ApiError):
    """A file the UI cannot use; the message says what to change."""


def read_upload(name: str, data: bytes, max_bytes: int = MAX_FILE_BYTES, max_rows: int = MAX_ROWS) -> pd.DataFrame:
    """The uploaded file as a table of strings, or a FileError saying what is wrong with it."""
    lower = name.lower()
    if not lower.endswith(CSV_SUFFIXES + JSON_SUFFIXES):
        raise FileError(f"{name} is neither CSV, TSV, JSON lines nor text; upload a .csv, .tsv, .jsonl or .txt file.")
    if len(data) > max_bytes:
        raise FileError(f"{name} is {_size(len(data))}; the limit is {_size(max_bytes)}, "
                        "so split it into smaller files.")
    if not data.strip():
        raise FileError(f"{name} is empty; upload a file with one tweet per row.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileError(f"{name} is not UTF-8 text; save it as UTF-8 and upload it again.") from None
    frame = _read_json_lines(name, text) if lower.endswith(JSON_SUFFIXES) else _read_csv(name, text)
    if frame.empty:
        raise FileError(f"{name} has no rows; upload a file with one tweet per row.")
    if len(frame) > max_rows:
        raise FileError(f"{name} has {len(frame):,} rows; the limit is {max_rows:,}, so split it into smaller files.")
    return frame


def _read_csv(name: str, text: str) -> pd.DataFrame:
    # Lines end at \n, \r\n or \r only: str.splitlines() also ends them at U+2028, U+0085 or \x1c inside a tweet.
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    if name.lower().endswith(".txt"):
        if lines and ARCHIVE_LINE.match(lines[0]):  # the archive's id<TAB>rating<TAB>text, headerless; the text
            # takes the rest of its line, tabs included, as tweetops.io.tables reads it (pandas refused the file)
            return pd.DataFrame([(line.split("\t", 2) + ["", ""])[:3] for line in lines],
                                columns=["id", "rating", "text"])
        return pd.DataFrame({"text": lines})  # one text per line
    separator = "\t" if name.lower().endswith(".tsv") else _separator(lines[0] if lines else "")
    if lines and lines[0].count(separator) >= MAX_COLUMNS:
        raise FileError(f"{name} has {lines[0].count(separator) + 1:,} columns; the limit is {MAX_COLUMNS:,}, so keep "
                        "the columns you need.")
    try:
        return pd.read_csv(io.StringIO(text), sep=separator, engine="python", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise FileError(f"{name} could not be read as CSV ({_first_line(exc)}); check its quoting and "
                        "separators.") from None


def _separator(header: str) -> str:
    """The delimiter the header line uses (comma, semicolon, tab or bar, the most frequent); a header with none
    is one column, read whole per line (pandas' own sniffing once split such a file on a letter of its name)."""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else "\x1f"  # a character no text holds: each line is one field


def _read_json_lines(name: str, text: str) -> pd.DataFrame:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise FileError(f"Line {number} of {name} is not valid JSON; upload one JSON object per line.") from None
        if not isinstance(record, dict):
            raise FileError(f"Line {number} of {name} is not a JSON object; upload one object per line, "
                            "such as {\"text\": \"...\"}.")
        # Each value as its own text (a 19-digit id stays exact; pandas would make an int column with gaps float).
        record = {key: value if isinstance(value, str) else json.dumps(value) for key, value in record.items()}
        bad = next((c for c in "".join(map(str, [*record, *record.values()])) if "\ud800" <= c <= "\udfff"), None)
        if bad:  # an escaped lone surrogate: a string no UTF-8 text can hold
            raise FileError(f"Line {number} of {name} has a lone surrogate (U+{ord(bad):04X}), which is not a "
                            "character; fix that line and upload it again.")
        if len(record) > MAX_COLUMNS:
            raise FileError(f"Line {number} of {name} has {len(record):,} keys; the limit is {MAX_COLUMNS:,}, so keep "
                            "the keys you need.")
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    return frame.astype(object).where(frame.notna(), "").astype(str)


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MB" if count >= 2**20 else f"{count / 1024:.1f} KB"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else type(exc).__name__


def text_columns(frame: pd.DataFrame, name: str = "the file") -> list[str]:
    """Columns that hold words (not numbers, dates or blanks), the most likely tweet column first."""
    candidates = []
    for column in frame.columns:
        values = frame[column].astype(str).str.strip()
        values = values[values != ""]
        if values.empty or pd.to_numeric(values, errors="coerce").notna().mean() > 0.5:
            continue  # ids, scores and empty columns are not tweets
        if values.str.contains(r"[^\W\d_]", regex=True).mean() < 0.5:
            continue  # no letters: not text
        candidates.append((str(column).strip().lower() not in PREFERRED_COLUMNS, -values.str.len().mean(), column))
    if not candidates:
        columns = ", ".join(map(str, frame.columns))
        raise FileError(f"{name} has no text column (its columns: {columns}); add a column holding the tweets.")
    return [column for *_, column in sorted(candidates, key=lambda c: c[:2])]


def texts_in(frame: pd.DataFrame, column: str, has_text: Callable[[str], bool] = lambda text: bool(text.strip())
             ) -> tuple[list[str], list[int], list[int]]:
    """(texts, their 1-based row numbers, the row numbers with no text) — blank rows are reported, not sent.
    has_text: the API's rule (Client.text_rule), which also counts invisible characters alone as blank."""
    values = frame[column].astype(str)
    blank = ~values.map(has_text).astype(bool)
    rows = pd.RangeIndex(1, len(frame) + 1)
    return values[~blank].tolist(), rows[~blank.to_numpy()].tolist(), rows[blank.to_numpy()].tolist()


def results_table(frame: pd.DataFrame, rows: list[int], predictions: list[dict], model_version: str) -> pd.DataFrame:
    """One row per classified text: its file row, the file's own columns (the text among them, `id`, `source` or
    whatever else it holds), then the label, confidence, each class's probability and the model version. A file
    column named like one of those keeps its values as `file_<name>`."""
    labels = sorted(predictions[0]["probabilities"]) if predictions else []
    added = pd.DataFrame({"label": [p["label"] for p in predictions]})
    added["confidence"] = [max(p["probabilities"].values()) for p in predictions]
    for label in labels:
        added[f"p_{label}"] = [p["probabilities"][label] for p in predictions]
    added["model_version"] = model_version
    own = frame.iloc[[row - 1 for row in rows]].reset_index(drop=True)
    ours = {"row", *added.columns}
    taken = ours | set(own.columns)  # a file's own file_label keeps its name when its label is renamed
    renamed = {}
    for column in own.columns:
        name = column
        while name in ours or (name != column and name in taken):
            name = f"file_{name}"
        renamed[column] = name
        taken.add(name)
    return pd.concat([pd.DataFrame({"row": rows}), own.rename(columns=renamed), added], axis=1)


def history_table(items: list[dict], zone: str = "UTC") -> pd.DataFrame:
    """GET /predictions items as a table, times in `zone` (an IANA name such as Europe/Berlin)."""
    columns = ["created_at", "label", "confidence", "text", "model_version", "request_id"]
    if not items:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(items)
    table["created_at"] = pd.to_datetime(table["created_at"], utc=True, format="ISO8601").dt.tz_convert(zone)
    table["confidence"] = [max(p.values()) for p in table["probabilities"]]
    return table[columns]


# A cell a spreadsheet would run as a formula (OWASP's CSV injection list: = + - @ tab CR first), unless it is a
# plain number such as a rating of -0.5. Texts come from anyone who called the API or wrote the uploaded file.
FORMULA = re.compile(r"[=+\-@\t\r]")
NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?%?")  # -0.5, -1,234.5, +2e3, -5%
DOWNLOAD_NOTE = ("Texts that begin with =, +, - or @ start with an apostrophe in the CSV, so that a spreadsheet shows "
                 "them instead of running them as formulas.")


def spreadsheet_safe(value):
    """The value with an apostrophe first when a spreadsheet would run it as a formula, else as it is."""
    if isinstance(value, str) and FORMULA.match(value) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def as_csv(table: pd.DataFrame) -> bytes:
    """The table for a person's spreadsheet: texts that would run as formulas are shown as text."""
    safe = table.copy()
    for name, column in table.items():
        if pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column):
            safe[name] = column.map(spreadsheet_safe)
    safe.columns = [spreadsheet_safe(name) for name in table.columns]  # the header row: the file's own names too
    # CRLF ends a record (RFC 4180), so a CR inside a text is quoted with it; with "\n" pandas leaves a lone CR bare
    # and a spreadsheet starts a new row there.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
