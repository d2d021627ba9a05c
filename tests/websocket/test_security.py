"""Security regressions on the WebSocket path (issue 18): memory bounds against hostile clients.

The server runs in its own process so that its resident memory (VmRSS) can be sampled while a
raw-socket client floods it without ever reading.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.clients import request
from tests.support.processes import ServerProcess
from tests.support.servers import serve
from tests.support.websocket import (
    BINARY,
    CLOSE,
    PING,
    RawWebSocket,
    close_payload,
    echo_app,
    frame,
    handshake,
)

MIB = 1024 * 1024


def rss(pid: int) -> int:
    """Resident memory of a process in bytes (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def flood(
    proc: ServerProcess, client: RawWebSocket, data: Callable[[], bytes], seconds: float, limit: int
) -> tuple[int, int]:
    """Send ``data()`` nonstop for ``seconds`` without reading; stop early once RSS grew past
    ``limit``, or once the server has taken nothing for half a second (it stopped reading: what
    it holds cannot grow any more). Returns (RSS growth in bytes, bytes the server accepted)."""
    pid = proc.process.pid
    baseline = rss(pid)
    sock = client.sock
    sock.settimeout(0.05)
    sent = 0
    growth = 0
    now = progress = time.monotonic()
    deadline = now + seconds
    pending = memoryview(b"")
    while now < deadline and growth <= limit and now - progress < 0.5:
        if not pending:
            pending = memoryview(data())
        try:
            count = sock.send(pending)
        except TimeoutError:  # the server stopped reading: its buffers and ours are full
            count = 0
        pending = pending[count:]
        sent += count
        growth = max(growth, rss(pid) - baseline)
        now = time.monotonic()
        if count:
            progress = now
    return growth, sent


def test_ping_flood_does_not_grow_memory() -> None:
    """A client sending pings nonstop and never reading the pongs: the server stops reading."""
    pings = b"".join(frame(PING, b"p" * 125) for _ in range(64))
    with ServerProcess("tests.support.apps.security:ws_idle", "--ws-ping-interval", "0") as proc:
        proc.wait_serving()
        with RawWebSocket(proc.port) as client:
            client.open()
            growth, sent = flood(proc, client, lambda: pings, 3.0, 64 * MIB)
    assert growth < 16 * MIB, f"RSS grew by {growth // MIB} MiB after {sent // MIB} MiB of pings"


def deflated_message(size: int, prefix: bytes = b"") -> bytes:
    """A permessage-deflate binary message of ``prefix`` then zero bytes, ``size`` bytes in all
    (RSV1 set, the 4-byte tail stripped), compressed on its own."""
    compressor = zlib.compressobj(wbits=-12)
    data = prefix + b"\0" * (size - len(prefix))
    payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    raw = frame(BINARY, payload[:-4])
    return bytes([raw[0] | 0x40]) + raw[1:]


def test_compressed_messages_are_bounded_by_bytes() -> None:
    """Highly compressed messages to an app that never reads: the queue is bounded in bytes."""
    message = deflated_message(4 * MIB)  # ~4 KiB on the wire, 4 MiB once inflated
    args = ("--ws-max-size", str(4 * MIB), "--ws-max-queue", "32", "--ws-ping-interval", "0")
    with ServerProcess("tests.support.apps.security:ws_never_reads", *args) as proc:
        proc.wait_serving()
        with RawWebSocket(proc.port) as client:
            head = client.open(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
            assert "permessage-deflate" in head
            growth, sent = flood(proc, client, lambda: message, 3.0, 128 * MIB)
    # 32 queued messages would be 128 MiB; the byte bound keeps it to a few --ws-max-size.
    assert sent > 40 * len(message), "the client could not even send the test's messages"
    assert growth < 48 * MIB, f"RSS grew by {growth // MIB} MiB from {sent // 1024} KiB sent"


FORGED = "/ws%1b[2J%0a2026-11-30%2012:00:00%20+0000%20[1]%20[INFO]%20forged"


def test_websocket_access_line_is_escaped(http: str, caplog: pytest.LogCaptureFixture) -> None:
    """A percent-encoded ESC and line break in the path cannot forge a log line, whether the
    handshake is accepted or refused."""
    caplog.set_level(logging.INFO, logger="mypkg.access")
    with serve(echo_app(), http=http) as running:
        with RawWebSocket(running.port) as client:
            client.open(FORGED + "?q=%1b")
        refused = handshake(FORGED).replace(
            b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"
        )
        assert request(running.port, refused).status == 400
    lines = [r.getMessage() for r in caplog.records if r.name == "mypkg.access"]
    escaped = "/ws\\x1b[2J\\x0a2026-11-30 12:00:00 +0000 [1] [INFO] forged"
    assert [line.split('"', 1)[1] for line in lines] == [
        f'WebSocket {escaped}?q=%1b" 101',
        f'WebSocket {escaped}" 400',
    ]


def test_held_back_compressed_messages_are_all_delivered_in_order(http: str) -> None:
    """Compressed input held back while the queue is full reaches the app in order once it
    reads, and so do the close frame and the EOF the client sent after it."""
    release = threading.Event()
    received: queue.Queue[Any] = queue.Queue()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 20)
        numbers = []
        while (message := await receive())["type"] == "websocket.receive":
            numbers.append(int(message["bytes"][:6]))
        received.put((numbers, message["code"]))

    count = 200
    burst = b"".join(deflated_message(256 * 1024, b"%06d" % n) for n in range(count))
    settings = {"ws_max_queue": 4, "ws_max_size": MIB, "lifespan": "off"}
    with serve(app, http=http, **settings) as running, RawWebSocket(running.port) as client:
        client.open(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
        client.send(burst + frame(CLOSE, close_payload(1000)))
        client.sock.shutdown(socket.SHUT_WR)
        release.set()
        numbers, code = received.get(timeout=20)
        assert client.read_close()[0] == 1000
    assert (numbers, code) == (list(range(count)), 1000)
