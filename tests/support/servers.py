"""mypkg serving in a thread of the test process, on a fresh port: ``with serve(app, http=http)``.

The fastest way to test the HTTP and WebSocket paths: the real Server on a real socket, without a
process to start. Tests of signals, exits and process trees use tests/support/processes.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mypkg import Config, Server
from mypkg.backends import run_loop
from mypkg.sockets import bind_tcp
from tests.support.clients import RawClient

BACKENDS = ["httptools", "h11"]  # the ``http`` fixture (tests/conftest.py) runs a test on each


@dataclass
class Running:
    server: Server
    host: str
    port: int
    thread: threading.Thread
    errors: list[BaseException] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"


@contextmanager
def serve(app: Any, *, http: str = "httptools", **settings: Any) -> Iterator[Running]:
    """Serve ``app`` in a thread on a fresh port; stop it (gracefully) when the block ends."""
    settings.setdefault("lifespan", "auto")
    sockets = settings.pop("sockets", None) or [bind_tcp("127.0.0.1", 0, 128)]
    server = Server(Config(app, http=http, **settings))
    running = Running(server, "127.0.0.1", sockets[0].getsockname()[1], None)  # type: ignore[arg-type]

    def target() -> None:
        try:  # not server.run(): that would configure logging, hiding records from caplog
            run_loop(server.serve(sockets), server.config.loop)
        except BaseException as exc:  # surfaced to the test below
            running.errors.append(exc)

    running.thread = threading.Thread(target=target, name="mypkg-test-server", daemon=True)
    running.thread.start()
    deadline = time.monotonic() + 10
    while not server.started.wait(0.05):
        if not running.thread.is_alive() or time.monotonic() > deadline:
            raise running.errors[0] if running.errors else RuntimeError("server did not start")
    try:
        yield running
    finally:
        server.request_exit_threadsafe()
        running.thread.join(20)
        for sock in sockets:
            sock.close()
        assert not running.thread.is_alive(), "server did not stop within 20 s"
        # A server that crashed (serving or stopping) fails the test, whatever the client saw.
        if running.errors:
            raise AssertionError(f"the server thread raised: {running.errors[0]!r}") from (
                running.errors[0]
            )


CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def raw_exchange(app: Any, http: str, data: bytes = CLOSE) -> bytes:
    """Every byte the server sends until it closes the connection."""
    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(data)
        return client.read_to_close()
