"""ASGI types, values read from a scope, and the ASGI 2 adapter.

A leaf: it imports nothing from mypkg, so every layer (protocols, logs, the WSGI adapter, the app
loader) can use it without pulling in another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI3App = Callable[[Scope, Receive, Send], Awaitable[None]]
ASGI2App = Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]


def path_info(scope: Scope) -> str:
    """The decoded path without the root_path prefix (WSGI's PATH_INFO)."""
    path: str = scope["path"]
    root: str = scope["root_path"]
    return path[len(root) :] if root and path.startswith(root) else path


class ASGI2Adapter:
    """Serve an ASGI 2 (double-callable) app through the ASGI 3 interface."""

    __slots__ = ("app",)

    def __init__(self, app: ASGI2App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        instance = self.app(scope)
        await instance(receive, send)
