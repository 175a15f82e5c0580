"""Every table tweetops reads or writes: ONE reader and one writer per format (TSV, CSV, JSON lines,
Parquet, plain text: one text per line), used by ingestion, batch-predict, /invocations and the drift
monitor alike, so every command and route takes the same files.

A reader streams its rows in chunks, so memory stays flat however big the file. Nothing is dropped:
a row that cannot be read (not valid UTF-8, not JSON, the wrong number of fields) stays a row, with
why in its error; blank lines are not rows. CSV goes through the standard `csv` module (quoted
commas, quotes and line breaks). A headerless table names its columns, and its last column takes
the rest of the line (a tweet may hold tabs or commas). A writer appends each chunk with columns
added, in the chunk's own format, so a Parquet schema or a JSON object comes back as it went in.
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tweetops.errors import TweetopsError

FORMATS = ("tsv", "csv", "jsonl", "parquet", "txt")
# A file's format from its name. `.txt` is either the archive's TSV (data/raw, data/drift: id, rating,
# text) or one text per line, so its content decides (sniff_txt); naming it by suffix alone would make
# one of the two unreadable, and a --format flag per command would be one more thing to get wrong.
EXTENSIONS = {".txt": "txt", ".tsv": "tsv", ".tab": "tsv", ".csv": "csv",
              ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
COLUMNS = ["id", "rating", "text", "source_row", "ingest_error"]
STRING_COLUMNS = {"id": "string", "rating": "string", "text": "string", "ingest_error": "string"}
NOT_UTF8 = "line is not valid UTF-8"
# A field as long as a file may be: one over-long text is a row its validation flags, not a file the csv module
# refuses (its default limit is 131,072 characters).
csv.field_size_limit(2**31 - 1)
# A blank line is no row: empty, or only ASCII whitespace (what bytes.strip() removes, as the line readers do). A line
# of other blanks (U+3000, a zero-width space) is a row, which validation flags as empty. In a request body of one
# text a record (blank_rows), a blank line is a record too, flagged BLANK_LINE: skipped, the answers would no longer
# line up with the records (SageMaker batch transform joins its output to its input line by line).
_LINE_SPACE = " \t\n\r\x0b\x0c"
BLANK_LINE = "line is blank"
SAMPLED_OBJECTS = 1000  # JSON lines: the columns are the keys of this many first objects
_SURROGATE = re.compile("[\ud800-\udfff]")
_ODD = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\ufffd]")  # what no text holds (tabs, line breaks, ESC it may)


_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_ARCHIVE_LINE = re.compile(rb"^[^\t]+\t" + _NUMBER.pattern.encode() + rb"\t")  # id<TAB>rating<TAB>text


def sniff_txt(head: bytes) -> str:
    """A .txt's format from its first bytes: "tsv" when its first non-blank line has the archive's shape
    (id<TAB>numeric rating<TAB>text), else "txt" (one text per line, tabs and all)."""
    first = next((line for line in head.splitlines() if line.strip()), b"")
    return "tsv" if _ARCHIVE_LINE.match(first) else "txt"


def detect_format(uri: str, declared: str = "auto", source: Path | bytes | None = None) -> str:
    """The declared format, else the one the name says; a .txt's content (`source`, its path or bytes)
    tells TSV from plain text (sniff_txt), and without it a .txt is the archive's TSV."""
    if declared != "auto":
        return declared
    suffixes = PurePosixPath(urlparse(str(uri)).path).suffixes
    for suffix in reversed(suffixes):
        fmt = EXTENSIONS.get(suffix.lower())
        if fmt == "txt":
            if source is None:
                return "tsv"
            if isinstance(source, (bytes, bytearray)):
                return sniff_txt(bytes(source[:65536]))
            with open(source, "rb") as handle:
                return sniff_txt(handle.read(65536))
        if fmt:
            return fmt
    raise TweetopsError(f"cannot tell the format of {uri} from its name; use .tsv, .csv, .jsonl, .parquet or .txt "
                        "(one text per line), or set data.format.")


