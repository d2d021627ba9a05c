"""The soak test's app: every kind of traffic benchmarks/soak.py sends.

``/`` a small answer; ``/echo`` reads the (chunked or sized) body and answers its size;
``/download`` 64 KiB in one piece; ``/big`` 1 MiB in 16 pieces (a client aborts it midway);
WebSocket: echo until the client closes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from benchmarks.apps.plain import lifespan

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DOWNLOAD = b"d" * 65536
PIECE = b"b" * 65536


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "http":
        await http(scope, receive, send)
    elif kind == "websocket":
        await websocket(receive, send)
    elif kind == "lifespan":
        await lifespan(receive, send)


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    if path == "/echo":
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await _answer(send, b"%d" % size)
    elif path == "/download":
        await _answer(send, DOWNLOAD)
    elif path == "/big":
        length = str(16 * len(PIECE)).encode()
        headers = [(b"content-length", length)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for _ in range(15):
            await send({"type": "http.response.body", "body": PIECE, "more_body": True})
        await send({"type": "http.response.body", "body": PIECE})
    else:
        await _answer(send, b"ok")


async def _answer(send: Send, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def websocket(receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
