"""Starlette hello-world: the same response as plain.py, through a typical framework stack.

Comparing it with plain.py shows how much of the per-request cost is the server and how much
is the framework (routing, Request/Response objects, middleware) that a real app adds.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    """Return the fixed greeting."""
    return PlainTextResponse("Hello, world!")


app = Starlette(routes=[Route("/", hello)])
