"""SageMaker's container contract: /invocations payloads by content type, /execution-parameters.

Accepted bodies (one text per instance):
  application/json       {"instances": [...]} or a bare list; an instance is a string or {"text": ...}
  application/jsonlines  one instance per line (a JSON string or {"text": ...}), read by tweetops.io.tables
  text/csv               one text per record, no header, read by the csv module (tweetops.io.tables):
                         a record that is one quoted field is unquoted (quote a text that holds line
                         breaks); any other record is its text as sent, stray commas and quotes included
A body holds as many texts as fit in its size limit (SAGEMAKER_MAX_PAYLOAD_IN_MB): batch transform's MultiRecord
strategy sends as many records as fit in MaxPayloadInMB and has no way to be told a count.
In the two line-based bodies a blank line is a record, refused like any blank text: SageMaker batch transform
joins each answer to its record by position, so a blank line skipped would shift every answer after it.
"""
from __future__ import annotations

import dataclasses

from tweetops.errors import TweetopsError
from tweetops.io.tables import BLANK_LINE, at_line, open_table
from tweetops.serving import bodies
from tweetops.serving.inference import MAX_PROBLEMS, InputError, Limits, NamedInputError, validate_batch
from tweetops.serving.schemas import Predictions, text_schema
from tweetops.settings import environment

JSON, JSONLINES, CSV = bodies.JSON, "application/jsonlines", "text/csv"
CONTENT_TYPES = (JSON, JSONLINES, CSV)
ALIASES = {"application/jsonl": JSONLINES, "application/x-jsonlines": JSONLINES}
# The bodies of one instance a line: the reader's format, and what to send instead of a bad line.
LINE_BODIES = {JSONLINES: ("jsonl", "send one string or {\"text\": ...} a line."),
               CSV: ("csv", "send UTF-8 text, one text per record.")}


# A bad record past the first MAX_PROBLEMS, which validate_batch lists no more of: one object stands for them all.
UNLISTED = NamedInputError("a bad record past the first ones listed")


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type or Accept value ('' when absent), JSON lines' aliases as one."""
    value = bodies.media_type(header)
    return ALIASES.get(value, value)


def _instance_text(instance):
    """A JSON instance's text (the instance itself, or an object's "text" field), or the InputError saying why it
    has none."""
    if isinstance(instance, dict):
        return instance["text"] if "text" in instance else InputError("an object instance needs a \"text\" field.")
    return instance


def _json_instances(body: bytes) -> tuple[list, tuple]:
    """A JSON body's instances, and where they are in it: ("instances",), or () for a bare list."""
    payload = bodies.read_json(body, '{"instances": [...]} or a list')
    if isinstance(payload, list):
        return payload, ()
    if isinstance(payload, dict) and "instances" not in payload:
        raise InputError("a JSON object body needs an \"instances\" list; send {\"instances\": [\"text\", ...]}.")
    if isinstance(payload, dict) and isinstance(payload["instances"], list):
        return payload["instances"], ("instances",)
    raise InputError("the JSON body must be {\"instances\": [...]} or a list of instances.")


def _table_instances(body: bytes, fmt: str, hint: str) -> tuple[list, list[int]]:
    """The records of a JSON lines or CSV body, through the same readers as files, and the line each starts on: a
    record is its text, or a NamedInputError when the line could not be read as one (for validate_batch)."""
    try:
        reader = open_table(body, fmt, "the body", columns=["text"], header=False, blank_rows=True)
        chunks = list(reader.chunks(size=1 << 30))
    except TweetopsError as exc:  # what is wrong with the whole body; then what to send instead
        raise InputError(f"{str(exc).split('; ')[0]}; {hint}") from None
    records, lines, bad = [], [], 0
    for chunk in chunks:
        for row, error, record in zip(chunk.rows, chunk.errors, chunk.native):
            if error or "text" not in record:
                bad += 1
                if bad > MAX_PROBLEMS:  # past what a 422 lists: not spelled out
                    problem = UNLISTED
                elif error:
                    fix = "every line is a record, so remove it or put a text on it." if error == BLANK_LINE else hint
                    problem = NamedInputError(f"{at_line(error, row)}; {fix}")
                else:
                    problem = NamedInputError(f"line {row}: an object instance needs a \"text\" field.")
                records.append(problem)
            else:
                records.append(record["text"])
            lines.append(row)
    return records, lines


def parse_invocation(body: bytes, content_type: str | None, limits: Limits) -> list[str]:
    """The validated texts of an /invocations request, or an InputError saying what to fix."""
    kind = media_type(content_type) or JSON  # SageMaker clients may omit it; JSON is the default
    where = None  # where the texts are in a JSON body; a line-based body's errors name the line instead
    if kind == JSON:
        instances, where = _json_instances(body)
        name, item, text_of = "instances", None, _instance_text
    elif kind in LINE_BODIES:
        instances, lines = _table_instances(body, *LINE_BODIES[kind])
        name, item, text_of = "the body", lambda i: f"line {lines[i]}", None
    else:
        raise bodies.unsupported(kind, CONTENT_TYPES)
    try:
        return validate_batch(instances, dataclasses.replace(limits, max_batch=None), name, item, text_of)
    except InputError as exc:
        raise exc.located(where) from None


def request_body(limits: Limits) -> dict:
    """/invocations' body in OpenAPI, one schema per content type; JSON Schema cannot state a JSON lines or CSV
    body's rules (a JSON value a line, CSV quoting), so their descriptions do."""
    text = text_schema(limits)
    instance = {"oneOf": [text, {"type": "object", "properties": {"text": text}, "required": ["text"]}]}
    instances = {"type": "array", "items": instance, "minItems": 1}  # as many as the body's size limit holds
    return {"required": True, "content": {
        JSON: {"schema": {"oneOf": [{"type": "object", "properties": {"instances": instances},
                                     "required": ["instances"]}, instances]},
               "example": {"instances": ["great day!", {"text": "worst service ever"}]}},
        JSONLINES: {"schema": {"type": "string", "description": "One JSON string or {\"text\": ...} a line."},
                    "example": '"great day!"\n{"text": "worst service ever"}\n'},
        CSV: {"schema": {"type": "string", "description": "One text a record, no header; quote a text that holds "
                                                          "a line break."},
              "example": "great day!\nworst service ever\n"}}}


def responses() -> dict:
    """/invocations' 200 in OpenAPI: the answer is in the Accept type, else in the request's own."""
    row = "label, then the probability of each class"
    return {200: {"description": "One prediction per instance, in order.", "model": Predictions, "content": {
        JSONLINES: {"schema": {"type": "string", "description": "One {label, probabilities} object a line."}},
        CSV: {"schema": {"type": "string", "description": f"One record per instance: {row}."}}}}}


def execution_parameters() -> dict:
    """What SageMaker batch transform should send us; SAGEMAKER_* variables override the defaults."""
    env = environment()
    return {"MaxConcurrentTransforms": env.max_concurrent_transforms or env.worker_count,
            "BatchStrategy": env.batch_strategy, "MaxPayloadInMB": env.max_payload_mb}
