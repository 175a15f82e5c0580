"""The UI's HTTP client against a real `tweetops serve`: answers, chunking, history paging, error sentences."""
from __future__ import annotations

import csv
import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from tests.servers.http import answer_json
from tests.servers.ports import free_port, wait_until
from tests.ui.conftest import NON_ASCII_KEY
from ui.client import MAX_BATCH, MAX_CHUNK_BYTES, ApiError, Client, chunks

LABELS = {"negative", "neutral", "positive"}


@pytest.fixture(scope="module")
def texts(raw_path) -> list[str]:
    frame = pd.read_csv(raw_path, sep="\t", header=None, names=["id", "rating", "text"], quoting=csv.QUOTE_NONE)
    return frame["text"].astype(str).tolist()


def test_one_tweet_gets_a_label_probabilities_and_the_served_model_version(api, trained_bundle, texts):
    result = api.predict(texts[0])
    assert result["label"] in LABELS
    assert set(result["probabilities"]) == LABELS
    assert result["label"] == max(result["probabilities"], key=result["probabilities"].get)
    assert result["model_version"] == json.loads((trained_bundle / "manifest.json").read_text())["run_id"]


def test_a_batch_is_sent_in_chunks_in_order_and_reports_progress(api, texts):
    seen = []
    chunked = api.predict_batch(texts[:600], progress=lambda done, total: seen.append((done, total)), max_items=250)
    assert seen == [(250, 600), (500, 600), (600, 600)]
    whole = api.predict_batch(texts[:600])
    assert [p["label"] for p in chunked.predictions] == [p["label"] for p in whole.predictions]
    assert chunked.model_version == whole.model_version


