"""The soak test's clients: mixed traffic over raw asyncio streams, counted per kind.

Each "user" loops over scenarios picked at random (seeded) until the request budget is spent:
keep-alive runs, pipelined batches, chunked uploads, 64 KiB downloads, WebSocket echo, and
clients that abort in the middle of a request or a response (those are counted as aborted, not
failed). A failure is anything else that goes wrong: a refused or reset connection, a wrong
status, a short or wrong body.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

HOST = "127.0.0.1"
GET = b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n"
DOWNLOAD = b"GET /download HTTP/1.1\r\nHost: soak\r\n\r\n"
BIG = b"GET /big HTTP/1.1\r\nHost: soak\r\n\r\n"


@dataclass
class Tally:
    """What the clients did: requests answered per kind, aborts, failures (with examples)."""

    budget: int
    done: int = 0
    aborted: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def count(self, kind: str, requests: int) -> None:
        self.done += requests
        self.by_kind[kind] += requests

    def fail(self, kind: str, exc: BaseException) -> None:
        self.failures[kind] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {type(exc).__name__}: {exc}")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response framed by Content-Length or chunked: (status, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:] if b": " in line)
    if b"content-length" in headers:
        return status, await reader.readexactly(int(headers[b"content-length"]))
    if headers.get(b"transfer-encoding") == b"chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return status, b"".join(parts)
    return status, b""


def expect(got: tuple[int, bytes], body: bytes) -> None:
    if got != (200, body):
        raise AssertionError(f"expected 200 {body[:20]!r}, got {got[0]} {got[1][:20]!r}")


# --------------------------------------------------------------------------- scenarios

Scenario = Callable[[int, Tally], Awaitable[None]]


async def keep_alive(port: int, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for _ in range(50):
            writer.write(GET)
            expect(await read_response(reader), b"ok")
        tally.count("keep-alive", 50)
    finally:
        writer.close()


async def pipelined(port: int, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for _ in range(5):
            writer.write(GET * 10)
            for _ in range(10):
                expect(await read_response(reader), b"ok")
        tally.count("pipelined", 50)
    finally:
        writer.close()


async def chunked_upload(port: int, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    chunk = b"%x\r\n%s\r\n" % (4096, b"u" * 4096)
    try:
        for _ in range(5):
            head = b"POST /echo HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n"
            writer.write(head + chunk * 4 + b"0\r\n\r\n")
            expect(await read_response(reader), b"16384")
        tally.count("chunked upload", 5)
    finally:
        writer.close()


async def downloads(port: int, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for _ in range(10):
            writer.write(DOWNLOAD)
            expect(await read_response(reader), b"d" * 65536)
        tally.count("64 KiB download", 10)
    finally:
        writer.close()


async def websocket_echo(port: int, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16)).decode()
    try:
        writer.write(
            f"GET /ws HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"handshake refused: {head[:40]!r}")
        for index in range(20):
            payload = b"message %d" % index
            writer.write(_ws_frame(0x1, payload))
            opcode, data = await _ws_read(reader)
            if (opcode, data) != (0x1, payload):
                raise AssertionError(f"echo {opcode} {data[:20]!r}")
        writer.write(_ws_frame(0x8, struct.pack("!H", 1000)))
        opcode, _ = await _ws_read(reader)
        if opcode != 0x8:
            raise AssertionError("no close frame")
        tally.count("WebSocket echo", 20)
    finally:
        writer.close()


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame of under 126 bytes."""
    mask, size = os.urandom(4), len(payload)
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")
    return bytes([0x80 | opcode, 0x80 | size]) + mask + masked


async def _ws_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    return first & 0x0F, await reader.readexactly(size)


async def abort_mid_request(port: int, tally: Tally) -> None:
    _, writer = await asyncio.open_connection(HOST, port)
    head = b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n"
    writer.write(head + b"x" * 1000)
    await writer.drain()
    _reset(writer)
    tally.aborted += 1
    tally.count("aborted mid-request", 1)


async def abort_mid_response(port: int, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(BIG)
    await reader.readexactly(10000)
    _reset(writer)
    tally.aborted += 1
    tally.count("aborted mid-response", 1)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST half the time (SO_LINGER 0), with FIN otherwise."""
    sock = writer.get_extra_info("socket")
    if sock is not None and random.random() < 0.5:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


SCENARIOS: list[tuple[Scenario, float]] = [
    (keep_alive, 0.30),
    (pipelined, 0.20),
    (chunked_upload, 0.10),
    (downloads, 0.15),
    (websocket_echo, 0.10),
    (abort_mid_request, 0.075),
    (abort_mid_response, 0.075),
]


async def user(port: int, tally: Tally, rng: random.Random) -> None:
    functions, weights = zip(*SCENARIOS, strict=True)
    while tally.done < tally.budget:
        scenario = rng.choices(functions, weights)[0]
        try:
            await scenario(port, tally)
        except (OSError, asyncio.IncompleteReadError, AssertionError, ValueError) as exc:
            tally.fail(scenario.__name__, exc)


async def run_load(port: int, tally: Tally, users: int = 16, seed: int = 1) -> Tally:
    """Spend ``tally.budget`` requests with ``users`` concurrent clients, counting in ``tally``
    as they go (a sampler reads ``tally.done`` meanwhile)."""
    rng = random.Random(seed)
    await asyncio.gather(*(user(port, tally, random.Random(rng.random())) for _ in range(users)))
    return tally
