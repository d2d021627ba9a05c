"""One WebSocket connection: the asyncio adapter between a transport, websockets' sans-I/O
``ServerProtocol`` (the wire) and the app's side (``session.py``, driven by the state machine of
``machine.py``).

The sans-I/O contract is followed to the letter: received bytes go to ``receive_data`` (EOF to
``receive_eof``); after every ``receive_*``, ``send_*`` and ``fail`` the protocol's output goes
to the transport through ``_flush``, the one write path (an empty bytes object there means
half-close); ``events_received()`` become ASGI messages; and when ``close_expected()`` says the
TCP connection should end, a deadline makes sure it does. Keepalive pings, pong timeouts and the
closing-handshake timeout are all that same deadline, enforced by the server's one ticker: no
message ever starts a timer. Whether a message is legal, and what each event means for the app,
is the machine's table; this module only does the I/O each transition calls for.

Memory is bounded whatever the client does: reading stops while the transport's write buffer is
over its high-water mark (pings whose pongs are never read) and while the app's queue holds
``--ws-max-queue`` messages or ``--ws-max-size`` bytes; compressed input is fed a slice at a time
(the rest waits in ``backlog``), so one read cannot inflate past that bound.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import TYPE_CHECKING

from websockets.exceptions import InvalidHeaderValue, InvalidState
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import OPEN as WS_OPEN
from websockets.typing import BytesLike

from mypkg.asgi import Message, Scope
from mypkg.websocket import handshake
from mypkg.websocket.machine import (
    BEFORE_OPEN,
    CLOSED,
    CLOSING,
    CONNECTING,
    GONE,
    OPEN,
    REFUSED,
    AsgiMachine,
    Event,
)
from mypkg.websocket.session import AsgiSession

if TYPE_CHECKING:
    from mypkg.websocket.options import WebSocketOptions

TEXT, BINARY, CONT, PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG
_RECEIVE = "websocket.receive"
# Compressed input is fed this many bytes at a time (see the module docstring).
_SLICE = 4096
_RESTART = "service restart"


class WebSocketConnection(AsgiSession):
    """The transport's protocol once an upgrade request was handed over by the HTTP layer."""

    __slots__ = (
        "backlog",
        "closing",
        "eof_pending",
        "fragment_text",
        "fragments",
        "ping_payload",
    )

    def __init__(
        self, options: WebSocketOptions, transport: asyncio.Transport, http_scope: Scope
    ) -> None:
        self.options = options
        self.state = state = options.state
        self.loop = state.loop
        self.transport = transport
        self.scope = handshake.websocket_scope(http_scope)
        self.ws = handshake.HandoffProtocol(
            extensions=options.extensions, max_size=options.max_size, logger=options.logger
        )
        self.machine = AsgiMachine()
        self.response: Response | None = None  # the 101 response, until the app accepts
        self.denial: tuple[int, list[tuple[bytes, bytes]], list[bytes]] | None = None
        self.inbox: deque[Message] = deque()
        self.queued_bytes = 0  # payload bytes of the data messages in the inbox
        self.backlog = b""  # compressed input held back while the app is behind
        self.eof_pending = False  # the client's EOF, to be processed after the backlog
        self.final: Message | None = None  # the websocket.disconnect message, once known
        self.waiter: asyncio.Future[None] | None = None
        self.pending: list[bytes] = []  # bytes that arrived before the app accepted
        # One buffer, not a list of pieces: 100,000 tiny (or empty) fragments must cost about
        # the message's size, as --ws-max-size counts it, not 40 bytes of list and object each.
        self.fragments = bytearray()
        self.fragment_text = False
        self.reading_paused = not transport.is_reading()
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.deadline = 0.0
        self.ping_payload: bytes | None = None
        self.closing = False  # the deadline is the closing handshake's, no longer a ping's
        self.task: asyncio.Task[None] | None = None
        # The access line's record, only while the access log is on.
        self.record = handshake.HandshakeRecord(http_scope, state) if state.access_log else None

    # ------------------------------------------------------------------ taking over
    def start(self, http_scope: Scope, rest: bytes) -> None:
        """Take the transport over, check the handshake, and start the app (or refuse)."""
        self.transport.set_protocol(self)
        self.state.add(self)  # the HTTP side has just left the registry: the count is unchanged
        if rest:
            self.pending.append(rest)
        state = self.state
        response = self._check_handshake(http_scope)
        if not isinstance(response, Response) or response.status_code != 101:
            self.machine.handle(Event.REFUSE)
            if isinstance(response, Response):  # websockets explains what is wrong
                handshake.add_defaults(response.headers, state.default_header_list)
                self._answer(response)
            else:
                self._send_refusal(*response)
            return
        self.response = response
        self.inbox.append({"type": "websocket.connect"})
        task = self.task = state.create_task(self.run())
        task.add_done_callback(self._task_done)

    def _check_handshake(self, http_scope: Scope) -> Response | tuple[int, str]:
        """websockets' answer to the handshake request, or the server's own refusal."""
        refusal = handshake.method_or_version_error(http_scope)
        if refusal is not None:
            return refusal
        if self.state.shutting_down:
            return 503, "the server is shutting down"
        if self.state.too_busy():
            return 503, "too many connections (--limit-concurrency)"
        try:
            return self.ws.accept(handshake.handshake_request(http_scope))
        except (InvalidHeaderValue, ValueError) as exc:
            return 400, f"invalid handshake request: {exc}"

    # ------------------------------------------------------------------ asyncio callbacks
    def data_received(self, data: bytes) -> None:
        state = self.machine.state
        if state is not OPEN and state in BEFORE_OPEN:
            if state is not REFUSED:
                # The app has not answered the handshake: keep the bytes, read no more.
                self.pending.append(data)
                self.pause_reading()
            return
        self._feed(data)

    def eof_received(self) -> bool | None:
        if self.backlog:  # (reading pauses while input is held back: a safety net)
            self.eof_pending = True  # processed once the backlog is; keep the transport open
            return True
        self.ws.receive_eof()
        self._process()
        return None  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.machine.handle(Event.LOST)
        self.deadline = 0.0
        ws = self.ws
        ws.receive_eof()  # the protocol is CLOSED now: any later send fails cleanly
        ws.data_to_send()  # nothing can be written any more
        self._disconnect(*self._close_code())
        self.write_paused = False
        self.release_drain()
        self._maybe_done()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.machine.state not in BEFORE_OPEN:
            self.pause_reading()  # the peer does not read: do not make more for it to read

    def resume_writing(self) -> None:
        self.write_paused = False
        self.release_drain()
        state = self.machine.state
        if state is not GONE and state not in BEFORE_OPEN:
            self._read_more()

    # ------------------------------------------------------------------ the sans-I/O side
    def _feed(self, data: bytes) -> None:
        """Bytes to the protocol, holding back compressed input the app has no room for."""
        ws = self.ws
        if not ws.extensions or len(data) <= _SLICE:
            ws.receive_data(data)
            self._process()
        else:  # one slice cannot inflate to more than a few --ws-max-size messages
            for start in range(0, len(data), _SLICE):
                if self._must_wait():
                    self.backlog = data[start:]
                    break
                ws.receive_data(data[start : start + _SLICE])
                self._process()
        if self._must_wait():
            self.pause_reading()

    def _must_wait(self) -> bool:
        """Reading must stop: the peer does not read our output, or the app is behind."""
        options = self.options
        return (
            self.write_paused
            or len(self.inbox) >= options.max_queue
            or self.queued_bytes >= options.max_size
        )

    def _read_more(self) -> None:
        """Room again: feed what was held back, then read from the transport again."""
        backlog = self.backlog
        if backlog:
            self.backlog = b""
            self._feed(backlog)
            if self.backlog:
                return
            if self.eof_pending:
                self.eof_pending = False
                self.ws.receive_eof()
                self._process()
                self.transport.close()  # what asyncio does after an eof_received returning None
                return
        if not self._must_wait():
            self.resume_reading()

    def _process(self) -> None:
        """Turn the protocol's events into ASGI messages, then send what it has to send."""
        ws = self.ws
        # Only frames: the handshake request never goes through the protocol's parser here.
        frames: list[Frame] = ws.events_received()  # type: ignore[assignment]
        for frame in frames:
            opcode = frame.opcode
            if opcode is TEXT or opcode is BINARY or opcode is CONT:
                if not self._on_data(frame):
                    break  # the protocol failed the connection: ignore the rest
            elif opcode is PONG:
                self._on_pong(frame.data)
            # PING: the protocol queued the pong. CLOSE: it queued the echo and the EOF.
        self._flush()
        if ws.state is not WS_OPEN:
            self._on_closing()

    def _flush(self) -> None:
        """The one write path: the protocol's output to the transport; b"" means half-close."""
        writes = self.ws.data_to_send()
        if not writes:
            return
        transport = self.transport
        if transport.is_closing():
            return
        if len(writes) == 1 and writes[0]:
            transport.write(writes[0])
            return
        chunk: list[bytes] = []
        for data in writes:
            if data:
                chunk.append(data)
                continue
            if chunk:
                transport.write(b"".join(chunk))
                chunk = []
            if transport.can_write_eof():
                transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()
        if chunk:
            transport.write(b"".join(chunk))

    def _on_data(self, frame: Frame) -> bool:
        """A data frame: deliver complete messages; False if the protocol failed instead."""
        data = frame.data
        if frame.opcode is CONT:
            self.fragments += data
            if not frame.fin:
                return True
            data = bytes(self.fragments)
            self.fragments = bytearray()
            text = self.fragment_text
        else:
            text = frame.opcode is TEXT
            if not frame.fin:
                self.fragments = bytearray(data)
                self.fragment_text = text
                return True
        message: Message
        if text:
            try:
                message = {"type": _RECEIVE, "text": str(data, "utf-8")}
            except UnicodeDecodeError as exc:
                reason = f"invalid UTF-8 in a text message at byte {exc.start}"
                self.ws.fail(CloseCode.INVALID_DATA, reason)
                return False
        else:
            message = {"type": _RECEIVE, "bytes": data if type(data) is bytes else bytes(data)}
        self._deliver(message, len(data))
        return True

    def _deliver(self, message: Message, size: int) -> None:
        state = self.machine.state  # (PEER_DATA: unchanged in every state that gets frames)
        if state is not OPEN and state is not CLOSING:
            return  # the app closed or was told the connection ended: nothing more is for it
        inbox = self.inbox
        inbox.append(message)
        self.queued_bytes += size
        self.wake_receive()
        if len(inbox) >= self.options.max_queue or self.queued_bytes >= self.options.max_size:
            self.pause_reading()  # the app is behind: let TCP push back on the client

    def _on_pong(self, data: BytesLike) -> None:
        if self.ping_payload is not None and data == self.ping_payload:
            self.ping_payload = None
            if not self.closing and self.ws.state is WS_OPEN:
                self.deadline = self.state.now + self.options.ping_interval

    def _on_closing(self) -> None:
        """The protocol left OPEN: bound how long the TCP close may take; tell the app, unless
        the close is the server's own and the peer has not answered it yet."""
        ws = self.ws
        if ws.close_expected() and not self.closing:
            self.closing = True  # from now on the deadline is the closing handshake's
            self.deadline = self.state.now + self.options.close_timeout
        machine = self.machine
        state = machine.state
        if ws.close_rcvd is not None or (state is not CLOSING and state is not CLOSED):
            machine.handle(Event.PEER_CLOSE)
            self._disconnect(*self._close_code())

    def _close_code(self) -> tuple[int, str]:
        """The peer's close code if it sent one, else ours, else 1006 (no close frame at all)."""
        ws = self.ws
        close = ws.close_rcvd if ws.close_rcvd is not None else ws.close_sent
        if close is None:
            return CloseCode.ABNORMAL_CLOSURE, ""
        return close.code, close.reason

    def _disconnect(self, code: int, reason: str = "") -> None:
        """Queue websocket.disconnect once; later receive() calls keep returning it."""
        if self.final is not None:
            return
        self.final = {"type": "websocket.disconnect", "code": int(code), "reason": reason}
        self.inbox.append(self.final)
        self.resume_reading()
        self.wake_receive()

    # ------------------------------------------------------------------ deadlines, shutdown
    def on_deadline(self) -> None:
        """The ticker found our deadline passed: close overdue, pong overdue, or ping due."""
        self.deadline = 0.0
        if self.closing:
            self.transport.abort()  # the client never finished the closing handshake
            return
        ws = self.ws
        if ws.state is not WS_OPEN:
            return
        options = self.options
        if self.ping_payload is not None and options.ping_timeout > 0:
            ws.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
            self._flush()
            self._on_closing()
            return
        self.ping_payload = payload = os.urandom(4)
        ws.send_ping(payload)
        self._flush()
        self.deadline = self.state.now + (options.ping_timeout or options.ping_interval)

    def shutdown(self) -> None:
        """Server stopping: refuse a pending handshake (503), close an open one with 1012."""
        machine = self.machine
        before = machine.state
        machine.handle(Event.SHUTDOWN)
        if before is CONNECTING:
            self._disconnect(CloseCode.SERVICE_RESTART, _RESTART)
            self._send_refusal(503, "the server is shutting down")
        elif before is OPEN:
            self._server_close(CloseCode.SERVICE_RESTART, _RESTART)

    def abort(self) -> asyncio.Task[None] | None:
        """The graceful timeout ran out: cut the connection and cancel the app."""
        return self.abort_task(self.task)

    def _server_close(self, code: int, reason: str) -> None:
        """The server's own close frame (the machine is CLOSING): the app is told on the answer."""
        try:
            self.ws.send_close(code, reason)
        except InvalidState:
            return  # the client closed first; its close is being answered
        self._flush()
        self._on_closing()

    # ------------------------------------------------------------------ the registry
    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.state.request_finished()
        self._maybe_done()

    def _maybe_done(self) -> None:
        """The server forgets this connection once both the socket and the app are finished."""
        task = self.task
        if self.machine.state is GONE and (task is None or task.done()):
            self.state.discard(self)
