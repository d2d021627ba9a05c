"""The one worker runtime (mypkg/runtime.py), driven by each process manager in turn.

Each test runs the same scenario under mypkg's own master and under Gunicorn: what a worker does
once serving is the runtime's, so it must not depend on who forked it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.import_cycles import cycles, graph_of
from tests.support.clients import RawClient
from tests.support.gunicorn import gunicorn, marks
from tests.support.processes import ROOT, Master, ServerProcess, process_gone
from tests.support.waiting import wait_until

MANAGERS = ("supervisor", "gunicorn")


@dataclass
class Running:
    """A master with one serving worker, whichever manager it is."""

    port: int
    master_pid: int
    worker_pid: int
    master: ServerProcess  # Master or GunicornMaster: the same log waits


@contextmanager
def one_worker(manager: str, app: str, tmp_path: Path) -> Iterator[Running]:
    env = {"TEST_MARKER": str(tmp_path / "marks")}
    if manager == "supervisor":
        # --worker-timeout: a setting only a master has, so one worker still gets a master
        args = ("-w", "1", "--worker-timeout", "30", app, "--port", "0")
        with Master(*args, env=env) as master:
            port = master.ready()
            [pid] = master.workers()
            yield Running(port, master.pid, pid, master)
    else:
        with gunicorn(app=app, env=env) as running:
            [pid] = running.workers()
            yield Running(running.port, running.pid, pid, running)


@pytest.mark.parametrize("manager", MANAGERS)
def test_parent_death_finishes_in_flight_requests_then_exits(manager: str, tmp_path: Path) -> None:
    """SIGKILL to the master: the worker notices on its next tick, answers what it was
    serving, and exits instead of serving on as an orphan."""
    with one_worker(manager, "tests.support.apps.gunicorn:app", tmp_path) as running:
        client = RawClient(running.port, timeout=10)
        client.send(b"GET /slow?1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: marks(tmp_path / "marks", "slow") == 1, 5, "the request to start")
        os.kill(running.master_pid, signal.SIGKILL)
        running.master.wait_for(rf"The parent process {running.master_pid} is gone; finishing")
        response = client.response()
        assert (response.status, response.body) == (200, b"slept")
        wait_until(lambda: process_gone(running.worker_pid), 10, "the worker to exit")


@pytest.mark.parametrize("manager", MANAGERS)
def test_quit_cuts_a_hanging_lifespan_shutdown_short(manager: str, tmp_path: Path) -> None:
    """SIGQUIT to a worker whose app never finishes lifespan shutdown: it exits within about a
    second (QUICK_EXIT_BUDGET), not at the master's SIGKILL."""
    with one_worker(manager, "tests.support.apps.runtime:hanging_shutdown", tmp_path) as running:
        started = time.monotonic()
        os.kill(running.worker_pid, signal.SIGQUIT)
        wait_until(lambda: process_gone(running.worker_pid), 10, "the worker to exit")
        elapsed = time.monotonic() - started
        running.master.wait_for("Quick exit: lifespan shutdown cut short")
        assert "SIGKILL" not in running.master.output
    assert elapsed < 3.0, elapsed  # 0.7 s budget, on a loaded machine; SIGKILL would be >= 5 s


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for name in graph[todo.pop()] - seen:
            seen.add(name)
            todo.append(name)
    return seen


def test_the_runtime_sits_between_the_server_and_the_process_managers() -> None:
    """Both managers import the runtime; nothing below it (the runtime, the server, what says
    what runs) reaches a process manager, counting deferred and type-checking imports, so none
    of them is in an import cycle with one (server.py once imported the supervisor's pool)."""
    graph = graph_of(ROOT / "mypkg")
    assert "mypkg.runtime" in graph["mypkg.supervisor.child"] & graph["mypkg.workers.worker"]
    for low in ("mypkg.runtime", "mypkg.server", "mypkg.banner", "mypkg.backends"):
        managers = {
            name
            for name in _reachable(graph, low)
            if name.startswith(("mypkg.supervisor", "mypkg.workers"))
        }
        assert managers == set(), low
    assert [group for group in cycles(graph) if "mypkg.server" in group] == []
