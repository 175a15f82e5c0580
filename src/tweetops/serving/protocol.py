"""uvicorn's httptools protocol with the bounds it lacks: header size and count, and a read deadline.

uvicorn bounds neither the bytes of a request's headers (httptools keeps a header in memory until it
ends, so two 128 MB headers cost a worker 343 MB) nor how long a request may take to arrive (its
keep-alive timer is cancelled by the first byte, so a client sending a byte every few seconds holds
its connection for ever). Here a request's headers may hold MAX_HEADER_BYTES in at most MAX_HEADERS
fields, answered 431 beyond that, in turn behind pipelined requests (what the client still sends is
read a moment longer, so that it gets the answer), and a request must arrive whole within the read
timeout of the connection opening or of the previous response, else the connection is closed. A
chunked body's trailers are bounded by the read timeout only.
"""
from __future__ import annotations

import asyncio

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024  # the request line and every header: nginx's default is 4 x 8 KB buffers
MAX_HEADERS = 100  # the limit Node.js and Go's net/http use
TOO_LARGE = f"the request's headers exceed {MAX_HEADER_BYTES // 1024} KB; send fewer or shorter headers."
# After a 431, what a client is still sending is read and dropped (up to this much, for at most this long), so
# that it reads the answer: closed with its bytes unread, the connection is reset and the answer lost with it.
LINGER_BYTES = 1024 * 1024
LINGER_SECONDS = 1.0


class HeadersTooLarge(Exception):
    """Raised inside a parser callback; httptools turns it into a parser error, answered 431 below."""


def bounded_protocol(read_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn.Config(http=...), with this read timeout in seconds."""

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._deadline: asyncio.TimerHandle | None = None
            self._between_requests = True
            self._lingering: int | None = None  # refused: the bytes still to read and drop before closing
            self._held_answer: bytes | None = None  # the 431, held until the requests before it are answered
            self._next_request()
            self._arm_deadline()

        def _next_request(self) -> None:
            """The bytes from here on belong to the next request: count its headers afresh.

            Driven by the parser (a request's end), never by the response's: an app may answer before
            the request's body has all arrived (uvicorn then discards the rest), and a count restarted
            at that answer would take the rest of the body for the next request's headers."""
            self._header_bytes = 0  # as they arrive, to stop a header that never ends
            self._parsed_bytes = 0  # as the parser hands them over, the request line's and headers' exactly
            self._header_count = 0
            self._reading_headers = True
            self._refusal: str | None = None

        def _arm_deadline(self) -> None:
            self._cancel_deadline()
            self._deadline = self.loop.call_later(read_timeout, self._too_slow)

        def _cancel_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.logger.info("closing a connection whose request did not arrive within %.0f s", read_timeout)
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_deadline()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._lingering is not None:  # refused: drop what arrives, then close
                self._lingering -= len(data)
                if self._lingering < 0:
                    self.transport.close()
                return
            counting = self._reading_headers
            if counting:
                self._header_bytes += len(data)
            super().data_received(data)
            # Still inside the headers after this chunk: they alone are over the limit (a chunk that ends
            # them may also carry the body; the parser's callbacks count those headers exactly).
            if counting and self._reading_headers and self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(TOO_LARGE)

        def _count(self, size: int) -> None:
            self._parsed_bytes += size
            if self._parsed_bytes > MAX_HEADER_BYTES:
                self._refusal = TOO_LARGE
                raise HeadersTooLarge

        def on_url(self, url: bytes) -> None:  # called once per piece of the URL that arrives
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            if not self._reading_headers:  # a chunked body's trailer, once the request's app is running
                return super().on_header(name, value)
            self._header_count += 1
            if self._header_count > MAX_HEADERS:
                self._refusal = f"the request has more than {MAX_HEADERS} headers; send fewer."
                raise HeadersTooLarge
            # The parser hands the value over without its leading blanks, so a header padded with them is held to
            # the per-chunk check only: at most one read (256 KB) more than the limit.
            self._count(len(name) + len(value) + len(": \r\n"))
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._reading_headers = False
            super().on_headers_complete()

        def on_message_begin(self) -> None:
            self._between_requests = False
            self._count(len("GET  HTTP/1.1\r\n"))  # the request line around its URL (a longer method: a few bytes)
            super().on_message_begin()

        def on_message_complete(self) -> None:
            self._cancel_deadline()
            self._between_requests = True
            self._next_request()
            if self.cycle.response_complete and not self.transport.is_closing():
                self._arm_deadline()  # answered before its body ended: the next request's time starts now
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._held_answer is not None:
                if not self._answering():  # every request before it is answered
                    self._answer_and_close(self._held_answer)
                return
            # The next request's time starts now: one already arriving (sent with this one, or begun since) as
            # well as one not begun (the deadline was cancelled when this one arrived). Not while a request
            # that arrived whole is still being answered: its answer rearms it.
            if not self.transport.is_closing() and (not self._between_requests or not self._answering()):
                self._arm_deadline()

        def _answering(self) -> bool:
            """Whether a request that arrived whole is still being answered, or waits its turn."""
            return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

        def send_400_response(self, msg: str) -> None:
            if self._refusal:  # the parser stopped because a callback above refused the headers
                self._refuse(self._refusal)
            else:
                super().send_400_response(msg)

        def _refuse(self, sentence: str) -> None:
            if self.transport.is_closing() or self._lingering is not None:
                return
            body = orjson.dumps({"detail": sentence})
            answer = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                      b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body))
            self._cancel_deadline()
            self._lingering = LINGER_BYTES
            if self._answering():
                self._held_answer = answer  # pipelined after requests still running: answers go in order
            else:
                self._answer_and_close(answer)

        def _answer_and_close(self, answer: bytes) -> None:
            self._held_answer = None
            self.transport.write(answer)
            if not self.transport.can_write_eof():  # TLS: no half-close
                self.transport.close()
                return
            self.transport.write_eof()  # the answer, then end of stream: a client done sending closes its side
            self.loop.call_later(LINGER_SECONDS, self.transport.close)

    return BoundedHttpToolsProtocol
