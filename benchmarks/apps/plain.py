"""Bare ASGI 3 hello-world, the smallest app every server can run.

It measures the server, not a framework: one fixed response per request, no routing and no
allocation beyond the two send() messages. It answers the lifespan protocol too, so servers
that run lifespan by default start cleanly and do not log a warning on every start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b"Hello, world!"
START: Message = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(BODY)).encode("ascii")),
    ],
}
RESPONSE_BODY: Message = {"type": "http.response.body", "body": BODY, "more_body": False}


async def lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown; there is nothing to set up."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer every HTTP request with 200 text/plain "Hello, world!"."""
    if scope["type"] == "http":
        await send(dict(START))
        await send(dict(RESPONSE_BODY))
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)
    else:
        raise RuntimeError(f"unsupported scope type {scope['type']!r}")
