"""A small, bounded keep-alive load generator that counts every failed request.

Each client holds one HTTP/1.1 keep-alive connection and sends the next request as soon as the
previous response is complete (like wrk), reconnecting when a response says
``Connection: close``. A failed request is a socket error, a timeout, a connection closed
before the complete response, or a non-2xx status. Requests are never abandoned half-way:
``stop`` lets every in-flight request finish. Anything else that goes wrong in the load
thread (an answer it cannot parse, a bug in a client) is recorded and fails the test in ``stop``
and ``wait_for``: a load generator that died must not read as "no failures".
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Tally:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    reconnects: int = 0  # responses with Connection: close, answered by reconnecting
    pids: set[str] = field(default_factory=set)  # bodies seen (the apps answer their pid)

    def __str__(self) -> str:
        shown = "; ".join(self.failures[:5])
        return f"{self.ok} ok, {len(self.failures)} failed ({shown}), {self.reconnects} closes"


class Load:
    """``connections`` clients against 127.0.0.1:``port`` in a background thread."""

    def __init__(
        self,
        port: int,
        *,
        connections: int = 16,
        path: str = "/",
        stop_on_close: bool = False,
        keep_alive: bool = True,
        limit: float = 30.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.port = port
        self.tls = tls  # HTTPS, e.g. through a TLS-terminating proxy
        self.connections = connections
        close = "" if keep_alive else "Connection: close\r\n"  # a new connection per request
        self.request = f"GET {path} HTTP/1.1\r\nHost: test\r\n{close}\r\n".encode()
        self.stop_on_close = stop_on_close  # for a stopping server: a close means "goodbye"
        self.limit = limit  # hard bound on the run, whatever the test does
        self.tally = Tally()
        self._stopping = False
        self.crash: BaseException | None = None  # what killed the load thread, if anything
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> Tally:
        self._stopping = True
        self._thread.join(self.limit + 10)
        assert not self._thread.is_alive(), f"the load did not stop: {self.tally}"
        self._check()
        return self.tally

    def _check(self) -> None:
        if self.crash is not None:
            raise AssertionError(f"the load thread died: {self.crash!r}") from self.crash

    def wait_for(self, ok: int, timeout: float = 10.0) -> None:
        """Until at least ``ok`` requests succeeded (the load is really flowing)."""
        deadline = time.monotonic() + timeout
        while self.tally.ok < ok:
            self._check()
            if time.monotonic() > deadline:
                raise AssertionError(f"load did not get going: {self.tally}")
            time.sleep(0.01)

    # ------------------------------------------------------------------ the clients
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by stop() and wait_for()
            self.crash = exc

    async def _main(self) -> None:
        clients = [self._client() for _ in range(self.connections)]
        await asyncio.wait_for(asyncio.gather(*clients), self.limit + 5)

    async def _client(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stopping and time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.tls)
            except OSError as exc:
                self.tally.failures.append(f"connect: {exc!r}")
                await asyncio.sleep(0.05)
                continue
            try:
                closed = await self._requests(reader, writer, deadline)
            finally:
                writer.close()
            if closed and self.stop_on_close:
                return
            self.tally.reconnects += closed

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> bool:
        """Requests on one connection; True when the server closed it with Connection: close."""
        while not self._stopping and time.monotonic() < deadline:
            writer.write(self.request)
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                status, length, close = _parse(head)
                body = await asyncio.wait_for(reader.readexactly(length), 10)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                self.tally.failures.append(f"{type(exc).__name__}: {exc}")
                return False
            if 200 <= status < 300:
                self.tally.ok += 1
                self.tally.pids.add(body.decode("latin-1"))
            else:
                self.tally.failures.append(f"status {status}")
            if close:
                return True
        return False


def _parse(head: bytes) -> tuple[int, int, bool]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    close = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = "close" in value.lower()
    return status, length, close
