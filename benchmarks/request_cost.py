"""CPU and allocations per request of mypkg's HTTP protocol, sans I/O (no sockets, no wrk).

    python benchmarks/request_cost.py --app starlette --http httptools
    python benchmarks/request_cost.py --app plain --gc          # GC passes and blocks per request
    valgrind --tool=callgrind python benchmarks/request_cost.py --requests 2000 --runs 1

Why this exists: on a shared 2-core machine wrk's req/s moves by 10-30 % from run to run, so a
before/after comparison of the request path needs a measurement that load does not distort:
the real protocol class, parser and app fed a wrk-like request by a loop on a recording
transport; CPU time (process_time, best of several runs), GC collections and memory blocks per
request, or an instruction count under callgrind (which no other process can disturb).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mypkg import Config
from mypkg.http.h11_impl import H11Protocol
from mypkg.http.httptools_impl import HttptoolsProtocol
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState

PROTOCOLS: dict[str, type[HttpProtocol]] = {"httptools": HttptoolsProtocol, "h11": H11Protocol}
HEAD = b"Host: localhost:8000\r\nUser-Agent: wrk\r\nAccept: */*\r\n"
# app name -> (import target, request bytes)
APPS: dict[str, tuple[str, bytes]] = {
    "plain": ("benchmarks.apps.plain:app", b"GET / HTTP/1.1\r\n" + HEAD + b"\r\n"),
    "starlette": ("benchmarks.apps.starlette_app:app", b"GET / HTTP/1.1\r\n" + HEAD + b"\r\n"),
    "fastapi": ("benchmarks.apps.fastapi_app:app", b"GET /items/42 HTTP/1.1\r\n" + HEAD + b"\r\n"),
    "echo": (
        "benchmarks.apps.shapes:app",
        b"POST /echo HTTP/1.1\r\n" + HEAD + b"Content-Length: 16384\r\n\r\n" + b"z" * 16384,
    ),
}


class Transport:
    """Counts what is written; never closes or pauses (the app always answers completely)."""

    def __init__(self) -> None:
        self.writes = 0
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name)

    def write(self, data: bytes) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    abort = close

    def pause_reading(self) -> None:
        pass

    resume_reading = pause_reading


def load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def serve(protocol: HttpProtocol, transport: Transport, request: bytes, count: int) -> None:
    """One request at a time, as one keep-alive client would send them."""
    for _ in range(count):
        completed = protocol.state.total_requests
        protocol.data_received(request)
        await asyncio.sleep(0)  # the loop iteration that the next read would take anyway
        while protocol.state.total_requests == completed:
            await asyncio.sleep(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", default="plain", choices=sorted(APPS))
    parser.add_argument("--http", default="httptools", choices=sorted(PROTOCOLS))
    parser.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--gc", action="store_true", help="count GC passes and memory blocks")
    opts = parser.parse_args()
    target, request = APPS[opts.app]
    app = load(target)
    loop = new_loop(opts.loop)
    state = ServerState(Config(app, access_log=False, http=opts.http), app, loop)
    state.total_requests = 0
    protocol = PROTOCOLS[opts.http](state)
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    loop.run_until_complete(serve(protocol, transport, request, 1000))  # warm caches
    if opts.gc:
        report_gc(loop, protocol, transport, request, opts.requests)
    best = float("inf")
    for _ in range(opts.runs):
        started = time.process_time()
        loop.run_until_complete(serve(protocol, transport, request, opts.requests))
        best = min(best, time.process_time() - started)
    loop.close()
    print(
        f"{opts.app} {opts.http} {opts.loop} Python {sys.version.split()[0]}: "
        f"{best / opts.requests * 1e6:.2f} us CPU/request (best of {opts.runs}), "
        f"{transport.writes / state.total_requests:.2f} writes/request"
    )
    return 0


def report_gc(
    loop: asyncio.AbstractEventLoop,
    protocol: HttpProtocol,
    transport: Transport,
    request: bytes,
    count: int,
) -> None:
    """GC passes per 10k requests by generation, and traced allocations left behind."""
    before = [s["collections"] for s in gc.get_stats()]
    loop.run_until_complete(serve(protocol, transport, request, count))
    after = [s["collections"] for s in gc.get_stats()]
    passes = ", ".join(
        f"gen{i} {(a - b) * 10000 / count:.1f}"
        for i, (a, b) in enumerate(zip(after, before, strict=True))
    )
    tracemalloc.start()
    first = tracemalloc.get_traced_memory()[0]
    loop.run_until_complete(serve(protocol, transport, request, count))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"GC passes per 10k requests: {passes}; traced memory after {count} requests: "
        f"{(current - first) / 1024:+.1f} KiB, peak {(peak - first) / 1024:.1f} KiB"
    )


if __name__ == "__main__":
    sys.exit(main())
