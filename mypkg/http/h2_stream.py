"""One HTTP/2 stream as the connection a RequestCycle writes through.

The ASGI logic (receive, send, validation, errors, access log) is the shared ``RequestCycle``;
``H2Cycle`` overrides only the methods that frame a response, so that HEADERS and DATA frames
replace the HTTP/1 status line, chunks and trailer section. ``H2Stream`` buffers what the
peer's flow-control window does not admit yet and pauses the app's ``send`` meanwhile, so that a
response is held back per stream (its window) and per connection (the connection's window and
the transport's write buffer) without buffering more than one ``send`` of body.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Protocol

from h2.errors import ErrorCodes

from mypkg.asgi import Message, Scope
from mypkg.errors import ClientDisconnected
from mypkg.http import extensions, framing
from mypkg.http.cycle import (
    TRAILERS_DROP,
    TRAILERS_DUE,
    TRAILERS_OPEN,
    TRAILERS_SEND,
    RequestCycle,
)

if TYPE_CHECKING:
    from mypkg.state import ServerState

# Response headers that only mean something to one HTTP/1 connection (RFC 9113 §8.2.2).
CONNECTION_SPECIFIC = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)
Headers = list[tuple[bytes, bytes]]


class H2Connection(extensions.Carrier, Protocol):
    """What a stream asks of its connection (h2_impl.H2Protocol, which imports this module)."""

    @property
    def state(self) -> ServerState: ...
    def flush_soon(self) -> None: ...
    def send_headers(self, stream_id: int, headers: Headers, end: bool) -> None: ...
    def window(self, stream_id: int) -> int: ...
    def send_data(self, stream_id: int, data: bytes, end: bool) -> None: ...
    def end_stream(self, stream_id: int, trailers: Headers | None) -> None: ...
    def reset_stream(self, stream_id: int, code: int) -> None: ...
    def acknowledge(self, stream_id: int, count: int) -> None: ...
    def on_response_complete(self, stream: H2Stream) -> None: ...
    def forget(self, stream: H2Stream) -> None: ...


class H2Stream:
    """The cycle's view of its stream: writes become frames, ``drain`` waits for the window."""

    __slots__ = (
        "closed",
        "cycle",
        "end_pending",
        "pending",
        "proto",
        "reading_done",
        "response_done",
        "stream_id",
        "task_done",
        "trailers",
        "unacked",
        "waiter",
    )

    def __init__(self, proto: H2Connection, stream_id: int) -> None:
        self.proto = proto
        self.stream_id = stream_id
        self.cycle: RequestCycle = None  # type: ignore[assignment]  # set right after
        self.pending = bytearray()  # body bytes the flow-control window has not admitted yet
        self.end_pending = False  # END_STREAM (with trailers, if any) once pending is sent
        self.trailers: Headers | None = None
        self.unacked = 0  # request body bytes received but not yet read by the app
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False  # reset by either side, or the connection is gone
        self.reading_done = False
        self.response_done = False
        self.task_done = False

    # ------------------------------------------------------------------ CycleConnection
    @property
    def state(self) -> ServerState:
        return self.proto.state

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.proto.loop

    @property
    def scheme(self) -> str:
        return self.proto.scheme

    @property
    def transport(self) -> asyncio.Transport:
        return self.proto.transport

    @property
    def eof(self) -> bool:
        """HTTP/1's half-close has no stream twin: a stream ends with END_STREAM or RST_STREAM,
        and a connection that half-closes is closed (its streams see the disconnect)."""
        return False

    @property
    def sent_all(self) -> bool:
        return not self.pending and not self.end_pending

    @property
    def write_paused(self) -> bool:
        return not self.closed and (bool(self.pending) or self.proto.write_paused)

    async def drain(self) -> None:
        while self.write_paused and not self.proto.transport.is_closing():
            waiter = self.waiter
            if waiter is None:
                waiter = self.waiter = self.proto.loop.create_future()
            await waiter

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def pause_reading(self) -> None:
        """Request bodies are bounded by the stream window, which opens only as the app reads."""

    def resume_reading(self) -> None:
        """See pause_reading."""

    def close(self) -> None:
        """The response cannot be completed (app error mid-body, cancelled): reset the stream."""
        self.reset(ErrorCodes.INTERNAL_ERROR)

    def on_response_complete(self, cycle: RequestCycle) -> None:
        self.response_done = True
        self.proto.on_response_complete(self)

    # ------------------------------------------------------------------ request side
    def consumed(self) -> None:
        """The app has read everything received so far: give the peer that much window back."""
        count, self.unacked = self.unacked, 0
        if count:
            self.proto.acknowledge(self.stream_id, count)

    def on_reset(self) -> None:
        """The peer reset the stream, or the connection is gone: the app sees a disconnect."""
        self.closed = True
        self.pending.clear()
        self.end_pending = False
        self.cycle.on_disconnect()
        self.wake()

    # ------------------------------------------------------------------ response side
    def send_head(self, headers: Headers, body: bytes, end: bool) -> None:
        if self.closed:
            return
        if end and not body:
            self.proto.send_headers(self.stream_id, headers, True)
            self.proto.flush_soon()
            return
        self.proto.send_headers(self.stream_id, headers, False)
        self.send(body, end)

    def send(self, data: bytes, end: bool) -> None:
        if self.closed:
            return
        if data:
            self.pending += data
        self.end_pending = end
        self.flush()
        self.proto.flush_soon()

    def end(self, trailers: Headers | None = None) -> None:
        self.trailers = trailers
        self.send(b"", True)

    def informational(self, headers: Headers) -> None:
        if not self.closed:
            self.proto.send_headers(self.stream_id, headers, False)
            self.proto.flush_soon()

    def flush(self) -> None:
        """Send what the windows admit; END_STREAM once everything is out."""
        if self.closed:
            return
        pending = self.pending
        proto = self.proto
        stream_id = self.stream_id
        while pending:
            size = proto.window(stream_id)
            if size <= 0:
                return
            last = size >= len(pending) and self.end_pending and not self.trailers
            proto.send_data(stream_id, bytes(pending[:size]), last)
            del pending[:size]
            if last:
                self.end_pending = False
        if self.end_pending:
            self.end_pending = False
            # A request body the app did not read keeps arriving: it is acknowledged and dropped
            # (RST_STREAM NO_ERROR would stop it, but some clients then fail the request).
            proto.end_stream(stream_id, self.trailers)
        if self.response_done and self.sent_all:
            proto.forget(self)
        if not proto.write_paused:
            self.wake()

    def reset(self, code: int) -> None:
        if not self.closed:
            self.closed = True
            self.pending.clear()
            self.proto.reset_stream(self.stream_id, code)
            self.proto.flush_soon()
            self.wake()


