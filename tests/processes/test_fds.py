"""Running out of file descriptors: no busy loop, no log flood, serving resumes; and the soft
RLIMIT_NOFILE is raised to the hard limit at start (the startup log says so)."""

from __future__ import annotations

import os
import shutil
import socket
import time

import pytest

from tests.support.clients import Response, request
from tests.support.processes import ServerProcess, mypkg_command

LIMIT = 48  # soft = hard: the server cannot raise it
pytestmark = pytest.mark.skipif(not shutil.which("prlimit"), reason="prlimit (util-linux) needed")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def limited(soft: int, hard: int, *args: str) -> list[str]:
    return ["prlimit", f"--nofile={soft}:{hard}", *mypkg_command(*args, "--port", "0")]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def open_until_refused(port: int, count: int) -> list[socket.socket]:
    """``count`` idle connections (the kernel completes them in the listen queue either way)."""
    return [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]


# The accept path lies below the parser: each event loop once, each parser once.
@pytest.mark.parametrize(("loop", "http"), [("asyncio", "h11"), ("uvloop", "httptools")])
def test_at_the_descriptor_limit_no_spin_no_flood_and_serving_resumes(loop: str, http: str) -> None:
    command = limited(LIMIT, LIMIT, "tests.support.apps:hello", "--loop", loop, "--http", http)
    with ServerProcess(command=command) as proc:
        port = proc.wait_serving()
        socks = open_until_refused(port, 2 * LIMIT)
        try:
            proc.wait_for("Out of file descriptors|Too many open files", timeout=10)
            before, start = cpu_seconds(proc.process.pid), time.monotonic()
            time.sleep(1.5)  # measuring CPU use over a window needs the window
            busy = (cpu_seconds(proc.process.pid) - before) / (time.monotonic() - start)
        finally:
            for sock in socks:
                sock.close()
        response = _get_when_served(port)
        output = proc.output
    assert busy < 0.3, f"the loop spins at {busy:.0%} CPU at the descriptor limit"
    assert output.count("Out of file descriptors") == 1, output
    assert "Traceback" not in output
    assert len(output.splitlines()) < 20, output
    assert response.status == 200
    assert f"Open-file limit (RLIMIT_NOFILE): {LIMIT}" in output


def _get_when_served(port: int, timeout: float = 10.0) -> Response:
    """Serving resumes once descriptors free up (asyncio retries accept() after a second)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
        except (ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise


def test_soft_limit_is_raised_to_the_hard_limit_at_start() -> None:
    with ServerProcess(command=limited(64, 256, "tests.support.apps:hello")) as proc:
        port = proc.wait_serving()
        assert request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        with open(f"/proc/{proc.process.pid}/limits") as file:
            limits = file.read()
    assert "Raised the open-file limit (RLIMIT_NOFILE) from 64 to 256" in proc.output
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == ["256", "256"], line
