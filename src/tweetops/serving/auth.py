"""API keys: TWEETOPS_API_KEYS (comma-separated) turns authentication on. Keys are never logged.

Keys are compared as bytes: a header arrives as bytes (ASGI servers hand them over undecoded), a key is stored
as UTF-8, so a client sending a non-ASCII key's UTF-8 bytes is let in.
"""
from __future__ import annotations

import hmac

from tweetops.settings import environment

OPEN_PATHS = frozenset({"/health", "/ping", "/metrics", "/execution-parameters"})  # probes and SageMaker's own calls


def api_keys() -> tuple[bytes, ...]:
    return tuple(k.encode() for k in environment().api_key_list)


def presented_key(x_api_key: bytes | None, authorization: bytes | None) -> bytes | None:
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() == b"bearer" and token.strip():
            return token.strip()
    return None


def check(keys: tuple[bytes, ...], x_api_key: bytes | None, authorization: bytes | None) -> str | None:
    """None when the request may pass, else the reason it may not (safe to show the client)."""
    if not keys:
        return None
    candidate = presented_key(x_api_key, authorization)
    if candidate is None:
        if authorization:
            return "the Authorization header must be 'Bearer <key>'."
        return "an API key is required: send it as X-API-Key or Authorization: Bearer <key>."
    # Compare against every key (no early exit), each in constant time.
    matched = False
    for known in keys:
        matched |= hmac.compare_digest(candidate, known)
    return None if matched else "the API key is not valid."
