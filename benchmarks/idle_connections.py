"""10,000 idle connections on one mypkg worker: are fresh requests still served quickly?

Why: every open connection costs the worker a descriptor, memory, and a place in the deadline
scan its clock does each tick. This starts one ``python -m mypkg`` worker, opens ``--idle``
connections (half never send a byte, half sent one request and now sit in keep-alive), then
measures ``--requests`` fresh requests (each on a new connection, sequentially) and as many on
one keep-alive connection. It prints p50/p99/max latency, the worker's RSS and open descriptors.

    python -m benchmarks.idle_connections --idle 10000 --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import time

from benchmarks.procs import free_port, server_env, stop_server, tree_rss_mib, wait_ready

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
BODY = b"Hello, world!"


def start_server(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mypkg", "benchmarks.apps.plain:app", "--port", str(port)]
    cmd += ["--timeout-keep-alive", "600", "--timeout-request-head", "600", "--backlog", "4096"]
    cmd += ["--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(cmd, start_new_session=True, env=server_env())


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def open_idle(port: int, count: int) -> list[asyncio.StreamWriter]:
    """Half silent, half after one request; opened 500 at a time (the listen queue is finite)."""
    writers: list[asyncio.StreamWriter] = []

    async def one(index: int) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if index % 2:
            writer.write(REQUEST)
            await reader.readuntil(BODY)
        return writer

    for start in range(0, count, 500):
        batch = range(start, min(count, start + 500))
        writers += await asyncio.gather(*(one(i) for i in batch))
    return writers


def timed_requests(port: int, count: int) -> tuple[list[float], list[float]]:
    """Latencies (seconds) of ``count`` requests on fresh connections and on one kept alive."""
    fresh, kept = [], []
    keep = socket.create_connection(("127.0.0.1", port), timeout=10)
    for _ in range(count):
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            _exchange(sock)
        fresh.append(time.perf_counter() - start)
        start = time.perf_counter()
        _exchange(keep)
        kept.append(time.perf_counter() - start)
    keep.close()
    return fresh, kept


def _exchange(sock: socket.socket) -> None:
    sock.sendall(REQUEST)
    data = b""
    while not data.endswith(BODY):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    return f"p50={at(0.5):.2f} ms p99={at(0.99):.2f} ms max={ordered[-1] * 1000:.2f} ms"


async def scenario(port: int, pid: int, args: argparse.Namespace) -> None:
    base_fds, base_rss = open_fds(pid), tree_rss_mib(pid)
    fresh0, kept0 = timed_requests(port, args.requests // 4)
    print(f"baseline: fds={base_fds} rss={base_rss:.1f} MiB")
    print(f"  no idle      fresh: {percentiles(fresh0)}  keep-alive: {percentiles(kept0)}")
    start = time.monotonic()
    writers = await open_idle(port, args.idle)
    print(f"opened {len(writers)} idle connections in {time.monotonic() - start:.1f} s")
    while open_fds(pid) < base_fds + args.idle:  # the server accepted every one
        await asyncio.sleep(0.1)
    fresh, kept = await asyncio.to_thread(timed_requests, port, args.requests)
    print(f"with idle: fds={open_fds(pid)} rss={tree_rss_mib(pid):.1f} MiB")
    print(f"  {args.idle} idle fresh: {percentiles(fresh)}  keep-alive: {percentiles(kept)}")
    p99 = sorted(fresh + kept)[int(len(fresh + kept) * 0.99)] * 1000
    print(f"verdict: p99 {p99:.2f} ms {'<' if p99 < 50 else '>='} 50 ms")
    for writer in writers:
        writer.close()
    deadline = time.monotonic() + 30
    while open_fds(pid) > base_fds and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    print(f"after closing them: fds={open_fds(pid)} (baseline {base_fds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < args.idle + 256:
        sys.exit(f"the hard RLIMIT_NOFILE ({hard}) is too low for {args.idle} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = free_port()
    proc = start_server(port)
    try:
        wait_ready(proc, port, 15.0)
        asyncio.run(scenario(port, proc.pid, args))
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