def test_chunks_stay_under_the_apis_item_and_body_limits_so_long_texts_are_accepted(api, texts):
    # Real tweets, accented and repeated to 900 characters: JSON escapes each "é" as 6 bytes, so 1,000 of them
    # (the item limit) are over the API's 1 MB body limit.
    long_texts = [((t + " ") * (900 // len(t) + 1))[:900].replace("e", "é") for t in texts[:MAX_BATCH]]
    parts = chunks(long_texts)
    assert len(parts) == 2 and sum(map(len, parts)) == MAX_BATCH
    assert all(len(json.dumps({"texts": part})) < MAX_CHUNK_BYTES for part in parts)
    assert len(chunks(texts[:2500])) == 3  # short tweets: the 1,000-item limit decides
    result = api.predict_batch(long_texts)
    assert len(result.predictions) == MAX_BATCH
    with pytest.raises(ApiError, match="^The request is over the API's size limit; send fewer or shorter texts.$"):
        api.predict_batch(long_texts, max_bytes=10**8)  # all in one body


def test_a_refused_text_is_set_aside_by_its_position_and_the_rest_classified(api, texts):
    """A text the API refuses, in a later chunk, is named by its position in the whole list with the API's sentence;
    its chunk is sent again without it, so every other text gets the prediction it gets alone."""
    batch = texts[:1500]
    batch[1234], batch[1300] = "x" * 1001, "a\0b"
    result = api.predict_batch(batch)
    assert result.refused == [(1234, "Text has 1,001 characters; the limit is 1,000."),
                              (1300, "Text has a NUL character (U+0000) at character 1; remove it.")]
    assert result.accepted == [i for i in range(1500) if i not in (1234, 1300)]
    alone = api.predict_batch([batch[i] for i in result.accepted])
    assert [p["label"] for p in result.predictions] == [p["label"] for p in alone.predictions]
    assert alone.refused == [] and alone.accepted == list(range(1498))


def test_more_refused_texts_than_one_answer_lists_are_all_set_aside(api, texts):
    """The API lists at most 100 bad texts a request; the client sends the rest again until none is refused."""
    batch = [text if i % 5 else text + "\0" for i, text in enumerate(texts[:600])]
    result = api.predict_batch(batch)
    assert [i for i, _ in result.refused] == list(range(0, 600, 5))
    assert {sentence.split(" at character")[0] for _, sentence in result.refused} == {
        "Text has a NUL character (U+0000)"}
    assert result.accepted == [i for i in range(600) if i % 5] and len(result.predictions) == 480


def test_a_text_over_the_limit_gets_the_apis_sentence(api):
    with pytest.raises(ApiError, match="^Text has 1,001 characters; the limit is 1,000.$"):
        api.predict("y" * 1001)


def test_history_pages_past_the_apis_page_size_with_filters(api, texts):
    # Counted from a moment before the batch: the history ships a request's records in batches of 500, and
    # earlier tests' records may still be on their way, so a total alone could be reached too soon.
    started = datetime.datetime.now(datetime.timezone.utc).isoformat()
    api.predict_batch(texts[:1100])
    wait_until(lambda: api.predictions(since=started, limit=1)["total"] == 1100, timeout=30, what="history records")
    items, total = api.recent_predictions(1050)
    assert len(items) == 1050 and total >= 1100
    assert len({item["id"] for item in items}) == 1050
    times = [item["created_at"] for item in items]
    assert times == sorted(times, reverse=True)  # newest first, across the two pages
    negative, negative_total = api.recent_predictions(5000, label="negative")
    assert negative and len(negative) == negative_total and {item["label"] for item in negative} == {"negative"}
    tomorrow = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).isoformat()
    assert api.recent_predictions(10, since=tomorrow) == ([], 0)


@pytest.mark.parametrize("key, message", [
    ("not-the-key", "The API refused the request: the API key is not valid. Set TWEETOPS_API_KEY to a valid key "
                    "and restart the UI."),
    (None, "The API refused the request: an API key is required: send it as X-API-Key or Authorization: Bearer <key>. "
           "Set TWEETOPS_API_KEY to a valid key and restart the UI."),
])
def test_a_wrong_or_missing_key_says_which_setting_to_fix(api_server, key, message):
    client = Client(api_server.url, key)
    assert client.health()["status"] == "ok"  # /health is open: the UI can say the API is up
    with pytest.raises(ApiError) as caught:
        client.model()
    assert str(caught.value) == message


def test_a_non_ascii_key_reaches_the_api_as_utf8_and_passes(api_server, trained_bundle):
    assert Client(api_server.url, NON_ASCII_KEY).model()["run_id"] == trained_bundle.name


def test_an_api_that_is_down_or_not_tweetops_gets_a_sentence_naming_the_url(http_folder):
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApiError, match=f"^Cannot reach the API at {down}; check that it is running and that API_URL "
                                       "points to it.$"):
        Client(down).predict("hello")
    folder, url = http_folder
    (folder / "health").write_text("<html>not an API</html>")
    with pytest.raises(ApiError, match="did not answer with JSON; check that API_URL points to the tweetops API.$"):
        Client(url).health()
    with pytest.raises(ApiError, match="has no such route; check that API_URL points to the tweetops API.$"):
        Client(url).model()


# Blank to the eye, each refused by the API; and texts it reads, invisible characters around them included.
INVISIBLE = ["", " \t\n", "\u200b", "\u3164", "\ufe0f", "\u2800", "\u00a0\u200b\u2060\ufeff", "\u034f\u115f"]
VISIBLE = ["ok", "\u200bgreat day\u200b", "\u06dd", "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
           "\u05e9\u05dc\u05d5\u05dd\u200f", "."]


def test_the_text_rule_sets_aside_exactly_the_texts_the_api_refuses_as_blank(api):
    has_text = api.text_rule()
    for text in INVISIBLE:
        assert not has_text(text)
        with pytest.raises(ApiError, match="^Text is empty"):
            api.predict(text)
    for text in VISIBLE:
        assert has_text(text)
        assert api.predict(text)["label"] in LABELS
    assert has_text("hi\x00")  # sent, so the API's own sentence names the NUL
    with pytest.raises(ApiError, match="NUL"):
        api.predict("hi\x00")


def test_without_the_apis_rule_the_text_rule_falls_back_to_whitespace(http_folder):
    has_text = Client(http_folder[1]).text_rule()  # a server with no /openapi.json
    assert not has_text(" \t") and has_text("\u200b") and has_text("ok")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_a_bad_api_timeout_is_one_sentence(monkeypatch, value):
    """It was a raw ValueError from float() or from requests in the page (found by a hostile review)."""
    monkeypatch.setenv("API_TIMEOUT", value)
    with pytest.raises(ApiError, match=f"^API_TIMEOUT must be a positive number of seconds, got '{value}'; fix it "
                                       "and restart the UI.$"):
        Client.from_env()
    monkeypatch.setenv("API_TIMEOUT", "2.5")
    assert Client.from_env().timeout == 2.5


@pytest.mark.parametrize("detail, said, indexes", [
    ([{"loc": 5, "msg": "n"}], "N", [None]),  # a loc that is not a list: no row to name
    ([{"loc": {"a": 1}, "msg": "n"}, {"loc": ["body", "texts", 3], "msg": "texts[3]: bad"}], "N", [None, 3]),
    (["x", {"loc": ["body", "texts", True], "msg": "m"}], "M", [None]),  # a bool is no index
    ([{"loc": ["body"]}], "The API answered with status 422; see its log.", [None]),
])
def test_a_malformed_422_from_another_server_is_still_one_sentence(detail, said, indexes):
    """What a server that is not tweetops' (or a proxy) may answer: read as far as it makes sense, never a crash."""
    refused = Client("http://127.0.0.1:9")._problem(422, {"detail": detail})
    assert str(refused) == said and [e.index for e in refused.each()] == indexes


class _Misbehaving(BaseHTTPRequestHandler):
    """A stand-in for a server that is not tweetops' API, or a broken proxy: the real API cannot be made to answer
    like this, so this one does (its answers are the class's `answers`, one per request, in order)."""

    answers: list = []

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        answer_json(self, *self.answers.pop(0))

    def log_message(self, *args):
        pass


def _refusal(i: int, msg: str = "bad") -> dict:
    return {"loc": ["body", "texts", i], "msg": msg, "type": "value_error"}


@pytest.mark.parametrize("answers, outcome", [
    # a text named twice is one refused row, with the first sentence
    ([(422, {"detail": [_refusal(1, "first"), _refusal(1, "second")]}),
      (200, {"predictions": [{"label": "x"}] * 2, "model_version": "v"})], [(1, "First")]),
    # a first item that names no text does not hide the ones that do
    ([(422, {"detail": [{"loc": ["body", "texts"], "msg": "more"}, _refusal(2)]}),
      (200, {"predictions": [{"label": "x"}] * 2, "model_version": "v"})], [(2, "Bad")]),
    # one prediction too few, or no list at all: rows would get other rows' labels
    ([(200, {"predictions": [{"label": "x"}] * 2, "model_version": "v"})], "one prediction each"),
    ([(200, {"model_version": "v"})], "one prediction each"),
    ([(200, [])], "one prediction each"),
])
def test_a_misbehaving_server_never_puts_a_label_on_the_wrong_row(answers, outcome):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Misbehaving)
    _Misbehaving.answers = list(answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = Client(f"http://127.0.0.1:{server.server_address[1]}")
        if isinstance(outcome, str):
            with pytest.raises(ApiError, match=outcome):
                api.predict_batch(["a", "b", "c"])
        else:
            result = api.predict_batch(["a", "b", "c"])
            assert result.refused == outcome and len(result.accepted) == len(result.predictions) == 2
    finally:
        server.shutdown()
        server.server_close()
