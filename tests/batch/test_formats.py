"""Each format in and out: every row comes back, bad texts flagged, predictions = Predictor.predict_proba."""
import csv
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.batch.conftest import FORMATS, PROBA, bad_rows, read_output, write_input
from tweetops.serving import batch
from tweetops.model import LABELS


def check_output(out: pd.DataFrame, written: pd.DataFrame, fmt: str, predictor) -> None:
    assert len(out) == len(written)
    assert list(out.columns) == list(written.columns) + batch.ADDED_COLUMNS
    assert out["id"].astype(str).tolist() == written["id"].astype(str).tolist()
    bad = bad_rows(fmt)
    for row, reason in bad.items():
        assert reason in out.loc[row, "error"], (row, out.loc[row, "error"])
        assert pd.isna(out.loc[row, "label"]) and out.loc[row, PROBA].isna().all()
    good = [i for i in range(len(written)) if i not in bad]
    assert out.loc[good, "error"].isna().all()
    expected = predictor.predict_proba(written["text"].iloc[good].tolist())
    np.testing.assert_allclose(out.loc[good, PROBA].to_numpy(dtype=float), expected, rtol=1e-12, atol=0)
    assert out.loc[good, "label"].tolist() == [LABELS[i] for i in expected.argmax(axis=1)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_keeps_every_row_and_flags_bad_texts(tmp_path, tweets, predictor, fmt):
    source = tmp_path / f"tweets.{fmt}"
    written = write_input(tweets, fmt, source)
    summary = batch.run(str(source), str(tmp_path / f"predicted.{fmt}"), chunk_size=700, predictor=predictor)
    assert summary["rows_in"] == summary["rows_out"] == len(tweets)
    assert summary["rows_flagged"] == len(bad_rows(fmt))
    assert summary["output"] == str(tmp_path / f"predicted.{fmt}")
    check_output(read_output(tmp_path / f"predicted.{fmt}", fmt), written, fmt, predictor)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, f"predicted.{fmt}"])  # no temp left


def test_unreadable_jsonl_lines_stay_as_flagged_rows(tmp_path, predictor):
    source = tmp_path / "mixed.jsonl"
    source.write_text('{"text": "what a lovely day"}\n{not json\n\n[1, 2]\n{"id": 7}\n')
    batch.run(str(source), str(tmp_path / "out.jsonl"), predictor=predictor)
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["error"] for r in out] == [
        None, "line 2 is not valid JSON.", "line 4 is not a JSON object.", "text is missing."]
    assert [r["label"] is not None for r in out] == [True, False, False, False]
    assert out[3]["id"] == 7 and out[1] == {c: None for c in batch.ADDED_COLUMNS} | {"error": out[1]["error"]}


def test_predict_texts_gives_the_file_answer_row_by_row(tweets, predictor):
    texts = tweets["text"].iloc[:12].tolist()  # row 10 is empty
    rows = batch.predict_texts(texts, predictor)
    proba = predictor.predict_proba([t for i, t in enumerate(texts) if i != 10])
    good = [r for i, r in enumerate(rows) if i != 10]
    np.testing.assert_allclose([[r[c] for c in PROBA] for r in good], proba, rtol=1e-12, atol=0)
    assert rows[10] == {"label": None, **{c: None for c in PROBA}, "error": "text is empty; send the tweet's words."}
    assert all(r["error"] is None and r["label"] in LABELS for r in good)


def test_invalid_utf8_is_flagged_not_replaced(tmp_path, predictor):
    """A byte that is not UTF-8 would change the text the model reads; the row keeps its place, flagged."""
    source = tmp_path / "mixed.csv"
    source.write_bytes(b'id,text\n1,what a lovely day\n2,caf\xe9 was awful\n3,"a, quoted\ntext"\n')
    summary = batch.run(str(source), str(tmp_path / "out.csv"), predictor=predictor)
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert summary["rows_in"] == summary["rows_out"] == 3 and summary["rows_flagged"] == 1
    assert out["error"].tolist() == ["", "line 3 is not valid UTF-8.", ""]
    assert out["text"].tolist() == ["what a lovely day", "caf\ufffd was awful", "a, quoted\ntext"]
    assert out["label"].iloc[1] == "" and out["label"].iloc[2] in LABELS


