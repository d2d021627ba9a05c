"""The fast parser: httptools (llhttp) callbacks feeding the shared connection lifecycle.

llhttp parses heads and Content-Length bodies. A chunked body is decoded by the shared
``ChunkedBody`` instead (both backends then read it the same way, RFC 9112 §7.1): llhttp is
stopped at the end of the chunked request's head, where it is found in the bytes (llhttp gives
no offsets), and a fresh parser takes the bytes after the body.
"""

from __future__ import annotations

import re

import httptools

from mypkg.errors import ProtocolError
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState

# The methods llhttp accepts most often, decoded once.
_METHODS = {name.encode(): name for name in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")}
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)


class _ChunkedHead(Exception):
    """Raised in on_headers_complete to stop llhttp before a chunked body."""


class HttptoolsProtocol(HttpProtocol):
    __slots__ = (
        "body_left",
        "first_length",
        "head_bytes",
        "head_tail",
        "header_list",
        "heads",
        "in_head",
        "parser",
        "trailers",
        "url",
    )

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.header_list: list[tuple[bytes, bytes]] = []
        # Where on_header puts a trailer section's fields once the head is done (only an upgrade
        # request's body reaches llhttp chunked): dropped, never added to scope["headers"].
        self.trailers: list[tuple[bytes, bytes]] = []
        self.in_head = False  # counting this read's bytes against the head budget
        self.head_bytes = 0
        # Enough to find where a chunked request's head ended in a read (see _head_end): heads
        # completed in this read, the last bytes of a head still arriving, the Content-Length
        # body bytes still due, and the length of the first body if its head began earlier.
        self.heads = 0
        self.head_tail = b""
        self.body_left = 0
        self.first_length = 0

    def feed(self, data: bytes) -> None:
        if self.chunked_body is not None:
            end = self.feed_chunked(data)
            if end == -1 or end == len(data):
                return
            data = data[end:]  # the next request
        in_head, body_left = self.in_head, self.body_left
        self.heads = 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self.upgrade_scope is not None:
                self.switch_protocols(data[exc.args[0] :])
            return
        except httptools.HttpParserError as exc:
            if not isinstance(exc.__context__, _ChunkedHead):
                raise _protocol_error(exc) from None
        else:
            if self.in_head:
                self._count_head(data)
            return
        # Outside the except block: an error raised while feeding on keeps its own context.
        self._chunked_head(data, in_head, body_left)

    def _count_head(self, data: bytes) -> None:
        """A read ended inside a head: keep its last bytes, and bound its size."""
        self.head_tail = (self.head_tail + data)[-3:]
        # httptools buffers a header until it is complete: bound the whole head ourselves.
        # It gives no offsets, so the read in which a head began is not counted (it may hold
        # whole requests before it): the bound is the head budget plus one read.
        if self.head_bytes < 0:
            self.head_bytes = 0
        else:
            self.head_bytes += len(data)
            if self.head_bytes > self.state.max_head_size:
                raise ProtocolError(431, "request head too large")

    def _chunked_head(self, data: bytes, in_head: bool, body_left: int) -> None:
        """llhttp stopped at the end of a chunked request's head: the body goes to the shared
        decoder, what follows it to a fresh parser (this one is stopped for good)."""
        end = self._head_end(data, in_head, body_left)
        self.parser = httptools.HttpRequestParser(self)
        self.in_head = False
        self.body_left = 0
        if end < len(data):
            self.feed(data[end:])

    def _head_end(self, data: bytes, in_head: bool, body_left: int) -> int:
        """Where, in this read, the head of its ``self.heads``-th request ends.

        The read began in a head (whose last bytes are ``head_tail``), in a Content-Length
        body (``body_left`` bytes still due) or between requests. llhttp has accepted every
        head and length up to there, so the walk is plain: skip the blank lines llhttp skips,
        a head ends at its first blank line, a body is as long as its Content-Length."""
        count = 0
        pos = body_left
        if in_head:
            tail = self.head_tail
            pos = (tail + data).find(b"\r\n\r\n") + 4 - len(tail)
            count = 1
            if count == self.heads:
                return pos
            pos += self.first_length
        while True:
            while data[pos : pos + 1] in (b"\r", b"\n"):
                pos += 1
            end = data.find(b"\r\n\r\n", pos) + 4
            count += 1
            if count == self.heads:
                return end
            length = _CONTENT_LENGTH.search(data, pos, end)
            pos = end + (int(length.group(1)) if length else 0)

    # ------------------------------------------------------------------ llhttp callbacks
    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_tail = b""
        self.head_bytes = -1  # began in the read being parsed
        self.url = b""
        self.header_list = []

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.state.limit_request_target:  # rare: measure the whole line
            method = self.parser.get_method()
            if len(self.url) + len(method) + 10 > self.state.limit_request_line:
                raise ProtocolError(414, "request line too long")  # "METHOD target HTTP/1.1"

    def on_header(self, name: bytes, value: bytes) -> None:
        state = self.state
        if len(self.header_list) >= state.limit_request_fields:
            raise ProtocolError(431, "too many request header fields")
        # llhttp drops the whitespace before a value but keeps the one after it (RFC 9110 §5.5).
        value = value.rstrip(b" \t")
        if len(name) + len(value) + 4 > state.limit_request_field_size:  # "name: value\r\n"
            raise ProtocolError(431, "request header field too large")
        self.header_list.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        parser = self.parser
        method = parser.get_method()
        headers = self.header_list
        trailers = self.header_list = self.trailers
        if trailers:
            trailers.clear()
        self.heads += 1
        self.on_request_head(
            _METHODS.get(method) or method.decode("ascii"),
            self.url,
            parser.get_http_version(),
            headers,
        )
        self.body_left = length = self.content_length or 0
        if self.head_bytes >= 0:  # this head began in an earlier read
            self.first_length = length
        if self.chunked_body is not None:
            raise _ChunkedHead

    def on_body(self, body: bytes) -> None:
        self.body_left -= len(body)
        cycle = self.parsing
        if cycle is not None and not cycle.complete:
            cycle.feed_body(body)

    def on_message_complete(self) -> None:
        cycle = self.parsing
        if cycle is not None:
            cycle.end_body()


def _protocol_error(exc: httptools.HttpParserError) -> ProtocolError:
    """The error to answer with: our own from a callback (httptools keeps it as the context),
    505 for a well-formed but unsupported version or an HTTP/2 preface (h11 agrees), else 400."""
    cause = exc.__context__
    if isinstance(cause, ProtocolError):
        return cause
    if cause is not None:
        raise cause  # a bug in a callback: let it surface instead of blaming the client
    if str(exc).startswith(("Invalid HTTP version", "Pause on PRI")):
        return ProtocolError(505, f"unsupported HTTP version: {exc}")
    return ProtocolError(400, f"invalid HTTP request: {exc}")
