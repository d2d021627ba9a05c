"""The app's side of one WebSocket connection: ``run``, ``receive``, ``send`` and the handshake
answers they lead to.

Every message the app sends is first checked by the state machine (``machine.py``), then
validated, and only then does the machine move on and the protocol get the call: a message that
is refused never changes anything. ``connection.py`` (the asyncio adapter) derives from this
class and supplies the I/O hooks declared at the end.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from websockets.exceptions import InvalidState, ProtocolError
from websockets.frames import CloseCode
from websockets.http11 import Response
from websockets.protocol import CONNECTING as WS_CONNECTING
from websockets.protocol import OPEN as WS_OPEN

from mypkg.asgi import Message
from mypkg.errors import ClientDisconnected
from mypkg.flow import FlowControlProtocol, wake
from mypkg.websocket import handshake
from mypkg.websocket.machine import (
    APP_EVENTS,
    BEFORE_OPEN,
    CLOSING,
    CONNECTING,
    DENYING,
    DISCONNECTED,
    GONE,
    OPEN,
    AsgiMachine,
    Event,
)

if TYPE_CHECKING:
    from mypkg.state import ServerState
    from mypkg.websocket.options import WebSocketOptions

logger = logging.getLogger("mypkg.error")

_SEND = "websocket.send"


class AsgiSession(FlowControlProtocol):
    """The ASGI callables of one connection, and the state they share with the adapter."""

    __slots__ = (
        "deadline",
        "denial",
        "final",
        "inbox",
        "machine",
        "options",
        "pending",
        "queued_bytes",
        "record",
        "response",
        "scope",
        "state",
        "task",
        "waiter",
        "ws",
    )

    options: WebSocketOptions
    state: ServerState
    scope: dict[str, Any]
    task: asyncio.Task[None] | None
    ws: handshake.HandoffProtocol
    machine: AsgiMachine
    response: Response | None
    denial: tuple[int, list[tuple[bytes, bytes]], list[bytes]] | None
    inbox: deque[Message]
    queued_bytes: int
    final: Message | None
    waiter: asyncio.Future[None] | None
    pending: list[bytes]
    deadline: float
    record: handshake.HandshakeRecord | None

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
            state = self.machine.state
            if state is CONNECTING or state is DENYING:
                logger.error("ASGI callable returned without accepting or refusing the WebSocket")
            self._app_ended(CloseCode.NORMAL_CLOSURE)

    def _app_failed(self, exc: BaseException) -> None:
        gone = self.machine.state is GONE
        if gone or isinstance(exc, (ClientDisconnected, asyncio.CancelledError)):
            logger.debug("ASGI WebSocket app ended after the connection closed", exc_info=exc)
            if not gone:
                self.transport.close()
            return
        logger.error("Exception in ASGI application", exc_info=exc)
        self._app_ended(CloseCode.INTERNAL_ERROR)

    def _app_ended(self, code: int) -> None:
        """The app returned or raised: a handshake it left unanswered gets a 500, an open
        connection a close frame with ``code``."""
        machine = self.machine
        before = machine.state
        machine.handle(Event.APP_ENDED)
        if before is CONNECTING or before is DENYING:
            self._send_refusal(500, "Internal Server Error")  # a denial is only sent when complete
        elif before is OPEN:
            self._server_close(code, "")

    def wake_receive(self) -> None:
        """A message is in the inbox: the app's ``receive`` may go on."""
        waiter, self.waiter = self.waiter, None
        wake(waiter)

    async def receive(self) -> Message:
        inbox = self.inbox
        while not inbox:
            final = self.final
            if final is not None:
                return dict(final)
            waiter = self.waiter = self.loop.create_future()
            await waiter
        message = inbox.popleft()
        data = message.get("bytes") or message.get("text")
        if data:  # text counts its UTF-8 size: the encoding is its length when it is ASCII
            self.queued_bytes -= (
                len(data) if type(data) is bytes or data.isascii() else (len(data.encode()))
            )
        if (
            self.reading_paused
            and len(inbox) <= self.options.low_water
            and self.queued_bytes <= self.options.max_size >> 2
            and self.machine.state not in BEFORE_OPEN
        ):
            self._read_more()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == _SEND and self.machine.state is OPEN:
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
                await self.drain()
            return
        self._send_control(message)

    def _send_control(self, message: Message) -> None:
        """Every message other than websocket.send on an open connection: the machine says
        whether it is legal here; it is validated before the machine moves on."""
        kind = message["type"]
        event = APP_EVENTS.get(kind, Event.UNKNOWN)
        if event is Event.RESPONSE_BODY and not message.get("more_body", False):
            event = Event.RESPONSE_END
        machine = self.machine
        before = machine.state
        machine.expect(event, kind)  # raises IllegalMessage or ClientDisconnected
        if event is Event.ACCEPT:
            self._accept(message)
        elif event is Event.RESPONSE_START:
            status, headers = handshake.denial_start(message)
            machine.handle(event)
            self.denial = (status, headers, [])
        elif event is Event.RESPONSE_BODY or event is Event.RESPONSE_END:
            self._denial_body(message, event)
        elif before is CONNECTING:  # websocket.close before accepting: 403
            machine.handle(event)
            self._disconnect(
                message.get("code") or CloseCode.NORMAL_CLOSURE, message.get("reason") or ""
            )
            self._send_refusal(403, "the application refused the WebSocket connection")
        elif before is OPEN or before is CLOSING or before is DISCONNECTED:
            self._close(message)
        else:
            machine.handle(event)  # websocket.close once more: nothing to do

    def _accept(self, message: Message) -> None:
        response = self.response
        assert response is not None
        subprotocol = handshake.complete_accept(
            response, message, self.scope["subprotocols"], self.state.default_header_list
        )
        self.machine.handle(Event.ACCEPT)
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
        code = message.get("code") or CloseCode.NORMAL_CLOSURE
        reason = message.get("reason") or ""
        if self.ws.state is WS_OPEN:
            try:
                self.ws.send_close(code, reason)
            except ProtocolError as exc:
                raise ValueError(f"websocket.close: code {code} reason {reason!r}: {exc}") from None
        self.machine.handle(Event.CLOSE)
        self.inbox = deque(m for m in self.inbox if m is self.final)  # unread data is moot now
        self.queued_bytes = 0
        self._read_more()  # the client's close frame must still be read
        self._flush()
        self._on_closing()

    def _denial_body(self, message: Message, event: Event) -> None:
        assert self.denial is not None
        status, headers, body = self.denial
        chunk = message.get("body", b"")
        if not isinstance(chunk, bytes):
            raise TypeError(f"websocket.http.response.body: body must be bytes, got {chunk!r}")
        self.machine.handle(event)
        body.append(chunk)
        if event is Event.RESPONSE_END:
            defaults = self.state.default_header_list
            self._answer(handshake.denial_response(status, headers, b"".join(body), defaults))

    # ------------------------------------------------------------------ handshake answers
    def _send_refusal(self, status: int, text: str) -> None:
        """Answer the handshake with a short plain-text error, unless it is too late to."""
        if self.ws.state is not WS_CONNECTING:
            return
        response = self.ws.reject(status, text + "\n")
        if status == 405:
            response.headers["Allow"] = "GET"
        handshake.add_defaults(response.headers, self.state.default_header_list)
        self._answer(response)

    def _answer(self, response: Response) -> None:
        """Send the handshake response: 101 opens the connection, anything else ends it."""
        self.ws.send_response(response)
        refused = response.status_code != 101
        if refused:
            self.pending = []
            self._disconnect(CloseCode.ABNORMAL_CLOSURE)
        self._flush()
        if refused:
            self._on_closing()
        record = self.record
        if record is not None:
            record.log(response)

    # ------------------------------------------------------------------ the adapter's hooks
    def _feed(self, data: bytes) -> None:
        raise NotImplementedError

    def _read_more(self) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        raise NotImplementedError

    def _on_closing(self) -> None:
        raise NotImplementedError

    def _disconnect(self, code: int, reason: str = "") -> None:
        raise NotImplementedError

    def _server_close(self, code: int, reason: str) -> None:
        raise NotImplementedError