# Per format: rows whose text has a NUL, bytes that are not UTF-8, or a lone surrogate, among good ones.
NUL = "text has a NUL character (U+0000) at character 4; remove it."
TEXTS = [b"what a lovely day", b"nul \x00 here", b"caf\xe9 was awful", b"lone \xed\xa0\x80 surrogate", b"a fine end"]


def odd_input(fmt: str, path):
    """`TEXTS` as `fmt`, as a careless writer would store them; returns each row's expected error."""
    if fmt == "csv":
        path.write_bytes(b"id,text\n" + b"".join(b"%d,%s\n" % (i, t) for i, t in enumerate(TEXTS)))
        return [None, NUL, "line 4 is not valid UTF-8.", "line 5 is not valid UTF-8.", None]
    if fmt == "jsonl":  # raw bytes, and the escapes JSON allows: \u0000 and a lone \udc80, in a value or a key
        path.write_bytes(b'{"id": 0, "text": "what a lovely day"}\n{"id": 1, "text": "nul \\u0000 here"}\n'
                         b'{"id": 2, "text": "caf\xe9 was awful"}\n{"id": 3, "text": "lone \\udc80 surrogate"}\n'
                         b'{"id": 4, "text": "a fine end", "\\ud800": 1}\n')
        lone = "line {} has a lone surrogate (U+{}), which is not a character."
        return [None, NUL, "line 3 is not valid UTF-8.", lone.format(4, "DC80"), lone.format(5, "D800")]
    texts = pa.array(TEXTS, type=pa.binary()).view(pa.string())  # a string column a writer did not check
    pq.write_table(pa.table({"id": list(range(len(TEXTS))), "text": texts}), path)
    return [None, NUL, "line 3 is not valid UTF-8.", "line 4 is not valid UTF-8.", None]


def output_rows(path, fmt: str) -> list[dict]:
    if fmt == "csv":
        with open(path, encoding="utf-8", newline="") as handle:
            return [{**row, "label": row["label"] or None, "error": row["error"] or None}
                    for row in csv.DictReader(handle)]
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("fmt", FORMATS)
def test_nul_lone_surrogates_and_bytes_that_are_not_utf8_are_flagged_rows(tmp_path, predictor, fmt):
    """Each keeps its row and place, with the reason; no row is dropped, no text changes silently."""
    errors = odd_input(fmt, tmp_path / f"odd.{fmt}")
    summary = batch.run(str(tmp_path / f"odd.{fmt}"), str(tmp_path / f"out.{fmt}"), predictor=predictor)
    assert (summary["rows_in"], summary["rows_out"], summary["rows_flagged"]) == (5, 5, sum(map(bool, errors)))
    out = output_rows(tmp_path / f"out.{fmt}", fmt)
    assert [row["error"] for row in out] == errors
    assert [str(row["id"]) for row in out] == ["0", "1", "2", "3", "4"]
    assert [row["label"] is not None for row in out] == [error is None for error in errors]
    assert out[1]["text"] == "nul \x00 here" and out[2]["text"] == "caf\ufffd was awful"  # shown, never predicted


@pytest.mark.parametrize("fmt_in,fmt_out", [("csv", "parquet"), ("parquet", "csv"), ("jsonl", "parquet"),
                                            ("parquet", "jsonl"), ("jsonl", "csv")])
def test_any_input_format_to_any_output_format(tmp_path, tweets, predictor, fmt_in, fmt_out):
    source = tmp_path / f"tweets.{fmt_in}"
    written = write_input(tweets, fmt_in, source)
    target = tmp_path / f"predicted.{fmt_out}"
    summary = batch.run(str(source), str(target), chunk_size=1500, predictor=predictor)
    assert (summary["format"], summary["output_format"]) == (fmt_in, fmt_out)
    assert summary["rows_in"] == summary["rows_out"] == 4200 and summary["rows_flagged"] == len(bad_rows(fmt_in))
    out = read_output(target, fmt_out)
    check_output(out, written, fmt_in, predictor)
    if fmt_out == "parquet" and fmt_in == "jsonl":  # a JSON value that is not a string keeps its JSON text
        assert out.loc[40, "text"] == "12345" and out["rating"].iloc[0] == str(written["rating"].iloc[0])