def at_line(error: str, row: int) -> str:
    """A row's error with its line: "line is not valid JSON" -> "line 4 is not valid JSON"."""
    return f"line {row}{error[4:]}" if error.startswith("line ") else f"line {row}: {error}"


@dataclass
class Chunk:
    """Consecutive rows of a table: their cells in the format's own form, line numbers and errors."""

    native: object  # list[dict] (TSV, CSV, JSON lines) or a pyarrow RecordBatch (Parquet)
    rows: list[int]  # each row's line in the file (Parquet: its row number), from 1
    errors: list[str | None]  # why a row could not be read (its cells are then empty)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list:
        """The cells of one column, None where a row has none."""
        if isinstance(self.native, pa.RecordBatch):
            found = name in self.native.schema.names
            return self.native.column(name).to_pylist() if found else [None] * len(self)
        return [record.get(name) for record in self.native]


def _surrogates_replaced(value) -> tuple[object, str | None]:
    """(the value with lone surrogates replaced, the first one found or None): they cannot be encoded as UTF-8."""
    if isinstance(value, str):
        found = _SURROGATE.search(value)
        return (value, None) if not found else (_SURROGATE.sub("\ufffd", value), found.group())
    if isinstance(value, dict):  # a key may hold one too
        pairs = [(_surrogates_replaced(k), _surrogates_replaced(v)) for k, v in value.items()]
        return {k: v for (k, _), (v, _) in pairs}, next((a or b for (_, a), (_, b) in pairs if a or b), None)
    if isinstance(value, list):
        items = [_surrogates_replaced(v) for v in value]
        return [v for v, _ in items], next((bad for _, bad in items if bad), None)
    return value, None


def _failures(errors: list[str | None]) -> tuple[int, str | None]:
    """How many rows failed, and the first one's error."""
    failed = [error for error in errors if error]
    return len(failed), next(iter(failed), None)


class Reader:
    """A table's rows, streamed. Subclasses yield (line, record, error) from `_records`."""

    format = ""
    blank_rows = False  # CSV and JSON lines: a blank line is a row flagged BLANK_LINE (request bodies)
    columns: list[str] | None = None

    def __init__(self, source: Path | bytes, name: str):
        self.source, self.name = source, name

    def _open(self):
        return io.BytesIO(self.source) if isinstance(self.source, (bytes, bytearray)) else open(self.source, "rb")

    def _check_text(self) -> None:
        """Refuse a binary file (compressed, an image, UTF-16): a NUL in its first 4 KiB, among many bytes no
        text holds. A stray NUL or bad byte in text is its row's problem: that row is flagged, the file read,
        however short the file (one NUL in a one-line body was "looks binary")."""
        with self._open() as handle:
            sample = handle.read(4096)
        if b"\x00" not in sample:
            return
        text = codecs.getincrementaldecoder("utf-8")("replace").decode(sample)  # a character cut at the end is fine
        odd = len(_ODD.findall(text))
        if odd > 1 and odd * 10 > len(text):
            raise TweetopsError(f"{self.name} looks binary, not {self.format.upper()} text; check the file and its "
                                "format.")

    def require(self, column: str) -> None:
        """One sentence when the table's known columns lack `column` (a headerless or empty one passes)."""
        if self.columns is not None and column not in self.columns:
            raise TweetopsError(f"{self.name} has no column {column!r}; its columns are "
                                f"{', '.join(map(str, self.columns)) or 'none'}; pass --text-column.")

    def _records(self):
        raise NotImplementedError

    def refuse_unreadable(self, rows: int, failed: int, first_error: str | None) -> None:
        """One sentence for a table of no data rows, or whose `rows` all `failed` (the first with `first_error`)."""
        if not rows:
            raise TweetopsError(f"{self.name} holds no data rows.")
        if failed == rows:
            raise TweetopsError(f"{self.name} is not readable as {self.format.upper()}: every row failed "
                                f"({first_error}).")

    def count(self) -> int:
        return sum(1 for _ in self._records())

    def chunks(self, size: int, start: int = 0, stop: int | None = None):
        """Rows [start, stop) in chunks of at most `size`."""
        records, rows, errors = [], [], []
        for position, (line, record, error) in enumerate(self._records()):
            if stop is not None and position >= stop:
                break
            if position < start:
                continue
            records.append(record)
            rows.append(line)
            errors.append(error)
            if len(records) == size:
                yield Chunk(records, rows, errors)
                records, rows, errors = [], [], []
        if records:
            yield Chunk(records, rows, errors)

    def frame(self) -> pd.DataFrame:
        """Every row: the file's columns as read, plus `source_row` and `ingest_error`."""
        records, rows, errors = [], [], []
        for line, record, error in self._records():
            records.append(record)
            rows.append(line)
            errors.append(error)
        self.refuse_unreadable(len(records), *_failures(errors))
        frame = pd.DataFrame.from_records(records, columns=self.columns)
        return _with_row_columns(frame, rows, errors, self.name)


