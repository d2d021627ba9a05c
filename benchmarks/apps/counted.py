"""Any benchmark app, wrapped to count the HTTP requests each worker process serves.

Why this exists: with several workers, req/s alone hides how the load was spread; a server whose
kernel socket hands most connections to one worker leaves the other core idle. The only view that
is the same for every server (mypkg's master, Gunicorn, uvicorn's and granian's own process
managers) is the app's: each process counts the requests it answers and the distinct client
addresses they came from (its connections), and a small task rewrites ``$BENCH_COUNTS_DIR/<pid>``
with "REQUESTS CONNECTIONS" every ``FLUSH_SECONDS``. The harness reads the files before and after
the measured run (after waiting longer than a flush) and takes the difference of the requests, so
warm-up requests are not counted and nothing depends on a server running lifespan shutdown
(``measure.read_counts`` reads them). Connections are not a difference: the client ports of the
warm-up's connections come back in the measured run's, so the harness writes a new
``$BENCH_COUNTS_DIR/epoch`` before the measured run and each process forgets the clients it saw.

The wrapped app is named by ``$BENCH_APP`` (e.g. ``benchmarks.apps.plain:app``). The wrapper costs
one extra coroutine call per request, the same for every server.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from pathlib import Path
from typing import Any

from benchmarks.apps.plain import Receive, Scope, Send

FLUSH_SECONDS = 0.1
EPOCH_FILE = "epoch"


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name or "app")


_INNER = _load(os.environ.get("BENCH_APP", "benchmarks.apps.plain:app"))
_DIRECTORY = Path(os.environ.get("BENCH_COUNTS_DIR", "."))


class _Counter:
    """This process's count, and the task that writes it (started by the first request, so a
    process forked after the import counts for itself)."""

    def __init__(self) -> None:
        self.pid = 0
        self.count = 0
        self.clients: set[object] = set()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.pid, self.count, self.clients = os.getpid(), 0, set()
        self.task = asyncio.get_running_loop().create_task(self._flush_forever())

    async def _flush_forever(self) -> None:
        path, written = _DIRECTORY / str(self.pid), ""
        epoch = _read(_DIRECTORY / EPOCH_FILE)  # the clients seen so far belong to this one
        scratch = path.with_suffix(".tmp")
        while True:
            current = _read(_DIRECTORY / EPOCH_FILE)
            if current != epoch:  # the harness starts counting connections afresh
                epoch, self.clients = current, set()
            if f"{self.count} {len(self.clients)}" != written:
                written = f"{self.count} {len(self.clients)}"
                scratch.write_text(written)
                os.replace(scratch, path)  # the harness never reads a half-written file
            await asyncio.sleep(FLUSH_SECONDS)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


_COUNTER = _Counter()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Count an HTTP request for this process, then let the wrapped app answer it."""
    if scope["type"] == "http":
        if _COUNTER.pid != os.getpid():
            _COUNTER.start()
        _COUNTER.count += 1
        _COUNTER.clients.add(scope["client"])
    await _INNER(scope, receive, send)
