"""A tiny HTTP responder for /metrics, /healthz and /readyz, apart from the app's sockets.

It reads one request head (at most 8 KiB), answers it and closes: nothing a scraper or a probe
sends can hold it up. It never blocks and never owns a loop: whoever runs one drives it through
``watch(fd, writable, callback)`` / ``unwatch(fd)`` -- the master's selector, or an asyncio
loop's add_reader/add_writer in a worker -- so the same code answers in both.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable

Answer = tuple[int, str, bytes]  # status, content type, body
Watch = Callable[[int, bool, Callable[[], None]], None]
Unwatch = Callable[[int], None]

MAX_HEAD = 8192
MAX_CLIENTS = 32
CLIENT_TIMEOUT = 10.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class Endpoint:
    """Serves ``answer(path)`` on a listening socket."""

    def __init__(
        self, sock: socket.socket, answer: Callable[[str], Answer], watch: Watch, unwatch: Unwatch
    ) -> None:
        self.sock = sock
        self.answer = answer
        self.watch = watch
        self.unwatch = unwatch
        self.clients: dict[int, _Client] = {}
        sock.setblocking(False)
        watch(sock.fileno(), False, self._accept)

    def close(self) -> None:
        for client in list(self.clients.values()):
            client.close()
        self.unwatch(self.sock.fileno())
        self.sock.close()

    def _accept(self) -> None:
        now = time.monotonic()
        for client in [c for c in self.clients.values() if now - c.since > CLIENT_TIMEOUT]:
            client.close()
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # BlockingIOError: nothing more queued
                return
            if len(self.clients) >= MAX_CLIENTS:
                conn.close()
                continue
            conn.setblocking(False)
            client = _Client(self, conn, now)
            self.clients[conn.fileno()] = client
            self.watch(conn.fileno(), False, client.readable)


class _Client:
    def __init__(self, endpoint: Endpoint, conn: socket.socket, since: float) -> None:
        self.endpoint = endpoint
        self.conn = conn
        self.fd = conn.fileno()
        self.since = since
        self.head = b""
        self.out = b""

    def readable(self) -> None:
        try:
            data = self.conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.head += data
        head = self.head
        if not data or b"\r\n\r\n" in head or b"\n\n" in head or len(head) > MAX_HEAD:
            self._respond()

    def _respond(self) -> None:
        line = self.head.split(b"\n", 1)[0].decode("latin-1").split()
        if len(line) >= 2 and line[0] in ("GET", "HEAD"):
            status, kind, body = self.endpoint.answer(line[1].partition("?")[0])
        else:
            status, kind, body = 405, "text/plain", b"only GET\n"
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")
        self.out = head if line[:1] == ["HEAD"] else head + body
        self.endpoint.unwatch(self.fd)
        self.writable()

    def writable(self) -> None:
        try:
            sent = self.conn.send(self.out)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close()
            return
        self.out = self.out[sent:]
        if not self.out:
            self.close()
        else:
            self.endpoint.watch(self.fd, True, self.writable)

    def close(self) -> None:
        self.endpoint.unwatch(self.fd)
        self.endpoint.clients.pop(self.fd, None)
        with contextlib.suppress(OSError):
            self.conn.close()


def selector_watch(selector: object) -> tuple[Watch, Unwatch]:
    """watch/unwatch over a ``selectors`` selector; the owner calls ``key.data()`` when ready."""
    import selectors

    assert isinstance(selector, selectors.BaseSelector)

    def watch(fd: int, writable: bool, callback: Callable[[], None]) -> None:
        events = selectors.EVENT_WRITE if writable else selectors.EVENT_READ
        try:
            selector.modify(fd, events, callback)
        except KeyError:
            selector.register(fd, events, callback)

    def unwatch(fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(fd)

    return watch, unwatch


def loop_watch(loop: object) -> tuple[Watch, Unwatch]:
    """watch/unwatch over an asyncio event loop."""
    import asyncio

    assert isinstance(loop, asyncio.AbstractEventLoop)

    def watch(fd: int, writable: bool, callback: Callable[[], None]) -> None:
        unwatch(fd)
        if writable:
            loop.add_writer(fd, callback)
        else:
            loop.add_reader(fd, callback)

    def unwatch(fd: int) -> None:
        loop.remove_reader(fd)
        loop.remove_writer(fd)

    return watch, unwatch


def health_answer(path: str, ready: bool, metrics: Callable[[], str]) -> Answer:
    """/healthz: the process answers (live); /readyz: 503 while starting, delaying or draining;
    /metrics: the text from ``metrics``."""
    if path == "/metrics":
        from mypkg.metrics import CONTENT_TYPE

        return 200, CONTENT_TYPE, metrics().encode()
    if path == "/healthz":
        return 200, "text/plain", b"ok\n"
    if path == "/readyz":
        return (200, "text/plain", b"ready\n") if ready else (503, "text/plain", b"not ready\n")
    return 404, "text/plain", b"/metrics, /healthz or /readyz\n"


def bind_endpoint(target: object, reuse_port: bool = False) -> socket.socket:
    """The listening socket for --metrics-bind (SO_REUSEPORT when workers share it)."""
    from mypkg.config.binds import BindTarget
    from mypkg.sockets import bind_target

    assert isinstance(target, BindTarget)
    if reuse_port and target.kind == "tcp":
        family = socket.AF_INET6 if ":" in target.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((target.host, target.port))
        sock.listen(64)
        return sock
    return bind_target(target, 64)