class _LineReader(Reader):
    """Formats of one row per line: non-blank lines; a BOM, CRLF and a missing final newline are fine."""

    header = False

    def count(self) -> int:
        return sum(1 for _ in self._lines()) - self.header  # no need to parse a line to count it

    def _lines(self):
        """(number, bytes) of each non-blank line. A lone CR ends a line too, as in the CSV reader and the web UI:
        an old Mac file of 1,000 tweets was one row of 1,000 tweets."""
        number = 0
        with self._open() as handle:
            for raw in handle:
                if number == 0 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                raw = raw[:-1] if raw.endswith(b"\n") else raw
                for line in (raw[:-1] if raw.endswith(b"\r") else raw).split(b"\r"):
                    number += 1
                    if line.strip() or self.blank_rows:
                        yield number, line


class TsvReader(_LineReader):
    """Tab-separated: the archive's headerless layout (`columns`; a first line that names them is skipped), or a
    table whose first line names its own columns (one with no number in it): read as the archive's, every row
    of a user's own TSV was "wrong number of fields" and no --text-column could reach its text."""

    format = "tsv"

    def __init__(self, source: Path | bytes, name: str, columns: list[str]):
        super().__init__(source, name)
        self.columns, self.own = list(columns), False
        self._check_text()
        first = next(self._lines(), None)
        cells = [] if first is None else [_repaired(c.strip()) for c in first[1].decode("utf-8", "surrogateescape")
                                          .split("\t")]
        names_ours = [c.lower() for c in cells] == [c.lower() for c in self.columns]
        # A first line that holds a number is the archive's, if a broken one: flagged, it costs one row, not all.
        self.header = first is not None and (names_ours or not any(_NUMBER.fullmatch(c) for c in cells))
        if self.header and not names_ours:
            _refuse_repeated(cells, self.name)
            self.columns, self.own = cells, True

    def _records(self):
        lines = self._lines()
        if self.header:
            next(lines)
        expected = len(self.columns)
        for number, raw in lines:
            try:
                text, error = raw.decode("utf-8"), None
            except UnicodeDecodeError:
                text, error = raw.decode("utf-8", "replace"), NOT_UTF8
            # The archive's last column may itself hold tabs; a table with its own header has one field a column.
            parts = text.split("\t") if self.own else text.split("\t", expected - 1)
            if len(parts) != expected:
                error = error or f"wrong number of fields: expected {expected} tab-separated, found {len(parts)}"
                parts = (parts + [None] * expected)[:expected]
            yield number, dict(zip(self.columns, parts)), error


class TextReader(_LineReader):
    """Plain text: each non-blank line is one row, its whole line the `text` column."""

    format = "txt"
    columns = ["text"]

    def __init__(self, source: Path | bytes, name: str):
        super().__init__(source, name)
        self._check_text()

    def _records(self):
        for number, raw in self._lines():
            try:
                yield number, {"text": raw.decode("utf-8")}, None
            except UnicodeDecodeError:
                yield number, {"text": raw.decode("utf-8", "replace")}, NOT_UTF8


