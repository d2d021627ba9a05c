"""Apps the Gunicorn worker tests serve (imported by real Gunicorn processes)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from tests.support.apps import noted_lifespan


def _mark(line: str) -> None:
    path = os.environ.get("TEST_MARKER")
    if path:
        with open(path, "a") as file:
            file.write(f"{line} {os.getpid()}\n")


# Lets a test catch a worker while it is still importing the app (its signal handlers are set).
_mark("importing")
time.sleep(float(os.environ.get("TEST_IMPORT_DELAY", "0")))


async def app(scope: Any, receive: Any, send: Any) -> None:
    """/ answers with the worker's pid; /slow?S sleeps S seconds (asyncio); /block?S blocks the
    event loop for S seconds; /headers answers with the request headers once the body is read;
    /scope answers with parts of the scope as JSON."""
    if scope["type"] == "lifespan":
        await noted_lifespan(receive, send, _mark)
        return
    if scope["type"] == "websocket":
        await _echo(receive, send)
        return
    if scope["type"] != "http":
        return
    path, query = scope["path"], scope["query_string"].decode()
    body = b"ok"
    if path.endswith("/slow"):
        _mark("slow")  # tests wait for this before they act on the in-flight request
        await asyncio.sleep(float(query or 1))
        body = b"slept"
    elif path.endswith("/block"):
        time.sleep(float(query or 1))  # deliberately blocks the loop (Gunicorn's timeout test)
    elif path.endswith("/headers"):  # after the whole body: what a trailer section did to them
        while (await receive()).get("more_body"):
            pass
        body = json.dumps(
            [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
        ).encode()
    elif path.endswith("/scope"):
        parts = {key: scope[key] for key in ("root_path", "path", "scheme", "client")}
        tls = scope.get("extensions", {}).get("tls")
        parts["client_cert_name"] = tls["client_cert_name"] if tls else None
        body = json.dumps(parts).encode()
    headers = [(b"x-pid", str(os.getpid()).encode()), (b"X-Trace", b"t-1")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _echo(receive: Any, send: Any) -> None:
    """WebSocket: accept, then send every text message back."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message.get("text") or ""})


def wsgi(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"wsgi"]
