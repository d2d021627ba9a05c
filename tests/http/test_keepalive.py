"""Keep-alive, on both parsers over raw sockets: one answer to "where is keep-alive tested".

Persistence (HTTP/1.1 by default, HTTP/1.0 when asked, ``Connection: close`` from either side),
the idle timeout (``--timeout-keep-alive``, measured against its deadline), and idle connections
at shutdown: a request its client already sent on an idle connection is answered, never reset,
and idle connections close after the drain grace.

A loop that did not run for a while must not cut keep-alive connections whose next request is
already waiting in the socket: deadlines are judged only after the sockets were polled. On uvloop
(libuv) the timers of a loop iteration run before its socket poll, so after a stall the server's
ticker sees deadlines that passed while it was not running before it sees the requests that
arrived meanwhile. The stall here is a reader callback that sleeps, so it happens in the poll
phase, as a process descheduled under CPU starvation would.

The same settings through Gunicorn (``--keep-alive``): tests/gunicorn/test_worker.py; curl reusing
a connection: tests/http/test_curl.py.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx

from mypkg.state import DRAIN_IDLE_GRACE
from tests.support import apps
from tests.support.clients import RawClient, raw_get
from tests.support.servers import serve
from tests.support.waiting import assert_on_time, wait_until

GET = raw_get()


# --------------------------------------------------------------------------- persistence


def test_keep_alive_several_requests_on_one_connection(http: str) -> None:
    with serve(apps.echo, http=http) as running, RawClient(running.port) as client:
        for index in range(3):
            client.send(raw_get(f"/{index}"))
            response = client.response()
            assert (response.status, response.header("x-path")) == (200, f"/{index}")
            assert response.header("connection") is None
        assert not client.is_closed(timeout=0.05)


def test_httpx_client_reuses_the_connection(http: str) -> None:
    recorder = apps.Recorder(apps.hello)
    with serve(recorder, http=http) as running, httpx.Client(timeout=5) as client:
        for _ in range(3):
            assert client.get(running.url("/")).text == "Hello, world!"
    assert len({scope["client"] for scope in recorder.scopes}) == 1


def test_http10_closes_by_default(http: str) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(b"GET / HTTP/1.0\r\n\r\n")
        response = client.response()
        assert (response.status, response.body) == (200, b"Hello, world!")
        assert response.header("connection") == "close"
        assert client.is_closed()


def test_http10_keep_alive_when_asked(http: str) -> None:
    with serve(apps.echo, http=http) as running, RawClient(running.port) as client:
        for path in ("/a", "/b"):
            client.send(raw_get(path, b"Connection: keep-alive", version=b"1.0"))
            response = client.response()
            assert response.header("x-path") == path
            assert response.header("connection") == "keep-alive"
        client.send(raw_get("/c", version=b"1.0"))
        assert client.response().header("connection") == "close"
        assert client.is_closed()


def test_connection_close_from_client(http: str) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get("/", b"Connection: close"))
        response = client.response()
        assert response.status == 200
        assert response.header("connection") == "close"
        assert client.is_closed()


def test_connection_close_from_app(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await apps.respond(send, 200, b"bye", [(b"Connection", b"close")])

    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get())
        response = client.response()
        assert [h for h in response.headers if h[0].lower() == "connection"] == [
            ("Connection", "close")
        ]
        assert client.is_closed()


# --------------------------------------------------------------------------- the idle timeout


def test_keep_alive_timeout_closes_idle_connection(http: str) -> None:
    timeout = 0.5
    with (
        serve(apps.hello, http=http, timeout_keep_alive=timeout) as running,
        RawClient(running.port) as client,
    ):
        tick = running.server.state.tick_interval  # type: ignore[union-attr]
        client.send(GET)
        assert client.response().status == 200
        answered = time.monotonic()
        assert client.is_closed(timeout=5)
        assert_on_time(time.monotonic() - answered, timeout, tick)


def test_busy_request_not_cut_by_keep_alive_timeout(http: str) -> None:
    """A request held in the app outlives an idle connection closed by the keep-alive timeout."""
    gate = apps.Gate()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await (gate if scope["path"] == "/busy" else apps.hello)(scope, receive, send)

    with (
        serve(app, http=http, timeout_keep_alive=0.3) as running,
        RawClient(running.port) as busy,
        RawClient(running.port) as idle,
    ):
        busy.send(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n")
        gate.wait_entered(1)
        idle.send(GET)
        assert idle.response().status == 200
        assert idle.is_closed(timeout=5)  # so /busy has been busy longer than the timeout
        gate.open()
        response = busy.response()
        assert (response.status, response.body) == (200, b"Hello, world!")
        assert response.header("connection") is None  # still keep-alive


def test_requests_waiting_during_a_stall_are_served(http: str) -> None:
    blocked = threading.Event()
    stall_r, stall_w = socket.socketpair()

    def stall() -> None:
        stall_r.recv(1)
        blocked.set()
        time.sleep(2.0)  # the whole event loop stalls

    with (
        stall_r,
        stall_w,
        serve(apps.hello, http=http, timeout_keep_alive=0.5) as running,
        RawClient(running.port) as idle,
    ):
        state = running.server.state
        assert state is not None
        state.loop.call_soon_threadsafe(state.loop.add_reader, stall_r.fileno(), stall)
        idle.send(GET)
        assert idle.response().status == 200  # now idle, with a 0.5 s keep-alive deadline
        stall_w.send(b"x")
        assert blocked.wait(5)
        idle.send(GET)  # waits in the socket buffer while the deadline passes
        assert idle.response().status == 200
        state.loop.call_soon_threadsafe(state.loop.remove_reader, stall_r.fileno())


# --------------------------------------------------------------------------- at shutdown


def test_request_on_an_idle_connection_during_shutdown_is_answered(http: str) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(GET)
        first = client.response()
        assert first.status == 200 and first.header("connection") is None
        running.server.request_exit_threadsafe()
        state = running.server.state
        assert state is not None
        wait_until(lambda: state.shutting_down, 5, "the shutdown to begin")
        client.send(GET)  # the connection is idle and the server is draining
        second = client.response()
        assert second.status == 200
        assert second.header("connection") == "close"
        assert client.is_closed()


def test_idle_connection_is_closed_after_the_grace(http: str) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(GET)
        assert client.response().status == 200
        started = time.monotonic()
        running.server.request_exit_threadsafe()
        assert client.is_closed(timeout=5)
        elapsed = time.monotonic() - started
        state = running.server.state
        assert state is not None
        assert_on_time(elapsed, DRAIN_IDLE_GRACE, state.tick_interval)
        running.thread.join(5)
        assert not running.thread.is_alive()


def test_keep_alive_zero_closes_every_response(http: str) -> None:
    with (
        serve(apps.hello, http=http, timeout_keep_alive=0) as running,
        RawClient(running.port) as client,
    ):
        client.send(GET)
        assert client.response().header("connection") == "close"
        assert client.is_closed()
