"""The API's edge, as one plain ASGI middleware (cheaper than BaseHTTPMiddleware on every request).

Per request: a request id (X-Request-ID in and out, and on every log line written while answering), the
API-key check, the body size limit (413 before the app reads anything), the Prometheus request count and
latency, and one access-log line (method, route, status, latency; never the body or a header).
"""
from __future__ import annotations

import logging
import re
import time
import uuid

import orjson

from tweetops.logs import REQUEST_ID as REQUEST_CONTEXT
from tweetops.serving import auth, metrics

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access = logging.getLogger("tweetops.access")
BODY_METHODS = {"POST", "PUT", "PATCH"}
WANTED_HEADERS = {b"x-request-id", b"x-api-key", b"authorization", b"content-length"}


async def send_json(send, status: int, content: dict, headers: list | None = None) -> None:
    body = orjson.dumps(content)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None once it grows past `limit` bytes."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class EdgeMiddleware:
    def __init__(self, app, route_paths, body_limit: int):
        self.app = app
        self.route_paths = route_paths  # a callable: the app's route paths, for metrics labels
        self.keys = auth.api_keys()
        self.limit = body_limit

    def _route_label(self, scope) -> str:
        route = scope.get("route")
        if route is not None:
            return route.path
        path = scope["path"]
        return path if path in self.route_paths() else "unmatched"  # keeps label cardinality bounded

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        headers = {k: v for k, v in scope["headers"] if k in WANTED_HEADERS}
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        context = REQUEST_CONTEXT.set(request_id)
        id_header = (b"x-request-id", request_id.encode())
        status = 500  # if the app raises before answering, the error middleware answers 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            reason = None if scope["path"] in auth.OPEN_PATHS else auth.check(
                self.keys, headers.get(b"x-api-key"), headers.get(b"authorization"))
            if reason:
                return await send_json(send_with_id, 401, {"detail": reason},
                                       [(b"www-authenticate", b'Bearer realm="tweetops"')])
            if scope["method"] not in BODY_METHODS:
                return await self.app(scope, receive, send_with_id)
            declared = headers.get(b"content-length", b"")
            too_big = declared.isdigit() and int(declared) > self.limit  # refuse before reading it
            body = None if too_big else await read_body(receive, self.limit)
            if body is None:
                detail = f"the request body is over {self.limit:,} bytes; send fewer or shorter texts per request."
                return await send_json(send_with_id, 413, {"detail": detail})
            await self.app(scope, _replay(body, receive), send_with_id)
        finally:
            route, method, seconds = self._route_label(scope), scope["method"], time.perf_counter() - start
            metrics.observe_request(route, method, status, seconds)
            if access.isEnabledFor(logging.INFO):
                latency_ms = round(seconds * 1000, 2)
                access.info("%s %s %d %.2f ms", method, route, status, latency_ms, extra={
                    "route": route, "method": method, "status": status, "latency_ms": latency_ms})
            REQUEST_CONTEXT.reset(context)


def _replay(body: bytes, receive):
    """A receive() that hands the app the body already read, then passes through (disconnects)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
