"""systemd: the notify protocol read from a socket we own, socket activation for real, units."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mypkg.errors import EXIT_APP_LOAD, EXIT_CONFIG, StartupError
from mypkg.sockets import systemd_sockets
from mypkg.supervisor.arbiter import STOP_MARGIN, TICK
from mypkg.supervisor.systemd import Notifier
from tests.support.processes import ROOT, Master, ServerProcess, free_port

DOCS_BASE = "https://mypkg.invalid/"  # the project's Documentation URL (pyproject's, too)

APP = "tests.support.apps.workers:app"


def _receive_until(sock: socket.socket, wanted: str, seen: list[str]) -> list[str]:
    """Datagrams until one contains the line ``wanted``; all of them are added to ``seen``."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        message = sock.recv(4096).decode()
        seen.append(message)
        if wanted in message.split("\n"):
            return message.split("\n")
    raise AssertionError(f"no {wanted!r} from the master; got {seen}")


def test_notify_ready_status_reloading_stopping_watchdog(tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    seen: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "300000"}
        with Master("-w", "2", APP, "--port", "0", env=env) as master:
            port = master.ready()
            ready = _receive_until(sock, "READY=1", seen)
            assert f"STATUS=2 worker(s) serving on http://127.0.0.1:{port}" in ready
            assert f"MAINPID={master.process.pid}" in ready
            _receive_until(sock, "WATCHDOG=1", seen)
            _receive_until(sock, "WATCHDOG=1", seen)
            # Workers never inherit the variables (only the master may notify).
            inherited = httpx.get(f"http://127.0.0.1:{port}/systemd-variables", timeout=5)
            assert inherited.text == ""
            master.signal(signal.SIGHUP)
            reloading = _receive_until(sock, "RELOADING=1", seen)
            assert "STATUS=Reloading (SIGHUP)" in reloading
            assert any(line.startswith("MONOTONIC_USEC=") for line in reloading)
            _receive_until(sock, "READY=1", seen)  # the reload is over: new workers serve
            master.signal(signal.SIGTERM)
            stopping = _receive_until(sock, "STOPPING=1", seen)
            assert "STATUS=Stopping gracefully" in stopping
            assert master.wait() == 0


def test_notifier_without_socket_does_nothing() -> None:
    environ = {"WATCHDOG_USEC": "1000000"}
    notifier = Notifier(environ)
    assert not notifier.enabled and notifier.watchdog_interval is None
    notifier.ready("x")  # no socket: nothing to send, nothing raised


def test_notifier_ignores_a_watchdog_meant_for_another_pid(tmp_path: Path) -> None:
    environ = {"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    notifier = Notifier(environ)
    assert notifier.address == "\0x"
    assert notifier.watchdog_interval is None
    assert environ == {}  # taken out of the environment either way


@pytest.mark.parametrize("workers", [["-w", "2"], []], ids=["master", "single"])
def test_socket_activation(workers: list[str]) -> None:
    """systemd-socket-activate binds, waits for a connection, then execs mypkg with fd 3."""
    tool = shutil.which("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate is missing (Debian package systemd)")
    port = free_port()
    command = [
        tool,
        "-l",
        f"127.0.0.1:{port}",
        "-E",
        f"PYTHONPATH={ROOT}",
        sys.executable,
        "-m",
        "mypkg",
        *workers,
        APP,
        "--port",
        "1",  # never bound: the passed socket wins
    ]
    with ServerProcess(command=command) as process:
        process.wait_for_line(f"Listening on 127.0.0.1:{port}")
        # mypkg starts on this first connection, which waits in systemd's socket meanwhile.
        response = httpx.get(f"http://127.0.0.1:{port}/", timeout=15)
        assert response.status_code == 200
        if workers:  # with a master, workers answer
            assert response.text != str(process.process.pid)
        inherited = httpx.get(f"http://127.0.0.1:{port}/systemd-variables", timeout=5)
        assert inherited.text == ""  # LISTEN_* were for mypkg, not for the app's children
        process.signal(signal.SIGTERM)
        assert process.wait() == 0, process.output
    assert "Using 1 socket(s) passed by systemd (LISTEN_FDS)" in process.output


# --------------------------------------------------------------------------- unit files

UNITS = ROOT / "systemd"


def test_units_pass_systemd_analyze_verify() -> None:
    """The shipped files, unchanged: ExecStart finds mypkg-supervise on the unit's PATH."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is missing (Debian package systemd)")
    result = subprocess.run(
        [tool, "verify", "./mypkg.socket", "./mypkg.service"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=UNITS,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # verify only warns on unknown keys


@pytest.mark.parametrize("unit", ["mypkg.service", "mypkg-gunicorn.service"])
def test_documentation_points_at_the_repos_docs(unit: str) -> None:
    """Each mypkg URL in Documentation= names a file of this repository's docs."""
    line = next(
        line
        for line in (UNITS / unit).read_text().splitlines()
        if line.startswith("Documentation=")
    )
    ours = [url for url in line.split("=", 1)[1].split() if url.startswith(DOCS_BASE)]
    assert ours, line
    for url in ours:
        assert (ROOT / url.removeprefix(DOCS_BASE)).is_file(), url


def test_service_unit_is_consistent_with_the_master() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNITS / "mypkg.service")
    service = unit["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillMode"] == "mixed"  # TERM to the master only: it drains the workers
    # Codes a restart cannot fix (bad setting, app not importable); 4 may be transient.
    assert service["RestartPreventExitStatus"].split() == [str(EXIT_CONFIG), str(EXIT_APP_LOAD)]
    match = re.search(r"--timeout-graceful-shutdown (\S+)", service["ExecStart"])
    assert match is not None, service["ExecStart"]
    graceful = float(match[1])
    assert float(service["TimeoutStopSec"]) >= graceful + STOP_MARGIN
    assert float(service["WatchdogSec"]) >= 4 * TICK
    for directive in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome"):
        assert directive in service
    assert unit["Unit"]["Requires"] == "mypkg.socket"


def test_listen_fds_for_another_process_are_left_alone() -> None:
    environ = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1"}
    assert systemd_sockets(environ) == []
    assert environ == {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1"}


def test_listen_fds_that_are_not_stream_sockets_are_refused() -> None:
    """fd 3 is made a datagram socket here: a clear error naming LISTEN_FDS, not a crash."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as datagram:
        saved = os.dup(3) if _is_open(3) else None
        os.dup2(datagram.fileno(), 3)
        try:
            environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "x"}
            with pytest.raises(StartupError, match=r"LISTEN_FDS \(fd 3\): not a stream socket"):
                systemd_sockets(environ)
            assert environ == {}  # consumed, as sd_listen_fds(3) does
        finally:
            if saved is not None:
                os.dup2(saved, 3)
                os.close(saved)
            else:
                os.close(3)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
