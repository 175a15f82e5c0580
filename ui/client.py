"""The UI's HTTP client for the tweetops API: requests, timeouts, chunking and readable error sentences.

Plain Python (no Streamlit), so it is tested without a browser. The UI talks to the API over HTTP
only, so it works the same against a local server and a deployed one.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from typing import Callable

import requests

DEFAULT_URL = "http://127.0.0.1:8000"
MAX_BATCH = 1000  # texts per /predict/batch request: the API's limit
# Under the API's 1 MB body limit (MaxPayloadInMB), with room for JSON escaping of unusual characters.
MAX_CHUNK_BYTES = 700_000
HISTORY_PAGE = 1000  # GET /predictions answers at most 1,000 records a page


class ApiError(Exception):
    """Something the person using the UI can act on, as one sentence.

    `index` is set when the API refused a text of a batch: its position in the texts sent; `others` are the
    request's other refusals (the API names every bad text of a batch, in order).
    """

    def __init__(self, message: str, index: int | None = None):
        super().__init__(message)
        self.index = index
        self.others: list[ApiError] = []

    def each(self) -> list["ApiError"]:
        return [self, *self.others]


@dataclass
class BatchResult:
    """The predictions of the texts the API took (`accepted`: their positions in the texts sent, in order), and
    the position and the API's sentence of each text it refused."""

    predictions: list[dict]
    model_version: str
    accepted: list[int]
    refused: list[tuple[int, str]]


