"""The one table reader and writer: the same rows from every format, streamed in any chunks, with
every unreadable row kept and flagged, and the writers' output read back unchanged."""
from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tweetops.errors import TweetopsError
from tweetops.io.tables import NOT_UTF8, at_line, detect_format, open_table, open_writer, standardise

ROWS = [{"id": "007", "rating": "1.5", "text": "quoted, \"comma\" text"}, {"id": "2", "rating": "", "text": "NA"},
        {"id": "3", "rating": "-2", "text": "line one\nline two"}, {"id": "4", "rating": "0", "text": "tab\there"}]


def write(fmt: str, path, rows=ROWS):
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        frame.to_parquet(path, index=False, row_group_size=3)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_format_gives_the_same_cells_in_any_chunks(tmp_path, fmt):
    reader = open_table(write(fmt, tmp_path / f"t.{fmt}"), fmt, "t")
    assert reader.count() == 4 and list(reader.columns) == ["id", "rating", "text"]
    frame = reader.frame()
    assert frame[["id", "rating", "text"]].to_dict(orient="records") == ROWS  # strings stay strings: 007, "NA"
    assert frame["ingest_error"].isna().all()
    for size, start, stop in ((1, 0, 4), (3, 1, 4), (2, 1, 3), (10, 3, 4)):
        chunks = list(reader.chunks(size, start, stop))
        assert all(0 < len(c) <= size for c in chunks)  # Parquet batches also end where a row group does
        assert [t for c in chunks for t in c.column("text")] == [r["text"] for r in ROWS[start:stop]]
        assert [c.column("absent") for c in chunks][0] == [None] * len(chunks[0])


