"""Which protocol a connection speaks, decided before any HTTP/1 parsing (``--http2``).

TLS with ALPN ``h2``, or a cleartext connection whose first bytes are the HTTP/2 preface (prior
knowledge), goes to HTTP/2 (h2_impl); anything else to the HTTP/1 parser chosen by ``--http``,
with not one byte or callback lost. The HTTP/1 protocol is set up first either way (client
address, TLS extension, proxy trust, the server's registry) and hands those over, as a WebSocket
upgrade hands over a connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mypkg.http.h2_impl import H2Protocol
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class H2Negotiator(asyncio.Protocol):
    """Chooses HTTP/1 or HTTP/2 for one connection, then steps aside."""

    __slots__ = ("buffered", "http1", "transport")

    def __init__(self, state: ServerState, http1: Callable[[ServerState], Any]) -> None:
        self.http1: HttpProtocol = http1(state)
        self.buffered = b""
        self.transport: asyncio.Transport = None  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.http1.connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return  # cleartext: the first bytes tell
        if ssl_object.selected_alpn_protocol() == "h2":
            self._hand_over(b"")
        else:
            self.transport.set_protocol(self.http1)

    def data_received(self, data: bytes) -> None:
        data = self.buffered + data if self.buffered else data
        if data.startswith(PREFACE):
            self._hand_over(data)
        elif PREFACE.startswith(data):
            self.buffered = data  # the preface may yet be arriving
        else:
            self.transport.set_protocol(self.http1)
            self.http1.data_received(data)

    def _hand_over(self, data: bytes) -> None:
        http1 = self.http1
        http1.state.discard(http1)
        http1.deadline = 0.0
        proto = H2Protocol(http1)
        self.transport.set_protocol(proto)
        proto.connection_made(self.transport)
        if data:
            proto.data_received(data)

    def eof_received(self) -> bool | None:
        return self.http1.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.http1.connection_lost(exc)

    def pause_writing(self) -> None:
        self.http1.pause_writing()

    def resume_writing(self) -> None:
        self.http1.resume_writing()


def negotiating(http1: Callable[[ServerState], Any]) -> Callable[[ServerState], Any]:
    """The protocol factory for --http2: each connection starts with a negotiator."""
    return lambda state: H2Negotiator(state, http1)
