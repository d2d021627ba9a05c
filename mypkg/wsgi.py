"""``--interface wsgi``: a WSGI application served through the ASGI interface, on threads.

Each request runs the WSGI app in a bounded thread pool (``--wsgi-threads``). Both directions
stream with backpressure: ``wsgi.input`` pulls the request body from the connection piece by
piece as the app reads it (the connection stops reading from the client meanwhile), and each
piece the app yields or ``write()``s is handed to the event loop and waited for, so a slow client
slows the app's thread instead of growing a buffer. ``wsgi.errors`` writes to the ``mypkg.error``
logger, one record per line.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mypkg.asgi import Message, Receive, Scope, Send, path_info

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
logger = logging.getLogger("mypkg.error")


class WSGIAdapter:
    """An ASGI 3 app that runs a WSGI app on a pool of at most ``threads`` threads."""

    def __init__(self, app: WSGIApp, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="mypkg-wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # WSGI has none: closing before accept is a 403
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["type"] != "http":
            return  # lifespan: a WSGI app has no such events
        loop = asyncio.get_running_loop()
        call = Call(self.app, scope, Bridge(loop, receive, send))
        await loop.run_in_executor(self.executor, call.run)


class Bridge:
    """The worker thread's way to the event loop: run a coroutine there and wait for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive, send: Send) -> None:
        self.loop, self.receive, self.send = loop, receive, send

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


class Input(io.RawIOBase):
    """``wsgi.input``: the request body, fetched from the connection only as the app reads."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.buffer = bytearray()
        self.more = True

    def readable(self) -> bool:
        return True

    def _fill(self, wanted: int) -> None:
        """Receive until ``wanted`` bytes are buffered (or the body ends); -1: the whole body."""
        while self.more and (wanted < 0 or len(self.buffer) < wanted):
            message: Message = self.bridge.call(self.bridge.receive())
            if message["type"] != "http.request":  # http.disconnect
                self.more = False
                break
            self.buffer += message.get("body", b"")
            self.more = bool(message.get("more_body", False))

    def read(self, size: int | None = -1) -> bytes:
        wanted = -1 if size is None or size < 0 else size
        self._fill(wanted)
        count = len(self.buffer) if wanted < 0 else min(wanted, len(self.buffer))
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        limit = -1 if size is None or size < 0 else size
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0 or not self.more or (limit >= 0 and len(self.buffer) >= limit):
                break
            self._fill(len(self.buffer) + 1)
        stop = len(self.buffer) if end < 0 else end + 1
        return self.read(stop if limit < 0 else min(stop, limit))

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class Errors(io.TextIOBase):
    """``wsgi.errors``: text the app writes, logged line by line on mypkg.error."""

    def __init__(self) -> None:
        self.pending = ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        for line in lines:
            logger.error("%s", line)
        return len(text)

    def flush(self) -> None:
        if self.pending:
            logger.error("%s", self.pending)
            self.pending = ""


class Call:
    """One WSGI call, in a worker thread: environ in, start_response, the body streamed out."""

    def __init__(self, app: WSGIApp, scope: Scope, bridge: Bridge) -> None:
        self.app, self.scope, self.bridge = app, scope, bridge
        self.head: Message | None = None  # the http.response.start not sent yet
        self.started = False

    def run(self) -> None:
        errors = Errors()
        result = self.app(environ(self.scope, Input(self.bridge), errors), self.start_response)
        try:
            for chunk in result:
                if chunk:
                    self.write(chunk)
            if self.head is None and not self.started:
                raise RuntimeError("the WSGI application did not call start_response")
            self._send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            errors.flush()

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self.started:
            raise exc_info[1].with_traceback(exc_info[2])
        code = int(status.split(" ", 1)[0])
        encoded = [
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
        ]
        self.head = {"type": "http.response.start", "status": code, "headers": encoded}
        return self.write

    def write(self, data: bytes) -> None:
        """Hand a piece of the body to the loop and wait until it is written (backpressure)."""
        if self.head is None and not self.started:
            raise RuntimeError("the WSGI application wrote before calling start_response")
        self._send({"type": "http.response.body", "body": bytes(data), "more_body": True})

    def _send(self, message: Message) -> None:
        if self.head is not None:
            head, self.head = self.head, None
            self.started = True
            self.bridge.call(self.bridge.send(head))
        self.bridge.call(self.bridge.send(message))


def environ(scope: Scope, body: Input, errors: Errors) -> dict[str, Any]:
    """The PEP 3333 environ of an ASGI HTTP scope."""
    server = scope.get("server") or ("localhost", 80)
    result: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": path_info(scope).encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "",
        "SERVER_PROTOCOL": "HTTP/" + scope["http_version"],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.input_terminated": True,  # the end of the body is signalled even when chunked
        "wsgi.errors": errors,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    client = scope.get("client")
    if client:
        result["REMOTE_ADDR"], result["REMOTE_PORT"] = str(client[0]), str(client[1])
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + name
        joiner = "; " if key == "HTTP_COOKIE" else ","  # RFC 9110 §5.3; cookies: RFC 6265 §5.4
        result[key] = f"{result[key]}{joiner}{value}" if key in result else value
    return result
