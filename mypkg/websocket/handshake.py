"""The opening handshake, from a request head the HTTP layer already parsed.

Pure functions between ASGI and websockets' handshake types: the websocket scope from the HTTP
scope, a ``websockets.http11.Request`` built from that scope (the bytes are never parsed twice),
and the responses the app asks for: 101 with its subprotocol and headers, or a denial with any
status, headers and body (the ``websocket.http.response`` extension); the ``ServerProtocol``
that takes such an already-parsed request (``HandoffProtocol``); and the access line's record of
the answer (``HandshakeRecord``).
"""

from __future__ import annotations

import http
import time
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from mypkg.asgi import Message, Scope
from mypkg.http.framing import INVALID_VALUE, header_name, valid_status

if TYPE_CHECKING:
    from mypkg.state import ServerState

DENIAL_EXTENSION = "websocket.http.response"

# Headers the handshake owns: an app setting them would break or duplicate the negotiation.
_HANDSHAKE_HEADERS = frozenset(
    (
        b"connection",
        b"upgrade",
        b"sec-websocket-accept",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
    )
)
# Framing headers of a denial response: the server sets them from the body it sends.
_DENIAL_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))


def websocket_scope(http_scope: Scope) -> dict[str, Any]:
    """The ASGI websocket scope: the HTTP scope's keys, minus the method; of its extensions only
    those that are not about HTTP responses (``tls``) carry over."""
    scope = dict(http_scope)
    del scope["method"]
    subprotocols: list[str] = []
    for name, value in http_scope["headers"]:
        if name == b"sec-websocket-protocol":
            subprotocols += [p.strip() for p in value.decode("latin-1").split(",") if p.strip()]
    scope["type"] = "websocket"
    scope["scheme"] = "wss" if http_scope["scheme"] == "https" else "ws"
    scope["subprotocols"] = subprotocols
    carried = {
        name: value
        for name, value in (http_scope.get("extensions") or {}).items()
        if not name.startswith("http.")
    }
    scope["extensions"] = {**carried, DENIAL_EXTENSION: {}}
    return scope


def handshake_request(http_scope: Scope) -> Request:
    """The handshake request as websockets knows it, built from the already-parsed head.

    Raises ValueError if a header value is one websockets refuses.
    """
    path = http_scope["raw_path"].decode("latin-1")
    if http_scope["query_string"]:
        path += "?" + http_scope["query_string"].decode("latin-1")
    headers = Headers()
    for name, value in http_scope["headers"]:
        headers[name.decode("latin-1")] = value.decode("latin-1")
    return Request(path, headers)


def method_or_version_error(http_scope: Scope) -> tuple[int, str] | None:
    """RFC 6455 §4.1: a handshake is a GET over HTTP/1.1 (checked here for websockets < 17)."""
    if http_scope["method"] != "GET":
        return 405, f"a WebSocket handshake must use GET, not {http_scope['method']}"
    if http_scope["http_version"] != "1.1":
        return 505, "a WebSocket handshake needs HTTP/1.1"
    return None


def complete_accept(
    response: Response,
    message: Message,
    offered: list[str],
    defaults: list[tuple[bytes, bytes]],
) -> str | None:
    """Add the app's subprotocol and headers (websocket.accept) to the 101 response."""
    subprotocol = message.get("subprotocol")
    if subprotocol is not None:
        if not isinstance(subprotocol, str):
            raise TypeError(f"websocket.accept: subprotocol must be a str, got {subprotocol!r}")
        if subprotocol not in offered:
            raise ValueError(
                f"websocket.accept: subprotocol {subprotocol!r} was not offered by the client"
                f" (offered: {offered})"
            )
        response.headers["Sec-WebSocket-Protocol"] = subprotocol
    for name, value in _checked(message.get("headers") or (), "websocket.accept"):
        if name in _HANDSHAKE_HEADERS:
            hint = "; use the 'subprotocol' key" if name == b"sec-websocket-protocol" else ""
            raise ValueError(f"websocket.accept: the server sets {name.decode()!r}{hint}")
        response.headers[name.decode("latin-1")] = value.decode("latin-1")
    add_defaults(response.headers, defaults)
    return subprotocol


def denial_response(
    status: int,
    app_headers: list[tuple[bytes, bytes]],
    body: bytes,
    defaults: list[tuple[bytes, bytes]],
) -> Response:
    """A complete HTTP response refusing the handshake (the server frames the body)."""
    headers = Headers()
    for name, value in app_headers:
        if name not in _DENIAL_FRAMING:
            headers[name.decode("latin-1")] = value.decode("latin-1")
    headers["Content-Length"] = str(len(body))
    headers["Connection"] = "close"
    add_defaults(headers, defaults)
    return Response(status, _phrase(status), headers, body)


def denial_start(message: Message) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Validate websocket.http.response.start now, so a bad one never reaches the wire."""
    status = message.get("status")
    if not valid_status(status):
        raise ValueError(f"websocket.http.response.start: invalid status {status!r}")
    return status, _checked(message.get("headers") or (), "websocket.http.response.start")


def _checked(headers: Iterable[Any], where: str) -> list[tuple[bytes, bytes]]:
    """Lowercased (name, value) pairs; names must be tokens and values free of CR, LF, NUL."""
    checked = []
    for name, value in headers:
        if not isinstance(value, bytes) or INVALID_VALUE.search(value):
            raise ValueError(f"{where}: invalid header value {value!r}")
        checked.append((header_name(name), value))
    return checked


def add_defaults(headers: Headers, defaults: list[tuple[bytes, bytes]]) -> None:
    """The server's own headers (Server, Date, --headers) unless already present."""
    own = {key.lower() for key in headers}
    for name, value in defaults:
        key = name.decode("latin-1")
        if key not in own:
            headers[key] = value.decode("latin-1")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


class HandoffProtocol(ServerProtocol):
    """``ServerProtocol`` for a handshake request the HTTP layer has already parsed.

    ``ServerProtocol.parse`` first reads the handshake request from the wire. Here that request
    was consumed by the HTTP parser and reaches ``accept()`` as a ``Request`` built from the
    scope, so the only bytes ever fed in are frames, after ``send_response()`` opened the
    connection: parsing starts at the frame parser.
    """

    def parse(self) -> Generator[None, None, None]:
        return Protocol.parse(self)


class HandshakeRecord:
    """What ``--access-log-format`` reads of an answered handshake (an ``accesslog.Exchange``).

    Made only while the access log is on: with it off, a handshake does no log work at all."""

    __slots__ = ("bytes_sent", "headers", "scope", "start_time", "state", "status")

    def __init__(self, http_scope: Scope, state: ServerState) -> None:
        self.scope = http_scope
        self.state = state
        self.start_time = time.perf_counter()
        self.status: int | None = None
        self.bytes_sent = 0
        self.headers: list[tuple[bytes, bytes]] = []

    def log(self, response: Response) -> None:
        """The handshake was answered: write its access line."""
        self.status = response.status_code
        self.bytes_sent = len(response.body or b"")
        self.headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headers.raw_items()
        ]
        self.state.access_logger.log_websocket(self)

    @property
    def conn(self) -> HandshakeRecord:
        """Where the server's own headers are found (``conn.state``), as for a request cycle."""
        return self
