"""HTTP/2 connections (``--http2``, the optional ``mypkg[http2]`` extra), on h2's state machine.

A connection reaches HTTP/2 in one of two ways, decided by h2_negotiate before any HTTP/1
parsing: TLS with ALPN ``h2``, or a cleartext connection whose first bytes are the HTTP/2 preface
(prior knowledge). The HTTP/1 protocol it would otherwise get is set up first (client address,
TLS extension, proxy trust) and hands those over, as a WebSocket upgrade hands over a connection.

Each stream runs the shared ``RequestCycle`` (h2_stream.H2Cycle). Limits that keep one client
from costing more than its share: concurrent streams (``--h2-max-concurrent-streams``, also
counting reset streams whose app is still running: rapid reset), header lists bounded like an
HTTP/1 head (HPACK bomb), h2's own cap on CONTINUATION frames, a budget of control frames per
second (SETTINGS/PING/empty-frame floods), no reading while the peer does not read (acks cannot
pile up), request bodies bounded by windows that open only as the app reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from h2.errors import ErrorCodes
from hyperframe.frame import GoAwayFrame

from mypkg.errors import ProtocolError
from mypkg.http.h2_stream import H2Cycle, H2Stream, Headers
from mypkg.http.protocol import HttpProtocol
from mypkg.http.scope import build_scope
from mypkg.state import DRAIN_IDLE_GRACE

logger = logging.getLogger("mypkg.error")

# The window for request bodies of all streams together (each stream has the default 64 KiB).
CONNECTION_WINDOW = 1 << 20
# Control frames (SETTINGS, PING, PRIORITY, empty DATA, unknown types) allowed per second.
CONTROL_FRAMES_PER_SECOND = 1000
# A client may reset this many more streams than it lets finish before it is told to go away.
RESET_ALLOWANCE = 200
_DRAIN_PING = b"mypkg-gf"  # the PING of a graceful stop
LINGER = 1.0  # seconds a connection told to go away for an error reads (and drops) before closing
_SETTINGS = h2.settings.SettingCodes


class H2Protocol(asyncio.Protocol):
    """One HTTP/2 connection: h2 parses and frames; each stream is an H2Stream with a cycle."""

    __slots__ = (
        "client",
        "conn",
        "control_frames",
        "control_since",
        "deadline",
        "extensions",
        "flush_scheduled",
        "goaway_sent",
        "header_list_size",
        "last_stream_id",
        "lingering",
        "loop",
        "max_streams",
        "proxy_trusted",
        "reset_budget",
        "scheme",
        "server",
        "state",
        "stopping",
        "streams",
        "transport",
        "write_paused",
    )
    SERVES_HTTP: ClassVar[bool] = True  # counted as HTTP in /metrics (metrics.connection_counts)

    def __init__(self, http1: HttpProtocol) -> None:
        state = self.state = http1.state
        self.loop = state.loop
        self.client, self.server, self.scheme = http1.client, http1.server, http1.scheme
        self.extensions = http1.extensions
        self.proxy_trusted = http1.proxy_trusted
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.streams: dict[int, H2Stream] = {}
        self.max_streams = state.h2_max_concurrent_streams
        self.write_paused = False
        self.flush_scheduled = False
        self.goaway_sent = False  # the last GOAWAY: no stream after last_stream_id is taken
        self.stopping = False  # the first GOAWAY of a graceful stop is out
        self.lingering = False  # a GOAWAY for an error is out: reading only to drop
        self.last_stream_id = 0
        self.control_frames = 0
        self.control_since = state.now
        self.reset_budget = RESET_ALLOWANCE
        self.deadline = 0.0
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_outbound_headers=False,  # the cycle validated and lowercased them
            normalize_outbound_headers=False,
        )
        self.conn = h2.connection.H2Connection(config)
        # The header list bound: the HTTP/1 head budget, plus the 32 bytes HPACK counts for each
        # field (RFC 7541 §4.1) so that the per-field limits answer first (431, 414). h2
        # advertises it; hpack enforces it while decoding (HPACK bomb).
        self.header_list_size = state.max_head_size + 32 * (state.limit_request_fields + 8)
        self.conn.local_settings = _settings(self.max_streams, self.header_list_size)
        self.conn.decoder.max_header_list_size = self.header_list_size

    # ------------------------------------------------------------------ asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.state.add(self)
        self.conn.initiate_connection()  # advertises --h2-max-concurrent-streams
        # h2 would answer a stream over that limit with a connection error; we refuse that one
        # stream instead (REFUSED_STREAM, in _on_request), so h2's own check must not fire.
        self.conn.local_settings = _settings(2**31 - 1, self.header_list_size)
        self.conn.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        self.flush()
        self._idle()  # while stopping, the short drain grace: its first requests are served

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # after our GOAWAY for an error: read and drop (see _linger)
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued a GOAWAY with the right code (PROTOCOL_ERROR, FLOW_CONTROL_ERROR,
            # COMPRESSION_ERROR, FRAME_SIZE_ERROR...): send it and end the connection.
            logger.debug("Closing HTTP/2 connection from %s: %s", self.client, exc)
            self._linger()
            return
        try:
            for event in events:
                handler = _HANDLERS.get(type(event))
                if handler is not None:
                    handler(self, event)
                else:
                    self._control_frame()
                if self.lingering or self.transport.is_closing():
                    return
        except Exception:  # a bug of ours: this connection ends, the worker serves on
            logger.exception("Error handling HTTP/2 frames from %s", self.client)
            self._go_away(ErrorCodes.INTERNAL_ERROR, "internal error")
            return
        self.flush()
        if self.state.shutting_down and not self.stopping:
            # Accepted while stopping (it was queued on the listening socket): the streams
            # of its first read are served, then it is told to go away.
            self.shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.discard(self)
        self.deadline = 0.0
        self.write_paused = False
        for stream in list(self.streams.values()):
            stream.on_reset()

    def pause_writing(self) -> None:
        # The peer does not read: read nothing more from it either, so that the frames we owe
        # it (SETTINGS and PING acks, responses) cannot pile up without bound.
        self.write_paused = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.transport.is_closing():
            self.transport.resume_reading()
        for stream in list(self.streams.values()):
            stream.flush()
        self.flush()

    # ------------------------------------------------------------------ frames out (for streams)
    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    def flush_soon(self) -> None:
        """Write what the streams produced at the end of this loop iteration: the responses of
        the streams that finish together leave in one write."""
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self.flush_scheduled = False
        self.flush()

    # h2 may have closed a stream (the peer reset it later in the same read) before its
    # events reach us: what is sent on it then is dropped; the StreamReset event follows.
    def send_headers(self, stream_id: int, headers: Headers, end: bool) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self.conn.send_headers(stream_id, headers, end_stream=end)

    def window(self, stream_id: int) -> int:
        try:
            window = self.conn.local_flow_control_window(stream_id)
        except h2.exceptions.StreamClosedError:
            return 0
        return min(window, self.conn.max_outbound_frame_size)

    def send_data(self, stream_id: int, data: bytes, end: bool) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self.conn.send_data(stream_id, data, end_stream=end)

    def end_stream(self, stream_id: int, trailers: Headers | None) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            if trailers:
                self.conn.send_headers(stream_id, trailers, end_stream=True)
            else:
                self.conn.end_stream(stream_id)

    def reset_stream(self, stream_id: int, code: int) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self.conn.reset_stream(stream_id, code)

    def acknowledge(self, stream_id: int, count: int) -> None:
        """Give ``count`` bytes of window back to the peer: to the connection always (h2 credits
        it first), to the stream while it is open."""
        try:
            self.conn.acknowledge_received_data(count, stream_id)
        except h2.exceptions.ProtocolError:
            return  # the connection is closed: no window to give back
        self.flush_soon()

    # ------------------------------------------------------------------ streams
    def _on_request(self, event: h2.events.RequestReceived) -> None:
        stream_id = event.stream_id
        if self.goaway_sent or len(self.streams) >= self.max_streams:
            # Over the limit: h2 counts open streams; we also count reset streams whose app is
            # still running, so a client cannot start apps faster than they finish.
            self.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            self._spend_reset()
            return
        self.last_stream_id = stream_id
        if not self.stopping:
            self.deadline = 0.0
        stream = H2Stream(self, stream_id)
        self.streams[stream_id] = stream
        stream.reading_done = event.stream_ended is not None
        try:
            scope, expect_100 = self._scope(event.headers or [])
        except ProtocolError as exc:
            pseudo = {name: value for name, value in event.headers or () if name[:1] == b":"}
            scope = {
                **_ERROR_SCOPE,
                "client": self.client,
                "server": self.server,
                "scheme": self.scheme,
                "method": pseudo.get(b":method", b"GET").decode("latin-1")[:32],
                "raw_path": pseudo.get(b":path", b"")[:256],  # for the access log
            }
            stream.cycle = H2Cycle(stream, scope, True, False, False)
            stream.task_done = True
            stream.cycle.respond_error(exc.status)
            return
        cycle = stream.cycle = H2Cycle(stream, scope, True, expect_100, not stream.reading_done)
        state = self.state
        limit = state.limit_request_body
        if limit is not None and not stream.reading_done and _declares_more(scope, limit):
            stream.task_done = True  # 413 before the app runs; the DATA that follows is dropped
            self._refuse_body(stream, ProtocolError(413, "request body too large"))
            return
        if state.limit_concurrency is not None and state.too_busy():
            stream.task_done = True
            cycle.respond_error(503)
            return
        task = cycle.task = state.create_task(cycle.run(state.app))  # --reset-contextvars too
        task.add_done_callback(lambda _: self._on_task_done(stream))

    def _scope(self, pairs: Any) -> tuple[dict[str, Any], bool]:
        """The ASGI scope of a request head (h2 has checked the pseudo-header rules)."""
        state = self.state
        method = path = b""
        authority = None
        headers: Headers = []
        expect_100 = False
        has_host = False
        for name, value in pairs:
            if name[:1] == b":":
                if name == b":method":
                    method = value
                elif name == b":path":
                    path = value
                elif name == b":authority":
                    authority = value
                continue
            if len(name) + len(value) + 4 > state.limit_request_field_size:  # as "name: value\r\n"
                raise ProtocolError(431, "request header field too large")
            if name == b"host":
                has_host = True
            elif name == b"expect":
                expect_100 = value.lower() == b"100-continue"
            headers.append((name, value))
        if len(headers) + (authority is not None and not has_host) > state.limit_request_fields:
            raise ProtocolError(431, "too many request header fields")
        if len(method) + len(path) + 10 > state.limit_request_line:  # as "M /p HTTP/1.1\r\n"
            raise ProtocolError(414, "request target too long")
        if method == b"CONNECT" or not path:
            raise ProtocolError(501, "CONNECT is not supported")
        if (path[:1] != b"/" and path != b"*") or b"#" in path:
            raise ProtocolError(400, "a :path is origin-form (or *), without a fragment")
        if authority is not None and not has_host:
            headers.insert(0, (b"host", authority))
        raw_path, _, query = path.partition(b"?")
        scope = build_scope(
            self, "2", method.decode("ascii"), raw_path, query, headers, self.extensions.copy()
        )
        return scope, expect_100

    def _on_data(self, event: h2.events.DataReceived) -> None:
        stream = self.streams.get(event.stream_id)
        length = event.flow_controlled_length
        if not event.data and event.stream_ended is None:
            self._control_frame()  # an empty DATA frame costs us and carries nothing
        if stream is None or stream.closed or stream.cycle.complete:
            if length:
                self.acknowledge(event.stream_id, length)  # nobody will read it
            return
        stream.unacked += length
        if event.data:
            try:
                stream.cycle.feed_body(event.data)
            except ProtocolError as exc:  # the body grew past --limit-request-body
                stream.consumed()  # its window goes back: the rest is dropped as it comes
                self._refuse_body(stream, exc)

    def _refuse_body(self, stream: H2Stream, exc: ProtocolError) -> None:
        """That stream alone is refused: 413 if its response has not started (else it is reset),
        and its app sees a disconnect; the connection and its other streams go on."""
        state = self.state
        if state.throttle.allow(logger, state.now):
            logger.info("Refused a request from %s: %d %s", self.client, exc.status, exc.reason)
        if state.metrics is not None:
            state.metrics.reject(exc.status)
        cycle = stream.cycle
        if not cycle.head_written and not cycle.complete:
            cycle.respond_error(exc.status)
        cycle.on_disconnect()
        if not cycle.complete:
            stream.reset(ErrorCodes.CANCEL)

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.reading_done = True
            stream.cycle.end_body()

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None and not stream.closed:
            if not stream.response_done:
                self._spend_reset()
            stream.on_reset()
            self.forget(stream)

    def _on_window(self, event: h2.events.WindowUpdated) -> None:
        if event.stream_id:
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.flush()
        else:
            self._flush_streams()

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        self._control_frame()
        self._flush_streams()

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        """The client is going away. h2 sends nothing more after a GOAWAY it received, so the
        streams still running see a disconnect, as if the connection had closed."""
        self.goaway_sent = True
        self.abort_streams()
        self.flush()
        self.close()

    def _flush_streams(self) -> None:
        for stream in list(self.streams.values()):
            if stream.pending or stream.end_pending:
                stream.flush()

    def on_response_complete(self, stream: H2Stream) -> None:
        self.state.request_finished()
        if self.reset_budget < RESET_ALLOWANCE:
            self.reset_budget += 1
        self.forget(stream)

    def _on_task_done(self, stream: H2Stream) -> None:
        stream.task_done = True
        if not stream.response_done and not stream.closed:
            stream.reset(ErrorCodes.INTERNAL_ERROR)  # the cycle has logged what went wrong
        self.forget(stream)

    def forget(self, stream: H2Stream) -> None:
        """A stream counts against the limit until its response is sent, or, if it was reset
        before that, until its app has returned (so that resets cannot pile up running apps)."""
        if (stream.response_done and stream.sent_all) or (stream.closed and stream.task_done):
            if self.streams.pop(stream.stream_id, None) is not None:
                stream.consumed()  # a body the app left unread: its window comes back
            if not self.streams:
                if self.goaway_sent:
                    self.flush()
                    self.close()
                else:
                    self._idle()

    # ------------------------------------------------------------------ abuse
    def _control_frame(self) -> None:
        now = self.state.now
        if now - self.control_since >= 1.0:
            self.control_since = now
            self.control_frames = 0
        self.control_frames += 1
        if self.control_frames > CONTROL_FRAMES_PER_SECOND:
            self._go_away(ErrorCodes.ENHANCE_YOUR_CALM, "control frame flood")

    def _spend_reset(self) -> None:
        self.reset_budget -= 1
        if self.reset_budget < 0:
            self._go_away(ErrorCodes.ENHANCE_YOUR_CALM, "too many streams reset or refused")

    def _go_away(self, code: int, reason: str) -> None:
        logger.warning("Closing HTTP/2 connection from %s: %s", self.client, reason)
        self.conn.close_connection(code, last_stream_id=self.last_stream_id)
        self.abort_streams()
        self._linger()

    def _linger(self) -> None:
        """Send the GOAWAY h2 has queued, then read and drop what the client still sends for a
        moment before closing: closing with its bytes unread would reset the connection, and
        the client could lose the GOAWAY that says why."""
        self.flush()
        self.lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.close()  # TLS cannot half-close
        self.deadline = self.state.now + LINGER

    def abort_streams(self) -> None:
        for stream in list(self.streams.values()):
            stream.on_reset()

    # ------------------------------------------------------------------ the server's side
    def _idle(self) -> None:
        if self.stopping or self.lingering:
            return  # the drain or linger deadline stands
        timeout = self.state.timeout_keep_alive
        self.deadline = self.state.now + timeout if timeout > 0 else 0.0

    def on_deadline(self) -> None:
        self.deadline = 0.0
        if self.lingering:
            self.close()
        elif self.stopping:
            self._final_goaway()  # the client did not answer our PING in time
        elif not self.streams:
            self.conn.close_connection(ErrorCodes.NO_ERROR, last_stream_id=self.last_stream_id)
            self.flush()
            self.close()

    def shutdown(self) -> None:
        """Graceful stop in two steps (RFC 9113 §6.8): a GOAWAY that announces the end but names
        no last stream, and a PING; streams the client opened before it saw that GOAWAY reach
        us before the PING's ack, and are served. Then the real GOAWAY with the last stream we
        took; those finish; then the connection closes."""
        if self.stopping or self.transport.is_closing():
            return
        self.stopping = True
        self.flush()
        self.transport.write(_goaway(2**31 - 1))
        self.conn.ping(_DRAIN_PING)
        self.flush()
        self.deadline = self.state.now + DRAIN_IDLE_GRACE

    def _on_ping_ack(self, event: h2.events.PingAckReceived) -> None:
        if event.ping_data == _DRAIN_PING and self.stopping:
            self._final_goaway()

    def _final_goaway(self) -> None:
        if self.goaway_sent:
            return
        self.goaway_sent = True
        self.deadline = 0.0
        self.flush()
        # By hand: after h2's close_connection() it would refuse to send the responses due.
        self.transport.write(_goaway(self.last_stream_id))
        if not self.streams:
            self.close()

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> asyncio.Task[None] | None:
        self.transport.abort()
        tasks = [
            stream.cycle.task
            for stream in self.streams.values()
            if stream.cycle.task is not None and not stream.cycle.task.done()
        ]
        for task in tasks:
            task.cancel()
        return self.loop.create_task(_wait(tasks)) if tasks else None


def _settings(max_streams: int, max_header_list: int) -> h2.settings.Settings:
    return h2.settings.Settings(
        client=False,
        initial_values={
            _SETTINGS.MAX_CONCURRENT_STREAMS: max_streams,
            _SETTINGS.MAX_HEADER_LIST_SIZE: max_header_list,
        },
    )


def _goaway(last_stream_id: int) -> bytes:
    frame = GoAwayFrame(0)
    frame.last_stream_id = last_stream_id
    frame.error_code = ErrorCodes.NO_ERROR
    return bytes(frame.serialize())


async def _wait(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.wait(tasks)


# What the access log sees of a request refused before it had a scope.
_ERROR_SCOPE: dict[str, Any] = {
    "type": "http",
    "http_version": "2",
    "scheme": "http",
    "method": "GET",
    "headers": [],
    "path": "",
    "raw_path": b"",
    "root_path": "",
    "query_string": b"",
    "extensions": {},
}

_HANDLERS: dict[type, Callable[[H2Protocol, Any], None]] = {
    h2.events.RequestReceived: H2Protocol._on_request,
    h2.events.DataReceived: H2Protocol._on_data,
    h2.events.StreamEnded: H2Protocol._on_stream_ended,
    h2.events.StreamReset: H2Protocol._on_reset,
    h2.events.WindowUpdated: H2Protocol._on_window,
    h2.events.RemoteSettingsChanged: H2Protocol._on_settings,
    h2.events.ConnectionTerminated: H2Protocol._on_goaway,
    h2.events.PingAckReceived: H2Protocol._on_ping_ack,
    h2.events.SettingsAcknowledged: lambda proto, event: None,
    h2.events.TrailersReceived: lambda proto, event: None,  # ASGI has no request trailers
}


def _declares_more(scope: dict[str, Any], limit: int) -> bool:
    """Whether the request's Content-Length is over ``limit`` (h2 checks it against the DATA)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bool(value.isdigit() and int(value) > limit)
    return False
