"""SageMaker's /invocations: JSON, JSON lines and CSV in; answers in kind; 415 for anything else."""
from __future__ import annotations

import orjson
import pytest

from tweetops.model import LABELS
from tweetops.serving.inference import Limits
from tweetops.serving.sagemaker import parse_invocation

USE = "use one of application/json, application/jsonlines, text/csv."
NOT_INSTANCES = 'the JSON body must be {"instances": [...]} or a list of instances.'
BLANK_FIX = "every line is a record, so remove it or put a text on it."


@pytest.fixture
def texts(tweets) -> list[str]:
    return [t for t in tweets[:40] if "\n" not in t and "\r" not in t][:10]


@pytest.fixture
def expected(service, texts) -> list[str]:
    return [p["label"] for p in service.predictor.predict(texts)]


def _labels_from_json(response) -> list[str]:
    return [p["label"] for p in response.json()["predictions"]]


def test_json_instances_of_strings(client, texts, expected):
    response = client.post("/invocations", json={"instances": texts})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert _labels_from_json(response) == expected


def test_json_bare_list_of_objects(client, texts, expected):
    response = client.post("/invocations", json=[{"text": t} for t in texts])
    assert _labels_from_json(response) == expected


def test_jsonlines_in_and_out(client, texts, expected):
    body = "\n".join(orjson.dumps(t if i % 2 else {"text": t}).decode() for i, t in enumerate(texts)) + "\n"
    response = client.post("/invocations", content=body, headers={"content-type": "application/jsonlines"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jsonlines"
    lines = response.text.splitlines()
    assert [orjson.loads(line)["label"] for line in lines] == expected


def test_csv_one_text_per_line(client, texts, expected):
    body = "\n".join(f'"{t.replace(chr(34), chr(34) * 2)}"' if i % 2 else t for i, t in enumerate(texts))
    response = client.post("/invocations", content=body, headers={"content-type": "text/csv; charset=utf-8"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = [line.split(",") for line in response.text.splitlines()]
    assert [row[0] for row in rows] == expected
    assert all(len(row) == 1 + len(LABELS) and sum(map(float, row[1:])) == pytest.approx(1) for row in rows)


def test_accept_chooses_the_answer_format(client, texts, expected):
    response = client.post("/invocations", json={"instances": texts}, headers={"accept": "application/jsonlines"})
    assert [orjson.loads(line)["label"] for line in response.text.splitlines()] == expected


@pytest.mark.parametrize("content_type", ["application/xml", "text/plain; charset=utf-8"])
def test_other_content_types_are_415(client, content_type):
    response = client.post("/invocations", content=b"<text>hi</text>", headers={"content-type": content_type})
    kind = content_type.split(";")[0]
    assert (response.status_code, response.json()) == (415, {"detail": f"Content-Type {kind} is not supported; {USE}"})


@pytest.mark.parametrize("accept, answered", [
    ("application/json, text/plain, */*", "application/json"),  # axios's default
    ("text/csv, */*", "text/csv"),
    ("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", "application/jsonlines"),  # Java's: the request's own
    ("text/csv;q=0, application/json", "application/json"),  # never a type the client refused
    ("application/xml;q=1, text/csv;q=0.5", "text/csv"),
    ("text/*", "text/csv"),
])
def test_an_accept_list_gets_the_first_type_it_prefers_that_is_written(client, texts, expected, accept, answered):
    """A list was read as one type and refused with a 406, and q=0 was ignored (found by a hostile review)."""
    body = "".join(orjson.dumps(t).decode() + "\n" for t in texts)
    response = client.post("/invocations", content=body.encode(),
                           headers={"content-type": "application/jsonlines", "accept": accept})
    assert response.status_code == 200 and response.headers["content-type"].split(";")[0] == answered
    labels = {"application/json": lambda r: [p["label"] for p in r.json()["predictions"]],
              "application/jsonlines": lambda r: [orjson.loads(line)["label"] for line in r.text.splitlines()],
              "text/csv": lambda r: [line.split(",")[0] for line in r.text.splitlines()]}[answered]
    assert labels(response) == expected


def test_an_unwritable_accept_type_is_406(client, texts):
    response = client.post("/invocations", json={"instances": texts}, headers={"accept": "application/xml"})
    assert (response.status_code, response.json()) == (406, {"detail": f"Accept application/xml is not supported; "
                                                                       f"{USE}"})


@pytest.mark.parametrize("content_type, body, loc, message", [
    ("application/json", b"{oops", [], "the body is not valid JSON (Expecting property name enclosed in double "
                                       'quotes: line 1 column 2 (char 1)); send {"instances": [...]} or a list.'),
    ("application/json", b'{"inputs": ["a"]}', [],
     'a JSON object body needs an "instances" list; send {"instances": ["text", ...]}.'),
    ("application/json", b'"just a string"', [], NOT_INSTANCES),
    ("application/json", b'{"instances": "a"}', [], NOT_INSTANCES),
    ("application/json", b'{"instances": []}', ["instances"], "instances is empty; send at least one text."),
    ("application/json", b'{"instances": [{"body": "x"}]}', ["instances", 0],
     'instances[0]: an object instance needs a "text" field.'),
    ("application/json", b'[{"text": "ok"}, {"body": "x"}]', [1],
     'instances[1]: an object instance needs a "text" field.'),
    ("application/json", b'{"instances": ["ok", 7]}', ["instances", 1],
     "instances[1]: text must be a string, got int."),
    ("application/json", b'["ok", " "]', [1], "instances[1]: text is empty; send the tweet's words."),
    ("application/json", b'{"instances": ["a\\u0000"]}', ["instances", 0],
     "instances[0]: text has a NUL character (U+0000) at character 1; remove it."),
    ("application/jsonlines", b'"ok"\nnot json\n', [],
     'line 2 is not valid JSON; send one string or {"text": ...} a line.'),
    ("application/jsonlines", b'{"id": 1}\n', [], 'line 1: an object instance needs a "text" field.'),
    ("application/jsonlines", b'"ok"\n"\\ud800"\n', [],
     'line 2 has a lone surrogate (U+D800), which is not a character; send one string or {"text": ...} a line.'),
    ("application/jsonlines", b'"ok"\n""\n', [], "line 2: text is empty; send the tweet's words."),
    # A blank line is a record (it was skipped, and every answer after it matched the record before it).
    ("application/jsonlines", b'"ok"\n\n"fine"\n', [], f"line 2 is blank; {BLANK_FIX}"),
    ("text/csv", b"ok\n   \nfine\n", [], f"line 2 is blank; {BLANK_FIX}"),
    ("text/csv", b"ok\r\nfine\r\n\r\n", [], f"line 3 is blank; {BLANK_FIX}"),
    ("text/csv", b"\n", [], f"line 1 is blank; {BLANK_FIX}"),
    ("text/csv", b"", [], "the body is empty; send at least one text."),
    ("text/csv", b"fine\n\xff\xfe\n", [], "line 2 is not valid UTF-8; send UTF-8 text, one text per record."),
    ("text/csv", b"fine\n\x00\x01", [], "the body looks binary, not CSV text; send UTF-8 text, one text per record."),
    ("text/csv", b"a\x00b\n", [], "line 1: text has a NUL character (U+0000) at character 1; remove it."),
])
def test_bad_invocations_are_422_with_a_clear_message(client, content_type, body, loc, message):
    response = client.post("/invocations", content=body, headers={"content-type": content_type})
    kind = "json_invalid" if message.startswith("the body is not valid JSON") else "value_error"
    assert (response.status_code, response.json()) == (
        422, {"detail": [{"loc": ["body", *loc], "msg": message, "type": kind}]})


@pytest.mark.parametrize("record, text", [
    ('"she said ""no"", again"', 'she said "no", again'),  # one well-formed quoted field: unquoted
    ('"line one\nline two"', "line one\nline two"),  # a quoted line break stays in its one text
    ('"line one\n\nline three"', "line one\n\nline three"),  # and a blank line inside quotes is no record
    ("plain, with a comma", "plain, with a comma"),
    ('"a" and "b"', '"a" and "b"'),  # not one well-formed field: the record as sent
    ('a,"b,c"', 'a,"b,c"'),
    ('"a"b', '"a"b'),
    ('he said "hi"', 'he said "hi"'),
])
def test_a_csv_record_is_one_text_exactly_as_meant(record, text):
    for ending in ("\n", "\r\n", ""):
        body = f"first\n{record}{ending}last\n".encode() if ending else f"first\n{record}".encode()
        expected = ["first", text, "last"] if ending else ["first", text]
        assert parse_invocation(body, "text/csv", Limits.from_environment()) == expected


@pytest.mark.parametrize("body, texts", [
    (b"first\rsecond\r", ["first", "second"]),  # old Mac line endings
    (b'"a, b"\r"c"\r', ["a, b", "c"]),
    (b'"multi\r\nline"\r\nok', ["multi\r\nline", "ok"]),
])
def test_every_line_ending_ends_a_record(body, texts):
    assert parse_invocation(body, "text/csv", Limits.from_environment()) == texts


@pytest.mark.parametrize("body, message", [
    (b'"unterminated\nx\nx\nx\n', "the body is not valid CSV: the quote that opens line 1 is never closed"),
    (b'a\n"b\nc\n', "the body is not valid CSV: the quote that opens line 2 is never closed"),
    (b'""\nreal\n', "line 1: text is empty"),  # an empty quoted record is a text, and an empty one
])
def test_a_record_is_never_swallowed_or_dropped(client, body, message):
    response = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code in (400, 422) and message in response.text, response.text


def test_csv_is_read_by_the_csv_module_one_text_per_record(client, service):
    """Quoted line breaks and quotes stay in their text; unquoted commas too (the text is the whole record)."""
    texts = ['she said "no", again', "line one\nline two", "plain, with a comma", '"a" and "b"']
    body = '"she said ""no"", again"\r\n"line one\nline two"\nplain, with a comma\n"""a"" and ""b"""\n'
    response = client.post("/invocations", content=body.encode(), headers={"content-type": "text/csv"})
    assert response.status_code == 200
    expected = [p["label"] for p in service.predictor.predict(texts)]
    assert [line.split(",")[0] for line in response.text.splitlines()] == expected


def test_a_body_holds_as_many_texts_as_fit_in_its_size_limit(client, service, tweets):
    """SageMaker batch transform's MultiRecord strategy packs records up to MaxPayloadInMB (1 MB by default), 1,500
    tweets in 110 KB: the 1,000-text limit of /predict/batch refused every such mini-batch."""
    texts = [t for t in tweets if "\n" not in t and "\r" not in t and '"' not in t][:1500]
    body = "".join(f"{t}\n" for t in texts).encode()
    assert len(texts) == 1500 and len(body) < 1024 * 1024
    response = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    expected = [p["label"] for p in service.predictor.predict(texts)]
    assert [line.split(",")[0] for line in response.text.splitlines()] == expected
    too_big = client.post("/invocations", content=body * 10, headers={"content-type": "text/csv"})
    assert too_big.status_code == 413


@pytest.mark.parametrize("content_type, body, problems", [
    ("application/json", b'{"instances": ["ok", {"body": 1}, " ", "fine", 7]}', [
        (["instances", 1], 'instances[1]: an object instance needs a "text" field.'),
        (["instances", 2], "instances[2]: text is empty; send the tweet's words."),
        (["instances", 4], "instances[4]: text must be a string, got int.")]),
    ("application/jsonlines", b'"ok"\nnot json\n""\n{"id": 1}\n"fine"\n', [
        ([], 'line 2 is not valid JSON; send one string or {"text": ...} a line.'),
        ([], "line 3: text is empty; send the tweet's words."),
        ([], 'line 4: an object instance needs a "text" field.')]),
    ("text/csv", b"\n\nok\n" + "x".encode() * 1001 + b"\n", [
        ([], f"line 1 is blank; {BLANK_FIX}"), ([], f"line 2 is blank; {BLANK_FIX}"),
        ([], "line 4: text has 1,001 characters; the limit is 1,000.")]),
])
def test_every_bad_instance_is_named_in_one_422_in_body_order(client, content_type, body, problems):
    """A batch transform record set with three bad records took three failed jobs to find them: the first was
    the only one named."""
    response = client.post("/invocations", content=body, headers={"content-type": content_type})
    assert (response.status_code, response.json()) == (
        422, {"detail": [{"loc": ["body", *loc], "msg": msg, "type": "value_error"} for loc, msg in problems]})


def test_a_body_of_many_bad_records_lists_the_first_hundred_then_that_there_are_more(client):
    response = client.post("/invocations", content=b"ok\n" + b"\n" * 150 + b"fine\n",
                           headers={"content-type": "text/csv"})
    detail = response.json()["detail"]
    assert response.status_code == 422 and len(detail) == 101
    assert [item["msg"] for item in detail[:100]] == [f"line {n} is blank; {BLANK_FIX}" for n in range(2, 102)]
    assert detail[100] == {"loc": ["body"], "msg": "the body has more bad items; only the first 100 are listed.",
                           "type": "value_error"}