class H2Cycle(RequestCycle):
    """The shared cycle with HTTP/2 framing: only the methods that write differ."""

    __slots__ = ("stream",)

    def __init__(
        self, conn: H2Stream, scope: Scope, keep_alive: bool, expect_100: bool, more_body: bool
    ) -> None:
        super().__init__(conn, scope, keep_alive, expect_100, more_body)
        self.stream = conn  # ``conn``, typed as what it is here (a subclass cannot narrow it)

    async def receive(self) -> Message:
        message = await super().receive()
        if message["type"] == "http.request":
            self.stream.consumed()
        return message

    def _continue(self) -> None:
        self.stream.informational([(b":status", b"100")])

    def _write_head(self, body: bytes, more_body: bool) -> None:
        status = self.status or 500
        if self.no_body:
            if (
                self.head_only
                and self.length_left is None
                and not more_body
                and status not in (204, 304)
            ):
                self.headers.append((b"content-length", b"%d" % len(body)))
            body = b""
            self.length_left = None
        elif self.length_left is not None:
            self._count(body)
        elif not more_body:
            self.length_left = 0
            self.bytes_sent += len(body)
            self.headers.append((b"content-length", b"%d" % len(body)))
        else:
            self.bytes_sent += len(body)
        if self.stream.state.request_id_header is not None:
            self._echo_request_id(self.stream.state.request_id_header)
        head = [(b":status", b"%d" % status)]
        own: set[bytes] = set()
        for name, value in self.headers:
            lowered = framing.header_name(name)
            own.add(lowered)
            if lowered not in CONNECTION_SPECIFIC:
                head.append((lowered, value))
        defaults = self.stream.state.default_header_list
        head[1:1] = [item for item in defaults if item[0] not in own] if own else defaults
        self.head_written = True
        if more_body:
            self.stream.send_head(head, body, False)
            return
        if self.length_left:  # shorter than its Content-Length: never let it look complete
            self.stream.send_head(head, body, False)
            self.stream.reset(ErrorCodes.INTERNAL_ERROR)
        else:
            self.stream.send_head(head, body, True)
        self._finish()

    def _body(self, body: bytes, more_body: bool) -> None:
        if not self.head_written:
            self._write_head(body, more_body)
            return
        if self.no_body:
            body = b""
        elif self.length_left is not None:
            self._count(body)
        else:
            self.bytes_sent += len(body)
        if more_body:
            if body:
                self.stream.send(body, False)
            return
        if self.length_left:
            self.stream.reset(ErrorCodes.INTERNAL_ERROR)
        else:
            self.stream.send(body, True)
        self._finish()

    def _trailer_mode(self) -> int:
        """HTTP/2 carries trailers after any body, to a client that sent ``TE: trailers``."""
        if self.no_body or not extensions.accepts_trailers(self.scope["headers"]):
            return TRAILERS_DROP
        return TRAILERS_SEND

    def _trailer_fields(self, message: Message) -> None:
        if self.trailers == TRAILERS_DROP:
            return
        fields = self.stream.trailers if self.stream.trailers is not None else []
        for name, value in message.get("headers", ()):
            lowered = framing.header_name(name)
            if framing.INVALID_VALUE.search(value):
                raise ValueError("trailer values must not contain control characters")
            if lowered not in CONNECTION_SPECIFIC:
                fields.append((lowered, value))
        self.stream.trailers = fields
        self.trailers = TRAILERS_OPEN
        if not message.get("more_trailers", False):
            self.stream.end(fields)
            self._finish()

    def _early_hint(self, message: Message) -> None:
        if self.head_written or self.complete:
            return
        links = list(message.get("links", ()))
        for link in links:
            if not isinstance(link, bytes) or framing.INVALID_VALUE.search(link):
                raise ValueError(
                    f"invalid early hint link {link!r}: bytes without control characters"
                )
        self.stream.informational([(b":status", b"103"), *((b"link", link) for link in links)])

    async def _pathsend(self, message: Message) -> None:
        """The file as the whole body, read off the loop in pieces, with flow control."""
        file, size = extensions.open_regular_file(message["path"])  # no FIFO, no device
        with file:
            if self.length_left is None:
                self.headers.append((b"content-length", b"%d" % size))
                self.length_left = size
            elif self.length_left != size:
                raise RuntimeError(f"Content-Length {self.length_left} but the file has {size}")
            more_after = self.trailers == TRAILERS_SEND
            if more_after:
                self.trailers = TRAILERS_DUE
            if self.no_body or size <= extensions.SMALL_FILE:
                self._body(b"" if self.no_body else file.read(size), more_after)
                return
            await self._send_file_pieces(file.fileno(), size, more_after)

    async def _send_file_pieces(self, fd: int, size: int, more_after: bool) -> None:
        sent = 0
        loop = self.stream.loop
        while sent < size:
            piece = min(extensions.FILE_CHUNK, size - sent)
            data: bytes = await loop.run_in_executor(None, os.pread, fd, piece, sent)
            if self.disconnected:
                raise ClientDisconnected("the client has disconnected")
            sent += len(data)
            last = not data or sent >= size
            self._body(data, more_after or not last)
            if last:
                return
            if self.stream.write_paused:
                await self.stream.drain()
