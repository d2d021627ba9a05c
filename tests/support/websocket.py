"""WebSocket test helpers: small ASGI apps that report to the test thread, hand-built frames."""

from __future__ import annotations

import os
import queue
import struct
from collections.abc import Callable
from typing import Any

from websockets.typing import Subprotocol

from tests.support.clients import RawClient

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def handshake(path: str = "/ws", extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True) -> bytes:
    """One client frame, masked unless told otherwise (a client must mask: RFC 6455 §5.1)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    size = len(payload)
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(byte ^ key[i % 4] for i, byte in enumerate(payload))
    return head + key + masked


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


class RawWebSocket(RawClient):
    """A raw-socket client that performs the handshake and reads the server's frames."""

    def open(self, path: str = "/ws", extra: str = "", after: bytes = b"") -> str:
        self.send(handshake(path, extra) + after)
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        assert head.startswith("HTTP/1.1 101"), head
        return head

    def read_frame(self) -> tuple[int, bool, bytes]:
        """(opcode, fin, payload) of the next server frame; server frames are never masked."""
        first, second = self.read_exactly(2)
        assert not second & 0x80, "a server frame must not be masked"
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self.read_exactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self.read_exactly(8))
        return first & 0x0F, bool(first & 0x80), self.read_exactly(size)

    def read_close(self) -> tuple[int, str]:
        """Skip data frames and pings until the close frame; its (code, reason)."""
        while True:
            opcode, _, payload = self.read_frame()
            if opcode == CLOSE:
                if not payload:
                    return 1005, ""
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()


# --------------------------------------------------------------------------- apps


def echo_app(events: queue.Queue[Any] | None = None, **accept: Any) -> Callable[..., Any]:
    """Accepts (with ``accept`` keys), echoes every message, reports scope and disconnect."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        if events is not None:
            events.put(("scope", scope))
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept", **accept})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                if events is not None:
                    events.put(("disconnect", message))
                return
            if message.get("text") == "close-me":
                await send({"type": "websocket.close", "code": 4001, "reason": "asked to"})
                continue
            reply = {"type": "websocket.send"}
            reply.update(
                {"text": message["text"]} if "text" in message else {"bytes": message["bytes"]}
            )
            await send(reply)

    return app


def scripted_app(*replies: dict[str, Any], events: queue.Queue[Any] | None = None) -> Any:
    """Sends ``replies`` after websocket.connect, then reports what receive() gives."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        for reply in replies:
            await send(reply)
        if events is not None:
            events.put(("after", await receive()))

    return app


def wait_for(events: queue.Queue[Any], kind: str, timeout: float = 5.0) -> Any:
    """The next reported item of this kind (others are skipped)."""
    while True:
        got, value = events.get(timeout=timeout)
        if got == kind:
            return value


def subprotocols(*names: str) -> list[Subprotocol]:
    """Subprotocol names as the websockets client's type wants them."""
    return [Subprotocol(name) for name in names]
