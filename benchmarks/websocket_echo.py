"""WebSocket echo benchmark: messages/s of mypkg, uvicorn and granian, measured the same way.

Why: "as fast as uvicorn" only means something when every server runs the same app on the same
machine in the same run. Each server runs as a subprocess on 127.0.0.1 (one worker, access log
off, log level warning) pinned to CPU 0 with ``taskset``; this process is the client, pinned to
CPU 1, on uvloop. It opens many connections (64 by default) and keeps exactly one small message
in flight on each: send, wait for the echo, send again. Only the measured window counts, after a
warm-up. Compression is not offered by the client, so every server does plain framing.

The client is ``picows`` (a Cython WebSocket client) when installed, else ``websockets``; the
one used is printed. Usage::

    python benchmarks/websocket_echo.py                       # all servers, 10 s each
    python benchmarks/websocket_echo.py --servers mypkg uvicorn-sansio --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
APP = "benchmarks.apps.ws_echo:app"
SERVER_CPU = "0"
CLIENT_CPU = 1
READY_TIMEOUT = 15.0
BASELINE = "mypkg"


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


QUIET = ["--no-access-log", "--log-level", "warning"]
SERVERS: dict[str, Callable[[int], list[str]]] = {
    "mypkg": lambda port: _python(
        "-m", "mypkg", APP, "--host", HOST, "--port", str(port),
        "--http", "httptools", "--loop", "uvloop", "--ws", "websockets", *QUIET,
    ),
    # mypkg's compiled modules run from source (mypkg/compiled.py): what compiling gains
    "mypkg-pure": lambda port: [
        "env", "MYPKG_PURE=1", *_python(
            "-m", "mypkg", APP, "--host", HOST, "--port", str(port),
            "--http", "httptools", "--loop", "uvloop", "--ws", "websockets", *QUIET,
        ),
    ],
    "uvicorn": lambda port: _python(
        "-m", "uvicorn", APP, "--host", HOST, "--port", str(port),
        "--http", "httptools", "--loop", "uvloop", "--ws", "websockets", *QUIET,
    ),
    "uvicorn-sansio": lambda port: _python(
        "-m", "uvicorn", APP, "--host", HOST, "--port", str(port),
        "--http", "httptools", "--loop", "uvloop", "--ws", "websockets-sansio", *QUIET,
    ),
    "granian": lambda port: _python(
        "-m", "granian", "--interface", "asgi", "--host", HOST, "--port", str(port),
        "--workers", "1", "--runtime-threads", "1", "--loop", "uvloop", *QUIET, APP,
    ),
}  # fmt: skip
VERSIONS = ("mypkg", "uvicorn", "granian", "websockets", "uvloop", "picows")


# ------------------------------------------------------------------------------ the clients
class Counter:
    """Messages echoed so far, and whether the clients should keep sending."""

    def __init__(self) -> None:
        self.count = 0
        self.running = True


async def _picows_clients(url: str, connections: int, payload: bytes, counter: Counter) -> list:  # type: ignore[type-arg]
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    class Echo(WSListener):  # type: ignore[misc, unused-ignore]
        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.BINARY, payload)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            counter.count += 1
            if counter.running:
                transport.send(WSMsgType.BINARY, payload)

    opened = [await ws_connect(Echo, url) for _ in range(connections)]
    return [transport for transport, _ in opened]


async def _websockets_clients(url: str, connections: int, payload: bytes, counter: Counter) -> list:  # type: ignore[type-arg]
    from websockets.asyncio.client import connect

    async def loop(ws: object) -> None:
        while counter.running:
            await ws.send(payload)  # type: ignore[attr-defined]
            await ws.recv()  # type: ignore[attr-defined]
            counter.count += 1

    sockets = [await connect(url, compression=None, max_queue=None) for _ in range(connections)]
    tasks = [asyncio.ensure_future(loop(ws)) for ws in sockets]
    return [*sockets, *tasks]


async def measure(
    url: str, connections: int, size: int, warmup: float, duration: float, pid: int
) -> tuple[float, float]:
    """Messages per second over ``duration`` seconds after ``warmup``, and the server's CPU
    share over that window (1.0 = one core busy: the server, not the client, is the limit)."""
    counter = Counter()
    payload = os.urandom(size)
    try:
        import picows  # noqa: F401

        handles = await _picows_clients(url, connections, payload, counter)
    except ImportError:
        handles = await _websockets_clients(url, connections, payload, counter)
    await asyncio.sleep(warmup)
    start_count, start, start_cpu = counter.count, time.perf_counter(), cpu_seconds(pid)
    own_cpu = time.process_time()
    await asyncio.sleep(duration)
    elapsed = time.perf_counter() - start
    rate = (counter.count - start_count) / elapsed
    busy = (cpu_seconds(pid) - start_cpu) / elapsed
    print(f"  client CPU {(time.process_time() - own_cpu) / elapsed:.0%};", end=" ")
    counter.running = False
    for handle in handles:
        if isinstance(handle, asyncio.Future):
            handle.cancel()
        elif hasattr(handle, "disconnect"):
            handle.disconnect()
        else:
            with contextlib.suppress(Exception):
                await handle.close()
    return rate, busy


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (granian forks), from /proc."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
    return total


# ------------------------------------------------------------------------------ the servers
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until a WebSocket handshake on the port answers 101 (the server really serves)."""
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=1) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 101"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no WebSocket answer on port {port} after {READY_TIMEOUT}s")


