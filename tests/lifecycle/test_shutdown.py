"""Graceful shutdown of a real ``python -m mypkg`` process on SIGTERM and SIGINT, both parsers.

A request is held in flight by not finishing its body (the app reads it all before answering),
so the test decides when it ends without any sleep. The app notes lifespan events in a file.
"""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.support.clients import RawClient
from tests.support.processes import ServerProcess
from tests.support.waiting import assert_on_time

HELD = b"POST /held HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.fixture(params=[signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def stop_signal(request: pytest.FixtureRequest) -> signal.Signals:
    return signal.Signals(request.param)


def start(http: str, tmp_path: Path, *args: str) -> tuple[ServerProcess, Path]:
    events = tmp_path / "events"
    proc = ServerProcess(
        "tests.support.apps:held", "--http", http, *args, env={"MYPKG_TEST_EVENTS": str(events)}
    )
    return proc, events


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_graceful_shutdown(http: str, tmp_path: Path, stop_signal: signal.Signals) -> None:
    proc, events = start(http, tmp_path)
    with proc:
        port = proc.wait_serving()
        with RawClient(port) as idle, RawClient(port) as busy:
            idle.send(GET)
            assert idle.response().status == 200  # now an idle keep-alive connection
            busy.send(HELD)
            proc.wait_for_line("app: reading the body")

            proc.signal(stop_signal)
            proc.wait_for_line("Finishing in-flight requests")
            assert refused(port), "still accepting connections after the signal"
            assert idle.is_closed(), "the idle keep-alive connection was left open"
            assert proc.process.poll() is None, "exited with a request in flight"

            busy.send(b"world")  # the in-flight request may now finish
            response = busy.response()
            assert (response.status, response.body) == (200, b"helloworld")
            assert response.header("connection") == "close"
            assert busy.is_closed()
        assert proc.wait() == 0
    assert f"Received {stop_signal.name}" in proc.output
    assert events.read_text() == "startup\nshutdown\n"


def test_request_that_never_finishes_is_cut_at_the_graceful_timeout(
    http: str, tmp_path: Path
) -> None:
    timeout = 0.5
    proc, events = start(http, tmp_path, "--timeout-graceful-shutdown", str(timeout))
    with proc:
        port = proc.wait_serving()
        with RawClient(port) as busy:
            busy.send(HELD)
            proc.wait_for_line("app: reading the body")
            signalled = time.monotonic()
            proc.signal(signal.SIGTERM)
            assert proc.wait() == 0
            elapsed = time.monotonic() - signalled
            assert busy.read_to_close() == b""  # cut: no response that could look complete
    assert_on_time(elapsed, timeout)  # the graceful timer is exact (no tick)
    assert "Graceful shutdown timed out" in proc.output
    assert events.read_text() == "startup\nshutdown\n"  # lifespan shutdown still ran


def test_second_signal_cuts_connections_at_once(http: str, tmp_path: Path) -> None:
    proc, events = start(http, tmp_path, "--timeout-graceful-shutdown", "60")
    with proc:
        port = proc.wait_serving()
        with RawClient(port) as busy:
            busy.send(HELD)
            proc.wait_for_line("app: reading the body")
            proc.signal(signal.SIGTERM)
            proc.wait_for_line("Finishing in-flight requests")
            signalled = time.monotonic()
            proc.signal(signal.SIGTERM)
            assert proc.wait() == 0
            assert time.monotonic() - signalled < 5
            assert busy.read_to_close() == b""
    assert events.read_text() == "startup\nshutdown\n"


def test_idle_server_stops_at_once(http: str, tmp_path: Path, stop_signal: signal.Signals) -> None:
    proc, events = start(http, tmp_path)
    with proc:
        proc.wait_serving()
        signalled = time.monotonic()
        proc.signal(stop_signal)
        assert proc.wait() == 0
        assert time.monotonic() - signalled < 5
    assert events.read_text() == "startup\nshutdown\n"


def test_signal_during_a_hanging_startup_stops_the_process(stop_signal: signal.Signals) -> None:
    with ServerProcess("tests.support.apps:hanging_startup", "--lifespan", "on") as proc:
        proc.wait_for_line("app: starting up")
        proc.signal(stop_signal)
        assert proc.wait() == 0
    assert "Serving on" not in proc.output
    assert "stopping before lifespan startup completed" in proc.output
