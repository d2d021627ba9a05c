"""The WebSocket side of the upgrade hand-off (the shared options are in ``options.py``).

``server.py`` sets ``ServerState.upgrade`` to an ``Upgrader``; the HTTP layer calls it with the
transport, the HTTP scope of the upgrade request and the bytes it read past that request.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mypkg.asgi import Scope
from mypkg.state import ServerState
from mypkg.websocket.connection import WebSocketConnection
from mypkg.websocket.options import WebSocketOptions

if TYPE_CHECKING:
    from mypkg.config import Config


class Upgrader:
    """``state.upgrade``: turns a handed-over HTTP connection into a WebSocket connection."""

    __slots__ = ("options",)

    def __init__(self, config: Config, state: ServerState) -> None:
        self.options = WebSocketOptions(config, state)
        # Pings and pong/close timeouts are deadlines on the server's ticker: make it tick
        # often enough for them (it already ticks at least once a second).
        periods = [t / 4 for t in (config.ws_ping_interval, config.ws_ping_timeout) if t > 0]
        if periods:
            state.tick_interval = max(0.05, min(state.tick_interval, *periods))

    def __call__(self, transport: asyncio.Transport, scope: Scope, rest: bytes) -> None:
        WebSocketConnection(self.options, transport, scope).start(scope, rest)
