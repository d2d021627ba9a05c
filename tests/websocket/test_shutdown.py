"""Graceful shutdown closes WebSockets with 1012 and never waits past the graceful timeout."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.servers import Running, serve
from tests.support.waiting import assert_on_time
from tests.support.websocket import RawWebSocket, echo_app, handshake, wait_for


def stop(running: Running) -> float:
    """Ask the server to stop; how long it took to finish."""
    started = time.monotonic()
    running.server.request_exit_threadsafe()
    running.thread.join(20)
    assert not running.thread.is_alive()
    return time.monotonic() - started


def test_open_websocket_is_closed_with_1012(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    with (
        serve(echo_app(events), http=http) as running,
        connect(f"ws://127.0.0.1:{running.port}/") as ws,
    ):
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        assert stop(running) < 5
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1012
        assert wait_for(events, "disconnect")["code"] == 1012


def test_client_that_never_answers_the_close_does_not_hold_shutdown(http: str) -> None:
    with (
        serve(echo_app(), http=http, timeout_graceful_shutdown=1) as running,
        RawWebSocket(running.port) as client,
    ):
        client.open()  # and then reads nothing and answers nothing
        assert stop(running) < 4


def test_app_ignoring_disconnect_is_cancelled_after_graceful_timeout(http: str) -> None:
    cancelled: queue.Queue[bool] = queue.Queue()

    async def stubborn(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await asyncio.sleep(3600)  # never reads, never closes
        except asyncio.CancelledError:
            cancelled.put(True)
            raise

    with serve(stubborn, http=http, timeout_graceful_shutdown=1) as running:
        with connect(f"ws://127.0.0.1:{running.port}/") as ws:
            elapsed = stop(running)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 1012
        assert_on_time(elapsed, 1.0)  # the graceful timer is exact (no tick)
        assert cancelled.get(timeout=1)


def test_handshake_waiting_for_the_app_gets_503_on_shutdown(http: str) -> None:
    connected = threading.Event()

    async def undecided(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        connected.set()
        await asyncio.sleep(3600)

    with serve(undecided, http=http, timeout_graceful_shutdown=1) as running:
        with RawWebSocket(running.port) as client:
            client.send(handshake())
            assert connected.wait(5)
            elapsed = stop(running)
            assert client.response().status == 503
        assert elapsed < 4
