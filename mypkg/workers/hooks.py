"""Gunicorn's pre_request / post_request hooks for an ASGI worker.

Gunicorn calls them around each request of its WSGI workers with its own request, environ and
response objects. An ASGI worker has none of those, so the hooks get small look-alikes built from
the ASGI scope and the response messages. The app is wrapped only when a hook is configured: with
Gunicorn's defaults the request path is exactly the one without Gunicorn. The hooks run on the
event loop, so they must be quick (as they must be in Gunicorn's own workers).
"""

from __future__ import annotations

import http
import logging
from collections.abc import Callable
from typing import Any

from mypkg.accesslog import CGI, raw_uri
from mypkg.asgi import ASGI3App, Message, Receive, Scope, Send, path_info

logger = logging.getLogger("mypkg.error")
Hook = Callable[..., object]


class HookRequest:
    """What a hook reads from Gunicorn's ``Request``: method, uri, path, query, version, headers."""

    __slots__ = ("headers", "method", "path", "query", "remote_addr", "scheme", "scope", "uri")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.uri = raw_uri(scope)
        self.path = path_info(scope)
        self.query = bytes(scope["query_string"]).decode("latin-1")
        self.scheme: str = scope["scheme"]
        client = scope["client"]
        self.remote_addr = client[0] if client else ""
        # Gunicorn's request headers are (UPPERCASE-NAME, value) strings.
        self.headers = [
            (name.decode("latin-1").upper(), value.decode("latin-1"))
            for name, value in scope["headers"]
        ]

    @property
    def version(self) -> tuple[int, int]:
        major, _, minor = str(self.scope["http_version"]).partition(".")
        return int(major), int(minor or 0)


class HookResponse:
    """What a hook reads from Gunicorn's ``Response``: status, status_code, headers, sent."""

    __slots__ = ("headers", "sent", "status_code")

    def __init__(self) -> None:
        self.status_code: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.sent = 0

    @property
    def status(self) -> str:
        code = self.status_code or 0
        try:
            return f"{code} {http.HTTPStatus(code).phrase}"
        except ValueError:
            return str(code)

    def observe(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status_code = message["status"]
            self.headers = [
                (bytes(name).decode("latin-1"), bytes(value).decode("latin-1"))
                for name, value in message.get("headers", ())
            ]
        elif message["type"] == "http.response.body":
            self.sent += len(message.get("body", b""))


def environ(scope: Scope) -> dict[str, str]:
    """A CGI-style environ like the one Gunicorn passes to post_request."""
    result = {name: function(scope) for name, function in CGI.items()}
    for name, value in scope["headers"]:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        result[key] = f"{result[key]},{text}" if key in result else text
    return result


class RequestHooks:
    """ASGI middleware calling ``pre_request(worker, req)`` and ``post_request(worker, req,
    environ, resp)`` around each HTTP request; other scopes pass straight through."""

    def __init__(self, app: ASGI3App, worker: Any, pre: Hook | None, post: Hook | None) -> None:
        self.app = app
        self.worker = worker
        self.pre = pre
        self.post = post

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = HookRequest(scope)
        if self.pre is not None:
            self.pre(self.worker, request)  # raising here answers 500, as in Gunicorn
        if self.post is None:
            await self.app(scope, receive, send)
            return
        response = HookResponse()

        async def observed_send(message: Message) -> None:
            response.observe(message)
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            try:
                self.post(self.worker, request, environ(scope), response)
            except Exception:
                logger.exception("Exception in post_request hook")


def wrap(app: ASGI3App, worker: Any, is_default: Callable[[Any], bool]) -> ASGI3App:
    """The app, wrapped only if the Gunicorn config sets pre_request or post_request."""
    settings = worker.cfg.settings
    pre = None if is_default(settings["pre_request"]) else worker.cfg.pre_request
    post = None if is_default(settings["post_request"]) else worker.cfg.post_request
    if pre is None and post is None:
        return app
    return RequestHooks(app, worker, pre, post)
