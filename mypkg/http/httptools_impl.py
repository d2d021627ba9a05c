"""The fast parser: httptools (llhttp) callbacks feeding the shared connection lifecycle."""

from __future__ import annotations

import httptools

from mypkg.errors import ProtocolError
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState

# The methods llhttp accepts most often, decoded once.
_METHODS = {name.encode(): name for name in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")}


class HttptoolsProtocol(HttpProtocol):
    __slots__ = ("head_bytes", "header_list", "in_head", "parser", "trailers", "url")

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.header_list: list[tuple[bytes, bytes]] = []
        # Where on_header puts a trailer section's fields once the head is done: counted against
        # the field limits like header fields, then dropped (README: trailers never reach the
        # app, so they can never add to or change scope["headers"]).
        self.trailers: list[tuple[bytes, bytes]] = []
        self.in_head = False  # counting this read's bytes against the head budget
        self.head_bytes = 0

    def feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self.upgrade_scope is not None:
                self.switch_protocols(data[exc.args[0] :])
            return
        except httptools.HttpParserError as exc:
            raise _protocol_error(exc) from None
        if self.in_head:
            # httptools buffers a header until it is complete: bound the whole head ourselves.
            # It gives no offsets, so the read in which a head began is not counted (it may
            # hold whole requests before it): the bound is the head budget plus one read.
            if self.head_bytes < 0:
                self.head_bytes = 0
            else:
                self.head_bytes += len(data)
                if self.head_bytes > self.state.max_head_size:
                    raise ProtocolError(431, "request head too large")

    # ------------------------------------------------------------------ llhttp callbacks
    def on_message_begin(self) -> None:
        self.in_head = True
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
        self.on_request_head(
            _METHODS.get(method) or method.decode("ascii"),
            self.url,
            parser.get_http_version(),
            headers,
        )

    def on_body(self, body: bytes) -> None:
        self.in_head = False  # chunk data: not a trailer section
        cycle = self.parsing
        if cycle is not None and not cycle.complete:
            cycle.feed_body(body)

    def on_chunk_header(self) -> None:
        # Until this chunk's data arrives it may be the last chunk, whose trailer section httptools
        # buffers field by field: bound it as a head is bounded.
        self.in_head = True
        self.head_bytes = -1

    def on_chunk_complete(self) -> None:
        self.in_head = False

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
