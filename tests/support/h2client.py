"""A raw HTTP/2 client for tests: h2 as the client state machine, with its own checks off so a
test can write frames a real client never would (floods, bad headers, resets)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from h2.connection import ConnectionState
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
)

from tests.support.clients import SocketClient

GET = [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"localhost"), (b":path", b"/")]


def request_headers(method: bytes = b"GET", path: bytes = b"/", **extra: bytes) -> list[Any]:
    headers = [(b":method", method), (b":scheme", b"http"), (b":authority", b"localhost")]
    headers.append((b":path", path))
    headers += [(name.replace("_", "-").encode(), value) for name, value in extra.items()]
    return headers


class H2Client(SocketClient):
    """One connection; ``events`` reads until a condition holds (bounded by ``timeout``)."""

    def __init__(
        self, port: int, *, timeout: float = 10.0, context: ssl.SSLContext | None = None
    ) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        self.sock = sock
        self.timeout = timeout
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
        )
        self.conn = h2.connection.H2Connection(config)
        self.conn.initiate_connection()
        self.flush()
        self.received: list[h2.events.Event] = []
        self.buffer = b""
        self.closed = False

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, headers: list[Any], body: bytes | None = None) -> int:
        stream_id: int = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, headers, end_stream=body is None)
        if body is not None:
            self.conn.send_data(stream_id, body, end_stream=True)
        self.flush()
        return stream_id

    def read(self) -> list[h2.events.Event]:
        """One read's worth of events (acks sent); [] once the server has closed."""
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            data = b""
        if not data:
            self.closed = True
            return []
        self.buffer += data
        events = []
        while len(self.buffer) >= 9:
            size = int.from_bytes(self.buffer[:3], "big") + 9
            if len(self.buffer) < size:
                break
            frame, self.buffer = self.buffer[:size], self.buffer[size:]
            if self.after_goaway:
                events += self._after_goaway(frame)
            else:
                events += self.conn.receive_data(frame)
        self.received += events
        try:
            self.flush()
        except OSError:
            self.closed = True
        return events

    def _after_goaway(self, data: bytes) -> list[Any]:
        """h2 stops reading at a GOAWAY, but the server goes on to finish the streams it named:
        decode what they need (headers, data, end, reset) by hand."""
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        events: list[Any] = []
        sid = frame.stream_id
        if isinstance(frame, HeadersFrame):
            headers: list[Any] = list(self.conn.decoder.decode(frame.data, raw=True))
            if any(name == b":status" for name, _ in headers):
                events.append(h2.events.ResponseReceived(stream_id=sid, headers=headers))
            else:
                events.append(h2.events.TrailersReceived(stream_id=sid, headers=headers))
        elif isinstance(frame, DataFrame):
            # Nothing to acknowledge any more: flow_controlled_length 0.
            events.append(
                h2.events.DataReceived(stream_id=sid, data=frame.data, flow_controlled_length=0)
            )
        elif isinstance(frame, RstStreamFrame):
            events.append(h2.events.StreamReset(stream_id=sid, error_code=frame.error_code))
        elif isinstance(frame, GoAwayFrame):
            goaway = h2.events.ConnectionTerminated()
            goaway.error_code, goaway.last_stream_id = frame.error_code, frame.last_stream_id
            events.append(goaway)
        elif isinstance(frame, PingFrame) and "ACK" not in frame.flags:
            events.append(h2.events.PingReceived(ping_data=frame.opaque_data))
        if "END_STREAM" in frame.flags:
            events.append(h2.events.StreamEnded(stream_id=sid))
        return events

    @property
    def after_goaway(self) -> bool:
        """h2 has seen a GOAWAY: it reads and answers nothing more (see _after_goaway)."""
        return bool(self.conn.state_machine.state == ConnectionState.CLOSED)

    def raw_request(self, stream_id: int, headers: list[Any]) -> None:
        """A request written by hand (h2 sends nothing once it has seen a GOAWAY)."""
        frame = HeadersFrame(stream_id)
        frame.data = self.conn.encoder.encode(headers)
        frame.flags.add("END_HEADERS")
        frame.flags.add("END_STREAM")
        self.send_raw(frame.serialize())

    def ack_ping(self, data: bytes) -> None:
        frame = PingFrame(0)
        frame.opaque_data = data
        frame.flags.add("ACK")
        self.send_raw(frame.serialize())

    def wait_for_next(self, kind: type, after: Any) -> Any:
        """The first event of ``kind`` received after the event ``after``."""
        start = next(i for i, event in enumerate(self.received) if event is after) + 1
        return self.wait_for(kind, start=start)

    def wait_for(self, kind: type, stream_id: int | None = None, start: int = 0) -> Any:
        """The first event of ``kind`` (on ``stream_id``) received so far or from now on."""
        deadline = time.monotonic() + self.timeout
        seen = start
        while True:
            for event in self.received[seen:]:
                if isinstance(event, kind) and (
                    stream_id is None or getattr(event, "stream_id", None) == stream_id
                ):
                    return event
            seen = len(self.received)
            if self.closed or time.monotonic() > deadline:
                raise AssertionError(f"no {kind.__name__} in {self.received}")
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            self.read()

    def response(self, stream_id: int) -> tuple[int, dict[bytes, bytes], bytes]:
        """Status, headers and body of a whole response (ack'ing data as it comes)."""
        head = self.wait_for(h2.events.ResponseReceived, stream_id)
        body = b""
        deadline = time.monotonic() + self.timeout
        index = 0
        while True:
            for event in self.received[index:]:
                if getattr(event, "stream_id", None) != stream_id:
                    continue
                if isinstance(event, h2.events.DataReceived):
                    body += event.data
                    if event.flow_controlled_length:
                        self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    self.flush()
                    headers = dict(head.headers)
                    return int(headers.pop(b":status")), headers, body
            index = len(self.received)
            assert not self.closed and time.monotonic() < deadline, f"no end: {self.received}"
            self.flush()
            self.read()

    def goaway(self) -> h2.events.ConnectionTerminated:
        event: h2.events.ConnectionTerminated = self.wait_for(h2.events.ConnectionTerminated)
        return event

    def read_to_close(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self.closed:
            assert time.monotonic() < deadline, "the server kept the connection open"
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.read()