@contextlib.contextmanager
def running(name: str) -> Iterator[tuple[int, int]]:
    port = free_port()
    argv = ["taskset", "-c", SERVER_CPU, *SERVERS[name](port)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL)
    try:
        wait_ready(port, process)
        yield port, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def available(name: str) -> bool:
    module = "mypkg" if name == "mypkg" else name.split("-")[0]
    try:
        importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return name == "mypkg"
    return True


def versions() -> str:
    found = []
    for package in VERSIONS:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{package} {importlib.metadata.version(package)}")
    return ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", nargs="+", default=list(SERVERS), choices=list(SERVERS))
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--size", type=int, default=32, help="message size in bytes")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternate the servers this many times; medians"
    )
    args = parser.parse_args(argv)
    if shutil.which("taskset") is None:
        print("taskset (util-linux) is needed to pin server and client to CPUs", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {CLIENT_CPU})
    import uvloop

    client = "picows" if _has("picows") else "websockets"
    print(f"# {versions()}; client {client} on CPU {CLIENT_CPU}, servers on CPU {SERVER_CPU}")
    print(f"# {args.connections} connections, {args.size}-byte binary messages, one in flight")
    servers = [name for name in args.servers if available(name)]
    for name in set(args.servers) - set(servers):
        print(f"{name}: not installed, skipped")
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
    for round_number in range(args.rounds):
        for name in servers:
            with running(name) as (port, pid):
                url = f"ws://{HOST}:{port}/ws"
                rate, share = uvloop.run(
                    measure(url, args.connections, args.size, args.warmup, args.duration, pid)
                )
            runs[name].append((rate, share))
            print(
                f"round {round_number + 1} {name}: {rate:,.0f} messages/s, server CPU {share:.0%}"
            )
    # Medians over rounds: the machine may be shared, and drift must not favour anyone.
    rates = {name: statistics.median(rate for rate, _ in got) for name, got in runs.items()}
    per_message = {
        name: statistics.median(share / rate * 1e6 for rate, share in got if rate)
        for name, got in runs.items()
    }
    busy = {name: statistics.median(share for _, share in got) for name, got in runs.items()}
    print()
    print("| server | messages/s | mypkg's messages/s vs it | server CPU | CPU µs/message |")
    print("|---|---:|---:|---:|---:|")
    base = rates.get(BASELINE)
    for name, rate in rates.items():
        ratio = f"{base / rate:.2f}\N{MULTIPLICATION SIGN}" if base and rate else "-"
        print(f"| {name} | {rate:,.0f} | {ratio} | {busy[name]:.0%} | {per_message[name]:.1f} |")
    return 0


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
