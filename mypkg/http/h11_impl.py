"""The pure-Python parser: h11 as a validating request parser feeding the shared lifecycle.

h11 parses one request message per ``h11.Connection``; responses are written by the shared
framing code, so both backends put identical bytes on the wire. When a response is done and the
connection stays open, a fresh ``h11.Connection`` takes over the bytes already buffered.

Before h11 sees a head's bytes, ``HeadScanner`` checks them line by line (limits, and the
strictness llhttp has and h11 lacks), so an unfinished head never holds more than the head
limit. A chunked body is not given to h11: the shared ``ChunkedBody`` decodes it, as for
httptools; h11 is then only asked about heads and Content-Length bodies.
"""

from __future__ import annotations

from typing import Any, cast

import h11

from mypkg.errors import ProtocolError
from mypkg.http.headscan import HeadScanner
from mypkg.http.methods import KNOWN_METHODS
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState


class H11Protocol(HttpProtocol):
    __slots__ = ("conn", "head_done", "held", "message_done", "scanner")
    HOLDS_BYTES = True  # one h11.Connection per request: what follows waits for next_message()

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self.conn = self._new_parser()
        self.scanner = HeadScanner(state)  # limits and strictness, line by line as bytes arrive
        self.head_done = False
        self.message_done = False
        # What followed a chunked body (decoded by the shared ChunkedBody, never by h11): the
        # next request's bytes, held as h11 holds them after any other body.
        self.held: bytearray | None = None

    def _new_parser(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self.state.max_head_size)

    def feed(self, data: bytes) -> None:
        if self.message_done:
            # A pipelined request: held until the response in flight is done; read no more
            # meanwhile, so a client cannot make us buffer without bound.
            if self.held is not None:
                self.held += data
            else:
                self.conn.receive_data(data)
            self.pause_reading()
            return
        if self.chunked_body is not None:
            self._chunked(data)
            return
        if not self.head_done:
            scanner = self.scanner
            if not scanner.seen_line and not scanner.line:
                data = data.lstrip(b"\r\n")  # blank lines before a request: skipped, as llhttp does
                if not data:
                    return
            end = scanner.feed(data)
            if end != -1:
                self.head_done = True
                if end < len(data) and scanner.encoded:  # a chunked body is not for h11
                    self.conn.receive_data(data[:end])
                    self._process()
                    data = data[end:]
                    if self.reads_chunked_body():  # the head just parsed began one
                        self._chunked(data)
                        return
        self.conn.receive_data(data)
        self._process()

    def _chunked(self, data: bytes) -> None:
        end = self.feed_chunked(data)
        if end != -1:
            self.message_done = True
            self.held = bytearray(data[end:])

    def next_message(self) -> None:
        if self.held is not None:
            rest, closed = bytes(self.held), False
            self.held = None
        else:
            rest, closed = self.conn.trailing_data
        self.conn = self._new_parser()
        self.scanner = HeadScanner(self.state)
        self.head_done = self.message_done = False
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
                    # h11 hands out bytearrays though its type says bytes (read as Any, so
                    # that the compiled module does not check it); ASGI's body is bytes.
                    cycle.feed_body(bytes(cast("Any", event).data))
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
        method, version = event.method, event.http_version
        if method not in KNOWN_METHODS and (method != b"PRI" or version in (b"1.0", b"1.1")):
            # as llhttp answers (an HTTP/2 preface, PRI with version 2.0, gets the 505 below)
            raise ProtocolError(400, "invalid HTTP request: unknown method")
        self.on_request_head(
            event.method.decode("ascii"),
            event.target,
            event.http_version.decode("ascii"),
            list(event.headers),  # the scanner has held each field to the limits already
        )
