"""Memory under a flood of oversized request heads (issue 15): bounded by the head limit.

A real server process on each backend; many connections each send most of a huge head (100
fields of 8000 bytes, ~800 KB, every field within the per-field limit) and hold it. The server's
peak resident memory (VmHWM) may grow by far less than the heads' total, and every connection
is answered 431 promptly.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from tests.support.clients import RawClient
from tests.support.processes import ServerProcess

CONNECTIONS = 60
FIELD = b"X-Field: " + b"v" * 8000 + b"\r\n"
HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n" + FIELD * 99  # 100 fields: the default count limit


def peak_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])


def send_head(port: int) -> RawClient:
    client = RawClient(port, timeout=10)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused part-way
        client.send(HEAD)  # the blank line that would end it is never sent
    return client


def test_oversized_heads_hold_bounded_memory(http: str) -> None:
    with ServerProcess("tests.support.apps:hello", "--http", http) as proc:
        port = proc.wait_serving()
        pid = proc.process.pid
        with RawClient(port) as warm:  # baseline after the first request's imports
            warm.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert warm.response().status == 200
        before = peak_kib(pid)
        started = time.monotonic()
        clients = [send_head(port) for _ in range(CONNECTIONS)]
        try:
            statuses = [client.response().status for client in clients]
            elapsed = time.monotonic() - started
        finally:
            for client in clients:
                client.close()
        grown_mib = (peak_kib(pid) - before) / 1024
        total_mib = CONNECTIONS * len(HEAD) / 2**20
        # Without the head bound, h11 held every head whole, twice: 90+ MiB here.
        assert grown_mib < 24, f"peak RSS grew {grown_mib:.1f} MiB for {total_mib:.0f} MiB of heads"
        assert statuses == [431] * CONNECTIONS
        assert elapsed < 8, elapsed  # answered as the limit is crossed, not at the 10 s deadline
        with RawClient(port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.response().status == 200