class JsonlReader(_LineReader):
    """One JSON object per line (a line that is a JSON string is a row whose text is that string)."""

    format = "jsonl"

    def __init__(self, source: Path | bytes, name: str):
        super().__init__(source, name)
        self._check_text()
        # The keys of the first objects (a JSON line may leave out a key the others have): what a missing-column
        # check compares with; None when no line is an object.
        keys: dict = {}
        for number, (_, record, _) in enumerate(self._records()):
            keys.update(dict.fromkeys(record))
            if number == SAMPLED_OBJECTS:
                break
        self.columns = list(keys) or None

    def _records(self):
        for number, raw in self._lines():
            if not raw.strip():
                yield number, {}, BLANK_LINE
                continue
            try:
                text, error = raw.decode("utf-8"), None
            except UnicodeDecodeError:
                text, error = raw.decode("utf-8", "replace"), NOT_UTF8
            try:
                record = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                yield number, {}, "line is not valid JSON"
                continue
            except ValueError:  # Python's limit on the digits of an int it converts
                yield number, {}, "line has a number over 4,300 digits long"
                continue
            if isinstance(record, str):
                record = {"text": record}
            if not isinstance(record, dict):
                yield number, {}, "line is not a JSON object"
                continue
            if "\\u" in text:  # an escaped lone surrogate decodes to a string no UTF-8 writer can encode
                try:
                    record, bad = _surrogates_replaced(record)
                except RecursionError:  # json.loads reads a little deeper than this walk can go
                    yield number, {}, "line nests its JSON too deeply to read"
                    continue
                error = error or (bad and f"line has a lone surrogate (U+{ord(bad):04X}), which is not a character")
            yield number, record, error


def _refuse_repeated(names: list[str], name: str) -> None:
    """Two columns of one name: readers and writers keep one of them, so the other's cells would be lost."""
    twice = sorted({column for column in names if names.count(column) > 1})
    if twice:
        raise TweetopsError(f"{name} names the column {twice[0]!r} more than once in its header; rename one, so no "
                            "column's cells are lost.")


