"""Apps for the security regression tests that run the server in its own process."""

from __future__ import annotations

import asyncio
from typing import Any


async def ws_idle(scope: Any, receive: Any, send: Any) -> None:
    """Accepts a WebSocket, then waits for the disconnect (pings never reach the app)."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def ws_never_reads(scope: Any, receive: Any, send: Any) -> None:
    """Accepts a WebSocket and never reads a message: everything the client sends queues up."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.Event().wait()
