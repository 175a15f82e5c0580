"""Property-based requests from the OpenAPI schema (schemathesis): whatever is sent, never a 5xx.

Bounded: a fixed number of generated examples per operation, no timing checks.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tweetops.serving.app import create_app


@pytest.fixture
def api_schema(service, monkeypatch):
    monkeypatch.delenv("TWEETOPS_API_KEYS", raising=False)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(service, load=False))


def test_no_request_gets_a_server_error(api_schema):
    # Driven by hand rather than schemathesis' pytest plugin, whose per-operation subtests break on pytest 9.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    sent = []
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(checks=[not_a_server_error])
            sent.append(case.operation.label)

        check()
    assert len(set(sent)) == len(operations)  # every operation was exercised
