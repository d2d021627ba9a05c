"""Time limits past the head: a slow body gets 408, a request over --timeout-request gets 504.

Both parsers, raw sockets; then a real worker process under mypkg's master and under Gunicorn.
Deadlines are asserted as "happened, within a generous bound" (the machine is shared).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

from tests.support import apps
from tests.support.clients import RawClient, request
from tests.support.gunicorn import WORKER_CLASSES, gunicorn
from tests.support.processes import Master
from tests.support.servers import serve

GOOD = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def post_head(length: int, extra: str = "") -> bytes:
    return f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n{extra}\r\n".encode()


def test_body_trickled_one_byte_at_a_time_gets_408(http: str) -> None:
    app = apps.UntilDisconnect()
    limits = {"timeout_request_body": 1.0, "min_request_body_rate": 100.0}
    with serve(app, http=http, **limits) as running, RawClient(running.port) as client:
        client.send(post_head(1000))
        start = time.monotonic()
        closed = False
        for _ in range(100):  # each byte well inside the stall timeout, the rate far below 100 B/s
            try:
                client.send(b"a")
            except OSError:  # the server closed (and the kernel said so)
                closed = True
                break
            if client.is_closed(0.2):
                closed = True
                break
        assert closed
        assert time.monotonic() - start < 10
        assert client.buffer.startswith(b"HTTP/1.1 408 "), client.buffer
        assert app.finished.wait(5) and app.messages[-1] == {"type": "http.disconnect"}


def test_body_that_stalls_gets_408_and_the_server_serves_on(http: str) -> None:
    limits = {"timeout_request_body": 0.5, "min_request_body_rate": 0.0}
    with serve(apps.echo, http=http, **limits) as running:
        with RawClient(running.port) as client:
            client.send(post_head(10) + b"12345")
            response = client.response()
            assert response.status == 408
            assert client.is_closed()
        assert request(running.port, post_head(3) + b"abc").body == b"abc"


def test_steady_body_within_the_rate_is_served(http: str) -> None:
    limits = {"timeout_request_body": 0.6, "min_request_body_rate": 100.0}
    with serve(apps.echo, http=http, **limits) as running, RawClient(running.port) as client:
        client.send(post_head(400))
        for _ in range(4):  # 100 bytes every 0.25 s: 400 B/s, each gap inside the stall limit
            client.send(b"x" * 100)
            time.sleep(0.25)
        response = client.response()
        assert (response.status, len(response.body)) == (200, 400)


class SlowReader:
    """Reads nothing for ``delay`` seconds (the server pauses reading), then echoes the body."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(self.delay)
        await apps.echo(scope, receive, send)


def test_a_body_the_app_does_not_read_is_not_the_clients_fault(http: str) -> None:
    limits = {"timeout_request_body": 0.3, "min_request_body_rate": 0.0}
    size = 1 << 20  # well past the read high-water mark: the server pauses reading
    with (
        serve(SlowReader(0.8), http=http, **limits) as running,
        RawClient(running.port, timeout=15) as client,
    ):
        client.send(post_head(size) + b"b" * size)
        response = client.response()
        assert (response.status, len(response.body)) == (200, size)


def test_expect_100_waits_for_the_app_before_the_body_is_due(http: str) -> None:
    limits = {"timeout_request_body": 0.3, "min_request_body_rate": 0.0}
    with serve(SlowReader(0.7), http=http, **limits) as running, RawClient(running.port) as client:
        client.send(post_head(5, "Expect: 100-continue\r\n"))
        assert client.read_until(b"\r\n\r\n").startswith(b"HTTP/1.1 100 ")
        client.send(b"hello")
        assert client.response().body == b"hello"


class Sleeper:
    """Sleeps ``seconds`` (after starting a streamed response when ``stream``); records a cancel."""

    def __init__(self, seconds: float, stream: bool = False) -> None:
        self.seconds = seconds
        self.stream = stream
        self.cancelled = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/fast":
            await apps.respond(send, 200, b"fast")
            return
        if self.stream:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        await apps.respond(send, 200, b"late")


def test_request_over_the_timeout_gets_504_and_its_task_is_cancelled(http: str) -> None:
    app = Sleeper(30)
    with serve(app, http=http, timeout_request=0.5) as running:
        start = time.monotonic()
        with RawClient(running.port) as client:
            client.send(GOOD)
            response = client.response()
            assert response.status == 504
            assert response.header("connection") == "close"
            assert client.is_closed()
        assert 0.4 < time.monotonic() - start < 10
        assert app.cancelled.wait(5)
        assert request(running.port, b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n").body == b"fast"


def test_request_over_the_timeout_after_its_response_started_is_cut(http: str) -> None:
    app = Sleeper(30, stream=True)
    with serve(app, http=http, timeout_request=0.5) as running:
        with RawClient(running.port) as client:
            client.send(GOOD)
            data = client.read_to_close()
            assert data.startswith(b"HTTP/1.1 200 ") and not data.endswith(b"0\r\n\r\n")
        assert app.cancelled.wait(5)


def test_fast_requests_are_untouched_by_the_timeout(http: str) -> None:
    with (
        serve(Sleeper(0.01), http=http, timeout_request=5) as running,
        RawClient(running.port) as c,
    ):
        for _ in range(3):
            c.send(GOOD)
            assert c.response().body == b"late"


# --------------------------------------------------------------------------- real processes

SLEEPY = "tests.support.apps.operator:sleepy"


def test_supervised_worker_times_out_a_request_and_serves_on() -> None:
    args = ["-w", "1", "--worker-timeout", "30", "--port", "0", "--timeout-request", "0.5"]
    args += ["--timeout-request-body", "0.5"]
    with Master(SLEEPY, *args) as master:
        port = master.ready()
        pids = master.workers()
        assert request(port, b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n").status == 504
        assert request(port, post_head(10) + b"12345").status == 408
        assert request(port, GOOD).status == 200
        assert master.workers() == pids  # the same worker served on


def test_gunicorn_worker_times_out_a_request(tmp_path: Path) -> None:
    """One worker class: the parsers are covered above, this checks the variables arrive."""
    env = {"MYPKG_TIMEOUT_REQUEST": "0.5", "MYPKG_TIMEOUT_REQUEST_BODY": "0.5"}
    with gunicorn(app=SLEEPY, worker=WORKER_CLASSES[1], env=env) as master:
        pids = master.workers()
        assert request(master.port, b"GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n").status == 504
        assert request(master.port, post_head(10) + b"12345").status == 408
        assert request(master.port, GOOD).status == 200
        assert master.workers() == pids  # the same worker served on
