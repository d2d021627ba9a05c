"""Bare ASGI apps for the response and request shapes besides hello-world.

Each answers `GET /` with "Hello, world!" (the readiness probe, benchmarks/procs.py) and measures
one shape on its own path, so that the server, not a framework, is what differs:

* `echo`: POST /echo, the request body (16 KiB in the benchmark) sent back with a Content-Length;
* `large`: GET /large, a 64 KiB body in one message;
* `stream`: GET /stream, 100 chunks of 64 bytes, chunked transfer encoding;
* `sleep`: GET /sleep, waits `asyncio.sleep(0.01)` first (an I/O-bound app: run at 256 conns).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HELLO = b"Hello, world!"
LARGE = b"x" * 65536
CHUNK = b"y" * 64
CHUNKS = 100
PLAIN = (b"content-type", b"text/plain")


async def _answer(send: Send, body: bytes) -> None:
    headers = [PLAIN, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Route on the path: /echo, /large, /stream, /sleep; anything else is hello-world."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    path = scope["path"]
    if path == "/echo":
        await _answer(send, await _read_body(receive))
    elif path == "/large":
        await _answer(send, LARGE)
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [PLAIN]})
        for _ in range(CHUNKS):
            await send({"type": "http.response.body", "body": CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/sleep":
        await asyncio.sleep(0.01)
        await _answer(send, HELLO)
    else:
        await _answer(send, HELLO)