def _repaired(text: str) -> str:
    """Undecodable bytes (kept as surrogates by surrogateescape) as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _names_a_column(cells: list[str]) -> bool:
    """Whether a line can be a header: the lines before it, blank or of blanks (U+3000, ","), are no rows."""
    return any(c.strip() for c in cells)


class CsvReader(Reader):
    """Comma-separated, read by the csv module: with a header row, or with the columns given (headerless)."""

    format = "csv"

    def __init__(self, source: Path | bytes, name: str, columns: list[str] | None = None):
        super().__init__(source, name)
        self._check_text()
        self.given = list(columns) if columns else None
        self.columns = self.given or self._header()

    def _rows(self):
        """(line, cells, raw) of each record, undecodable bytes kept (surrogateescape) so each row can be flagged;
        raw is the record as it stands in the file, its line ending off."""
        with self._open() as binary, io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape",
                                                      newline="") as handle:
            consumed = []  # the physical lines csv.reader took for the record it returns (it never reads ahead)
            reader = csv.reader(consumed.append(text) or text for text in handle)
            line = 1
            try:
                for cells in reader:
                    raw = "".join(consumed)
                    consumed.clear()
                    raw = raw[:-2] if raw.endswith("\r\n") else raw[:-1] if raw.endswith(("\n", "\r")) else raw
                    if _unclosed(raw):
                        raise TweetopsError(f"{self.name} is not valid CSV: the quote that opens line {line} is "
                                            "never closed, so every line after it would be read as one text; "
                                            "close it, or double a quote that belongs to the text.")
                    yield line, cells, raw
                    line = reader.line_num + 1
            except csv.Error as exc:
                raise TweetopsError(f"{self.name} is not valid CSV at line {reader.line_num} ({exc}); quote fields "
                                    "that hold commas, quotes or line breaks.")

    def _header(self) -> list[str]:
        for _, cells, _ in self._rows():
            if _names_a_column(cells):
                names = [_repaired(c.strip()) for c in cells]  # a Latin-1 header: names no writer fails on
                _refuse_repeated(names, self.name)
                return names
        raise TweetopsError(f"{self.name} is empty; a CSV input needs a header row.")

    def _records(self):
        rows = self._rows()
        if not self.given:
            for _, cells, _ in rows:  # the header
                if _names_a_column(cells):
                    break
        expected = len(self.columns)
        for line, cells, raw in rows:
            if not raw.strip(_LINE_SPACE):  # a blank line is no row; a record of empty fields ("" or ,) is one
                if self.blank_rows:
                    yield line, {}, BLANK_LINE
                continue
            error = None
            if self.given and expected == 1:  # one text per record (text/csv bodies)
                cells = [_one_text(cells, raw)]
            elif self.given and len(cells) > expected:  # headerless: the last column takes the rest
                cells = [*cells[:expected - 1], ",".join(cells[expected - 1:])]
            if len(cells) != expected:
                error = f"wrong number of fields: expected {expected} comma-separated, found {len(cells)}"
                cells = (cells + [None] * expected)[:expected]
            record = {}
            for column, cell in zip(self.columns, cells):
                if cell is not None and _SURROGATE.search(cell):
                    cell = _repaired(cell)
                    error = error or NOT_UTF8
                record[column] = cell
            yield line, record, error


def _with_row_columns(frame: pd.DataFrame, rows, errors: list, name: str) -> pd.DataFrame:
    """The frame with each row's line (`source_row`) and error (`ingest_error`); a file that has a column of
    either name is refused, since its cells would be overwritten."""
    taken = [column for column in ("source_row", "ingest_error") if column in frame.columns]
    if taken:
        raise TweetopsError(f"{name} has a column named {taken[0]!r}, which tweetops adds to every table it "
                            "reads; rename that column.")
    frame.insert(0, "source_row", rows)
    frame["ingest_error"] = errors
    return frame


def _unclosed(raw: str) -> bool:
    """Whether a record spanning lines is a quote never closed (the csv module then reads to the end of the
    file as one field, silently); only such a record can span lines without being well formed."""
    if "\n" not in raw and "\r" not in raw:
        return False
    try:
        list(csv.reader(io.StringIO(raw, newline=""), strict=True))
    except csv.Error as exc:
        return "end of data" in str(exc)
    return False


def _one_text(cells: list[str], raw: str) -> str:
    """A one-text record: the csv module's field when the record is exactly one well-formed field (plain, or
    quoted with its quotes doubled), else the record as sent: a stray quote or comma is then part of the text,
    not CSV syntax (`"a" and "b"` stays that, where the csv module would make it `a and "b"`)."""
    if len(cells) == 1 and raw in (cells[0], '"' + cells[0].replace('"', '""') + '"'):
        return cells[0]
    return raw


def _decoded(raws: list) -> tuple[list, list[int]]:
    """Byte strings as text, U+FFFD where they are not UTF-8, and the positions of those."""
    cells, bad = [], []
    for row, raw in enumerate(raws):
        try:
            cells.append(None if raw is None else raw.decode("utf-8"))
        except UnicodeDecodeError:
            cells.append(raw.decode("utf-8", "replace"))
            bad.append(row)
    return cells, bad


def _utf8_repaired(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, list[str | None]]:
    """The batch, and each row's error: a Parquet string column may hold bytes that are not UTF-8 (its
    writer does not check); those cells are decoded with U+FFFD, as the text formats' are, and their rows
    flagged, so the row keeps its place and no reader or writer fails on it. A binary column is text some
    writers store without the UTF8 annotation, read as text when most of its cells are UTF-8; other bytes
    (an image) stay bytes, no row flagged for them."""
    errors = [None] * batch.num_rows
    for index, field in enumerate(batch.schema):
        binary = pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)
        large = pa.types.is_large_string(field.type) or pa.types.is_large_binary(field.type)
        if not (binary or pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        as_text = pa.large_string() if large else pa.string()
        try:  # in C: the usual, valid case costs no Python per cell
            column = batch.column(index).cast(as_text) if binary else batch.column(index)
            column.validate(full=True)
            batch = batch.set_column(index, field.with_type(as_text), column)
            continue
        except pa.ArrowInvalid:
            pass
        raws = batch.column(index).view(pa.large_binary() if large else pa.binary()).to_pylist()
        cells, bad = _decoded(raws)
        if binary and len(bad) * 2 > sum(raw is not None for raw in raws):
            continue
        for row in bad:
            errors[row] = NOT_UTF8
        batch = batch.set_column(index, field.with_type(as_text), pa.array(cells, type=as_text))
    return batch, errors


class ParquetReader(Reader):
    format = "parquet"

    def __init__(self, source: Path | bytes, name: str):
        super().__init__(source, name)
        try:
            self.file = pq.ParquetFile(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
        except (pa.ArrowException, OSError) as exc:
            raise TweetopsError(f"{name} is not a readable Parquet file ({type(exc).__name__}).") from exc
        self.schema = self.file.schema_arrow
        self.columns = self.schema.names
        _refuse_repeated(self.columns, name)

    def count(self) -> int:
        return self.file.metadata.num_rows

    def chunks(self, size: int, start: int = 0, stop: int | None = None):
        """Rows [start, stop), reading only the row groups that overlap them."""
        stop = self.count() if stop is None else stop
        groups, first, offset = [], None, 0
        for index in range(self.file.metadata.num_row_groups):
            rows = self.file.metadata.row_group(index).num_rows
            if offset < stop and offset + rows > start:
                groups.append(index)
                first = offset if first is None else first
            offset += rows
        if not groups:
            return
        position = first
        for batch in self._batches(batch_size=size, row_groups=groups, use_threads=False):
            lo, hi = max(start - position, 0), min(stop - position, batch.num_rows)
            if hi > lo:
                part, errors = _utf8_repaired(batch.slice(lo, hi - lo))
                yield Chunk(part, list(range(position + lo + 1, position + hi + 1)), errors)
            position += batch.num_rows
            if position >= stop:
                return

    def _batches(self, **options):
        """The file's record batches; a page that does not decode (a footer can be fine and the data not) is
        one sentence, wherever in the file it is."""
        try:
            yield from self.file.iter_batches(**options)
        except (pa.ArrowException, OSError) as exc:
            raise TweetopsError(f"{self.name} is not a readable Parquet file ({type(exc).__name__}).") from exc

    def frame(self) -> pd.DataFrame:
        batches, errors = [], []
        for batch in self._batches():
            batch, bad = _utf8_repaired(batch)
            batches.append(batch)
            errors += bad
        # Each batch on its own: one may hold a binary column read as text, the next the same column left as bytes.
        frames = [batch.to_pandas() for batch in batches] or [self.schema.empty_table().to_pandas()]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        self.refuse_unreadable(len(frame), 0, None)  # a row is always read: a cell not UTF-8 is repaired, flagged
        return _with_row_columns(frame, range(1, len(frame) + 1), errors, self.name)


def open_table(source: Path | bytes, fmt: str, name: str, columns: list[str] | None = None,
               header: bool = True, blank_rows: bool = False) -> Reader:
    """The reader of `source` (a local path or the bytes of a file) in `fmt`. `columns` names the columns
    of a headerless table: TSV always (default id, rating, text), CSV when header is False. `blank_rows`
    (CSV, JSON lines): each blank line is a row, flagged BLANK_LINE."""
    if fmt == "tsv":
        return TsvReader(source, name, columns or ["id", "rating", "text"])
    if fmt in ("csv", "jsonl"):
        reader = CsvReader(source, name, None if header else columns) if fmt == "csv" else JsonlReader(source, name)
        reader.blank_rows = blank_rows
        return reader
    if fmt == "parquet":
        return ParquetReader(source, name)
    if fmt == "txt":
        return TextReader(source, name)
    raise TweetopsError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")


def _as_text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bytes):  # a Parquet binary column: its text, not its repr ("b'...'")
        return value.decode("utf-8", "replace")
    return str(value)


def _not_utf8(value) -> bool:
    if not isinstance(value, bytes):
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def standardise(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """id, rating and text as raw strings, plus source_row and ingest_error (validation comes later)."""
    columns = {c for c in frame.columns if c not in ("source_row", "ingest_error")}
    if "text" not in columns:
        raise TweetopsError(
            f"{source} has no 'text' column (it has: {', '.join(sorted(map(str, columns))) or 'none'}); "
            "name the tweet column 'text', with optional 'id' and 'rating'."
        )
    out = pd.DataFrame({"source_row": frame["source_row"].astype("int64")})
    ids = frame["id"].map(_as_text) if "id" in frame else pd.Series(None, index=frame.index, dtype=object)
    out["id"] = ids.map(lambda v: v if v and v.strip() else None)  # a blank id is a missing one, not a duplicate
    out["id"] = out["id"].fillna("row-" + out["source_row"].astype(str))
    out["rating"] = frame["rating"].map(_as_text) if "rating" in frame else None
    out["text"] = frame["text"].map(_as_text)
    out["ingest_error"] = frame["ingest_error"].map(_as_text)
    for column in ("id", "rating", "text"):  # binary Parquet cells that are not UTF-8: read with U+FFFD, flagged
        if column in frame:
            out.loc[frame[column].map(_not_utf8).astype(bool) & out["ingest_error"].isna(), "ingest_error"] = NOT_UTF8
    return out[COLUMNS].astype(STRING_COLUMNS)


# -- writers: each appends chunks with the added columns, in any format from any reader ------------

def _plain(value):
    return None if isinstance(value, float) and np.isnan(value) else value


def _records(chunk: Chunk) -> list[dict]:
    return chunk.native.to_pylist() if isinstance(chunk.native, pa.RecordBatch) else chunk.native


def kept_names(columns: list[str], added: list[str]) -> dict[str, str]:
    """The name each of the input's columns keeps in the output: its own, or for one named like an added column
    (a gold `label`, say) `file_<name>`, prefixed again until no column has it (the web UI's rule too)."""
    names, taken = {}, set(columns) | set(added)
    for column in columns:
        name = column
        while column in added and name in taken:
            name = f"file_{name}"
        names[column] = name
        taken.add(name)
    return names


class _RowWriter:
    """A writer of rows as dicts, whatever format they were read in: the input's columns (one named like an added
    column under another name, so no cell of the input is lost), then the added ones."""

    strict = True  # a key outside the kept columns is an error: a table's columns are fixed (not JSON lines')

    def __init__(self, path: Path, reader: Reader, added: list[str]):
        self.added = added
        self.kept = list(reader.columns or [])
        self.names = kept_names(self.kept, added)
        self.open_keys = reader.format == "jsonl" and self.strict  # a JSON object may hold keys the first lacks

    def rows(self, chunk: Chunk, predictions: dict) -> list[tuple[dict, list]]:
        if self.open_keys:
            known = set(self.kept)
            for line, record in zip(chunk.rows, chunk.native):
                extra = [k for k in record if k not in known]
                if extra:
                    raise TweetopsError(f"line {line} has the key {extra[0]!r} that the first line lacks, and a "
                                        "table keeps the first line's columns; write JSON lines (.jsonl) instead.")
        added = [[_plain(v) for v in column] for column in predictions.values()]
        return list(zip(_records(chunk), zip(*added) if added else [()] * len(chunk)))


class CsvWriter(_RowWriter):
    def __init__(self, path: Path, reader: Reader, added: list[str]):
        super().__init__(path, reader, added)
        self.handle = open(path, "w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow([self.names[c] for c in self.kept] + added)

    def write(self, chunk: Chunk, predictions: dict) -> None:
        self.writer.writerows([*(_nested_as_json(record.get(c)) for c in self.kept), *row] for record, row in
                              self.rows(chunk, predictions))

    def close(self) -> None:
        self.handle.close()


class JsonlWriter(_RowWriter):
    strict = False

    def __init__(self, path: Path, reader: Reader, added: list[str]):
        super().__init__(path, reader, added)
        self.handle = open(path, "w", encoding="utf-8")

    def write(self, chunk: Chunk, predictions: dict) -> None:
        names = list(predictions)
        self.handle.write("".join(json.dumps({**self._renamed(record), **dict(zip(names, row))}, ensure_ascii=False,
                                             default=str) + "\n" for record, row in self.rows(chunk, predictions)))

    def _renamed(self, record: dict) -> dict:
        """A line's keys as kept_names says; a key of a later line only, named like an added column or like the name
        a kept one was given, is prefixed the same way until no key of the line has it (no cell lost)."""
        if all(self.names.get(key) == key for key in record):
            return record
        given = set(self.names.values())
        taken = given | set(self.added) | set(record)
        renamed = {}
        for key, value in record.items():
            name = self.names.get(key)
            if name is None:
                name = key
                if key in self.added or key in given:
                    name = f"file_{key}"
                    while name in taken:
                        name = f"file_{name}"
                taken.add(name)
            renamed[name] = value
        return renamed

    def close(self) -> None:
        self.handle.close()


def _nested_as_json(value):
    """A JSON object or list as its JSON text in a CSV cell (str() would write Python's repr: {'k': None})."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else value


def _json_text(value):
    """A cell of a text table or JSON lines as a Parquet string: strings as they are, other JSON as its text."""
    return value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class ParquetWriter(_RowWriter):
    """Parquet in keeps its schema; a text table's or JSON lines' columns become strings (JSON values that are
    not strings as their JSON text), since their rows need not agree on a type."""

    def __init__(self, path: Path, reader: Reader, added: list[str]):
        super().__init__(path, reader, added)
        self.native = reader.format == "parquet"
        if self.native:
            kept = [field.with_name(self.names[field.name]) for field in reader.schema]
            metadata = reader.schema.metadata
            if metadata and any(self.names[c] != c for c in self.kept):  # pandas' would name the old columns
                metadata = {key: value for key, value in metadata.items() if key != b"pandas"} or None
        else:
            kept, metadata = [pa.field(self.names[name], pa.string()) for name in self.kept], None
        extra = [pa.field(name, pa.float64() if name.startswith("p_") else pa.string()) for name in added]
        self.schema = pa.schema(kept + extra, metadata=metadata)
        self.writer = pq.ParquetWriter(path, self.schema)

    def write(self, chunk: Chunk, predictions: dict) -> None:
        if self.native:
            columns = [chunk.native.column(name) for name in self.kept]
        else:
            records = [record for record, _ in self.rows(chunk, {})]
            columns = [pa.array([_json_text(r.get(c)) for r in records], type=pa.string()) for c in self.kept]
        columns += [pa.array(predictions[name], type=self.schema.field(name).type, from_pandas=True)
                    for name in self.added]
        self.writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


WRITABLE = ("csv", "jsonl", "parquet")  # a TSV or plain-text cell cannot hold a tab or a line break: no writer


def open_writer(reader: Reader, path: Path, added: list[str], fmt: str | None = None):
    """A writer in `fmt` (one of WRITABLE; default the reader's format), its columns followed by `added`."""
    return {"csv": CsvWriter, "jsonl": JsonlWriter, "parquet": ParquetWriter}[fmt or reader.format](
        path, reader, added)
