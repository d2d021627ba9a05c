"""Shutdown never resets a keep-alive connection under a request its client already sent."""

from __future__ import annotations

import time

from mypkg.state import DRAIN_IDLE_GRACE
from tests import apps
from tests.conftest import RawClient, assert_on_time, serve
from tests.gunicorn_support import wait_until

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


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
