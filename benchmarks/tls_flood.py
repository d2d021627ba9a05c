"""TLS handshake flood against one mypkg worker: how long do ordinary HTTPS requests wait?

Why: a handshake costs the server real CPU (key exchange, signature), and all of it runs on the
worker's one event loop. This starts ``python -m mypkg`` with a throwaway certificate (trustme),
then opens ``--connections`` TLS connections at once, each either completing its handshake and
then idling (``--mode full``) or sending only its ClientHello (``--mode hello``), while a probe
client sends a request every 10 ms on its own keep-alive connection and on fresh connections.
It prints the probe's latencies (p50/p99/max) before, during and after the flood, and how many
flood connections the server closed at the request-head deadline.

    python -m benchmarks.tls_flood --connections 1000 --mode full
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import trustme

from benchmarks.procs import free_port, server_env, stop_server

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def start_server(cert: Path, port: int, head_timeout: float) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "mypkg", "benchmarks.apps.plain:app", "--port", str(port)]
    cmd += ["--ssl-certfile", str(cert), "--timeout-request-head", str(head_timeout)]
    cmd += ["--log-level", "warning", "--no-access-log", "--backlog", "2048"]
    return subprocess.Popen(cmd, start_new_session=True, env=server_env())


def probe_loop(
    port: int, context: ssl.SSLContext, stop: threading.Event, out: list[tuple[float, float, str]]
) -> None:
    """A request every 10 ms: alternately on one keep-alive connection and on a fresh one."""
    keep = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
    fresh = False
    while not stop.is_set():
        start = time.monotonic()
        if fresh:
            with context.wrap_socket(socket.create_connection(("127.0.0.1", port), 30)) as sock:
                _one_request(sock)
        else:
            _one_request(keep)
        out.append((start, time.monotonic() - start, "fresh" if fresh else "keep-alive"))
        fresh = not fresh
        stop.wait(0.01)
    keep.close()


def _one_request(sock: ssl.SSLSocket) -> None:
    sock.sendall(REQUEST)
    data = b""
    while not data.endswith(b"Hello, world!"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk


async def flood(port: int, context: ssl.SSLContext, count: int, mode: str) -> list[object]:
    """Open ``count`` connections at once; keep them until the caller is done."""

    async def one() -> object:
        if mode == "full":
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, ssl_handshake_timeout=120
            )
            return writer
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = context.wrap_bio(incoming, outgoing)
        with contextlib.suppress(ssl.SSLWantReadError):
            obj.do_handshake()
        writer.write(outgoing.read())
        await reader.read(1)  # the ServerHello: the server did its part
        return reader, writer

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    return list(results)


def summary(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"n={len(ordered)} p50={statistics.median(ordered) * 1000:.1f} ms "
        f"p99={p99 * 1000:.1f} ms max={ordered[-1] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--mode", choices=["full", "hello"], default="full")
    parser.add_argument("--head-timeout", type=float, default=10.0)
    args = parser.parse_args()
    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as tmp:
        cert = Path(tmp) / "server.pem"
        cert.write_bytes(ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.bytes())
        context = ssl.create_default_context()
        context.check_hostname = False  # 127.0.0.1 is in the certificate; keep the calls short
        ca.configure_trust(context)
        port = free_port()
        proc = start_server(cert, port, args.head_timeout)
        try:
            wait_ready_tls(proc, port, context)
            run(port, context, args)
        finally:
            stop_server(proc)


def wait_ready_tls(proc: subprocess.Popen[bytes], port: int, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with context.wrap_socket(socket.create_connection(("127.0.0.1", port), 1)) as sock:
                _one_request(sock)
                return
        except OSError:
            if proc.poll() is not None:
                sys.exit("server exited")
            time.sleep(0.1)
    sys.exit("server not ready")


def run(port: int, context: ssl.SSLContext, args: argparse.Namespace) -> None:
    stop = threading.Event()
    samples: list[tuple[float, float, str]] = []
    prober = threading.Thread(target=probe_loop, args=(port, context, stop, samples))
    prober.start()
    time.sleep(1.0)
    flood_start = time.monotonic()
    results = asyncio.run(_flood_and_hold(port, context, args.connections, args.mode))
    flood_end = time.monotonic()
    time.sleep(1.0)
    stop.set()
    prober.join()
    failed = [r for r in results if isinstance(r, BaseException)]
    print(
        f"flood: {args.connections} connections, mode {args.mode}: "
        f"{len(results) - len(failed)} opened, {len(failed)} failed, "
        f"in {flood_end - flood_start:.2f} s"
    )
    for label, low, high in (
        ("before", 0.0, flood_start),
        ("during", flood_start, flood_end),
        ("after", flood_end, float("inf")),
    ):
        for kind in ("keep-alive", "fresh"):
            picked = [d for s, d, k in samples if low <= s < high and k == kind]
            print(f"probe {label:6} {kind:10}: {summary(picked)}")


async def _flood_and_hold(
    port: int, context: ssl.SSLContext, count: int, mode: str
) -> list[object]:
    results = await flood(port, context, count, mode)
    for item in results:
        writer = item[1] if isinstance(item, tuple) else item
        if isinstance(writer, asyncio.StreamWriter):
            writer.close()
    return results


if __name__ == "__main__":
    main()
