"""Batch inference: a TSV, CSV, JSONL, Parquet or plain-text file of texts in, the same rows out with
predictions, as CSV, JSONL or Parquet (the output's name says which; a folder takes the input's format,
CSV for TSV and plain text, which no writer writes).

`tweetops batch-predict --input URI --output URI` runs as one process or as one shard of an AWS
Batch array job (AWS_BATCH_JOB_ARRAY_INDEX / AWS_BATCH_JOB_ARRAY_SIZE). A shard takes a
contiguous, deterministic row range and writes its own part, so a retried shard replaces only
that part. Rows out = rows in: a row whose text the model cannot take keeps its place, with null
predictions and the reason in `error`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import numpy as np

from tweetops.errors import TweetopsError, stop_if_terminated
from tweetops.io import storage
from tweetops.io.files import atomic_path, cannot_write, scratch_folder
from tweetops.io.tables import WRITABLE, at_line, detect_format, open_table, open_writer
from tweetops.logs import Progress
from tweetops.model import LABELS
from tweetops.serving.inference import (InputError, Limits, Predictor, is_number, load_predictor,
                                        refuse_a_number_column, validate_text)
from tweetops.settings import environment

log = logging.getLogger("tweetops.batch")

PROBA_COLUMNS = [f"p_{label}" for label in LABELS]
ADDED_COLUMNS = ["label", *PROBA_COLUMNS, "error"]
DEFAULT_CHUNK_SIZE = 10_000
SAMPLED_ROWS = 1000  # read before the model loads, to refuse a column of numbers
SCRATCH_PREFIX = "tweetops-batch-"  # under TMPDIR: the S3 input and output while they are transferred


@dataclass(frozen=True)
class Shard:
    index: int = 0
    size: int = 1

    def rows(self, total: int) -> tuple[int, int]:
        """This shard's [start, stop) of `total` rows: contiguous, and the same on every retry."""
        return total * self.index // self.size, total * (self.index + 1) // self.size

    @property
    def part_name(self) -> str:
        return f"part-{self.index:05d}-of-{self.size:05d}"

    @property
    def label(self) -> str:
        """"2/3" for index 1 of 3: counted from 1 wherever people read it (part names keep AWS's index)."""
        return f"{self.index + 1}/{self.size}"


def shard_from_env() -> Shard:
    """The AWS Batch array shard; one whole shard when the variables are unset."""
    env = environment()
    index, size = env.array_index, env.array_size
    if size < 1 or not 0 <= index < size:
        raise TweetopsError(f"AWS_BATCH_JOB_ARRAY_INDEX={index} must be in 0..{size - 1} for "
                            f"AWS_BATCH_JOB_ARRAY_SIZE={size}; set the size to the array job's size.")
    return Shard(index, size)


def row_error(text, limit: int) -> str | None:
    """Why the model cannot take this cell, or None; the same rules as the API's."""
    if text is None:
        return "text is missing."
    try:
        validate_text(text, limit)
    except InputError as exc:
        return str(exc)
    return None


def annotate(predictor: Predictor, texts: list, errors: list | None = None, limit: int | None = None) -> dict:
    """The added columns for these cells: label, p_<label> per class and error (null predictions on errors)."""
    limit = limit or Limits.from_environment().max_chars
    errors = [given or row_error(text, limit) for text, given in zip(texts, errors or [None] * len(texts))]
    good = [i for i, error in enumerate(errors) if error is None]
    proba = np.full((len(texts), len(LABELS)), np.nan)
    labels = [None] * len(texts)
    if good:
        proba[good] = predictor.predict_proba([texts[i] for i in good])
        for i, best in zip(good, proba[good].argmax(axis=1)):
            labels[i] = LABELS[best]
    return {"label": labels, **{name: proba[:, j] for j, name in enumerate(PROBA_COLUMNS)}, "error": errors}


def predict_texts(texts: list, predictor: Predictor | None = None) -> list[dict]:
    """One {label, p_negative, p_neutral, p_positive, error} per text: batch-predict's answer, row by row."""
    columns = annotate(predictor or load_predictor(), list(texts))
    rows = []
    for values in zip(*columns.values()):
        row = dict(zip(columns, values))
        rows.append({k: (None if np.isnan(v) else float(v)) if isinstance(v, float) else v for k, v in row.items()})
    return rows


def output_target(output: str, input_fmt: str, shard: Shard) -> tuple[str, str]:
    """(where, format): exactly `output` in the format its name says when unsharded and it names a file; else
    the shard's part inside the folder/prefix (an existing folder, or a name ending in /), in the input's format
    (CSV for one no writer writes)."""
    path = urlparse(output).path
    is_folder = path.endswith("/") or (storage.scheme_of(output) in ("local", "file")
                                       and storage.local_path(output).is_dir())
    if shard.size == 1 and PurePosixPath(path).suffix and not is_folder:
        try:
            named = detect_format(output)
        except TweetopsError:
            raise TweetopsError(f"cannot tell the output format of {output} from its name; name it .csv, .jsonl or "
                                ".parquet, or end it with / to write into that folder.") from None
        if named not in WRITABLE:
            suffix = PurePosixPath(path).suffix
            raise TweetopsError(f"batch-predict cannot write {suffix} files ({output}: a tab or a line break in a "
                                "text would break its rows); name the output .csv, .jsonl or .parquet, or give a "
                                "folder.")
        return output, named
    fmt = input_fmt if input_fmt in WRITABLE else "csv"
    return output.rstrip("/") + f"/{shard.part_name}.{fmt}", fmt


