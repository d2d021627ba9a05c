"""The HTTP/1.1 connection lifecycle shared by both parsers: the asyncio side of connection.py.

A backend (httptools_impl, h11_impl) only turns bytes into ``on_request_head`` / body pieces /
end-of-message calls. Everything else lives here: it asks headcheck.py for the verdict on each
head and scope.py for its scope, and it decides which event of the connection's table
(connection.py) happened: keep-alive, pipelining, deadlines, flow control, upgrade hand-off and
shutdown. ``phase`` changes only by a lookup in one of the table's rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, ClassVar

from mypkg.accesslog import client_text
from mypkg.errors import ProtocolError
from mypkg.flow import FlowControlProtocol
from mypkg.http import extensions, framing, timelimits
from mypkg.http.chunked import ChunkedBody
from mypkg.http.connection import (
    HEAD,
    IDLE,
    ON_BYTES,
    ON_CLOSE,
    ON_KEEP_ALIVE,
    ON_NEXT,
    ON_REFUSE,
    ON_REQUEST,
    ON_SWITCH,
    ON_UPGRADE,
    UPGRADING,
    Phase,
)
from mypkg.http.cycle import BODY_HIGH_WATER, RequestCycle
from mypkg.http.headcheck import check_head
from mypkg.http.scope import build_scope
from mypkg.state import ServerState

logger = logging.getLogger("mypkg.error")


def socket_address(info: Any) -> tuple[str, int] | None:
    """(host, port) for TCP; None for UNIX sockets (the ASGI spec allows it)."""
    if isinstance(info, tuple) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


class HttpProtocol(FlowControlProtocol):
    """Base class of the two HTTP backends; subclasses implement ``feed`` (and ``next_message``
    when they hold bytes back)."""

    __slots__ = (
        "app_deadline",
        "body_deadline",
        "chunked_body",
        "client",
        "content_length",
        "cycle",
        "deadline",
        "eof",
        "extensions",
        "parsing",
        "pending_error",
        "phase",
        "pipeline",
        "proxy_trusted",
        "scheme",
        "server",
        "starting",
        "state",
        "upgrade_rest",
        "upgrade_scope",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.loop = state.loop
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.cycle: RequestCycle | None = None  # the request whose app is running
        self.starting: RequestCycle | None = None  # self.cycle, its app not started yet
        self.parsing: RequestCycle | None = None  # the request whose body is being read
        self.pipeline: deque[RequestCycle] = deque()
        self.phase: Phase = HEAD
        self.deadline = 0.0
        self.body_deadline = 0.0  # these two: see timelimits.py
        self.app_deadline = 0.0
        self.reading_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.upgrade_scope: dict[str, Any] | None = None
        self.pending_error: bytes | None = None  # answered once the pipeline ahead is done
        self.upgrade_rest: bytes | None = None  # an upgrade waiting for earlier responses
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int] | None = None
        self.scheme = "http"
        self.extensions: dict[str, Any] = {}
        self.proxy_trusted = False
        # A chunked request's body is decoded here, not by the backend (mypkg/http/chunked.py).
        self.chunked_body: ChunkedBody | None = None
        self.content_length = 0  # of the request whose head was parsed last (0: none)
        self.eof = False  # the client half-closed: close once the requests it sent are answered

    # ------------------------------------------------------------------ for the backends
    def feed(self, data: bytes) -> None:
        """Parse ``data``; call on_request_head, cycle.feed_body, cycle.end_body as it goes."""
        raise NotImplementedError

    # A backend that holds bytes back while a response is being written (h11) parses them in
    # next_message(); httptools parses everything it is fed at once and queues the cycles.
    HOLDS_BYTES: ClassVar[bool] = False
    SERVES_HTTP: ClassVar[bool] = True  # counted as HTTP in /metrics (metrics.connection_counts)

    def next_message(self) -> None:
        """The previous response is done and the connection stays open: parse on."""
        raise NotImplementedError

    # ------------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.server = socket_address(transport.get_extra_info("sockname"))
        self.client = socket_address(transport.get_extra_info("peername"))
        state = self.state
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.scheme = "https"
        self.extensions = extensions.connection_extensions(ssl_object, state.tls)
        # The peer is the same for every request: decide once whether its proxy headers count.
        peers = state.proxy_peers
        if peers is not None:
            self.proxy_trusted = (self.client[0] if self.client else None) in peers
        state.add(self)
        if state.log_connections:
            logger.debug("Connection from %s opened", client_text(self.client))
        if state.timeout_request_head > 0:
            self.deadline = state.now + state.timeout_request_head
        if state.shutting_down:  # accepted just before the listener closed
            self.shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state.log_connections:
            logger.debug("Connection from %s closed", client_text(self.client))
        self.state.discard(self)
        self.phase = ON_CLOSE[self.phase]
        self.deadline = 0.0
        for cycle in (self.cycle, self.parsing, *self.pipeline):
            if cycle is not None:
                cycle.on_disconnect()
        self.pipeline.clear()
        self.write_paused = False
        self.release_drain()

    def data_received(self, data: bytes) -> None:
        idle = self.phase is IDLE
        if idle:
            self.phase = ON_BYTES[IDLE]
        metrics = self.state.metrics
        if metrics is not None:
            metrics.bytes_in += len(data)
        try:
            self.feed(data)
        except ProtocolError as exc:
            self.reject(exc.status, exc.reason)
        except Exception as exc:  # a bug must not escape into the transport and drop the rest
            self.parse_failed(exc)
        if idle and self.phase is HEAD:  # a head begun, not ended: from now on it is due
            timeout = self.state.timeout_request_head  # (one that ended set no deadline)
            self.deadline = self.state.now + timeout if timeout > 0 else 0.0
        starting = self.starting
        if starting is not None:
            # Once the whole read is parsed (a body that came with the head is there already;
            # the parser is not re-entered), and eagerly: see ServerState.start_task.
            self.starting = None
            starting.task = self.state.start_task(starting.run(self.state.app))

    def eof_received(self) -> bool | None:
        """The client half-closed (RFC 9112 §9.6): every request it sent in full is still
        answered, then on_response_complete closes."""
        self.eof = True
        if self.scheme == "https":
            return None  # asyncio's TLS closes at EOF whatever we say (and warns if we object)
        return True if self._answer_before_eof() else None  # None: the transport closes now

    def _answer_before_eof(self) -> bool:
        """After a half-close: drop a request cut short (RFC 9112 §8: no response; a partial
        body's app sees a disconnect) and say whether a request is left to answer. An app
        waiting in receive() past its body waits for the client to go: it has (close now)."""
        cycle = self.cycle
        if cycle is not None and cycle.waiter is not None and not cycle.more_body:
            return False
        parsing = self.parsing
        if parsing is not None and parsing.more_body and not parsing.complete:
            parsing.on_disconnect()
            if parsing in self.pipeline:
                self.pipeline.remove(parsing)
            elif parsing is self.cycle:
                return False
        return self.cycle is not None

    # ------------------------------------------------------------------ flow control (reading)
    def resume_reading(self) -> None:
        """Read again, unless queued requests or an unread body still hold reading back."""
        if not self.reading_paused or self.transport.is_closing():
            return
        if self.pipeline or self.pending_error is not None:
            return
        parsing = self.parsing
        if parsing is not None and parsing.body_size > BODY_HIGH_WATER:
            return
        self.reading_paused = False
        self.transport.resume_reading()
        if self.body_deadline:
            timelimits.reading_resumed(self)

    # ------------------------------------------------------------------ requests
    def on_request_head(
        self, method: str, target: bytes, version: str, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """A complete, parsed request head: check it, build the scope, start or queue the cycle."""
        state = self.state
        self.deadline = 0.0
        keep_alive, upgrade, expect_100, length, chunked, raw_path, query = check_head(
            method, target, version, headers, state.limit_request_body
        )
        if chunked:  # the one value allowed, spelled one way (h11 hands it over lowercased)
            headers[:] = [(n, b"chunked" if n == b"transfer-encoding" else v) for n, v in headers]
        self.content_length = length
        scope = build_scope(
            self,
            version,
            method,
            raw_path,
            query,
            headers,
            (
                self.extensions.copy()
                if version == "1.1"
                else extensions.for_http10(self.extensions)
            ),
        )
        if upgrade:
            # The parser cannot carry on past an upgrade request: it is the connection's last.
            keep_alive = False
            if state.upgrade is not None and _header(headers, b"upgrade") == b"websocket":
                self.phase = ON_UPGRADE[self.phase]
                self.upgrade_scope = scope
                return
        self.phase = ON_REQUEST[self.phase]
        if state.shutting_down or not state.timeout_keep_alive:
            keep_alive = False  # stopping, or keep-alive turned off (--timeout-keep-alive 0)
        cycle = RequestCycle(self, scope, keep_alive, expect_100, chunked or bool(length))
        self.parsing = cycle
        if chunked:
            self.chunked_body = ChunkedBody(state, self._chunk_data)
        if cycle.more_body and state.timeout_request_body > 0:
            if expect_100:
                cycle.body_timer = timelimits.AFTER_CONTINUE  # the client waits for our 100
            else:
                timelimits.expect_body(self, cycle)
        if self.cycle is None:
            if self._admit(cycle):
                self.starting = cycle  # its app starts when the read is parsed: data_received
        else:
            self.pipeline.append(cycle)
            self.pause_reading()

    def reads_chunked_body(self) -> bool:
        """(A call, not an attribute test: a parse in between can change it, which the type
        checker and the compiled code would not see after an earlier test of the attribute.)"""
        return self.chunked_body is not None

    def feed_chunked(self, data: bytes) -> int:
        """Bytes of the chunked body being read: the offset just past its end, or -1."""
        body = self.chunked_body
        assert body is not None
        end = body.feed(data)
        if end != -1:
            self.chunked_body = None
            cycle = self.parsing
            if cycle is not None:
                cycle.end_body()
        return end

    def _chunk_data(self, data: bytes) -> None:
        cycle = self.parsing
        if cycle is not None and not cycle.complete:
            cycle.feed_body(data)

    def switch_protocols(self, rest: bytes) -> None:
        """Hand the connection to the WebSocket layer with the bytes already read after the head."""
        if self.cycle is not None:
            # Responses to pipelined requests come first; on_response_complete hands over.
            self.upgrade_rest = rest
            self.pause_reading()
            return
        scope, self.upgrade_scope = self.upgrade_scope, None
        assert scope is not None and self.state.upgrade is not None
        self.phase = ON_SWITCH[self.phase]
        if self.state.log_connections:
            logger.debug("Connection from %s upgraded to WebSocket", client_text(self.client))
        self.state.discard(self)
        self.deadline = 0.0
        self.state.upgrade(self.transport, scope, rest)

    def _admit(self, cycle: RequestCycle) -> bool:
        """Make ``cycle`` the current request; False if it was answered 503 (too busy)."""
        self.cycle = cycle
        state = self.state
        if state.limit_concurrency is not None and state.on_full is None and state.too_busy():
            cycle.keep_alive = False
            cycle.respond_error(503)
            if state.metrics is not None:
                state.metrics.overloaded += 1
            return False
        if state.timeout_request is not None:
            timelimits.app_started(self)  # the app starts within this read (or, pipelined, now)
        return True

    def _start(self, cycle: RequestCycle) -> None:
        """Schedule the app of a request that waited (pipelined, or parsed inside ``send``).

        This runs inside the previous request's task: not eagerly (that would nest one app in
        another and recurse once per pipelined request), and in a copy of the server's context,
        not of the previous app's, so that nothing it set leaks into this request."""
        if self._admit(cycle):
            state = self.state
            cycle.task = state.context.run(state.create_task, cycle.run(state.app))

    def on_response_complete(self, cycle: RequestCycle) -> None:
        self.cycle = None
        self.app_deadline = 0.0
        state = self.state
        state.request_finished()
        if not cycle.keep_alive or self.transport.is_closing():
            self.close()
            return
        if self.upgrade_rest is not None and not self.pipeline:
            rest, self.upgrade_rest = self.upgrade_rest, None
            self.switch_protocols(rest)
            return
        if self.pipeline:
            self.phase = ON_NEXT[self.phase]
            self._start(self.pipeline.popleft())
            self.resume_reading()
            return
        if self.pending_error is not None:
            self.transport.write(self.pending_error)
            self.close()
            return
        self.phase = ON_KEEP_ALIVE[self.phase]
        timeout = state.timeout_keep_alive
        self.deadline = state.now + timeout if timeout > 0 else 0.0
        if self.reading_paused:
            self.resume_reading()
        if self.HOLDS_BYTES:
            try:
                self.next_message()  # h11 parses what it buffered meanwhile: this runs in send()
            except ProtocolError as exc:
                self.reject(exc.status, exc.reason)
            except Exception as exc:
                self.parse_failed(exc)
            starting = self.starting
            if starting is not None:  # admitted by on_request_head already
                self.starting = None
                starting.task = state.context.run(state.create_task, starting.run(state.app))
        if self.eof and not self._answer_before_eof():
            self.close()  # the client half-closed and every request it sent is answered

    # ------------------------------------------------------------------ ending connections
    def reject(self, status: int, reason: str) -> None:
        """Answer a protocol error and close: nothing more is read from this client.

        Requests parsed before the bad bytes are answered first, in order. A request whose own
        body is malformed is abandoned (its app sees a disconnect); it gets the error response
        unless its app already started answering."""
        if self.transport.is_closing():
            return
        state = self.state
        if state.throttle.allow(logger, state.now):  # a junk flood writes a bounded log
            logger.info("Refused a request from %s: %d %s", self.client, status, reason)
        if state.metrics is not None:
            state.metrics.reject(status)
        error = framing.error_response(status, self.state.default_headers, reason)
        parsing = self.parsing
        abandoned = False
        if parsing is not None and parsing.more_body and not parsing.complete:
            abandoned = True
            parsing.on_disconnect()
            if parsing in self.pipeline:
                self.pipeline.remove(parsing)
            elif parsing.head_written:
                self.close()  # its response is on the wire already: cut it, never complete it
                return
        cycle = self.cycle
        if cycle is None or (abandoned and cycle is parsing):
            self.transport.write(error)
            self.close()
        else:
            self.phase = ON_REFUSE[self.phase]
            self.pending_error = error  # after the responses ahead of it, in order
            self.pause_reading()

    def parse_failed(self, exc: Exception) -> None:
        """An unexpected error while parsing (a bug, not the client's fault as far as we know):
        log it once, answer 400 after the responses ahead, and read nothing more."""
        logger.error("Error while parsing a request from %s", self.client, exc_info=exc)
        try:
            self.reject(400, "invalid HTTP request")
        except Exception:  # the connection's state is beyond repair: cut it
            self.transport.abort()

    def on_deadline(self) -> None:
        """Called by the server's ticker when this connection's deadline has passed."""
        self.deadline = 0.0
        phase = self.phase
        if phase is HEAD:
            self.reject(408, "request head not received in time")
        elif phase is IDLE or (phase is UPGRADING and self.cycle is None):
            self.close()  # kept alive long enough (or an upgrade's body never came)
        else:
            timelimits.on_busy_deadline(self)

    def shutdown(self) -> None:
        """Stop after what is in flight, without racing a request the client is sending.

        A response not yet started says ``Connection: close`` (the cycle sees shutting_down)
        and the connection closes after it. An idle connection (or one whose head has not
        arrived, or whose response promised keep-alive before the shutdown) stays open for the
        short keep-alive timeout ``ServerState.drain`` set: its next request is answered with
        ``Connection: close``; if none comes, the deadline closes it.
        """
        if self.cycle is None:
            state = self.state
            deadline = state.now + state.timeout_keep_alive
            if self.deadline == 0.0 or self.deadline > deadline:
                self.deadline = deadline

    def close(self) -> None:
        self.phase = ON_CLOSE[self.phase]
        if not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> asyncio.Task[None] | None:
        """The graceful timeout ran out: cut the connection and cancel the app."""
        return self.abort_task(self.cycle.task if self.cycle is not None else None)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value.lower()
    return None
