"""A small, bounded keep-alive load generator that counts every failed request.

``with Load(port) as load: load.wait_for(300); ...; tally = load.stop()`` — the one HTTP/1 load
of the suite (mypkg's master, Gunicorn, nginx in front); ``H2Load`` (h2load.py) has the same API
for HTTP/2. Each client holds one HTTP/1.1 keep-alive connection and sends the next request as
soon as the previous response is complete (like wrk), reconnecting when a response says
``Connection: close`` (or, with ``recycle``, after that many requests). A failed request is a
socket error, a timeout, a connection closed before the complete response, or a non-2xx status.
Requests are never abandoned half-way: ``stop`` lets every in-flight request finish. Anything
else that goes wrong in the load thread (an answer it cannot parse, a bug in a client) is recorded
and fails the test in ``stop`` and ``wait_for``: a load generator that died must not read as
"no failures".
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from dataclasses import dataclass, field

from tests.support.waiting import wait_on


@dataclass
class Tally:
    """What a load saw. A waiter is woken when what it waits for may have come (``wake_at`` OK
    responses, a new pid, a failure), not at every response: the load stays cheap."""

    ok: int = 0
    failures: list[str] = field(default_factory=list)
    closes: int = 0  # HTTP/1 responses with Connection: close (reconnected); HTTP/2 GOAWAYs
    pids: set[str] = field(default_factory=set)  # who answered: X-Pid, else the body
    condition: threading.Condition = field(default_factory=threading.Condition)
    wake_at: float = float("inf")

    def count_ok(self, pid: str = "") -> None:
        with self.condition:
            self.ok += 1
            new = pid not in self.pids
            self.pids.add(pid)
            if new or self.ok >= self.wake_at:
                self.condition.notify_all()

    def fail(self, failure: str) -> None:
        with self.condition:
            self.failures.append(failure)
            self.condition.notify_all()

    def __str__(self) -> str:
        shown = "; ".join(self.failures[:5])
        return f"{self.ok} ok, {len(self.failures)} failed ({shown}), {self.closes} closes"


class LoadThreads:
    """What every load shares: its threads, their crash, the waits and ``stop``."""

    def __init__(self, limit: float) -> None:
        self.limit = limit  # hard bound on the run, whatever the test does
        self.tally = Tally()
        self.stopping = threading.Event()
        self.crash: BaseException | None = None  # what killed a load thread, if anything
        self.threads: list[threading.Thread] = []

    def start(self, *targets: threading.Thread) -> None:
        self.threads.extend(targets)
        for thread in targets:
            thread.start()

    def died(self, exc: BaseException) -> None:
        """Called by a load thread that ends on an exception: surfaced by the waits and stop."""
        with self.tally.condition:
            self.crash = exc
            self.tally.condition.notify_all()

    def _check(self) -> bool:
        if self.crash is not None:
            raise AssertionError(f"the load thread died: {self.crash!r}") from self.crash
        return True

    def wait_for(self, ok: int, timeout: float = 15.0) -> None:
        """Until at least ``ok`` requests succeeded in all, or one failed (the test asserts)."""
        self.tally.wake_at = ok
        try:
            wait_on(
                self.tally.condition,
                lambda: self._check() and (self.tally.ok >= ok or bool(self.tally.failures)),
                timeout,
                f"{ok} OK responses ({self.tally})",
            )
        finally:
            self.tally.wake_at = float("inf")

    def wait_served_by(self, pids: set[int], timeout: float = 15.0) -> None:
        """Until every one of these workers has answered (the load spreads as clients reconnect)."""
        wanted = {str(pid) for pid in pids}
        what = f"responses from each of {pids} ({self.tally})"
        wait_on(
            self.tally.condition, lambda: self._check() and wanted <= self.tally.pids, timeout, what
        )

    def stop(self) -> Tally:
        self.stopping.set()
        for thread in self.threads:
            thread.join(self.limit + 10)
        assert not any(thread.is_alive() for thread in self.threads), f"load went on: {self.tally}"
        self._check()
        return self.tally

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Load(LoadThreads):
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
        pause: float = 0.0,
        recycle: int = 0,
    ) -> None:
        super().__init__(limit)
        self.port = port
        self.tls = tls  # HTTPS, e.g. through a TLS-terminating proxy
        self.connections = connections
        close = "" if keep_alive else "Connection: close\r\n"  # a new connection per request
        self.request = f"GET {path} HTTP/1.1\r\nHost: test\r\n{close}\r\n".encode()
        self.stop_on_close = stop_on_close  # for a stopping server: a close means "goodbye"
        self.pause = pause  # between requests: connections are sometimes idle when things change
        self.recycle = recycle  # reconnect after this many requests on a connection (0: never)

    def __enter__(self) -> Load:
        self.start(threading.Thread(target=self._run, name="load", daemon=True))
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by stop() and the waits
            self.died(exc)

    async def _main(self) -> None:
        clients = [self._client() for _ in range(self.connections)]
        await asyncio.wait_for(asyncio.gather(*clients), self.limit + 5)

    async def _client(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.tls)
            except OSError as exc:
                self.tally.fail(f"connect: {exc!r}")
                await asyncio.sleep(0.05)
                continue
            try:
                closed = await self._requests(reader, writer, deadline)
            finally:
                writer.close()
            if closed and self.stop_on_close:
                return
            self.tally.closes += closed

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> bool:
        """Requests on one connection; True when the server closed it with Connection: close."""
        sent = 0
        while not self.stopping.is_set() and time.monotonic() < deadline:
            if self.recycle and sent >= self.recycle:
                return False
            sent += 1
            writer.write(self.request)
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                status, length, close, pid = _parse(head)
                body = await asyncio.wait_for(reader.readexactly(length), 10)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                self.tally.fail(f"{type(exc).__name__}: {exc}")
                return False
            if 200 <= status < 300:
                self.tally.count_ok(pid or body.decode("latin-1"))
            else:
                self.tally.fail(f"status {status}: {body[:80]!r}")
            if close:
                return True
            if self.pause:
                await asyncio.sleep(self.pause)
        return False


def _parse(head: bytes) -> tuple[int, int, bool, str]:
    """Status, Content-Length, Connection: close and X-Pid of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length, close, pid = 0, False, ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = "close" in value.lower()
        elif name == "x-pid":
            pid = value.strip()
        elif name == "transfer-encoding":
            raise AssertionError(f"the load reads Content-Length bodies only: {head!r}")
    return status, length, close, pid
