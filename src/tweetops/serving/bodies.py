"""Reading request bodies: the media type of a header, and JSON with its own sentence for every way a body
cannot be read (empty, not UTF-8, not JSON, nested too deeply, a number too long), so /predict, /predict/batch
and /invocations say the same."""
from __future__ import annotations

import json
import sys

from tweetops.serving.inference import InputError

JSON = "application/json"
UNREADABLE = "json_invalid"  # FastAPI's error type for a body it cannot parse


class UnsupportedMediaType(InputError):
    """A Content-Type the route does not read (a 415)."""


def media_type(header: str | None) -> str:
    """The bare, lower-case media type of a Content-Type or Accept value ('' when absent)."""
    return (header or "").split(";", 1)[0].strip().lower()


def is_json(kind: str) -> bool:
    """application/json, or a JSON-based type such as application/problem+json (as FastAPI reads them)."""
    return kind == JSON or (kind.startswith("application/") and kind.endswith("+json"))


def unsupported(kind: str, accepted: tuple[str, ...]) -> UnsupportedMediaType:
    what = f"Content-Type {kind}" if kind else "a body without a Content-Type"
    use = accepted[0] if len(accepted) == 1 else f"one of {', '.join(accepted)}"
    return UnsupportedMediaType(f"{what} is not supported; use {use}.")


def read_json(body: bytes, send: str):
    """The JSON value of `body`, or an InputError saying why it cannot be read, then "; send <send>."."""
    if not body.strip():
        raise InputError(f"the body is empty; send {send}.", kind="missing")
    try:  # RFC 8259: UTF-8, and a parser may ignore a leading byte order mark
        return json.loads(body.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as exc:
        reason = f"the body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at position {exc.start:,})"
    except json.JSONDecodeError as exc:
        reason = f"the body is not valid JSON ({exc})"
    except RecursionError:  # the stdlib parser recurses once per nested array or object
        reason = "the body nests arrays or objects too deeply to read"
    except ValueError:  # the only other: an integer past Python's int-str limit (a denial-of-service guard)
        reason = f"the body has a number over {sys.get_int_max_str_digits():,} digits long"
    raise InputError(f"{reason}; send {send}.", kind=UNREADABLE)
