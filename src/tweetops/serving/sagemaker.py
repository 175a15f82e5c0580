"""SageMaker's container contract: /invocations payloads by content type, /execution-parameters.

Accepted bodies (one text per instance):
  application/json       {"instances": [...]} or a bare list; an instance is a string or {"text": ...}
  application/jsonlines  one instance per line
  text/csv               one text per line (a line wrapped in double quotes is unquoted, "" -> ")
"""
from __future__ import annotations

import orjson

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


def _jsonlines_instances(body: bytes) -> list:
    instances = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            instances.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise InputError(f"line {number} is not valid JSON ({exc}); send one string or {{\"text\": ...}} a line.")
    return instances


def _csv_texts(body: bytes) -> list:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the CSV body is not UTF-8 text; send UTF-8, one text per line.")
    texts = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if len(line) >= 2 and line[0] == line[-1] == '"':
            line = line[1:-1].replace('""', '"')
        texts.append(line)
    return texts


def parse_invocation(body: bytes, content_type: str | None, limits: Limits) -> list[str]:
    """The validated texts of an /invocations request, or an InputError saying what to fix."""
    kind = media_type(content_type) or JSON  # SageMaker clients may omit it; JSON is the default
    if kind == JSON:
        instances = _json_instances(body)
    elif kind == JSONLINES:
        instances = _jsonlines_instances(body)
    elif kind == CSV:
        return validate_batch(_csv_texts(body), limits)
    else:
        raise UnsupportedMediaType(f"Content-Type {kind} is not supported; use one of {', '.join(CONTENT_TYPES)}.")
    texts = [_instance_text(instance, f"instances[{i}]") for i, instance in enumerate(instances)]
    return validate_batch(texts, limits)


def execution_parameters() -> dict:
    """What SageMaker batch transform should send us; SAGEMAKER_* variables override the defaults."""
    env = environment()
    return {"MaxConcurrentTransforms": env.max_concurrent_transforms or env.worker_count,
            "BatchStrategy": env.batch_strategy, "MaxPayloadInMB": env.max_payload_mb}
