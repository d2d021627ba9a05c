"""Feed raw bytes to each HTTP backend through its asyncio protocol, without sockets.

Why: differential fuzzing needs millions of cases; a real socket per case costs a millisecond,
the protocol itself tens of microseconds. The transport here only records what is written and
closes when told, as asyncio's does (``connection_lost`` a loop iteration later). Everything
above it is the real server: ``ServerState``, the backend, the shared lifecycle, the ASGI cycle
and a recording app. The outcome of a case is what reached the app (method, target, version,
headers, body) and whether the connection was answered with an error.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from mypkg import Config
from mypkg.backends import protocol_class
from mypkg.state import ServerState

_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) ")


@dataclass(frozen=True)
class Seen:
    """One request as the app saw it."""

    method: str
    target: bytes
    version: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    complete: bool  # the body ended normally (no http.disconnect)


@dataclass
class Outcome:
    requests: list[Seen] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    written: bytes = b""

    @property
    def reason(self) -> str:
        """The server's error text (the body of its last response), to group disagreements."""
        if not self.rejected:
            return ""
        return self.written.rpartition(b"\r\n\r\n")[2].decode("latin-1").strip()[:80]

    @property
    def rejected(self) -> bool:
        """Answered with a 4xx/5xx by the server itself (the app only ever answers 200)."""
        return any(status >= 400 for status in self.statuses)

    def verdict(self) -> list[Seen | tuple[str, bytes, str, tuple[tuple[bytes, bytes], ...]]]:
        """What both backends must agree on: the requests that reached the app. A complete one
        counts whole (method, target, version, headers, body); one whose body was cut by an
        error counts by its head (the bytes of a body refused midway are not compared)."""
        return [
            r if r.complete else (r.method, r.target, r.version, r.headers) for r in self.requests
        ]


def agree(a: Outcome, b: Outcome) -> bool:
    """The same requests reached the app through both backends. One exception: a last request
    with a chunked body that turned out malformed may or may not have been started before the
    error (llhttp checks the chunks in a read before calling back; h11 hands the head over
    first): if only one backend started it and the other refused, both answered 400 and the
    app got a disconnect, so it does not count. (Whether and when garbage is answered 400 or
    just closed is not compared either: a backend may refuse at the first bad byte or once
    the head is complete.)"""
    left, right = a.verdict(), b.verdict()
    if len(left) == len(right) + 1 and _cut_chunked(a.requests[-1]) and b.rejected:
        left = left[:-1]
    elif len(right) == len(left) + 1 and _cut_chunked(b.requests[-1]) and a.rejected:
        right = right[:-1]
    return left == right


def _cut_chunked(seen: Seen) -> bool:
    return not seen.complete and any(name == b"transfer-encoding" for name, _ in seen.headers)


class FakeTransport(asyncio.Transport):
    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.loop, self.protocol = loop, protocol
        self.written = bytearray()
        self.closed = False
        self.reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        info = {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}
        return info.get(name, default)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.close()


class Harness:
    """One event loop and one ServerState per backend, reused for every case."""

    def __init__(self, backend: str, **settings: Any) -> None:
        self.backend = backend
        self.loop = asyncio.new_event_loop()
        self.seen: list[Seen] = []
        config = Config(self._app, http=backend, lifespan="off", **settings)
        config.check()
        self.state = ServerState(config, self._app, self.loop)
        self.cls = protocol_class(backend)

    def close(self) -> None:
        self.loop.close()

    async def _app(self, scope: Any, receive: Any, send: Any) -> None:
        body, complete = bytearray(), False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                complete = True
                break
        target = scope["raw_path"] + (
            b"?" + scope["query_string"] if scope["query_string"] else b""
        )
        headers = tuple((bytes(name), bytes(value)) for name, value in scope["headers"])
        seen = Seen(scope["method"], target, scope["http_version"], headers, bytes(body), complete)
        self.seen.append(seen)
        if complete:
            head = [(b"content-length", b"2")]
            await send({"type": "http.response.start", "status": 200, "headers": head})
            await send({"type": "http.response.body", "body": b"ok"})

    def run(self, pieces: list[bytes]) -> Outcome:
        """Feed ``pieces`` one data_received each, then EOF; what happened."""
        self.seen = []
        protocol = self.cls(self.state)  # type: ignore[call-arg]
        transport = FakeTransport(self.loop, protocol)
        self.loop.run_until_complete(self._drive(protocol, transport, pieces))
        written = bytes(transport.written)
        return Outcome(self.seen, [int(m) for m in _STATUS.findall(written)], written)

    async def _drive(
        self, protocol: asyncio.Protocol, transport: FakeTransport, pieces: list[bytes]
    ) -> None:
        """As asyncio would: no data while reading is paused, EOF then close, and every task
        the connection started run to its end."""
        protocol.connection_made(transport)
        for piece in pieces:
            if not await _until_reading(transport):
                break
            protocol.data_received(piece)
            await _rounds(2)
        if await _until_reading(transport) and not protocol.eof_received():
            transport.close()
        await _until_done()
        transport.close()  # the server kept it open (reading paused for good): cut it
        await _until_done()


async def _rounds(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def _until_reading(transport: FakeTransport, rounds: int = 50) -> bool:
    """Wait (a bounded number of loop iterations) until the protocol reads again."""
    for _ in range(rounds):
        if transport.closed or transport.reading:
            break
        await asyncio.sleep(0)
    return transport.reading and not transport.closed


async def _until_done(rounds: int = 200) -> None:
    """Run the loop until no task but this one is left (app tasks, cycles) and callbacks ran."""
    me = asyncio.current_task()
    await _rounds(2)
    for _ in range(rounds):
        if not [task for task in asyncio.all_tasks() if task is not me]:
            return
        await asyncio.sleep(0)