def test_unreadable_rows_stay_rows_with_their_reason(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_bytes(b"\xef\xbb\xbfid\trating\ttext\r\n1\t0.5\tfine\r\n\r\n2\t1\tcaf\xe9\r\n3\tonly two\r\n4\t-1\ta\tb")
    reader = open_table(tsv, "tsv", "t.tsv", ["id", "rating", "text"])
    assert reader.header and reader.count() == 4
    frame = reader.frame()
    assert frame["source_row"].tolist() == [2, 4, 5, 6]  # the line of each row; blank lines are not rows
    assert frame["ingest_error"].fillna("-").tolist() == [
        "-", NOT_UTF8, "wrong number of fields: expected 3 tab-separated, found 2", "-"]
    assert frame["text"].iloc[3] == "a\tb"  # the last column takes the rest of the line
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_bytes(b'{"text": "ok"}\n{oops\n[1]\n"a bare string"\n{"text": "\\ud800 lone"}\n{"text": "\xff"}\n')
    chunk = next(open_table(jsonl, "jsonl", "t.jsonl").chunks(10))
    lone = "line has a lone surrogate (U+D800), which is not a character"  # JSON's escape, not a byte
    assert chunk.errors == [None, "line is not valid JSON", "line is not a JSON object", None, lone, NOT_UTF8]
    assert chunk.column("text") == ["ok", None, None, "a bare string", "\ufffd lone", "\ufffd"]
    assert [at_line(e, r) for e, r in zip(chunk.errors, chunk.rows) if e] == [
        "line 2 is not valid JSON", "line 3 is not a JSON object",
        "line 5 has a lone surrogate (U+D800), which is not a character", "line 6 is not valid UTF-8"]


def test_csv_goes_through_the_csv_module(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'id,text\n1,"multi\nline, quoted"\n2,caf\xe9\n3,a,b\n\n4,""\n')
    reader = open_table(path, "csv", "t.csv")
    chunk = next(reader.chunks(10))
    assert chunk.rows == [2, 4, 5, 7] and reader.count() == 4
    assert chunk.column("text") == ["multi\nline, quoted", "caf\ufffd", "a", ""]
    assert chunk.errors == [None, NOT_UTF8, "wrong number of fields: expected 2 comma-separated, found 3", None]
    headerless = open_table(b"one, two, three\n\"four\"\n", "csv", "body", ["text"], header=False)
    assert [r["text"] for c in headerless.chunks(5) for r in c.native] == ["one, two, three", "four"]
    with pytest.raises(TweetopsError, match="is empty; a CSV input needs a header row"):
        open_table(b"\n\n", "csv", "empty.csv")


def test_a_parquet_string_column_holding_bytes_that_are_not_utf8_gives_flagged_rows(tmp_path):
    """Its writer did not check them: the reader flags those rows, in chunks and whole, and fails on none."""
    texts = pa.array([b"fine", b"caf\xe9", None, b"\xed\xa0\x80 lone"], type=pa.binary()).view(pa.string())
    pq.write_table(pa.table({"id": ["1", "2", "3", "4"], "text": texts}), tmp_path / "t.parquet", row_group_size=2)
    reader = open_table(tmp_path / "t.parquet", "parquet", "t.parquet")
    chunks = list(reader.chunks(3, 1))
    assert [c.rows for c in chunks] == [[2, 3], [4]]  # rows 2 to 4, in chunks of at most 3
    assert [e for c in chunks for e in c.errors] == [NOT_UTF8, None, NOT_UTF8]
    assert [t for c in chunks for t in c.column("text")] == ["caf\ufffd", None, "\ufffd\ufffd\ufffd lone"]
    frame = reader.frame()
    assert frame["ingest_error"].fillna("-").tolist() == ["-", NOT_UTF8, "-", NOT_UTF8]
    assert frame["text"].fillna("-").tolist() == ["fine", "caf\ufffd", "-", "\ufffd\ufffd\ufffd lone"]


def test_a_nul_in_text_is_its_rows_problem_not_the_files(tmp_path):
    """Binary files are refused whole; a text file whose first line holds a NUL is read (serving flags it)."""
    for fmt, data in [("csv", b"text\nnul \x00 here\nfine\n"), ("tsv", b"1\t0\tnul \x00 here\n2\t1\tfine\n"),
                      ("jsonl", b'{"text": "nul \\u0000 here"}\n{"text": "fine"}\n')]:
        chunk = next(open_table(data, fmt, f"t.{fmt}").chunks(5))
        assert chunk.column("text") == ["nul \x00 here", "fine"] and chunk.errors == [None, None], fmt
    # However short the file: one NUL in a one-line text made it "binary" (1 odd character in 4 was over 10%)
    for fmt, data in [("csv", b"a\x00b\n"), ("txt", b"a\x00b\n"), ("jsonl", b'"a\x00b"\n')]:
        chunk = next(open_table(data, fmt, f"t.{fmt}", header=False, columns=["text"]).chunks(5))
        assert len(chunk) == 1, fmt


def test_whole_file_errors_are_one_sentence(tmp_path):
    cases = [(b"\x00\x01" * 10, "csv", "looks binary, not CSV text"), (b"PAR1 no", "parquet", "not a readable Parquet"),
             (b"\n  \n", "jsonl", "holds no data rows"), (b"{bad\n[2]\n", "jsonl", "every row failed")]
    for data, fmt, message in cases:
        with pytest.raises(TweetopsError, match=message):
            open_table(data, fmt, "x").frame()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_writer_adds_columns_and_keeps_every_cell(tmp_path, fmt):
    reader = open_table(write(fmt, tmp_path / f"in.{fmt}"), fmt, "in")
    out = tmp_path / f"out.{fmt}"
    writer = open_writer(reader, out, ["label", "p_x"])
    done = 0
    for chunk in reader.chunks(3):
        order = range(done + 1, done + len(chunk) + 1)
        writer.write(chunk, {"label": [f"l{i}" for i in order], "p_x": [0.25 * i for i in order]})
        done += len(chunk)
    writer.close()
    back = open_table(out, fmt, "out").frame()
    assert back[["id", "rating", "text"]].to_dict(orient="records") == ROWS
    assert back["label"].tolist() == ["l1", "l2", "l3", "l4"]
    assert back["p_x"].astype(float).tolist() == [0.25, 0.5, 0.75, 1.0]


def test_a_txt_file_is_the_archives_tsv_when_it_holds_tabs_else_one_text_per_line(tmp_path, raw_path):
    assert detect_format(str(raw_path), source=raw_path) == "tsv"
    for drift in sorted((raw_path.parent.parent / "drift").glob("*.txt")):
        assert detect_format(str(drift), source=drift) == "tsv", drift
    assert detect_format("k.txt", source=b"Name:\tJohn loves this phone\nI hate mondays\n") == "txt"  # a tab in a text
    plain = b"first text, with a comma\n\n\"quoted\" second\r\nnot \xff utf-8\n"
    assert detect_format("s3://b/k.txt", source=plain) == "txt" and detect_format("k.txt") == "tsv"
    chunk = next(open_table(plain, "txt", "k.txt").chunks(10))
    assert chunk.column("text") == ["first text, with a comma", "\"quoted\" second", "not \ufffd utf-8"]
    assert chunk.rows == [1, 3, 4] and chunk.errors == [None, None, NOT_UTF8]
    assert len(open_table(raw_path, "tsv", "raw").frame()) == 4200


def test_a_quote_never_closed_is_one_sentence_not_the_rest_of_the_file_as_one_row():
    data = b'id,text\n1,fine\n2,"never closed\n3,swallowed\n4,too\n'
    with pytest.raises(TweetopsError, match="the quote that opens line 3 is never closed"):
        open_table(data, "csv", "x.csv").frame()


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    """In CSV and in Parquet: a Parquet file of two 'id' columns lost the first one's cells in CSV output, and two
    'text' columns crashed batch-predict with a KeyError (found by a hostile review)."""
    with pytest.raises(TweetopsError, match="^dup.csv names the column 'text' more than once in its header"):
        open_table(b"text,text\nx,a tweet\n", "csv", "dup.csv")
    for names in (["text", "text"], ["text", "id", "id"]):
        table = pa.Table.from_arrays([pa.array(["a tweet"])] * len(names), names=names)
        pq.write_table(table, tmp_path / "dup.parquet")
        with pytest.raises(TweetopsError, match=f"^dup.parquet names the column '{names[-1]}' more than once in its "
                                                "header; rename one, so no column's cells are lost.$"):
            open_table(tmp_path / "dup.parquet", "parquet", "dup.parquet")


def test_hostile_cells_are_rows_with_their_reason_not_a_crash_or_a_refused_file(tmp_path):
    """Each found by a hostile review: a JSON number over Python's 4,300 digits (batch-predict and the monitor died
    with a ValueError, /invocations answered 500), a CSV field over the csv module's 131,072 characters (the whole
    file was refused), a Latin-1 header name (every writer died with a UnicodeEncodeError)."""
    lines = b'{"text": "fine"}\n{"text": "big", "n": 1' + b"0" * 5000 + b'}\n{"text": "after"}\n'
    chunk = next(open_table(lines, "jsonl", "t.jsonl").chunks(10))
    assert chunk.errors == [None, "line has a number over 4,300 digits long", None]
    assert chunk.column("text") == ["fine", None, "after"]
    long = "a" * 140_000
    chunk = next(open_table(f"id,text\n1,fine\n2,{long}\n3,after\n".encode(), "csv", "t.csv").chunks(10))
    assert chunk.column("text") == ["fine", long, "after"] and chunk.errors == [None, None, None]
    reader = open_table(b"text,caf\xe9\ngood,1\n", "csv", "t.csv")
    assert reader.columns == ["text", "caf\ufffd"]
    writer = open_writer(reader, tmp_path / "out.csv", ["label"], fmt="csv")
    for chunk in reader.chunks(10):
        writer.write(chunk, {"label": ["positive"]})
    writer.close()
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == ["text,caf\ufffd,label",
                                                                               "good,1,positive"]


def test_a_parquet_file_whose_pages_do_not_decode_is_one_sentence(tmp_path):
    """Its footer reads fine, so the file opens; the scrambled pages failed later with a traceback."""
    pq.write_table(pa.table({"text": [f"tweet number {i} " * 20 for i in range(2000)]}), tmp_path / "t.parquet")
    data = bytearray((tmp_path / "t.parquet").read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(200, len(data) - footer - 200):
        data[i] ^= 0x5A
    reader = open_table(bytes(data), "parquet", "t.parquet")
    for read in (reader.frame, lambda: list(reader.chunks(100))):
        with pytest.raises(TweetopsError, match="^t.parquet is not a readable Parquet file"):
            read()


def test_standardised_rows_read_binary_text_as_text_and_blank_ids_as_missing(tmp_path):
    """A Parquet binary text column trained on "b'...'" strings, and blank ids were all one duplicate id, so half of
    a file was quarantined (found by a hostile review)."""
    texts = pa.array([b"good day", b"caf\xe9", b"bad day", b""], type=pa.binary())
    pq.write_table(pa.table({"id": ["7", "", " ", "9"], "rating": ["1", "0", "-1", "0"], "text": texts}),
                   tmp_path / "t.parquet")
    rows = standardise(open_table(tmp_path / "t.parquet", "parquet", "t.parquet").frame(), "t.parquet")
    assert rows["text"].tolist() == ["good day", "caf\ufffd", "bad day", ""]
    assert rows["id"].tolist() == ["7", "row-2", "row-3", "9"]
    assert rows["ingest_error"].fillna("-").tolist() == ["-", NOT_UTF8, "-", "-"]


def test_a_record_of_empty_fields_is_a_row_and_a_blank_line_is_none():
    chunk = next(open_table(b'id,text\n1,good\n,\n\n"",""\n2,bad\n', "csv", "x.csv").chunks(10))
    assert chunk.column("text") == ["good", "", "", "bad"] and chunk.rows == [2, 3, 5, 6]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_column_named_like_the_row_columns_tweetops_adds_is_refused(tmp_path, fmt):
    path = write(fmt, tmp_path / f"in.{fmt}", [{"source_row": "7", "text": "a tweet"}])
    with pytest.raises(TweetopsError, match="has a column named 'source_row', which tweetops adds"):
        open_table(path, fmt, "in").frame()


def test_json_lines_columns_are_the_keys_of_the_first_objects_not_only_the_first():
    data = b'{"id": 0}\n' + b"".join(b'{"id": %d, "text": "tweet %d"}\n' % (i, i) for i in range(1, 4))
    reader = open_table(data, "jsonl", "j.jsonl")
    assert reader.columns == ["id", "text"]
    assert next(reader.chunks(10)).column("text") == [None, "tweet 1", "tweet 2", "tweet 3"]


def test_a_json_line_nested_too_deeply_is_a_flagged_row_not_a_crash():
    """json.loads reads ~1,000 levels; the lone-surrogate walk (any line with a \\u escape) recursed deeper than
    Python allows, and batch-predict died with a RecursionError (found by a hostile review)."""
    nested = "[" * 900 + '"x"' + "]" * 900
    data = (f'{{"text": "fine"}}\n{{"text": "caf\\u00e9", "a": {nested}}}\n{{"a": {"[" * 5000 + "]" * 5000}}}\n'
            '{"text": "after"}\n').encode()
    chunk = next(open_table(data, "jsonl", "t.jsonl").chunks(10))
    assert chunk.errors == [None, "line nests its JSON too deeply to read", "line is not valid JSON", None]
    assert chunk.column("text") == ["fine", None, None, "after"]


def test_a_line_of_unicode_blanks_is_a_row_in_csv_as_in_the_line_formats():
    """Only an empty or ASCII-whitespace line is no row, in every format: a line of U+3000 was dropped by the CSV
    reader (str.strip) and kept by the others (bytes.strip), so rows out differed from rows in."""
    for fmt in ("csv", "txt", "tsv"):
        data = "text\n" if fmt == "csv" else ""
        data += "ok\n\u3000\n \t \n\u200b\nend\n" if fmt != "tsv" else "1\t0\tok\n2\t0\t\u3000\n \t \n3\t0\tend\n"
        reader = open_table(data.encode(), fmt, f"t.{fmt}", ["id", "rating", "text"] if fmt == "tsv" else None)
        texts = [t for c in reader.chunks(10) for t in c.column("text")]
        assert texts == (["ok", "\u3000", "\u200b", "end"] if fmt != "tsv" else ["ok", "\u3000", "end"]), fmt


def test_a_csv_header_is_the_first_line_that_names_a_column():
    """A first line of U+3000 or bare commas was read as the header, so the file had no 'text' column ("its columns
    are none", found by a hostile review); the lines before the header are no rows, as blank lines are."""
    for before in ("\u3000\n", " , \n", "\n\u3000\n,,\n"):
        reader = open_table(f"{before}text,id\nhello,1\n\u3000,2\n".encode(), "csv", "t.csv")
        reader.require("text")
        chunk = next(reader.chunks(10))
        assert chunk.column("text") == ["hello", "\u3000"] and chunk.column("id") == ["1", "2"], repr(before)
    with pytest.raises(TweetopsError, match="^t.csv is empty; a CSV input needs a header row.$"):
        open_table("\u3000\n,\n".encode(), "csv", "t.csv").require("text")


def test_a_nested_json_value_is_written_to_csv_as_json(tmp_path):
    """Not as Python's repr ({'k': ['a', None]}), which no JSON reader reads back (found by a hostile review)."""
    source = b'{"text": "fine", "meta": {"k": ["a", null]}, "tags": [1, 2], "n": 3}\n'
    reader = open_table(source, "jsonl", "in.jsonl")
    writer = open_writer(reader, tmp_path / "out.csv", ["label"], fmt="csv")
    for chunk in reader.chunks(10):
        writer.write(chunk, {"label": ["neutral"]})
    writer.close()
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == [
        "text,meta,tags,n,label", 'fine,"{""k"": [""a"", null]}","[1, 2]",3,neutral']


@pytest.mark.parametrize("fmt, lines", [
    ("txt", [b"first tweet", b"  ", b"second, with a comma", b"caf\xe9 latin-1"]),
    ("tsv", [b"1\t0.5\tfirst tweet", b"  ", b"2\t-1\tsecond", b"3\t0\tcaf\xe9 latin-1"]),
    ("jsonl", [b'{"text": "first tweet"}', b"  ", b'{"text": "second"}', b'{"text": "caf\xe9"}']),
])
def test_every_line_ending_ends_a_line_in_every_line_format(fmt, lines):
    """A lone CR (old Mac files) ends a line as LF and CRLF do, as in the CSV reader and the web UI: a CR-only
    file was one row holding every tweet. The rows, their line numbers and their flags are the same."""
    read = {}
    for name, ending in (("LF", b"\n"), ("CRLF", b"\r\n"), ("CR", b"\r")):
        chunk = next(open_table(ending.join(lines) + ending, fmt, f"t.{fmt}").chunks(10))
        read[name] = (chunk.column("text"), chunk.rows, chunk.errors)
    assert read["CR"] == read["LF"] == read["CRLF"]
    assert len(read["CR"][0]) == 3 and read["CR"][1] == [1, 3, 4] and read["CR"][2][:2] == [None, None]
    assert read["CR"][2][2] == NOT_UTF8
