"""The master as a process: boot, titles, hung and dying workers, boot failures, operations."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mypkg.errors import EXIT_APP_LOAD, EXIT_CONFIG, EXIT_STARTUP
from mypkg.supervisor.arbiter import STOP_MARGIN
from tests.support.processes import Master, ServerProcess, run_cli, status_of, title_of
from tests.support.waiting import assert_on_time

APP = "tests.support.apps.workers:app"


def _get(port: int, path: str = "/") -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)


def _fire(port: int, path: str) -> threading.Thread:
    """A request that will never be answered (it blocks its worker): sent from a thread.

    Returns once the request is sent: a signal sent next finds it at least queued."""
    sent = threading.Event()

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            sent.set()
            with contextlib.suppress(OSError):
                sock.recv(1)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    assert sent.wait(15), "the request could not be sent"
    return thread


def test_workers_serve_with_titles_and_master_does_not_import_app(tmp_path: Path) -> None:
    imports = tmp_path / "imports"
    env = {"MYPKG_TEST_IMPORTS": str(imports)}
    with Master(
        "-w", "2", "tests.support.apps.import_marker:app", "--port", "0", env=env
    ) as master:
        port = master.ready()
        workers = master.workers()
        assert len(workers) == 2
        assert (
            title_of(master.process.pid) == "mypkg: master [tests.support.apps.import_marker:app]"
        )
        assert {title_of(pid) for pid in workers} == {
            "mypkg: worker [tests.support.apps.import_marker:app]"
        }
        assert {int(_get(port).text) for _ in range(20)} <= workers
        imported = {int(line) for line in imports.read_text().split()}
        assert imported == workers  # the master never imported the app
        # Signals are blocked across each fork only: no process keeps any blocked afterwards.
        for pid in (master.process.pid, *workers):
            assert int(status_of(pid)["SigBlk"], 16) == 0, (pid, status_of(pid)["SigBlk"])
        master.signal(signal.SIGTERM)
        assert master.wait() == 0


def test_preload_imports_once_in_the_master(tmp_path: Path) -> None:
    imports = tmp_path / "imports"
    env = {"MYPKG_TEST_IMPORTS": str(imports)}
    args = ("-w", "2", "tests.support.apps.import_marker:app", "--port", "0", "--preload")
    with Master(*args, env=env) as master:
        port = master.ready()
        assert _get(port).status_code == 200
        assert imports.read_text().split() == [str(master.process.pid)]


# One worker under the master: a master-only setting (here the default heartbeat timeout) asks
# for it; -w 1 alone is one process, as in uvicorn.
ONE_SUPERVISED = ("--worker-timeout", "30")


def test_single_worker_is_supervised_and_respawned() -> None:
    """A master-only setting runs the master with one worker; one killed outright is replaced."""
    with Master(APP, "--port", "0", *ONE_SUPERVISED) as master:
        port = master.ready()
        (pid,) = master.workers()
        mark = master.mark()
        os.kill(pid, signal.SIGKILL)
        master.wait_for(rf"Worker {pid} died unexpectedly \(killed by SIGKILL\)", after=mark)
        new = int(master.wait_for(r"Worker (\d+) ready", after=mark).group(1))
        assert new != pid
        assert _get(port).text == str(new)


def test_repeated_deaths_back_off() -> None:
    """The replacement of the first death starts at once; the next ones wait 0.5 s, then 1 s:
    the time from the death's log line to the replacement's ready line is at least that."""
    with Master("-w", "1", APP, "--port", "0", *ONE_SUPERVISED) as master:
        master.ready()
        (pid,) = master.workers()
        mark = master.mark()
        gaps = []
        for _ in range(3):
            step = master.mark()
            os.kill(pid, signal.SIGKILL)
            died = master.stamp(rf"Worker {pid} died unexpectedly", after=step)
            pid = int(master.wait_for(r"Worker (\d+) ready", after=step).group(1))
            gaps.append(master.stamp(r"Worker \d+ ready", after=step) - died)
        master.wait_for(r"Workers keep dying: waiting 0\.5s", after=mark)
        master.wait_for(r"Workers keep dying: waiting 1\.0s", after=mark)
    print(f"died -> ready: {gaps}")
    assert gaps[1] >= 0.5 and gaps[2] >= 1.0, gaps  # never early (the log line comes first)
    assert gaps[2] < 1.0 + 10, gaps  # and then started (boot time on a loaded machine)


@pytest.mark.parametrize(
    ("path", "ending"),
    [
        # The loop is blocked in time.sleep: SIGABRT's handler says where, and the worker exits.
        (
            "/block",
            [
                r"WORKER TIMEOUT \(pid:{pid}\): the event loop was blocked",
                r"Worker {pid} exited \(exit code 6\)",
            ],
        ),
        # The loop is blocked with SIGABRT masked: SIGKILL follows.
        (
            "/block-hard",
            [
                r"Worker {pid} did not exit in time after SIGABRT; sending SIGKILL",
                r"Worker {pid} exited \(killed by SIGKILL\)",
            ],
        ),
    ],
)
def test_hung_worker_is_aborted_and_replaced(path: str, ending: list[str]) -> None:
    with Master("-w", "1", APP, "--port", "0", "--worker-timeout", "3") as master:
        port = master.ready()
        (pid,) = master.workers()
        mark = master.mark()
        fired = time.monotonic()
        _fire(port, path)
        hung = master.stamp(rf"Worker {pid} is hung: .* \(--worker-timeout 3\); sending SIGABRT")
        # Silence counts from the last heartbeat (written about once a second) and the master
        # looks about once a second: a one-second "tick" either way.
        assert_on_time(hung - fired, 3.0, tick=1.0)
        for line in ending:
            master.wait_for(line.format(pid=pid), after=mark)
        if path == "/block":
            master.wait_for(r"time\.sleep\(60\)", after=mark)  # the stuck line, logged
        new = int(master.wait_for(r"Worker (\d+) ready", after=mark).group(1))
        assert _get(port).text == str(new)


def test_graceful_timeout_is_enforced_with_sigkill() -> None:
    """A worker that cannot drain (its loop is blocked) is killed after the graceful timeout."""
    args = ("-w", "1", APP, "--port", "0", "--worker-timeout", "0")
    with Master(*args, "--timeout-graceful-shutdown", "0.5") as master:
        port = master.ready()
        (pid,) = master.workers()
        _fire(port, "/block-hard")
        signalled = time.monotonic()
        master.signal(signal.SIGTERM)
        killed = master.stamp(rf"Worker {pid} did not exit in time after SIGTERM; sending SIGKILL")
        assert master.wait() == 0
    # the graceful timeout plus the master's margin for lifespan shutdown and the exit itself
    assert_on_time(killed - signalled, 0.5 + STOP_MARGIN)


@pytest.mark.parametrize(
    ("app", "code", "message"),
    [
        (
            "tests.support.apps.broken:app",
            EXIT_APP_LOAD,
            "RuntimeError: boom while importing the app",
        ),
        ("tests.support.apps.workers:nothing", EXIT_APP_LOAD, "has no attribute 'nothing'"),
        ("tests.support.apps:failing_startup", EXIT_STARTUP, "database is unreachable"),
    ],
)
def test_boot_failure_stops_the_master(app: str, code: int, message: str) -> None:
    result = run_cli("-w", "2", app, "--port", "0", "--lifespan", "auto", timeout=30)
    assert result.returncode == code, result.stderr
    assert "failed to boot" in result.stderr and message in result.stderr
    assert "a broken app is not restarted in a loop" in result.stderr
    assert result.stderr.count("Booting worker") == 2  # no respawn loop


@pytest.mark.parametrize("workers", [(), ("-w", "1")], ids=["no-w", "w1"])
def test_one_worker_is_one_process(workers: tuple[str, ...]) -> None:
    """-w 1 and no -w are the same: a single process serving, no master (as in uvicorn)."""
    with ServerProcess(APP, *workers) as proc:
        port = proc.wait_serving()
        assert _get(port).text == str(proc.process.pid)
        assert "Master" not in proc.output
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0


def test_a_master_setting_alone_runs_the_master_with_one_worker() -> None:
    with Master(APP, "--port", "0", "--limit-max-memory", "1000") as master:
        port = master.ready()
        (pid,) = master.workers()
        assert pid != master.process.pid and _get(port).text == str(pid)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--worker-timeout", "1"], "--worker-timeout: expected 0 (off) or at least 2 seconds"),
        (["--user", "no-such-user-here"], "--user: no such user 'no-such-user-here'"),
        (["--umask", "999"], "--umask: expected an octal mode such as 022"),
        (["--reload-delay", "1"], "--reload-delay needs --reload"),
        (["--max-requests-jitter", "5"], "--max-requests-jitter needs --limit-max-requests"),
    ],
)
def test_bad_master_settings_are_refused(args: list[str], message: str) -> None:
    result = run_cli("-w", "1", APP, "--port", "0", *args)
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert message in result.stderr


def _nobody_can_run_python() -> bool:
    """Whether this interpreter and its stdlib are readable by 'nobody' (not under /root)."""
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import http, asyncio"],
            user=65534,
            group=65534,
            extra_groups=[],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def test_pidfile_group_umask(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching a worker's group needs root")
    pidfile = tmp_path / "mypkg.pid"
    args = ("--pid", str(pidfile), "--group", "nogroup", "--umask", "027")
    with Master("-w", "1", APP, "--port", "0", *args) as master:
        master.ready()
        assert pidfile.read_text().strip() == str(master.process.pid)
        (pid,) = master.workers()
        worker = status_of(pid)
        assert worker["Gid"].split()[0] == "65534"
        assert worker["Groups"] == "65534"
        assert worker["Umask"] == "0027"
        assert status_of(master.process.pid)["Gid"].split()[0] == "0"  # the master keeps its own
        # A second master refuses the pid file of a live one.
        second = run_cli("-w", "1", APP, "--port", "0", "--pid", str(pidfile))
        assert second.returncode == EXIT_STARTUP
        assert f"names running process {master.process.pid}" in second.stderr
        master.signal(signal.SIGTERM)
        assert master.wait() == 0
    assert not pidfile.exists()


def test_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching a worker's user needs root")
    if not _nobody_can_run_python():
        pytest.skip(f"user nobody cannot run {sys.executable} (its stdlib is not readable)")
    with Master("-w", "1", APP, "--port", "0", "--user", "nobody") as master:
        port = master.ready()
        (pid,) = master.workers()
        assert status_of(pid)["Uid"].split()[0] == "65534"
        assert _get(port).text == str(pid)


def test_usr1_reopens_log_files(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    env = {"MYPKG_TEST_LOG": str(log)}
    args = ("-w", "1", "tests.support.apps.workers:logged", "--port", "0", *ONE_SUPERVISED)
    with Master(*args, env=env) as master:
        port = master.ready()
        _get(port, "/log")
        rotated = tmp_path / "app.log.1"
        log.rename(rotated)
        mark = master.mark()
        master.signal(signal.SIGUSR1)
        master.wait_for("Received SIGUSR1", after=mark)
        (pid,) = master.workers()
        for _ in range(200):  # USR1 reaches the worker asynchronously: log until it has
            _get(port, "/log")
            if log.exists() and "log line" in log.read_text():
                break
        else:
            raise AssertionError("the worker did not reopen its log file")
        assert f"log line from {pid}" in rotated.read_text()


def test_without_workers_one_process_serves() -> None:
    """No --workers, no --reload: no master; the process itself answers (uvicorn's habit)."""
    with ServerProcess(APP) as process:
        port = process.wait_serving()
        assert _get(port).text == str(process.process.pid)
        process.signal(signal.SIGTERM)
        assert process.wait() == 0
    assert "Master" not in process.output and "Booting worker" not in process.output


def test_quit_stops_fast_and_workers_ignore_sigint() -> None:
    with Master("-w", "2", APP, "--port", "0") as master:
        port = master.ready()
        workers = master.workers()
        # Ctrl-C in a terminal reaches every process of the group: only the master acts on it.
        for pid in workers:
            os.kill(pid, signal.SIGINT)
        assert master.workers() == workers and _get(port).status_code == 200
        master.signal(signal.SIGQUIT)
        assert master.wait() == 0
        assert "Stopping fast: 2 worker(s)" in master.output
        assert "died unexpectedly" not in master.output  # SIGINT killed no worker
