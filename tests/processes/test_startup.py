"""The master acts before it waits: the first workers fork at once (issue 21), and so do the
replacements and additions that signals ask for. Checked by the order of log lines from
``tests.support.spied_master`` (each time the loop is about to block it logs "Master waits"), not by
clocks."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Master
from tests.support.spied_master import WAITS

APP = "tests.support.apps.workers:app"


def _spied_master(*args: str) -> Master:
    return Master(
        command=[sys.executable, "-m", "tests.support.spied_master", *args, "--port", "0"]
    )


def _before_next_wait(master: Master, after: int) -> list[str]:
    """The log lines from ``after`` up to the loop's next wait (which must come)."""
    master.wait_for(WAITS, after=after)
    lines = master.lines[after:]
    return lines[: next(i for i, line in enumerate(lines) if WAITS in line)]


@pytest.mark.parametrize("reload", [False, True], ids=["workers", "reload"])
def test_first_workers_fork_before_the_master_first_waits(reload: bool, tmp_path: Path) -> None:
    """Before the fix the loop slept a full tick (1 s) before forking anything."""
    extra = ("--reload", "--reload-dir", str(tmp_path)) if reload else ()
    with _spied_master("-w", "2", APP, *extra) as master:
        start = master.wait_for(r"Master \d+: starting 2 worker\(s\)").string
        first = master.lines.index(start)
        booted = [line for line in _before_next_wait(master, first) if "Booting worker" in line]
        assert len(booted) == 2, master.output
        master.ready()


@pytest.mark.parametrize(
    ("http", "loop", "http2", "not_imported"),
    [
        ("httptools", "uvloop", False, "mypkg.http.h11_impl mypkg.http.h2_negotiate"),
        ("h11", "asyncio", False, "mypkg.http.h2_negotiate mypkg.http.httptools_impl uvloop"),
        ("httptools", "uvloop", True, "mypkg.http.h11_impl"),
    ],
)
def test_workers_inherit_the_serving_stack(
    http: str, loop: str, http2: bool, not_imported: str
) -> None:
    """After the fork a worker imports the app, not the HTTP backend, loop, WebSocket layer or
    HTTP/2 layer."""
    args: tuple[str, ...] = (
        "-w",
        "2",
        "tests.support.apps.stack:app",
        "--port",
        "0",
        "--http",
        http,
    )
    args += ("--loop", loop, *(["--http2"] if http2 else []))
    with Master(*args) as master:
        port = master.ready()
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == not_imported


def test_signals_fork_before_the_master_waits_again() -> None:
    """TTIN, a killed worker and HUP each start their worker(s) in the turn that saw them."""
    with _spied_master("-w", "2", APP) as master:
        master.ready()
        cases = [
            (signal.SIGTTIN, r"Received SIGTTIN", r"Worker \d+ ready", 1),  # 2 -> 3 workers
            (signal.SIGKILL, r"Worker \d+ died unexpectedly", r"Worker \d+ ready", 1),
            (signal.SIGHUP, r"Reloading \(SIGHUP\)", r"Reloaded \(SIGHUP\)", 2),  # -w 2 again
        ]
        for sig, seen, done, booted in cases:
            mark = master.mark()
            if sig == signal.SIGKILL:
                os.kill(min(master.workers()), sig)
            else:
                master.signal(sig)
            line = master.wait_for(seen, after=mark).string
            lines = _before_next_wait(master, master.lines.index(line, mark))
            assert sum("Booting worker" in x for x in lines) == booted, (sig, master.output)
            master.wait_for(done, after=mark)
