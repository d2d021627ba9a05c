"""The pure-Python parser: h11 as a validating request parser feeding the shared lifecycle.

h11 parses one request message per ``h11.Connection``; responses are written by the shared
framing code, so both backends put identical bytes on the wire. When a response is done and the
connection stays open, a fresh ``h11.Connection`` takes over the bytes already buffered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import h11

from mypkg.errors import ProtocolError
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState

# h11 accepts some heads that llhttp refuses; refuse them here too, so both backends give every
# request the same answer (each is a request-smuggling vector when a proxy reads it otherwise):
# a bare LF line end, obs-fold, a control character in a field, and a repeated or listed
# Content-Length (h11 silently merges identical values).
_LAX_HEAD = re.compile(rb"(?<!\r)\n|\n[ \t]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:([^\r\n]*)", re.IGNORECASE)
_HEAD_END = re.compile(rb"\n\r?\n")  # where h11 ends a head


class H11Protocol(HttpProtocol):
    __slots__ = ("conn", "head", "head_done", "line_seen", "message_done")
    HOLDS_BYTES = True  # one h11.Connection per request: what follows waits for next_message()

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self.conn = self._new_parser()
        self.head = bytearray()  # the raw head so far, checked once h11 has parsed it
        self.head_done = False
        self.line_seen = False
        self.message_done = False

    def _new_parser(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self.state.max_head_size)

    def feed(self, data: bytes) -> None:
        if self.message_done:
            # A pipelined request: h11 holds it until the response in flight is done; read no
            # more meanwhile, so a client cannot make us buffer without bound.
            self.conn.receive_data(data)
            self.pause_reading()
            return
        if not self.head_done:
            if not self.line_seen:
                self._check_request_line(data)
            self.head += data
        self.conn.receive_data(data)
        self._process()

    def _check_request_line(self, data: bytes) -> None:
        """h11 sees the request line only once it is whole: bound a line still arriving."""
        newline = data.find(b"\n")
        self.line_seen = newline != -1
        length = len(self.head) + (newline if self.line_seen else len(data))
        if length > self.state.limit_request_line + 16:  # method and version around the target
            raise ProtocolError(414, "request line too long")

    def next_message(self) -> None:
        rest, closed = self.conn.trailing_data
        self.conn = self._new_parser()
        self.head = bytearray()
        self.head_done = self.line_seen = self.message_done = False
        if rest:
            self.feed(rest)
        if closed:
            self.close()

    def _process(self) -> None:
        conn = self.conn
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                # h11 says 501 for a Transfer-Encoding it does not implement; like llhttp, we
                # refuse anything but a final "chunked" as malformed framing.
                status = 400 if exc.error_status_hint == 501 else exc.error_status_hint
                raise ProtocolError(status, str(exc)) from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._on_request(event)
            elif isinstance(event, h11.Data):
                cycle = self.parsing
                if cycle is not None and not cycle.complete:
                    cycle.feed_body(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._check_fields(event.headers)  # trailers: held to the limits, then dropped
                self.message_done = True
                cycle = self.parsing
                if cycle is not None:
                    cycle.end_body()
                if self.upgrade_scope is not None:
                    self.switch_protocols(conn.trailing_data[0])
                return
            else:  # ConnectionClosed: the client half-closed between requests
                return

    def _on_request(self, event: h11.Request) -> None:
        state = self.state
        self.head_done = True
        end = _HEAD_END.search(self.head)
        _check_head(bytes(self.head[: end.end()] if end else self.head))
        self.head = bytearray()
        if len(event.target) > state.limit_request_line:
            raise ProtocolError(414, "request line too long")
        headers = event.headers
        self._check_fields(headers)
        self.on_request_head(
            event.method.decode("ascii"),
            event.target,
            event.http_version.decode("ascii"),
            list(headers),
        )

    def _check_fields(self, fields: Sequence[tuple[bytes, bytes]]) -> None:
        """The field limits, on a head's fields and on a trailer section's."""
        state = self.state
        if len(fields) > state.limit_request_fields:
            raise ProtocolError(431, "too many request header fields")
        limit = state.limit_request_field_size
        for name, value in fields:
            if len(name) + len(value) + 2 > limit:
                raise ProtocolError(431, "request header field too large")


def _check_head(head: bytes) -> None:
    """Refuse what h11 lets through but llhttp does not (see _LAX_HEAD)."""
    if _LAX_HEAD.search(head):
        raise ProtocolError(400, "invalid HTTP request: bare LF, obs-fold or control character")
    lengths = _CONTENT_LENGTH.findall(head)
    if len(lengths) > 1 or (lengths and b"," in lengths[0]):
        raise ProtocolError(400, "invalid HTTP request: repeated Content-Length")
