"""The pure-Python parser: h11 as a validating request parser feeding the shared lifecycle.

h11 parses one request message per ``h11.Connection``; responses are written by the shared
framing code, so both backends put identical bytes on the wire. When a response is done and the
connection stays open, a fresh ``h11.Connection`` takes over the bytes already buffered.
"""

from __future__ import annotations

import h11

from mypkg.errors import ProtocolError
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState


class H11Protocol(HttpProtocol):
    __slots__ = ("conn", "line_bytes", "line_seen", "message_done")

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self.conn = self._new_parser()
        self.line_bytes = 0
        self.line_seen = False
        self.message_done = False

    def _new_parser(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self.state.max_head_size)

    def feed(self, data: bytes) -> None:
        if not self.line_seen and not self.message_done:
            self._check_request_line(data)
        self.conn.receive_data(data)
        if not self.message_done:
            self._process()

    def _check_request_line(self, data: bytes) -> None:
        """h11 sees the request line only once it is whole: bound a line still arriving."""
        newline = data.find(b"\n")
        if newline != -1:
            self.line_seen = True
            length = self.line_bytes + newline
        else:
            length = self.line_bytes = self.line_bytes + len(data)
        if length > self.state.limit_request_line + 16:  # method and version around the target
            raise ProtocolError(414, "request line too long")

    def next_message(self) -> None:
        rest, closed = self.conn.trailing_data
        self.conn = self._new_parser()
        self.line_bytes = 0
        self.line_seen = False
        self.message_done = False
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
                raise ProtocolError(exc.error_status_hint, str(exc)) from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                self._on_request(event)
            elif isinstance(event, h11.Data):
                cycle = self.parsing
                if cycle is not None and not cycle.complete:
                    cycle.feed_body(event.data)
            elif isinstance(event, h11.EndOfMessage):
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
        if len(event.target) > state.limit_request_line:
            raise ProtocolError(414, "request line too long")
        headers = event.headers
        if len(headers) > state.limit_request_fields:
            raise ProtocolError(431, "too many request header fields")
        limit = state.limit_request_field_size
        for name, value in headers:
            if len(name) + len(value) + 2 > limit:
                raise ProtocolError(431, "request header field too large")
        self.on_request_head(
            event.method.decode("ascii"),
            event.target,
            event.http_version.decode("ascii"),
            list(headers),
        )
