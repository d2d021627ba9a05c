"""The demo app plus a held stream: what tests/deploy/test_nginx.py serves behind nginx.

``/stream`` sends one chunk, then waits until ``/release`` is requested before it sends the
last one, so a test can tell a response that nginx passes on as it comes from one it holds
until the end. Run it with one worker: the two requests must meet in one process.
"""

from __future__ import annotations

import asyncio
from typing import Any

from examples.demo import app as demo

_released = asyncio.Event()  # binds to the worker's loop on first use


async def app(scope: Any, receive: Any, send: Any) -> None:
    path = scope.get("path")
    if scope["type"] != "http" or path not in ("/stream", "/release"):
        await demo(scope, receive, send)
        return
    if path == "/release":
        _released.set()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-type", b"text/plain"), (b"x-accel-buffering", b"no")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"first\n", "more_body": True})
    await _released.wait()
    _released.clear()
    await send({"type": "http.response.body", "body": b"last\n"})