def _check_uri(uri: str, role: str) -> None:
    if storage.scheme_of(uri) in ("https", "http"):
        raise TweetopsError(f"the {role} {uri} must be a local path or an s3:// URI.")


def _check_not_input(input_uri: str, output: str) -> None:
    """batch-predict never writes over its input, whatever names the same file (a link, a relative path)."""
    if "s3" in (storage.scheme_of(input_uri), storage.scheme_of(output)):
        same = storage.scheme_of(input_uri) == storage.scheme_of(output) and \
            storage.split_s3(input_uri) == storage.split_s3(output)
    else:
        source, target = storage.local_path(input_uri), storage.local_path(output)
        same = source.resolve() == target.resolve() or (
            source.exists() and target.exists() and os.path.samefile(source, target))
    if same:
        raise TweetopsError(f"the output {output} is the input {input_uri}, and batch-predict never replaces its "
                            "input; choose another --output.")


@contextlib.contextmanager
def _local_output(uri: str, scratch: Path):
    """A local path to write; it becomes `uri` only if the block succeeds (rename, or one S3 upload)."""
    if storage.scheme_of(uri) == "s3":
        path = scratch / "output"
        yield path
        storage.upload_file(path, uri)
        return
    path = storage.local_path(uri)
    with contextlib.ExitStack() as stack:
        try:  # made now, before the model loads, so an output that cannot be written is said at once
            tmp = stack.enter_context(atomic_path(path))
        except OSError as exc:
            raise cannot_write(path, exc) from None
        yield tmp


def run(input_uri: str, output_uri: str, *, text_column: str = "text", chunk_size: int = DEFAULT_CHUNK_SIZE,
        shard: Shard | None = None, predictor: Predictor | None = None, model_dir: str | None = None) -> dict:
    """Predict every row of this shard of `input_uri` into its output; returns the summary.

    Every check a user can fail runs before the model is loaded, so mistakes are reported at once.
    """
    if chunk_size < 1:
        raise TweetopsError(f"--chunk-size must be at least 1, got {chunk_size}.")
    for uri, role in ((input_uri, "input"), (output_uri, "output")):
        _check_uri(uri, role)
    fmt = detect_format(input_uri)  # by name; a .txt's content says TSV or plain text once it is here
    shard = shard or shard_from_env()
    target, out_fmt = output_target(output_uri, fmt, shard)
    _check_not_input(input_uri, target)
    with scratch_folder(SCRATCH_PREFIX) as scratch, _local_output(target, scratch) as out_path, \
            storage.local_input(input_uri, "the input") as path:
        fmt = detect_format(input_uri, source=path)
        reader = open_table(path, fmt, input_uri)
        reader.require(text_column)
        sample = next(reader.chunks(SAMPLED_ROWS), None)  # the file's first rows: is the column text at all?
        if sample is not None:
            cells = [t for t, error in zip(sample.column(text_column), sample.errors) if not error and t is not None]
            refuse_a_number_column(sum(map(is_number, cells)), len(cells), input_uri, text_column)
        total = reader.count()
        if not total:  # a job that predicts nothing has failed (an empty export, most likely): AWS Batch must see it
            raise TweetopsError(f"{input_uri} holds no rows, so there is nothing to predict; give batch-predict a "
                                "file with one tweet per row.")
        start, stop = shard.rows(total)
        predictor = predictor or load_predictor(model_dir)
        limit = Limits.from_environment().max_chars
        rows_out = flagged = 0
        began = time.perf_counter()
        with Progress(log, f"shard {shard.label}", total=stop - start, unit="rows") as progress:
            writer = open_writer(reader, out_path, ADDED_COLUMNS, out_fmt)
            try:
                for chunk in reader.chunks(chunk_size, start, stop):
                    stop_if_terminated()
                    texts = chunk.column(text_column)
                    errors = [error and at_line(error, row) + "." for error, row in zip(chunk.errors, chunk.rows)]
                    columns = annotate(predictor, texts, errors, limit)
                    writer.write(chunk, columns)
                    rows_out += len(texts)
                    flagged += sum(e is not None for e in columns["error"])
                    progress.update(len(texts))
            finally:
                writer.close()
            if rows_out != stop - start:  # a programming error: every row must come out, so do not publish
                raise RuntimeError(f"batch-predict wrote {rows_out} rows for {stop - start} read")
        seconds = time.perf_counter() - began
    summary = {"input": input_uri, "output": target, "format": fmt, "output_format": out_fmt,
               "shard": shard.label, "rows_in": stop - start, "rows_out": rows_out,
               "rows_flagged": flagged,
               "seconds": round(seconds, 3), "texts_per_second": round(rows_out / seconds, 1) if seconds else None,
               "model_version": predictor.version}
    log.info("batch-predict shard %s: rows in %d, out %d, flagged %d, %.0f texts/s, %.1f s -> %s",
             shard.label, summary["rows_in"], rows_out, flagged,
             summary["texts_per_second"] or 0, seconds, target)
    return summary
