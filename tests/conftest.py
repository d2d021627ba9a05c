"""Shared fixtures: real servers on port 0 (one per parser), raw-socket clients, CLI processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typing_extensions import Self

from mypkg import Config, Server
from mypkg.backends import run_loop
from mypkg.sockets import bind_tcp

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["httptools", "h11"]


@pytest.fixture(params=BACKENDS)
def http(request: pytest.FixtureRequest) -> str:
    """Run the test once per HTTP parser."""
    return str(request.param)


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


# --------------------------------------------------------------------------- raw HTTP clients


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class RawClient:
    """A socket speaking bytes we choose, reading responses one at a time."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}; got {self.buffer!r}")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError(f"closed with {len(self.buffer)} of {size} bytes")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_to_close(self) -> bytes:
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data

    def response(self, head_only: bool = False) -> Response:
        """Read one response, framed by Content-Length, chunked encoding or close."""
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *lines = head.split("\r\n")
        _, status, reason = [*status_line.split(" ", 2), ""][:3]
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
        response = Response(int(status), reason, headers, b"")  # type: ignore[arg-type]
        if head_only or response.status in (204, 304) or response.status < 200:
            return response
        length = response.header("content-length")
        if length is not None:
            response.body = self.read_exactly(int(length))
        elif (response.header("transfer-encoding") or "").lower() == "chunked":
            response.body = self._read_chunked()
        else:
            response.body = self.read_to_close()
        return response

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self.read_until(b"\r\n")
                return b"".join(parts)
            parts.append(self.read_exactly(size))
            assert self.read_exactly(2) == b"\r\n", "chunk not followed by CRLF"

    def is_closed(self, timeout: float = 5.0) -> bool:
        """True once the server closes the connection (EOF or reset) within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            return not self._fill()
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request(port: int, data: bytes, timeout: float = 5.0) -> Response:
    """Send raw bytes on a new connection and read one response."""
    with RawClient(port, timeout=timeout) as client:
        client.send(data)
        return client.response()


# --------------------------------------------------------------------------- timing

# What a loaded, shared machine may add to an event's time (scheduling, process teardown).
SLACK = 1.0


def assert_on_time(elapsed: float, timeout: float, tick: float = 0.0, slack: float = SLACK) -> None:
    """``elapsed`` (measured around the event) says a ``timeout`` fired on time.

    Never early: the server's clock is refreshed once a ``tick``, so a deadline may fall up to
    one tick before ``timeout`` (``tick=0`` where the timer is exact). Not late: at most two
    ticks plus ``slack``. The window must still fail a timeout four times too long, so it is
    checked to be narrower than that: choose timeouts of at least ~0.5 s.
    """
    assert slack + 2 * tick < 3 * timeout, "this window would accept a timeout 4x too long"
    assert elapsed >= timeout - tick - 0.02, f"{elapsed:.3f}s: before the {timeout}s timeout"
    assert elapsed <= timeout + 2 * tick + slack, f"{elapsed:.3f}s: late for a {timeout}s timeout"


# --------------------------------------------------------------------------- processes


def mypkg_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mypkg", *args]


def run_cli(*args: str, timeout: float = 20.0, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}
    return subprocess.run(
        mypkg_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=kwargs.pop("cwd", ROOT),
        env=env,
        **kwargs,
    )


def free_port() -> int:
    """A port free a moment ago: racy (another process may take it before it is bound again).

    Only for tools that must bind a port number themselves and cannot take port 0 or a bound
    socket (nginx's config, systemd-socket-activate's ``-l``); everything of ours binds port 0
    (``--port 0``, ``--bind 127.0.0.1:0``) or is handed a bound socket (``--fd``, ``fd://N``).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
