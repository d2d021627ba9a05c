"""The fast parser: httptools (llhttp) callbacks feeding the shared connection lifecycle.

llhttp parses heads and Content-Length bodies. A chunked body is decoded by the shared
``ChunkedBody`` instead (both backends then read it the same way, RFC 9112 §7.1): llhttp is
stopped at the end of the chunked request's head, where it is found in the bytes (llhttp gives
no offsets: mypkg/http/walk.py), and a fresh parser takes the bytes after the body. The same walk
refuses a request line with two spaces in a row and measures heads near the head-size limit.
"""

from __future__ import annotations

import httptools

from mypkg.errors import ProtocolError
from mypkg.http import walk
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState

# The methods llhttp accepts most often, decoded once.
_METHODS = {name.encode(): name for name in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")}


class _ChunkedHead(Exception):
    """Raised in on_headers_complete to stop llhttp before a chunked body."""


class HttptoolsProtocol(HttpProtocol):
    __slots__ = (
        "body_left",
        "head_part",
        "header_list",
        "in_head",
        "line_open",
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
        # request's body, its connection's last, reaches llhttp chunked): dropped, never added
        # to scope["headers"].
        self.trailers: list[tuple[bytes, bytes]] = []
        self.in_head = False
        # A head that goes on in the next read: its bytes so far (None until a read ends in it),
        # and whether its request line is still unfinished. Content-Length body bytes still due.
        self.head_part: bytearray | None = None
        self.line_open = False
        self.body_left = 0

    def feed(self, data: bytes) -> None:
        if self.chunked_body is not None:
            end = self.feed_chunked(data)
            if end == -1 or end == len(data):
                return
            data = data[end:]  # the next request
        skip = self.body_left
        if skip < len(data) and (
            self.in_head or data.find(b"  ") != -1 or len(data) > self.state.max_head_size
        ):  # (a read that is all body needs no look)
            self._feed_checked(data)
            return
        self._parse(data, None, skip)  # the usual read: whole requests, or body

    def _feed_checked(self, data: bytes) -> None:
        """A read that begins in a head, holds two spaces in a row, or is large."""
        skip = self.body_left
        part = self.head_part if self.in_head else None  # a head begun in an earlier read
        size = len(data) + (len(part) if part is not None else 0)
        if (
            data.find(b"  ") != -1
            or size > self.state.max_head_size
            or (part is not None and self.line_open)
        ):
            self._check_heads(data, bytes(part) if part is not None else b"", skip)
        self._parse(data, part, skip)

    def _parse(self, data: bytes, part: bytearray | None, skip: int) -> None:
        """Feed llhttp; ``part``: the bytes of a head begun in an earlier read, if any."""
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
                self._keep_head(data, part, skip)
            return
        self._after_chunked_head(data, part, skip)

    def _after_chunked_head(self, data: bytes, part: bytearray | None, skip: int) -> None:
        """llhttp stopped at the end of a chunked request's head: its body goes to the shared
        decoder, what follows to a fresh parser. Called outside the ``except`` block: an error
        raised while parsing on must keep its own ``__context__`` (httptools puts the callback's
        exception there)."""
        end = walk.chunked_head_end(data, bytes(part) if part is not None else b"", skip)
        self.parser = httptools.HttpRequestParser(self)  # this one is stopped for good
        self.in_head = False
        self.head_part = None
        self.body_left = 0
        if end < len(data):
            self.feed(data[end:])

    def _check_heads(self, data: bytes, prefix: bytes, skip: int) -> None:
        """The request-line and head-size rules llhttp does not apply, on every head in this
        read; the requests before a bad one are parsed (and answered) first."""
        limit = self.state.max_head_size
        for start, end, head in walk.heads(data, prefix, skip):
            line_end = head.find(b"\r\n")
            if line_end != -1 and b"  " in head[:line_end]:
                error = ProtocolError(400, "invalid HTTP request: request line with two spaces")
            elif (len(data) if end == -1 else end) - start > limit:
                error = ProtocolError(431, "request head too large")
            else:
                continue
            if start > 0:
                self._parse(data[:start], bytearray(prefix) if prefix else None, skip)
            raise error

    def _keep_head(self, data: bytes, part: bytearray | None, skip: int) -> None:
        """A read ended inside a head: keep the head's bytes. (They stay within the head limit:
        the next read is checked with them, _check_heads.)"""
        kept = self.head_part
        if kept is not None:  # the same head as at the start of this read
            kept += data
            if self.line_open and b"\n" in data:
                self.line_open = False  # checked at the start of the next read (see feed)
        else:  # a head that began in this read: find where
            last = b""
            for _, _, head in walk.heads(data, bytes(part) if part is not None else b"", skip):
                last = head
            self.head_part = bytearray(last)
            self.line_open = b"\r\n" not in last

    # ------------------------------------------------------------------ llhttp callbacks
    def on_message_begin(self) -> None:
        self.in_head = True
        self.head_part = None
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
        # An upgrade request's trailers (the connection's last request) land in the sink.
        self.header_list = self.trailers
        self.on_request_head(
            _METHODS.get(method) or method.decode("ascii"),
            self.url,
            parser.get_http_version(),
            headers,
        )
        self.body_left = self.content_length
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