@pytest.mark.parametrize("fmt_in,fmt_out", [("csv", "csv"), ("parquet", "parquet"), ("jsonl", "jsonl"),
                                            ("csv", "parquet"), ("parquet", "jsonl"), ("jsonl", "csv")])
def test_the_inputs_own_label_and_error_columns_are_kept_under_other_names(
        tmp_path, tweets, predictor, fmt_in, fmt_out):
    """A gold `label` (and an `error`, a `file_label`) was dropped for the predictions' columns, with only a log
    line to say so; now renamed as the web UI does: `file_<name>`, prefixed again while the name is taken."""
    texts = tweets["text"].iloc[:3].tolist()
    given = pd.DataFrame({"text": texts, "label": ["gold-a", "gold-b", "gold-c"], "error": ["e1", None, "e3"],
                          "file_label": ["x", "y", "z"]})
    source = tmp_path / f"in.{fmt_in}"
    {"csv": lambda: given.to_csv(source, index=False), "parquet": lambda: given.to_parquet(source, index=False),
     "jsonl": lambda: given.to_json(source, orient="records", lines=True)}[fmt_in]()
    target = tmp_path / f"out.{fmt_out}"
    batch.run(str(source), str(target), predictor=predictor)
    out = read_output(target, fmt_out)
    assert out.columns.tolist() == ["text", "file_file_label", "file_error", "file_label", "label", "p_negative",
                                    "p_neutral", "p_positive", "error"]
    assert out["file_file_label"].tolist() == ["gold-a", "gold-b", "gold-c"]
    assert [v if isinstance(v, str) and v else None for v in out["file_error"]] == ["e1", None, "e3"]
    assert out["file_label"].tolist() == ["x", "y", "z"]
    assert out["label"].tolist() == [p["label"] for p in predictor.predict(texts)]
    assert out["error"].isna().all()


def test_renamed_columns_lose_no_cell_of_a_later_json_line_nor_break_pandas_metadata(tmp_path, tweets, predictor):
    """A later JSON line holding both `label` and `file_label` lost one of them (both were given one name); a
    pandas Int64 `label` renamed in Parquet kept pandas' metadata for `label`, and reading the output failed."""
    texts = tweets["text"].iloc[:1002].tolist()
    lines = [json.dumps({"text": t, "label": "pos"}) for t in texts[:1001]]
    lines.append(json.dumps({"text": texts[1001], "label": "neg", "file_label": "gold2"}))
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    batch.run(str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), predictor=predictor)
    last = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[-1])
    assert (last["file_label"], last["file_file_label"]) == ("neg", "gold2")

    pd.DataFrame({"text": texts[:3], "label": pd.array([1, None, 3], dtype="Int64")}).to_parquet(tmp_path / "in.pq")
    batch.run(str(tmp_path / "in.pq"), str(tmp_path / "out.parquet"), predictor=predictor)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["file_label"].tolist()[0::2] == [1, 3] and pd.isna(out["file_label"].iloc[1])
    assert out["label"].tolist() == [p["label"] for p in predictor.predict(texts[:3])]


