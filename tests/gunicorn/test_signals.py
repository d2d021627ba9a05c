"""Gunicorn's signals and server hooks, on a real master with mypkg's worker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mypkg.workers import mapping
from tests.support.clients import RawClient
from tests.support.gunicorn import WORKER_CLASSES, fake_worker, gunicorn, marks, send_slow
from tests.support.processes import process_gone
from tests.support.waiting import assert_on_time, wait_until

HOOKS = """
import os

def _mark(text):
    with open(os.environ["TEST_MARKER"], "a") as file:
        file.write(text + "\\n")

def post_fork(server, worker): _mark(f"post_fork {worker.pid}")
def post_worker_init(worker): _mark(f"post_worker_init {worker.pid}")
def worker_int(worker): _mark(f"worker_int {worker.pid}")
def worker_abort(worker): _mark(f"worker_abort {worker.pid}")
def worker_exit(server, worker): _mark(f"worker_exit {worker.pid}")
def pre_request(worker, req):
    _mark(f"pre_request {req.method} {req.path} {req.query} {dict(req.headers).get('X-REQ')}")
def post_request(worker, req, environ, resp):
    _mark(f"post_request {req.uri} {environ['REQUEST_METHOD']} {resp.status} {resp.sent}")
"""


def with_hooks(tmp_path: Path) -> tuple[tuple[str, ...], dict[str, str], Path]:
    config = tmp_path / "hooks.conf.py"
    config.write_text(HOOKS)
    marker = tmp_path / "marks"
    marker.touch()
    return ("-c", str(config)), {"TEST_MARKER": str(marker)}, marker


def test_hooks_around_requests_and_the_worker_life(tmp_path: Path) -> None:
    args, env, marker = with_hooks(tmp_path)
    with gunicorn(*args, env=env) as master:
        [pid] = master.workers()
        assert master.request("/p?q=1", headers="X-Req: r7\r\n").status == 200
        master.signal(signal.SIGTERM)
        assert master.wait() == 0
    lines = marker.read_text().splitlines()
    assert lines == [
        f"post_fork {pid}",
        f"importing {pid}",
        f"post_worker_init {pid}",
        "startup " + str(pid),
        "pre_request GET /p q=1 r7",
        "post_request /p?q=1 GET 200 OK 2",
        "shutdown " + str(pid),
        f"worker_exit {pid}",
    ]


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_term_finishes_in_flight_requests_then_runs_lifespan_shutdown(
    tmp_path: Path, worker: str
) -> None:
    marker = tmp_path / "marks"
    with gunicorn(env={"TEST_MARKER": str(marker)}, worker=worker) as master:
        client = send_slow(master, 0.5, marker)
        master.signal(signal.SIGTERM)
        response = client.response()
        assert response.status == 200 and response.body == b"slept"
        assert response.header("connection") == "close"
        assert master.wait() == 0
    assert (marks(marker, "startup"), marks(marker, "shutdown")) == (1, 1)


def test_term_exits_within_graceful_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "marks"
    env = {"TEST_MARKER": str(marker)}
    with gunicorn("--graceful-timeout", "2", env=env) as master:
        client = send_slow(master, 30, marker)
        started = time.monotonic()
        master.signal(signal.SIGTERM)
        assert master.wait() == 0
        elapsed = time.monotonic() - started
        assert client.is_closed()
        log = master.output
    # mypkg's graceful timeout is Gunicorn's less a margin (so lifespan shutdown beats SIGKILL)
    graceful = mapping.translate(fake_worker(graceful_timeout=2))["timeout_graceful_shutdown"]
    assert_on_time(elapsed, float(graceful))  # type: ignore[arg-type]
    assert "SIGKILL" not in log
    assert "shutdown" in marker.read_text()  # lifespan shutdown ran before Gunicorn's deadline


def test_quit_to_a_worker_exits_within_a_second(tmp_path: Path) -> None:
    args, env, marker = with_hooks(tmp_path)
    with gunicorn(*args, env=env) as master:
        [pid] = master.workers()
        busy = send_slow(master, 30, marker)
        idle = RawClient(master.port)
        idle.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.response().status == 200
        started = time.monotonic()
        os.kill(pid, signal.SIGQUIT)
        wait_until(lambda: process_gone(pid), 5, "the worker to exit")
        elapsed = time.monotonic() - started
        assert busy.is_closed() and idle.is_closed()
        master.wait_for_line("Serving on", count=2)  # the master replaced it
        assert master.request("/").status == 200
    assert elapsed < 1.0, elapsed
    assert f"worker_int {pid}" in marker.read_text()


def test_int_to_the_master_stops_everything_fast(tmp_path: Path) -> None:
    marker = tmp_path / "marks"
    with gunicorn(workers=2, env={"TEST_MARKER": str(marker)}) as master:
        busy = send_slow(master, 30, marker)
        started = time.monotonic()
        master.signal(signal.SIGINT)
        assert master.wait() == 0
        assert busy.is_closed()
    assert time.monotonic() - started < 2.0


def test_usr1_reopens_the_access_log(tmp_path: Path) -> None:
    access = tmp_path / "access.log"
    with gunicorn("--access-logfile", str(access)) as master:
        assert master.request("/before").status == 200
        wait_until(lambda: "/before" in access.read_text(), 5, "the first line")
        access.rename(tmp_path / "access.log.1")
        master.signal(signal.SIGUSR1)
        wait_until(access.exists, 5, "a new access.log")
        assert master.request("/after").status == 200
        wait_until(lambda: "/after" in access.read_text(), 5, "a line in the new file")
    assert "/after" not in (tmp_path / "access.log.1").read_text()


def test_timeout_abort_logs_where_the_loop_was_stuck(tmp_path: Path) -> None:
    args, env, marker = with_hooks(tmp_path)
    with gunicorn(*args, "--timeout", "2", env=env) as master:
        [pid] = master.workers()
        client = send_slow(master, 0, marker)  # a normal request, then one that blocks the loop
        assert client.response().status == 200
        client.send(b"GET /block?30 HTTP/1.1\r\nHost: x\r\n\r\n")
        master.wait_for_line("WORKER TIMEOUT (pid:", count=2, timeout=10)
        client.close()
        master.wait_for_line("Serving on", count=2)
        log = master.output
        assert master.request("/").status == 200
    stack = log[log.index(f"WORKER TIMEOUT (pid:{pid}): the event loop was blocked") :]
    assert "apps/gunicorn.py" in stack and "time.sleep(float(query or 1))" in stack
    assert f"worker_abort {pid}" in marker.read_text()


def test_stop_signal_while_booting_exits_without_serving(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    env = {"TEST_IMPORT_DELAY": "1.5", "TEST_MARKER": str(marker)}
    with gunicorn(env=env, ready=False) as master:
        # Gunicorn's child has the master's handlers until init_signals: wait for the import.
        wait_until(lambda: marks(marker, "importing") == 1, 10, "the app import")
        [pid] = master.wait_workers(lambda pids: len(pids) == 1, "a booting worker")
        os.kill(pid, signal.SIGTERM)
        master.wait_for_line("Stop signal received while booting; exiting without serving")
        wait_until(lambda: process_gone(pid), 5, "the worker to exit")
