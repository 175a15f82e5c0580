"""SageMaker's container contract: /invocations payloads by content type, /execution-parameters.

Accepted bodies (one text per instance):
  application/json       {"instances": [...]} or a bare list; an instance is a string or {"text": ...}
  application/jsonlines  one instance per line (a JSON string or {"text": ...}), read by tweetops.io.tables
  text/csv               one text per record, no header, read by the csv module (tweetops.io.tables):
                         quote a text that holds line breaks; unquoted commas stay in the text
"""
from __future__ import annotations

import orjson

from tweetops.errors import TweetopsError
from tweetops.io.tables import at_line, open_table
from tweetops.serving.inference import InputError, Limits, validate_batch
from tweetops.settings import environment

JSON, JSONLINES, CSV = "application/json", "application/jsonlines", "text/csv"
CONTENT_TYPES = (JSON, JSONLINES, CSV)
ALIASES = {"application/jsonl": JSONLINES, "application/x-jsonlines": JSONLINES}


class UnsupportedMediaType(InputError):
    """A Content-Type /invocations does not read."""


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type or Accept value ('' when absent)."""
    value = (header or "").split(";", 1)[0].strip().lower()
    return ALIASES.get(value, value)


def _instance_text(instance, where: str):
    if isinstance(instance, dict):
        if "text" not in instance:
            raise InputError(f"{where}: an object instance needs a \"text\" field.")
        return instance["text"]
    return instance


def _json_instances(body: bytes) -> list:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON ({exc}); send {{\"instances\": [...]}} or a list.")
    if isinstance(payload, dict):
        if "instances" not in payload:
            raise InputError("a JSON object body needs an \"instances\" list; send {\"instances\": [\"text\", ...]}.")
        payload = payload["instances"]
    if not isinstance(payload, list):
        raise InputError("the JSON body must be {\"instances\": [...]} or a list of instances.")
    return payload


def _table_instances(body: bytes, fmt: str, hint: str) -> list:
    """The texts of a JSON lines or CSV body, through the same readers as files; a bad line is an InputError."""
    try:
        reader = open_table(body, fmt, "the body", columns=["text"], header=False)
    except TweetopsError as exc:  # what is wrong with the whole body; then what to send instead
        raise InputError(f"{str(exc).split('; ')[0]}; {hint}") from None
    instances = []
    for chunk in reader.chunks(size=1 << 30):
        for row, error, record in zip(chunk.rows, chunk.errors, chunk.native):
            if error:
                raise InputError(f"{at_line(error, row)}; {hint}")
            if "text" not in record:
                raise InputError(f"line {row}: an object instance needs a \"text\" field.")
            instances.append(record["text"])
    return instances


def parse_invocation(body: bytes, content_type: str | None, limits: Limits) -> list[str]:
    """The validated texts of an /invocations request, or an InputError saying what to fix."""
    kind = media_type(content_type) or JSON  # SageMaker clients may omit it; JSON is the default
    if kind == JSON:
        instances = _json_instances(body)
    elif kind == JSONLINES:
        return validate_batch(_table_instances(body, "jsonl", "send one string or {\"text\": ...} a line."),
                              limits)
    elif kind == CSV:
        return validate_batch(_table_instances(body, "csv", "send UTF-8 text, one text per record."), limits)
    else:
        raise UnsupportedMediaType(f"Content-Type {kind} is not supported; use one of {', '.join(CONTENT_TYPES)}.")
    texts = [_instance_text(instance, f"instances[{i}]") for i, instance in enumerate(instances)]
    return validate_batch(texts, limits)


def execution_parameters() -> dict:
    """What SageMaker batch transform should send us; SAGEMAKER_* variables override the defaults."""
    env = environment()
    return {"MaxConcurrentTransforms": env.max_concurrent_transforms or env.worker_count,
            "BatchStrategy": env.batch_strategy, "MaxPayloadInMB": env.max_payload_mb}
