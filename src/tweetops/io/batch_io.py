"""Stream CSV, JSONL and Parquet files in chunks for batch-predict, and write them back with new columns.

A reader yields a row range of its file in chunks, so memory stays flat however big the file;
a writer appends each chunk with the prediction columns added. Every input row gives one output
row: a row that cannot be read (a JSONL line that is not a JSON object) is passed on with a reason.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tweetops.errors import TweetopsError

# Every cell is read as the string it is, so ids like 007 and texts like "NA" come out unchanged.
_CSV_OPTIONS = {"dtype": str, "keep_default_na": False, "na_filter": False, "encoding_errors": "replace"}


def _slices(chunks, start: int, stop: int, first: int = 0):
    """Cut chunks (sequences starting at row `first`) down to rows [start, stop); stop reading after `stop`."""
    position = first
    for chunk in chunks:
        size = len(chunk)
        lo, hi = max(start - position, 0), min(stop - position, size)
        if hi > lo:
            yield chunk if (lo, hi) == (0, size) else chunk[lo:hi]
        position += size
        if position >= stop:
            return


class CsvReader:
    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        try:
            self.columns = list(pd.read_csv(path, nrows=0, **_CSV_OPTIONS).columns)
        except pd.errors.EmptyDataError:
            raise TweetopsError(f"{name} is empty; a CSV input needs a header row.")
        except (pd.errors.ParserError, UnicodeError) as exc:
            raise TweetopsError(f"{name} is not a readable CSV file ({type(exc).__name__}).") from exc

    def _frames(self, size: int, **options):
        try:
            yield from pd.read_csv(self.path, chunksize=size, **_CSV_OPTIONS, **options)
        except pd.errors.ParserError as exc:
            raise TweetopsError(f"{self.name} is not valid CSV: {str(exc).strip()}; quote fields that hold commas.")

    def count(self) -> int:
        return sum(len(f) for f in self._frames(100_000, usecols=[0])) if self.columns else 0

    def chunks(self, start: int, stop: int, size: int):
        yield from _slices(self._frames(size), start, stop)

    @staticmethod
    def cells(frame: pd.DataFrame, column: str) -> tuple[list, list]:
        return frame[column].tolist(), [None] * len(frame)


class CsvWriter:
    def __init__(self, path: Path, columns: list[str], added: list[str]):
        self.handle = open(path, "w", encoding="utf-8", newline="")
        self.columns = [c for c in columns if c not in added] + added
        pd.DataFrame(columns=self.columns).to_csv(self.handle, index=False)

    def write(self, frame: pd.DataFrame, predictions: dict) -> None:
        frame.assign(**predictions)[self.columns].to_csv(self.handle, index=False, header=False)

    def close(self) -> None:
        self.handle.close()


class JsonlReader:
    """A row is a non-blank line; one that is not a JSON object stays a row, flagged with why."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        self.columns = None  # the keys of the first JSON object, when there is one
        for _, record, _ in self._records():
            if record:
                self.columns = list(record)
                break

    def _lines(self):
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    yield number, raw

    def _records(self):
        for number, raw in self._lines():
            try:
                record = json.loads(raw.decode("utf-8", errors="replace"))
            except json.JSONDecodeError:
                yield number, {}, f"line {number} is not valid JSON."
                continue
            if not isinstance(record, dict):
                yield number, {}, f"line {number} is not a JSON object."
                continue
            yield number, record, None

    def count(self) -> int:
        return sum(1 for _ in self._lines())

    def chunks(self, start: int, stop: int, size: int):
        def batches():
            batch = []
            for number, record, error in self._records():
                batch.append((record, error))
                if len(batch) == size:
                    yield batch
                    batch = []
            if batch:
                yield batch
        yield from _slices(batches(), start, stop)

    @staticmethod
    def cells(batch: list, column: str) -> tuple[list, list]:
        return [record.get(column) for record, _ in batch], [error for _, error in batch]


class JsonlWriter:
    def __init__(self, path: Path, columns, added: list[str]):
        self.handle = open(path, "w", encoding="utf-8")

    def write(self, batch: list, predictions: dict) -> None:
        names = list(predictions)
        values = [[None if isinstance(v, float) and np.isnan(v) else v for v in column]
                  for column in predictions.values()]
        lines = []
        for (record, _), row in zip(batch, zip(*values)):
            lines.append(json.dumps({**record, **dict(zip(names, row))}, ensure_ascii=False))
        self.handle.write("\n".join(lines) + "\n")

    def close(self) -> None:
        self.handle.close()


class ParquetReader:
    def __init__(self, path: Path, name: str):
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise TweetopsError(f"{name} is not a readable Parquet file ({type(exc).__name__}).") from exc
        self.schema = self.file.schema_arrow
        self.columns = self.schema.names

    def count(self) -> int:
        return self.file.metadata.num_rows

    def chunks(self, start: int, stop: int, size: int):
        """Read only the row groups that overlap [start, stop)."""
        groups, first, offset = [], None, 0
        for index in range(self.file.metadata.num_row_groups):
            rows = self.file.metadata.row_group(index).num_rows
            if offset < stop and offset + rows > start:
                groups.append(index)
                first = offset if first is None else first
            offset += rows
        if groups:
            batches = self.file.iter_batches(batch_size=size, row_groups=groups, use_threads=False)
            yield from _slices(batches, start, stop, first)

    @staticmethod
    def cells(batch: pa.RecordBatch, column: str) -> tuple[list, list]:
        return batch.column(column).to_pylist(), [None] * batch.num_rows


class ParquetWriter:
    def __init__(self, path: Path, schema: pa.Schema, added: list[str]):
        self.added = added
        kept = [field for field in schema if field.name not in added]
        extra = [pa.field(name, pa.float64() if name.startswith("p_") else pa.string()) for name in added]
        self.schema = pa.schema(kept + extra, metadata=schema.metadata)
        self.writer = pq.ParquetWriter(path, self.schema)

    def write(self, batch, predictions: dict) -> None:
        columns = [batch.column(f.name) for f in self.schema if f.name not in self.added]
        columns += [pa.array(predictions[name], type=self.schema.field(name).type, from_pandas=True)
                    for name in self.added]
        self.writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


READERS = {"csv": CsvReader, "jsonl": JsonlReader, "parquet": ParquetReader}


def open_writer(fmt: str, path: Path, reader, added: list[str]):
    if fmt == "parquet":
        return ParquetWriter(path, reader.schema, added)
    return {"csv": CsvWriter, "jsonl": JsonlWriter}[fmt](path, reader.columns, added)
