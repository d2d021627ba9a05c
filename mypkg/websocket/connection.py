"""One WebSocket connection: asyncio I/O around websockets' sans-I/O ``ServerProtocol``, and the
ASGI websocket cycle on top of it.

The sans-I/O contract is followed to the letter: received bytes go to ``receive_data`` (EOF to
``receive_eof``); after every ``receive_*``, ``send_*`` and ``fail`` the protocol's output goes
to the transport through ``_flush``, the one write path (an empty bytes object there means
half-close); ``events_received()`` become ASGI messages; and when ``close_expected()`` says the
TCP connection should end, a deadline makes sure it does. Keepalive pings, pong timeouts and the
closing-handshake timeout are all that same deadline, enforced by the server's one ticker: no
message ever starts a timer.

Memory is bounded whatever the client does: reading stops while the transport's write buffer is
over its high-water mark (pings whose pongs are never read) and while the app's queue holds
``--ws-max-queue`` messages or ``--ws-max-size`` bytes; compressed input is fed a slice at a time
(the rest waits in ``backlog``), so one read cannot inflate past that bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from typing import TYPE_CHECKING

from websockets.exceptions import InvalidHeaderValue, InvalidState, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import CONNECTING as WS_CONNECTING
from websockets.protocol import OPEN as WS_OPEN
from websockets.typing import BytesLike

from mypkg.asgi import Message, Scope
from mypkg.errors import ClientDisconnected
from mypkg.logging import client_and_path
from mypkg.websocket import handshake

if TYPE_CHECKING:
    from mypkg.websocket.upgrade import WebSocketOptions

logger = logging.getLogger("mypkg.error")
access_logger = logging.getLogger("mypkg.access")

# What the app has said so far: nothing yet; a denial response under way; accepted; closed.
CONNECTING, DENYING, OPEN, CLOSED = range(4)

TEXT, BINARY, CONT, PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.PONG
_RECEIVE = "websocket.receive"
# Compressed input is fed this many bytes at a time (see the module docstring).
_SLICE = 4096
_SEND = "websocket.send"


class WebSocketConnection(asyncio.Protocol):
    """The transport's protocol once an upgrade request was handed over by the HTTP layer."""

    __slots__ = (
        "backlog",
        "closing",
        "deadline",
        "denial",
        "drain_waiter",
        "eof_pending",
        "final",
        "fragment_text",
        "fragments",
        "inbox",
        "lost",
        "opened",
        "options",
        "pending",
        "phase",
        "ping_payload",
        "queued_bytes",
        "reading_paused",
        "response",
        "scope",
        "server_closed",
        "state",
        "task",
        "transport",
        "waiter",
        "write_paused",
        "ws",
    )

    def __init__(
        self, options: WebSocketOptions, transport: asyncio.Transport, http_scope: Scope
    ) -> None:
        self.options = options
        self.state = options.state
        self.transport = transport
        self.scope = handshake.websocket_scope(http_scope)
        self.ws = handshake.HandoffProtocol(
            extensions=options.extensions, max_size=options.max_size, logger=options.logger
        )
        self.phase = CONNECTING
        self.opened = False  # the 101 response is sent: bytes from now on are frames
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
        self.server_closed = False  # we sent a close frame and wait for the client's answer
        self.closing = False  # the TCP connection is expected to end: the deadline bounds it
        self.lost = False
        self.task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ taking over
    def start(self, http_scope: Scope, rest: bytes) -> None:
        """Take the transport over, check the handshake, and start the app (or refuse)."""
        self.transport.set_protocol(self)
        self.state.add(self)  # the HTTP side has just left the registry: the count is unchanged
        if rest:
            self.pending.append(rest)
        state = self.state
        refusal = handshake.method_or_version_error(http_scope)
        if refusal is None and state.shutting_down:
            refusal = (503, "the server is shutting down")
        elif refusal is None and state.too_busy():
            refusal = (503, "too many connections (--limit-concurrency)")
        if refusal is not None:
            self._refuse(*refusal)
            return
        try:
            request = handshake.handshake_request(http_scope)
        except (InvalidHeaderValue, ValueError) as exc:
            self._refuse(400, f"invalid handshake request: {exc}")
            return
        response = self.ws.accept(request)
        if response.status_code != 101:  # websockets explains what is wrong with the request
            handshake.add_defaults(response.headers, state.default_header_list)
            self._answer(response)
            return
        self.response = response
        self.inbox.append({"type": "websocket.connect"})
        task = self.task = state.create_task(self.run())
        task.add_done_callback(self._task_done)

    # ------------------------------------------------------------------ asyncio callbacks
    def data_received(self, data: bytes) -> None:
        if not self.opened:
            if self.phase == CONNECTING or self.phase == DENYING:
                # The app has not answered the handshake: keep the bytes, read no more.
                self.pending.append(data)
                self._pause_reading()
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
        self.lost = True
        self.deadline = 0.0
        ws = self.ws
        ws.receive_eof()  # the protocol is CLOSED now: any later send fails cleanly
        ws.data_to_send()  # nothing can be written any more
        self._disconnect(*self._close_code())
        self.write_paused = False
        _release(self.drain_waiter)
        self.drain_waiter = None
        self._maybe_done()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.opened:
            self._pause_reading()  # the peer does not read: do not make more for it to read

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter, self.drain_waiter = self.drain_waiter, None
        _release(waiter)
        if self.opened and not self.lost:
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
            self._pause_reading()

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
            self._resume_reading()

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
                self.ws.fail(1007, f"invalid UTF-8 in a text message at byte {exc.start}")
                return False
        else:
            message = {"type": _RECEIVE, "bytes": data if type(data) is bytes else bytes(data)}
        self._deliver(message, len(data))
        return True

    def _deliver(self, message: Message, size: int) -> None:
        if self.phase != OPEN:
            return  # the app closed: nothing more is for it
        inbox = self.inbox
        inbox.append(message)
        self.queued_bytes += size
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if len(inbox) >= self.options.max_queue or self.queued_bytes >= self.options.max_size:
            self._pause_reading()  # the app is behind: let TCP push back on the client

    def _on_pong(self, data: BytesLike) -> None:
        if self.ping_payload is not None and data == self.ping_payload:
            self.ping_payload = None
            if not self.closing and self.ws.state is WS_OPEN:
                self.deadline = self.state.now + self.options.ping_interval

    def _on_closing(self) -> None:
        """The protocol left OPEN: bound how long the TCP close may take; tell the app."""
        ws = self.ws
        if ws.close_expected() and not self.closing:
            self.closing = True  # from now on the deadline is the closing handshake's
            self.deadline = self.state.now + self.options.close_timeout
        if ws.close_rcvd is not None or not self.server_closed:
            self._disconnect(*self._close_code())

    def _close_code(self) -> tuple[int, str]:
        """The peer's close code if it sent one, else ours, else 1006 (no close frame at all)."""
        ws = self.ws
        close = ws.close_rcvd if ws.close_rcvd is not None else ws.close_sent
        return (1006, "") if close is None else (close.code, close.reason)

    def _disconnect(self, code: int, reason: str = "") -> None:
        """Queue websocket.disconnect once; later receive() calls keep returning it."""
        if self.final is not None:
            return
        self.final = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self.inbox.append(self.final)
        self._resume_reading()
        waiter, self.waiter = self.waiter, None
        _release(waiter)

    # ------------------------------------------------------------------ deadlines, shutdown
    def on_deadline(self) -> None:
        """The ticker found our deadline passed: close overdue, pong overdue, or ping due."""
        self.deadline = 0.0
        if self.closing:
            self.transport.abort()  # the client never finished the closing handshake
            return
        ws = self.ws
        if ws.state is not WS_OPEN or self.server_closed:
            return
        options = self.options
        if self.ping_payload is not None and options.ping_timeout > 0:
            ws.fail(1011, "keepalive ping timeout")
            self._flush()
            self._on_closing()
            return
        self.ping_payload = payload = os.urandom(4)
        ws.send_ping(payload)
        self._flush()
        self.deadline = self.state.now + (options.ping_timeout or options.ping_interval)

    def shutdown(self) -> None:
        """Server stopping: refuse a pending handshake (503), close an open one with 1012."""
        if self.lost:
            return
        if self.phase == CONNECTING:
            self._disconnect(1012, "service restart")
            self._refuse(503, "the server is shutting down")
        elif self.phase == OPEN:
            self._server_close(1012, "service restart")
        # DENYING: the app is answering; CLOSED: the closing handshake is under way.

    def abort(self) -> asyncio.Task[None] | None:
        """The graceful timeout ran out: cut the connection and cancel the app."""
        self.transport.abort()
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            return task
        return None

    def _server_close(self, code: int, reason: str) -> None:
        try:
            self.ws.send_close(code, reason)
        except InvalidState:
            return  # the client closed first; its close is being answered
        self.server_closed = True
        self._flush()
        self._on_closing()

    # ------------------------------------------------------------------ flow control
    def _pause_reading(self) -> None:
        if not self.reading_paused and not self.transport.is_closing():
            self.reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.reading_paused and not self.transport.is_closing():
            self.reading_paused = False
            self.transport.resume_reading()

    async def _drain(self) -> None:
        if self.write_paused and not self.transport.is_closing():
            waiter = self.drain_waiter
            if waiter is None:
                waiter = self.drain_waiter = self.state.loop.create_future()
            await waiter

    # ------------------------------------------------------------------ the ASGI app
    async def run(self) -> None:
        """The app's whole session; whatever way it ends, the client gets a proper answer."""
        try:
            await self.state.app(self.scope, self.receive, self.send)
        except Exception as exc:
            self._app_failed(exc)
        except BaseException as exc:  # cancelled (graceful timeout) or exiting
            self._app_failed(exc)
            raise
        else:
            self._app_returned()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.state.request_finished()
        self._maybe_done()

    def _maybe_done(self) -> None:
        """The server forgets this connection once both the socket and the app are finished."""
        task = self.task
        if self.lost and (task is None or task.done()):
            self.state.discard(self)

    def _app_failed(self, exc: BaseException) -> None:
        if self.lost or isinstance(exc, (ClientDisconnected, asyncio.CancelledError)):
            logger.debug("ASGI WebSocket app ended after the connection closed", exc_info=exc)
            if not self.lost:
                self.transport.close()
            return
        logger.error("Exception in ASGI application", exc_info=exc)
        if self.phase == CONNECTING or self.phase == DENYING:
            self._refuse(500, "Internal Server Error")  # a denial is only sent when complete
        elif self.phase == OPEN:
            self._server_close(1011, "")

    def _app_returned(self) -> None:
        if self.phase == CONNECTING or self.phase == DENYING:
            if not self.lost:
                logger.error("ASGI callable returned without accepting or refusing the WebSocket")
            self._refuse(500, "Internal Server Error")
        elif self.phase == OPEN:
            self._server_close(1000, "")

    async def receive(self) -> Message:
        inbox = self.inbox
        while not inbox:
            final = self.final
            if final is not None:
                return dict(final)
            waiter = self.waiter = self.state.loop.create_future()
            await waiter
        message = inbox.popleft()
        data = message.get("bytes") or message.get("text")
        if data:  # text counts its UTF-8 size: the encoding is its length when it is ASCII
            self.queued_bytes -= (
                len(data) if type(data) is bytes or data.isascii() else (len(data.encode()))
            )
        if (
            self.reading_paused
            and self.opened
            and len(inbox) <= self.options.low_water
            and self.queued_bytes <= self.options.max_size >> 2
        ):
            self._read_more()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == _SEND and self.phase == OPEN:
            ws = self.ws
            text = message.get("text")
            try:
                if text is not None:
                    ws.send_text(text.encode())
                else:
                    data = message.get("bytes")
                    if data is None:
                        raise ValueError("websocket.send needs 'text' or 'bytes'")
                    ws.send_binary(data)
            except InvalidState:
                raise ClientDisconnected("the WebSocket connection is closed") from None
            self._flush()
            if self.write_paused:
                await self._drain()
            return
        self._send_control(message)

    def _send_control(self, message: Message) -> None:
        """Every message other than websocket.send on an open connection."""
        kind = message["type"]
        phase = self.phase
        if phase == CONNECTING:
            if self.ws.state is not WS_CONNECTING:
                raise ClientDisconnected("the client went away during the handshake")
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._disconnect(message.get("code") or 1000, message.get("reason") or "")
                self._refuse(403, "the application refused the WebSocket connection")
            elif kind == "websocket.http.response.start":
                status, headers = handshake.denial_start(message)
                self.denial = (status, headers, [])
                self.phase = DENYING
            else:
                raise RuntimeError(
                    "expected 'websocket.accept', 'websocket.close' or"
                    f" 'websocket.http.response.start', got {kind!r}"
                )
        elif phase == DENYING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"expected 'websocket.http.response.body', got {kind!r}")
            self._denial_body(message)
        elif kind == "websocket.close":
            if phase == OPEN:
                self._close(message)
        elif phase == CLOSED or kind == _SEND:
            raise ClientDisconnected("the WebSocket connection is closed")
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an open WebSocket")

    def _accept(self, message: Message) -> None:
        response = self.response
        assert response is not None
        subprotocol = handshake.complete_accept(
            response, message, self.scope["subprotocols"], self.state.default_header_list
        )
        self.ws.subprotocol = subprotocol  # type: ignore[assignment]
        self.response = None
        self._answer(response)
        pending, self.pending = self.pending, []
        if pending:
            self._feed(b"".join(pending))
        self._read_more()
        if self.options.ping_interval > 0 and self.deadline == 0.0:
            self.deadline = self.state.now + self.options.ping_interval

    def _close(self, message: Message) -> None:
        code = message.get("code") or 1000
        reason = message.get("reason") or ""
        if self.ws.state is WS_OPEN:
            try:
                self.ws.send_close(code, reason)
            except ProtocolError as exc:
                raise ValueError(f"websocket.close: code {code} reason {reason!r}: {exc}") from None
            self.server_closed = True
        self.phase = CLOSED
        self.inbox = deque(m for m in self.inbox if m is self.final)  # unread data is moot now
        self.queued_bytes = 0
        self._read_more()  # the client's close frame must still be read
        self._flush()
        self._on_closing()

    def _denial_body(self, message: Message) -> None:
        assert self.denial is not None
        status, headers, body = self.denial
        chunk = message.get("body", b"")
        if not isinstance(chunk, bytes):
            raise TypeError(f"websocket.http.response.body: body must be bytes, got {chunk!r}")
        body.append(chunk)
        if message.get("more_body", False):
            return
        defaults = self.state.default_header_list
        self._answer(handshake.denial_response(status, headers, b"".join(body), defaults))

    # ------------------------------------------------------------------ handshake answers
    def _refuse(self, status: int, text: str) -> None:
        """Answer the handshake with a short plain-text error, unless it is too late to."""
        if self.ws.state is not WS_CONNECTING or self.phase == CLOSED or self.opened:
            return
        response = self.ws.reject(status, text + "\n")
        if status == 405:
            response.headers["Allow"] = "GET"
        handshake.add_defaults(response.headers, self.state.default_header_list)
        self._answer(response)

    def _answer(self, response: Response) -> None:
        """Send the handshake response: 101 opens the connection, anything else ends it."""
        self.ws.send_response(response)
        if response.status_code == 101:
            self.phase = OPEN
            self.opened = True
        else:
            self.phase = CLOSED
            self.pending = []
            self._disconnect(1006)
        self._flush()
        if response.status_code != 101:
            self._on_closing()
        if self.state.access_log:
            self._log_access(response.status_code)

    def _log_access(self, status: int) -> None:
        client, path = client_and_path(self.scope)
        access_logger.info('%s - "WebSocket %s" %d', client, path, status)


def _release(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
