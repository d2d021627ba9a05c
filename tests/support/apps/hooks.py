"""Server hooks for tests/processes/test_hooks.py: each appends a line to MYPKG_TEST_HOOKS, and
post_fork sets up a tracer-like object, as an OpenTelemetry recipe does, that the app reports."""

from __future__ import annotations

import os
from typing import Any


class Tracer:
    """Stands in for an OpenTelemetry tracer provider: made per process, records spans."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.spans: list[str] = []


TRACER: Tracer | None = None


def _note(*words: object) -> None:
    with open(os.environ["MYPKG_TEST_HOOKS"], "a") as file:
        file.write(" ".join(map(str, words)) + "\n")


def on_starting(server: Any) -> None:
    _note("on_starting", server.pid)


def when_ready(server: Any) -> None:
    _note("when_ready", server.pid)


def on_reload(server: Any) -> None:
    _note("on_reload", server.pid)


def post_fork(server: Any, worker: Any) -> None:
    global TRACER
    TRACER = Tracer(worker.pid)  # after the fork: never shared with the master or a sibling
    _note("post_fork", worker.pid, server.pid)


def post_worker_init(worker: Any) -> None:
    _note("post_worker_init", worker.pid, worker.app is not None)


def worker_exit(server: Any, worker: Any) -> None:
    _note("worker_exit", worker.pid)


def pre_request(worker: Any, req: Any) -> None:
    if TRACER is not None:
        TRACER.spans.append(f"{req.method} {req.path}")


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    _note("post_request", worker.pid, req.path, resp.status_code)


async def traced(scope: Any, receive: Any, send: Any) -> None:
    """Answers with this process's tracer: "<tracer pid> <own pid> <spans so far>"."""
    if scope["type"] != "http":
        return
    tracer = TRACER
    body = f"{tracer.pid if tracer else None} {os.getpid()} {len(tracer.spans) if tracer else 0}"
    headers = [(b"content-length", b"%d" % len(body)), (b"x-pid", str(os.getpid()).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})
