"""DebugMiddleware: for development, a traceback instead of a bare 500.

``app = DebugMiddleware(app)``. When the app raises before its response has started, the client
gets a 500 with the traceback: an HTML page for a browser (its Accept names text/html), plain
text otherwise (curl, API clients). Once the response has started, nothing changes: the status
and headers are on the wire, and the server closes the connection as usual. Either way the
exception is raised again, so the server logs it. Never on unless added: it shows code and
values to whoever sends the request.
"""

from __future__ import annotations

import html
import traceback
from typing import Any

from mypkg.asgi import ASGI3App, Message, Receive, Scope, Send


class DebugMiddleware:
    def __init__(self, app: ASGI3App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if not started:
                await send_traceback(scope, send, exc)
            raise


def wants_html(scope: Scope) -> bool:
    accept = b",".join(value for name, value in scope["headers"] if name == b"accept")
    return b"text/html" in accept


async def send_traceback(scope: Scope, send: Send, exc: BaseException) -> None:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if wants_html(scope):
        title = html.escape(f"500 Internal Server Error: {type(exc).__name__}: {exc}")
        page = (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            f"<title>{title}</title></head><body><h1>{title}</h1>"
            f"<pre>{html.escape(text)}</pre></body></html>"
        )
        body, kind = page.encode("utf-8"), b"text/html; charset=utf-8"
    else:
        body, kind = text.encode("utf-8"), b"text/plain; charset=utf-8"
    headers: list[Any] = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})