def chunks(texts: list[str], max_items: int = MAX_BATCH, max_bytes: int = MAX_CHUNK_BYTES) -> list[list[str]]:
    """Split texts into requests that stay under both the API's item limit and its body size limit."""
    out, current, size = [], [], 0
    for text in texts:
        cost = len(json.dumps(text)) + 2  # as requests sends it: escaped, ASCII, then ", "
        if current and (len(current) >= max_items or size + cost > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(text)
        size += cost
    if current:
        out.append(current)
    return out


class Client:
    """One API: base URL and optional key (sent as X-API-Key, never shown)."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if api_key:
            # As UTF-8 bytes, which the API compares keys as (requests would send a str as latin-1).
            self.session.headers["X-API-Key"] = api_key.encode()

    @classmethod
    def from_env(cls) -> "Client":
        """API_URL and TWEETOPS_API_KEY, as the issue asks; API_TIMEOUT in seconds."""
        raw = os.environ.get("API_TIMEOUT") or "30"
        try:
            timeout = float(raw)
        except ValueError:
            timeout = math.nan
        if not 0 < timeout < math.inf:  # nan too
            raise ApiError(f"API_TIMEOUT must be a positive number of seconds, got {raw!r}; fix it and restart the UI.")
        return cls(os.environ.get("API_URL") or DEFAULT_URL, os.environ.get("TWEETOPS_API_KEY") or None, timeout)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.exceptions.Timeout:
            raise ApiError(f"The API at {self.url} did not answer within {self.timeout:g} seconds; "
                           "try again, or send fewer texts at once.") from None
        except requests.exceptions.RequestException:
            raise ApiError(f"Cannot reach the API at {self.url}; check that it is running and that "
                           "API_URL points to it.") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.ok and isinstance(body, (dict, list)):
            return body
        if response.ok:
            raise ApiError(f"The server at {self.url} did not answer with JSON; check that API_URL points to "
                           "the tweetops API.")
        raise self._problem(response.status_code, body)

    def _problem(self, status: int, body) -> ApiError:
        """FastAPI's error bodies: {"detail": "sentence"}, or for a 422 {"detail": [{"loc", "msg", "type"}, ...]}."""
        detail = body.get("detail") if isinstance(body, dict) else None
        refusals = [_invalid(item) for item in detail if isinstance(item, dict) and item.get("msg")] \
            if isinstance(detail, list) else []
        if refusals:
            refusals[0].others = refusals[1:]
            return refusals[0]
        detail = detail if isinstance(detail, str) else None
        if status == 401:
            return ApiError(f"The API refused the request: {detail or 'an API key is required.'} "
                            "Set TWEETOPS_API_KEY to a valid key and restart the UI.")
        if status == 413:
            return ApiError("The request is over the API's size limit; send fewer or shorter texts.")
        if status == 404 and detail is None:
            return ApiError(f"The server at {self.url} has no such route; check that API_URL points to the tweetops "
                            "API.")
        if detail:
            return ApiError(f"The API could not answer: {detail}" if status >= 500 else _sentence(detail))
        return ApiError(f"The API answered with status {status}; see its log.")

    def health(self) -> dict:
        return self._call("GET", "/health")

    def model(self) -> dict:
        """The served bundle's manifest (run id, metrics, baselines, and model_card when present)."""
        return self._call("GET", "/model")

    def text_rule(self) -> Callable[[str], bool]:
        """Whether the API reads a text as a tweet, by the rule its /openapi.json states (whitespace, controls and
        invisible characters alone are no text), so the UI sets aside exactly the rows the API would refuse as
        blank. A text holding NUL counts as text: the API's own sentence names it. str.strip() where the API
        does not state the rule (an older server)."""
        try:
            schema = self._call("GET", "/openapi.json")["components"]["schemas"]["PredictRequest"]
            pattern = re.compile(schema["properties"]["text"]["pattern"])
        except (ApiError, KeyError, TypeError, re.error):
            return lambda text: bool(text.strip())
        return lambda text: "\x00" in text or pattern.fullmatch(text) is not None

    def predict(self, text: str) -> dict:
        return self._call("POST", "/predict", json={"text": text})

    def predict_batch(self, texts: list[str], progress: Callable[[int, int], None] | None = None,
                      max_items: int = MAX_BATCH, max_bytes: int = MAX_CHUNK_BYTES) -> BatchResult:
        """Every text's prediction, in order, sent in chunks; progress(done, total) after each chunk. A text the
        API refuses (too long, holding a NUL) is set aside with its sentence and the rest of its chunk sent
        again, so one bad row does not stop a file; any other refusal stops it (an ApiError)."""
        predictions, accepted, refused, version, done = [], [], [], "", 0
        for chunk in chunks(texts, max_items, max_bytes):
            positions = list(range(done, done + len(chunk)))
            while positions:
                try:
                    body = self._call("POST", "/predict/batch", json={"texts": [texts[i] for i in positions]})
                except ApiError as exc:
                    # The API counts from the first text sent; a refusal that names none is the request's own (a
                    # key, the API's limits), and stops the file.
                    named = {e.index: str(e) for e in reversed(exc.each())  # the first sentence of a text named twice
                             if e.index is not None and 0 <= e.index < len(positions)}
                    if not named:
                        raise
                    refused += [(positions[k], sentence) for k, sentence in sorted(named.items())]
                    positions = [p for k, p in enumerate(positions) if k not in named]
                    continue
                answered = body.get("predictions") if isinstance(body, dict) else None
                if not isinstance(answered, list) or len(answered) != len(positions):
                    raise ApiError(f"The server at {self.url} answered {len(positions):,} texts with something other "
                                   "than one prediction each; check that API_URL points to the tweetops API.")
                predictions += answered
                accepted += positions
                version = body.get("model_version", "")
                break
            done += len(chunk)
            if progress:
                progress(done, len(texts))
        return BatchResult(predictions, version, accepted, refused)

    def predictions(self, label: str | None = None, since: str | None = None, until: str | None = None,
                    limit: int = 100, offset: int = 0) -> dict:
        """One page of the prediction history, newest first; since/until are ISO times."""
        params = {"label": label, "since": since, "until": until, "limit": limit, "offset": offset}
        return self._call("GET", "/predictions", params={k: v for k, v in params.items() if v is not None})

    def recent_predictions(self, most: int, **filters) -> tuple[list[dict], int]:
        """Up to `most` records matching the filters, newest first, and how many match in all."""
        items, total = [], 0
        while len(items) < most:
            page = self.predictions(limit=min(HISTORY_PAGE, most - len(items)), offset=len(items), **filters)
            items.extend(page["items"])
            total = page["total"]
            if not page["items"] or len(items) >= total:
                break
        return items, total


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _invalid(error: dict) -> ApiError:
    """One of FastAPI's 422 errors. A batch's bad text is at loc ["body", "texts", i]: keep i, and drop the
    "texts[i]: " that names it in the sentence (the UI names the row instead)."""
    loc, message = error.get("loc"), str(error["msg"])
    index = loc[2] if isinstance(loc, list) and len(loc) == 3 and loc[:2] == ["body", "texts"] \
        and type(loc[2]) is int else None  # not a bool
    if index is not None:
        message = message.removeprefix(f"texts[{index}]: ")
    return ApiError(_sentence(message), index)
