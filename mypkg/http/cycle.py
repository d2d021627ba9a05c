"""One ASGI HTTP request/response cycle, shared by both parsers.

The protocol feeds request body pieces in; the app's ``receive``/``send`` come out. The cycle
chooses the response framing (fixed length, chunked, or close-delimited for HTTP/1.0), joins the
head with the first body piece into one write, and keeps memory bounded both ways.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from typing import TYPE_CHECKING, Any, Protocol, cast

from mypkg.asgi import ASGI3App, Message, Scope
from mypkg.errors import ClientDisconnected, ProtocolError
from mypkg.http import extensions, framing, timelimits
from mypkg.metrics import BUCKETS

if TYPE_CHECKING:
    from mypkg.state import ServerState

logger = logging.getLogger("mypkg.error")

# Request body buffered beyond this pauses reading until the app consumes it.
BODY_HIGH_WATER = 65536

_SPECIAL_RESPONSE_HEADERS = frozenset(
    (b"content-length", b"transfer-encoding", b"connection", b"server", b"date")
)
_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}

# What became of ``trailers: True`` on the response start (RequestCycle.trailers): none asked
# for; body going out chunked; asked for but the client cannot get them (they are dropped);
# body done and the trailer section due; trailer section started (``more_trailers``).
NO_TRAILERS, TRAILERS_SEND, TRAILERS_DROP, TRAILERS_DUE, TRAILERS_OPEN = range(5)


class CycleConnection(extensions.Writer, Protocol):
    """What a cycle needs from its connection: an HTTP/1 protocol, or one HTTP/2 stream (whose
    cycle subclass overrides the methods that put HTTP/1 framing on ``transport``)."""

    @property
    def state(self) -> ServerState: ...
    @property
    def eof(self) -> bool: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def on_response_complete(self, cycle: RequestCycle) -> None: ...


class RequestCycle:
    """The state of one request: its body coming in and its response going out."""

    __slots__ = (
        "app_sets_connection",
        "app_sets_defaults",
        "body",
        "body_size",
        "body_timer",
        "bytes_sent",
        "chunked",
        "complete",
        "conn",
        "delivered_end",
        "disconnected",
        "expect_100",
        "head_only",
        "head_written",
        "headers",
        "http10",
        "keep_alive",
        "length_left",
        "more_body",
        "received",
        "scope",
        "start_time",
        "status",
        "task",
        "trailers",
        "waiter",
    )

    def __init__(  # positional: keyword arguments make this call markedly slower
        self,
        conn: CycleConnection,
        scope: Scope,
        keep_alive: bool,
        expect_100: bool,
        more_body: bool,
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_100 = expect_100
        self.more_body = more_body
        self.head_only = scope["method"] == "HEAD"
        self.http10 = scope["http_version"] == "1.0"
        self.body: list[bytes] = []
        self.body_size = 0
        self.received = 0  # body bytes read so far, against --limit-request-body
        self.body_timer = 0  # timelimits: set by an HTTP/1 connection that times the body
        self.delivered_end = False
        self.disconnected = False
        self.waiter: asyncio.Future[None] | None = None
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_written = False
        self.complete = False
        self.chunked = False
        self.length_left: int | None = None
        self.bytes_sent = 0
        self.app_sets_connection = False
        self.app_sets_defaults = False
        self.task: asyncio.Task[None] | None = None
        self.trailers = NO_TRAILERS
        self.start_time = time.perf_counter() if conn.state.timed else 0.0

    # ------------------------------------------------------------------ fed by the protocol
    def feed_body(self, data: bytes) -> None:
        limit = self.conn.state.limit_request_body
        if limit is not None:
            self.received += len(data)
            if self.received > limit:  # a chunked body growing past it: conn.reject answers
                raise ProtocolError(413, "request body too large")
        self.body.append(data)
        self.body_size += len(data)
        if self.body_timer == timelimits.ARMED:
            timelimits.body_received(cast("timelimits.TimedConnection", self.conn), len(data))
        if self.body_size > BODY_HIGH_WATER:
            self.conn.pause_reading()
        self._wake()

    def end_body(self) -> None:
        self.more_body = False
        if self.body_timer == timelimits.ARMED:
            timelimits.body_done(cast("timelimits.TimedConnection", self.conn), self)
        self._wake()

    def on_disconnect(self) -> None:
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ running the app
    async def run(self, app: ASGI3App) -> None:
        state = self.conn.state
        state.inflight += 1
        try:
            result: object = await app(self.scope, self.receive, self.send)  # type: ignore[func-returns-value]
        except BaseException as exc:
            self._app_failed(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if result is not None:
                logger.error("ASGI callable returned a value (%r); it should return None", result)
            if self.complete or self.disconnected:
                pass
            elif not self.head_written:  # nothing on the wire yet: a real answer is possible
                if self.status is None:
                    logger.error("ASGI callable returned without starting a response")
                else:
                    logger.error("ASGI callable returned without sending the response body")
                self.respond_error(500)
            else:
                logger.error("ASGI callable returned without completing the response")
                self.conn.close()
        finally:
            state.inflight -= 1

    def _app_failed(self, exc: BaseException) -> None:
        if self.disconnected:
            logger.debug("ASGI callable raised after the client disconnected", exc_info=exc)
            return
        if isinstance(exc, asyncio.CancelledError):
            if not self.complete:
                self.conn.close()
            return
        if self.complete:
            # The response is whole; the connection may be serving the next request already.
            logger.error("Exception in ASGI application after its response", exc_info=exc)
            return
        logger.error("Exception in ASGI application", exc_info=exc)
        if not self.head_written:
            self.respond_error(500)
        else:
            # The body is truncated: never let it look complete on the wire.
            self.conn.close()

    def respond_error(self, status: int) -> None:
        """Answer with a plain error, as if the app had sent it (used for 500 and 503)."""
        body = framing.error_response(status, b"").split(b"\r\n\r\n", 1)[1]
        self.status = None
        self.length_left = None
        self.app_sets_connection = self.app_sets_defaults = False
        self._start(
            {
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        self._body(body, False)

    # ------------------------------------------------------------------ ASGI receive
    async def receive(self) -> Message:
        if self.expect_100:
            self.expect_100 = False
            if self.status is None and not self.disconnected:
                self._continue()
                if self.body_timer == timelimits.AFTER_CONTINUE and self.more_body:
                    timelimits.expect_body(cast("timelimits.TimedConnection", self.conn), self)
        while not self.body and (self.more_body or self.delivered_end):
            if self.disconnected or self.complete:
                return _DISCONNECT.copy()
            if self.conn.eof:  # half-closed and this app waits for more than its body: gone
                self.conn.close()  # connection_lost wakes it with the disconnect
            waiter = self.conn.loop.create_future()
            self.waiter = waiter
            await waiter
        if self.disconnected:
            return _DISCONNECT.copy()
        body = self.body
        data = body[0] if len(body) == 1 else b"".join(body)
        body.clear()
        was_over = self.body_size > BODY_HIGH_WATER
        self.body_size = 0
        if was_over:
            self.conn.resume_reading()
        more = self.more_body
        self.delivered_end = not more
        return {"type": "http.request", "body": data, "more_body": more}

    def _continue(self) -> None:
        """Tell a client waiting on ``Expect: 100-continue`` to send its body."""
        self.conn.transport.write(framing.CONTINUE)

    # ------------------------------------------------------------------ ASGI send
    async def send(self, message: Message) -> None:
        conn = self.conn
        if conn.write_paused:
            await conn.drain()
        if self.disconnected:
            raise ClientDisconnected("the client has disconnected")
        kind = message["type"]
        if self.status is None:
            if kind == "http.response.start":
                self._start(message)
            else:
                await self._send_other(kind, message)
        elif kind == "http.response.body" and not self.complete and not self.trailers:
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            await self._send_other(kind, message)

    def _start(self, message: Message) -> None:
        """Validate the response head now, so a bad one becomes a 500 and never reaches the wire."""
        status = message["status"]
        if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
            raise ValueError(f"invalid response status {status!r} (200-599; 1xx have extensions)")
        headers = list(message.get("headers", ()))
        values = []
        length = None
        for name, value in headers:
            lowered = framing.header_name(name)
            values.append(value)
            if lowered in _SPECIAL_RESPONSE_HEADERS:
                if lowered == b"content-length":
                    if not value.isdigit() or (length is not None and int(value) != length):
                        raise ValueError(f"invalid or conflicting Content-Length {value!r}")
                    length = int(value)
                elif lowered == b"connection":
                    self.app_sets_connection = True
                    if b"close" in value.lower():
                        self.keep_alive = False
                elif lowered == b"transfer-encoding":
                    raise ValueError("the server frames the response; do not set Transfer-Encoding")
                else:
                    self.app_sets_defaults = True
        if framing.INVALID_VALUE.search(b"".join(values)):
            raise ValueError("response header values must not contain control characters")
        self.status = status
        self.headers = headers
        self.length_left = length
        self.trailers = self._trailer_mode() if message.get("trailers") else NO_TRAILERS

    def _body(self, body: bytes, more_body: bool) -> None:
        if not self.head_written:
            self._write_head(body, more_body)
            return
        conn = self.conn
        if self.no_body:
            pass  # HEAD, 204, 304: later pieces of the app's body never reach the wire either
        elif self.length_left is not None:
            self._count(body)
            if body:
                conn.transport.write(body)
        elif self.chunked:
            self.bytes_sent += len(body)
            data = framing.chunk(body)
            if not more_body:
                data += framing.LAST_CHUNK
            if data:
                conn.transport.write(data)
        elif body:
            self.bytes_sent += len(body)
            conn.transport.write(body)
        if not more_body:
            self._finish()

    @property
    def no_body(self) -> bool:
        status = self.status or 0
        return self.head_only or status in (204, 304) or status < 200

    def _write_head(self, body: bytes, more_body: bool) -> None:
        status = self.status or 500
        headers = self.headers
        conn = self.conn
        state = conn.state
        if self.more_body or state.shutting_down or state.accept_paused:
            # The request body is not all read, or we are stopping, or --backpressure holds new
            # connections back (this one's turn is over): this connection ends here.
            self.keep_alive = False
        no_body = self.no_body
        if no_body:
            if (
                self.head_only
                and self.length_left is None
                and not more_body
                and status not in (204, 304)
            ):
                headers.append((b"content-length", b"%d" % len(body)))
            body = b""
            self.length_left = None  # nothing is sent, so nothing can fall short
        elif self.length_left is not None:
            self._count(body)
        elif not more_body:
            self.length_left = 0
            self.bytes_sent += len(body)
            headers.append((b"content-length", b"%d" % len(body)))
        elif self.http10:
            self.keep_alive = False  # close-delimited
            self.bytes_sent += len(body)
        else:
            self.chunked = True
            self.bytes_sent += len(body)
            headers.append((b"transfer-encoding", b"chunked"))
            body = framing.chunk(body) + (b"" if more_body else framing.LAST_CHUNK)
        if conn.state.request_id_header is not None:
            self._echo_request_id(conn.state.request_id_header)
        if not self.app_sets_connection:
            if not self.keep_alive:
                headers.append((b"connection", b"close"))
            elif self.http10:
                headers.append((b"connection", b"keep-alive"))
        defaults = state.default_headers
        if self.app_sets_defaults:
            defaults = self._defaults_not_set_by_app()
        self.head_written = True
        conn.transport.write(framing.response_head(status, defaults, headers) + body)
        if not more_body:
            self._finish()

    def _echo_request_id(self, name: bytes) -> None:
        """--request-id-header: the request's id goes back under the same name (unless the
        app sent one)."""
        value = self.scope["state"].get("request_id")
        if isinstance(value, str) and all(framing.header_name(k) != name for k, _ in self.headers):
            self.headers.append((name, value.encode("latin-1")))

    def _defaults_not_set_by_app(self) -> bytes:
        own = {framing.header_name(name) for name, _ in self.headers}
        return b"".join(
            name + b": " + value + b"\r\n"
            for name, value in self.conn.state.default_header_list
            if name not in own
        )

    def _count(self, body: bytes) -> None:
        left = (self.length_left or 0) - len(body)
        if left < 0:
            raise RuntimeError("response body is longer than its Content-Length")
        self.length_left = left
        self.bytes_sent += len(body)

    def _finish(self) -> None:
        self.complete = True
        if self.length_left:
            logger.error("response body is shorter than its Content-Length; closing the connection")
            self.keep_alive = False
        if self.start_time:  # set only while the access log or /metrics is on
            state = self.conn.state
            metrics = state.metrics
            if metrics is not None:  # inline: this runs for every request while it is on
                elapsed = time.perf_counter() - self.start_time
                method = self.scope["method"]
                row = metrics.by_method.get(method) or metrics.row(method)
                row[(self.status or 500) // 100] += 1
                metrics.buckets[bisect_left(BUCKETS, elapsed)] += 1
                metrics.duration_sum += elapsed
                metrics.bytes_out += self.bytes_sent
            if state.access_log:
                state.access_logger.log(self)
        if self.waiter is not None:
            self._wake()
        self.conn.on_response_complete(self)

    # ------------------------------------------------------------------ extensions (not hot)
    async def _send_other(self, kind: str, message: Message) -> None:
        """Every message but a plain start or body: ASGI extensions, and sequence errors."""
        if kind == "http.response.early_hint":
            self._early_hint(message)
        elif self.status is None:
            raise RuntimeError(f"expected 'http.response.start', got {kind!r}")
        elif kind == "http.response.pathsend" and not self.head_written:
            await self._pathsend(message)
        elif kind == "http.response.body" and not self.complete and self.trailers < TRAILERS_DUE:
            more_body = message.get("more_body", False)
            if self.trailers == TRAILERS_SEND and not more_body:
                self.trailers = TRAILERS_DUE  # the chunked body stays open for the trailer section
            self._body(message.get("body", b""), more_body or self.trailers != TRAILERS_DROP)
        elif kind == "http.response.trailers" and self.trailers >= TRAILERS_DROP:
            self._trailer_fields(message)
        elif self.complete:
            raise RuntimeError(f"unexpected {kind!r}: the response is already complete")
        else:
            raise RuntimeError(f"unexpected {kind!r} while sending the response body")

    def _trailer_mode(self) -> int:
        """Trailers go out only in a chunked HTTP/1.1 body to a client that sent TE: trailers."""
        if (
            self.http10
            or self.no_body
            or self.length_left is not None
            or not extensions.accepts_trailers(self.scope["headers"])
        ):
            return TRAILERS_DROP
        return TRAILERS_SEND

    def _trailer_fields(self, message: Message) -> None:
        if self.trailers == TRAILERS_DROP:
            return
        more = message.get("more_trailers", False)
        parts = [framing.LAST_CHUNK_LINE] if self.trailers == TRAILERS_DUE else []
        for name, value in message.get("headers", ()):
            framing.header_name(name)
            if framing.INVALID_VALUE.search(value):
                raise ValueError("trailer values must not contain control characters")
            parts += (name, b": ", value, b"\r\n")
        if not more:
            parts.append(b"\r\n")
        self.trailers = TRAILERS_OPEN
        self.conn.transport.write(b"".join(parts))
        if not more:
            self._finish()

    def _early_hint(self, message: Message) -> None:
        """A 103 before the final head; HTTP/1.0 has no 1xx, and after the head it is too late."""
        if self.http10 or self.head_written or self.complete:
            return
        self.conn.transport.write(extensions.early_hints(message.get("links", ())))

    async def _pathsend(self, message: Message) -> None:
        """Send a file as the whole body: Content-Length from its size, sendfile when possible."""
        file, size = extensions.open_regular_file(message["path"])
        with file:
            if self.length_left is None and self.trailers != TRAILERS_SEND:
                self.headers.append((b"content-length", b"%d" % size))
                self.length_left = size
            elif self.length_left is not None and self.length_left != size:
                raise RuntimeError(f"Content-Length {self.length_left} but the file has {size}")
            more_body = self.trailers == TRAILERS_SEND
            if more_body:
                self.trailers = TRAILERS_DUE
            if self.no_body or size <= extensions.SMALL_FILE:
                self._body(b"" if self.no_body else file.read(size), more_body)
                return
            self._write_head(b"", True)
            try:
                sent = await extensions.send_file(self.conn, file, size, self.chunked)
            except ClientDisconnected:
                self.on_disconnect()  # so that the app's unwinding is not logged as an error
                raise
        self.bytes_sent += sent
        if self.length_left is not None:
            self.length_left -= sent
        if not more_body:
            self._finish()
