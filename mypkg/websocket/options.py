"""What every WebSocket connection of one server shares, computed once from the config."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

from mypkg.state import ServerState

if TYPE_CHECKING:
    from mypkg.config import Config

# How long a client has to finish a closing handshake when pings cannot tell (ping timeout 0).
DEFAULT_CLOSE_TIMEOUT = 10.0


class WebSocketOptions:
    """What every WebSocket connection of one server shares."""

    __slots__ = (
        "close_timeout",
        "extensions",
        "logger",
        "low_water",
        "max_queue",
        "max_size",
        "ping_interval",
        "ping_timeout",
        "state",
    )

    def __init__(self, config: Config, state: ServerState) -> None:
        self.state = state
        self.max_size = config.ws_max_size
        self.max_queue = config.ws_max_queue
        self.low_water = config.ws_max_queue // 4
        self.ping_interval = config.ws_ping_interval
        self.ping_timeout = config.ws_ping_timeout
        self.close_timeout = config.ws_ping_timeout or DEFAULT_CLOSE_TIMEOUT
        self.extensions: list[ServerExtensionFactory] = []
        if config.ws_per_message_deflate:
            # Smaller windows than zlib's default: memory per connection matters more here.
            self.extensions.append(
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12,
                    client_max_window_bits=12,
                    compress_settings={"memLevel": 5},
                )
            )
        self.logger = logging.getLogger("mypkg.error")
