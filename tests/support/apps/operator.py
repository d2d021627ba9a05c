"""Apps the operator-feature tests (issue 11) run in real server processes."""

from __future__ import annotations

import asyncio
import os
from typing import Any


async def _respond(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-length", b"%d" % len(body)), (b"x-pid", str(os.getpid()).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def sleepy(scope: Any, receive: Any, send: Any) -> None:
    """/sleep never answers (until cancelled); /slow?SECONDS answers after that long; a POST
    echoes its body; anything else answers "ok" at once."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/sleep":
        await asyncio.sleep(3600)
    elif path == "/slow":
        await asyncio.sleep(float(scope["query_string"] or 0.1))
    elif scope["method"] == "POST":
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await _respond(send, 200, body)
        return
    await _respond(send, 200, b"ok")
