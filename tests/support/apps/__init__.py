"""Small ASGI apps the tests serve."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from tests.support.waiting import wait_on


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"Hello, world!"})


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """Answers with the request body and, in headers, what the scope said."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"x-method", scope["method"].encode()),
                (b"x-path", scope["path"].encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def scope_json(scope: Any, receive: Any, send: Any) -> None:
    """Answers with the scope as JSON (bytes as latin-1 strings)."""
    if scope["type"] != "http":
        return

    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.decode("latin-1")
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    body = json.dumps(plain(dict(scope))).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def respond(send: Any, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    """Send a complete response with its length."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"%d" % len(body)), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client disconnected")
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


class Gate:
    """Holds requests inside the app until the test thread opens it.

    ``entered`` counts requests that reached the app; the test waits for it with ``wait_entered``
    (a condition, no sleeps) and opens the gate with ``open`` from its own thread.
    """

    def __init__(self, then: Any = hello) -> None:
        self.then = then
        self.entered = 0
        self.condition = threading.Condition()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event: asyncio.Event | None = None
        self.is_open = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self.event is None:
            self.loop, self.event = asyncio.get_running_loop(), asyncio.Event()
            if self.is_open:
                self.event.set()
        with self.condition:
            self.entered += 1
            self.condition.notify_all()
        await self.event.wait()
        await self.then(scope, receive, send)

    def wait_entered(self, count: int, timeout: float = 10.0) -> None:
        what = f"{count} requests in the app ({self.entered} so far)"
        wait_on(self.condition, lambda: self.entered >= count, timeout, what)

    def open(self) -> None:
        self.is_open = True
        if self.loop is not None and self.event is not None:
            self.loop.call_soon_threadsafe(self.event.set)


class Recorder:
    """Records each scope the app is called with, then runs ``then``."""

    def __init__(self, then: Any = echo) -> None:
        self.then = then
        self.scopes: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.scopes.append(scope)
        await self.then(scope, receive, send)


class UntilDisconnect:
    """Receives until http.disconnect, recording every message; ``finished`` is set after."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.finished = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            self.messages.append(message)
            if message["type"] == "http.disconnect":
                break
        self.finished.set()


# --------------------------------------------------------------------------- for real processes
# These run in a mypkg subprocess (tests/support/processes.py); they talk to the test through files
# named by environment variables, and through the requests themselves.

_release: asyncio.Event | None = None


async def held(scope: Any, receive: Any, send: Any) -> None:
    """Lifespan writes MYPKG_TEST_EVENTS; /hold waits until /release is requested; POST echoes
    after reading the whole body (a request the test holds open by not finishing its body)."""
    global _release
    if scope["type"] == "lifespan":
        await noted_lifespan(receive, send)
        return
    if _release is None:
        _release = asyncio.Event()
    if scope["path"] == "/hold":
        print("app: holding /hold", file=sys.stderr, flush=True)
        await _release.wait()
        await respond(send, 200, b"released")
    elif scope["path"] == "/release":
        _release.set()
        await respond(send, 200, b"releasing")
    elif scope["method"] == "POST":
        print("app: reading the body", file=sys.stderr, flush=True)
        body = await read_body(receive)
        await respond(send, 200, body)
    else:
        await respond(send, 200, b"ok")


def _note(event: str) -> None:
    path = os.environ.get("MYPKG_TEST_EVENTS")
    if path:
        with open(path, "a") as file:
            file.write(event + "\n")


async def noted_lifespan(receive: Any, send: Any, note: Callable[[str], None] = _note) -> None:
    """A lifespan that succeeds and notes "startup" and "shutdown" as they happen."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            note("startup")
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            note("shutdown")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def failing_startup(scope: Any, receive: Any, send: Any) -> None:
    """Lifespan startup fails (a database that cannot be reached): a server that cannot boot."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database is unreachable"})
        await receive()
        return
    await hello(scope, receive, send)


async def raising_startup(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        raise RuntimeError("config file missing")
    await hello(scope, receive, send)


async def hanging_startup(scope: Any, receive: Any, send: Any) -> None:
    """Startup never completes (a dependency that never answers)."""
    if scope["type"] == "lifespan":
        await receive()
        print("app: starting up", file=sys.stderr, flush=True)
        await asyncio.Event().wait()
    await hello(scope, receive, send)