def test_the_bundled_tsv_and_a_plain_text_file_are_read_by_content(tmp_path, raw_path, predictor):
    lines = raw_path.read_text(encoding="utf-8").splitlines()[:300]
    plain = tmp_path / "texts.txt"
    plain.write_text("".join(line.split("\t", 2)[2] + "\n" for line in lines), encoding="utf-8")
    tsv = tmp_path / "tweets.txt"
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for source, fmt, columns in ((plain, "txt", ["text"]), (tsv, "tsv", ["id", "rating", "text"])):
        summary = batch.run(str(source), str(tmp_path / f"out-{fmt}"), predictor=predictor)
        assert summary["output"] == str(tmp_path / f"out-{fmt}" / "part-00000-of-00001.csv")
        assert (summary["format"], summary["rows_out"], summary["rows_flagged"]) == (fmt, 300, 0)
        out = read_output(summary["output"], "csv")
        assert list(out.columns) == columns + batch.ADDED_COLUMNS
        expected = predictor.predict_proba([line.split("\t", 2)[2] for line in lines])
        np.testing.assert_allclose(out[PROBA].to_numpy(dtype=float), expected, rtol=1e-12, atol=0)


def test_a_tsv_with_its_own_header_is_read_by_its_column_names(tmp_path, raw_path, predictor):
    """A user's TSV names its columns on its first line; read as the archive's headerless layout, every row was
    flagged "wrong number of fields". Its rows are predicted; one with a stray tab is flagged, not shifted."""
    lines = raw_path.read_text(encoding="utf-8").splitlines()[:200]
    texts = [line.split("\t", 2)[2].replace("\t", " ") for line in lines]
    rows = [f"{i}\t{text}\ten" for i, text in enumerate(texts)]
    rows[7] = "7\tone\ttab too many\ten"
    source = tmp_path / "mine.tsv"
    source.write_text("tweet_id\ttweet\tlang\n" + "\n".join(rows) + "\n", encoding="utf-8")
    summary = batch.run(str(source), str(tmp_path / "out.csv"), text_column="tweet", predictor=predictor)
    assert (summary["rows_out"], summary["rows_flagged"]) == (200, 1)
    out = read_output(summary["output"], "csv")
    assert list(out.columns) == ["tweet_id", "tweet", "lang"] + batch.ADDED_COLUMNS
    assert out.loc[7, "error"] == "line 9: wrong number of fields: expected 3 tab-separated, found 4."
    good = [i for i in range(200) if i != 7]
    assert out["tweet_id"].astype(int).tolist() == list(range(200)) and out.loc[good, "lang"].eq("en").all()
    expected = predictor.predict_proba([texts[i] for i in good])
    np.testing.assert_allclose(out.loc[good, PROBA].to_numpy(dtype=float), expected, rtol=1e-12, atol=0)


def test_parquet_text_stored_as_binary_is_read_as_text(tmp_path, raw_path, predictor):
    """Some writers store text as binary without the UTF8 annotation: it was "b'...'" in the output and every row
    flagged "text must be a string, got bytes". A cell that is not UTF-8 flags its row alone; a column of other
    bytes (an image) is no text: it flags nothing and is written back as it was."""
    texts = [line.split("\t", 2)[2] for line in raw_path.read_text(encoding="utf-8").splitlines()[:100]]
    cells = [t.encode() for t in texts]
    cells[4] = "café au lait".encode("latin-1")
    images = [b"\x89PNG\r\n\x1a\n\xff" + bytes([i]) for i in range(100)]
    source = tmp_path / "binary.parquet"
    pq.write_table(pa.table({"text": pa.array(cells, pa.binary()), "thumbnail": pa.array(images, pa.binary())}),
                   source)
    summary = batch.run(str(source), str(tmp_path / "out.jsonl"), predictor=predictor)
    assert (summary["rows_out"], summary["rows_flagged"]) == (100, 1)
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert out[4]["text"] == "caf\ufffd au lait" and out[4]["error"] == "line 5 is not valid UTF-8."
    good = [i for i in range(100) if i != 4]
    assert [out[i]["text"] for i in good] == [texts[i] for i in good]
    expected = predictor.predict_proba([texts[i] for i in good])
    np.testing.assert_allclose([[out[i][p] for p in PROBA] for i in good], expected, rtol=1e-12, atol=0)
    summary = batch.run(str(source), str(tmp_path / "out.parquet"), predictor=predictor)
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.schema.field("thumbnail").type == pa.binary() and written["thumbnail"].to_pylist() == images
    assert written["text"].to_pylist()[:4] == cells[:4]
