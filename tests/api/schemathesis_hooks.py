"""Schemathesis hooks for tests/api/test_schema.py (loaded through SCHEMATHESIS_HOOKS).

JSON Schema cannot state what a JSON lines or CSV body must hold (a JSON value a line; CSV quoting; the text
rules after unquoting), so /invocations documents those bodies as strings with a description and an example.
Generated from that schema, every string would be "valid" and every non-string "invalid", and both are wrong for
these formats: only their documented examples are sent (test_invocations.py covers their rules case by case).
"""
import schemathesis
from schemathesis.generation.meta import TestPhase

LINE_FORMATS = {"application/jsonlines", "text/csv"}


@schemathesis.serializer("application/jsonlines")
def jsonlines(_ctx, value) -> bytes:
    return value.encode()  # the example: already JSON lines


@schemathesis.hook
def filter_case(_context, case) -> bool:
    example = case.meta is not None and case.meta.phase.name == TestPhase.EXAMPLES
    return case.media_type not in LINE_FORMATS or example
