"""Faults in a worker's surroundings: an access log on a full disk or gone, a worker SIGKILLed in
the middle of an upload. Requests go on being served; errors are reported once per interval."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mypkg.ratelimit import Throttled
from tests.support.clients import RawClient, request
from tests.support.gunicorn import gunicorn
from tests.support.processes import Master, ServerProcess
from tests.support.waiting import wait_until

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


@contextlib.contextmanager
def full_tmpfs(directory: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, filled up; skipped where mounting is not allowed (not root)."""
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        with contextlib.suppress(OSError), open(directory / "filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def access_log_config(tmp_path: Path, log_file: Path) -> str:
    """Errors to stderr, access lines to ``log_file``."""
    config = {
        "version": 1,
        "handlers": {
            "err": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.FileHandler", "filename": str(log_file)},
        },
        "loggers": {
            "mypkg.error": {"handlers": ["err"], "level": "INFO", "propagate": False},
            "mypkg.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_access_log_on_a_full_disk_keeps_serving(http: str, tmp_path: Path) -> None:
    with full_tmpfs(tmp_path / "disk") as disk:
        log_config = access_log_config(tmp_path, disk / "access.log")
        args = ("tests.support.apps:hello", "--http", http, "--log-config", log_config)
        with ServerProcess(*args) as proc:
            port = proc.wait_serving()
            statuses = [request(port, GET).status for _ in range(50)]
            proc.wait_for_line("are being lost")
            proc.signal(signal.SIGTERM)
            assert proc.wait() == 0
    assert statuses == [200] * 50
    lost = [line for line in proc.lines if "are being lost" in line]
    assert len(lost) == 1, proc.output  # one line per interval, not one per request
    assert "No space left on device" in lost[0]
    assert "Traceback" not in proc.output and "Logging error" not in proc.output


def test_gunicorn_access_log_on_a_full_disk_keeps_serving(tmp_path: Path) -> None:
    """Gunicorn's --access-logfile, written through its own handlers from mypkg's worker."""
    with full_tmpfs(tmp_path / "disk") as disk:
        access = ("--access-logfile", str(disk / "access.log"))
        with gunicorn(*access, app="tests.support.apps:hello") as master:
            statuses = [request(master.port, GET).status for _ in range(50)]
            master.wait_for_line("are being lost")
            log = master.output
    assert statuses == [200] * 50
    assert log.count("are being lost") == 1, log
    assert "Traceback" not in log and "Logging error" not in log


def test_access_log_gone_after_reopen_keeps_serving(tmp_path: Path) -> None:
    """logrotate moved the directory away; SIGUSR1 makes the worker reopen by name and fail."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log_config = access_log_config(tmp_path, logs / "access.log")
    with Master(
        "tests.support.apps:hello", "-w", "2", "--port", "0", "--log-config", log_config
    ) as m:
        port = m.ready()
        assert request(port, GET).status == 200
        (logs / "access.log").unlink()
        logs.rmdir()
        m.signal(signal.SIGUSR1)
        statuses = []
        deadline = time.monotonic() + 10
        while not m.count("are being lost"):  # until the worker has reopened (and failed)
            assert time.monotonic() < deadline, m.output
            statuses.append(request(port, GET).status)
        statuses += [request(port, GET).status for _ in range(30)]
    assert set(statuses) == {200}
    assert 1 <= m.count("are being lost") <= 2, m.output  # once per worker and interval
    assert "Traceback" not in m.output and "Logging error" not in m.output


def test_throttled_reports_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    throttled = Throttled("Something fails", interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, "mypkg.error"):
        for step in range(30):  # 30 failures over 29 s
            now[0] = 100.0 + step
            throttled.report("boom")
    lines = [r.getMessage() for r in caplog.records if "Something fails" in r.getMessage()]
    assert len(lines) == 3  # at 0 s, 10 s and 20 s
    assert "(1 time(s)" in lines[0] and "(10 time(s)" in lines[1] and "(10 time(s)" in lines[2]
    assert throttled.count == 30


# --------------------------------------------------------------------------- a worker killed


def _clients_on_two_workers(port: int) -> dict[int, RawClient]:
    """A keep-alive connection to each of the two workers (the kernel picks who accepts)."""
    clients: dict[int, RawClient] = {}
    spare: list[RawClient] = []
    for _ in range(200):
        client = RawClient(port)
        client.send(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        pid = int(client.response().body)
        if pid in clients:
            spare.append(client)
        else:
            clients[pid] = client
        if len(clients) == 2:
            break
    for client in spare:
        client.close()
    assert len(clients) == 2, "the kernel gave every connection to one worker"
    return clients


def _upload_until_reset(client: RawClient, size: int) -> bytes:
    """Send the rest of the body; what the server answered (nothing, if it was cut)."""
    chunk = b"x" * 65536
    with contextlib.suppress(OSError):  # reset, broken pipe
        for _ in range(size // len(chunk)):
            client.send(chunk)
    client.sock.settimeout(10)
    try:
        return client.read_to_close()
    except OSError:  # ECONNRESET: the clean outcome
        return client.buffer


def test_worker_killed_mid_upload(http: str, tmp_path: Path) -> None:
    pid_file = tmp_path / "upload.pid"
    env = {"FAULT_PID_FILE": str(pid_file)}
    size = 50 * 1024 * 1024
    args = ("tests.support.apps.faults:app", "-w", "2", "--port", "0", "--http", http)
    with Master(*args, env=env) as master:
        port = master.ready()
        clients = _clients_on_two_workers(port)
        upload = RawClient(port, timeout=10)
        head = f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
        upload.send(head.encode() + b"x" * 1024 * 1024)
        # The app writes its pid as the upload starts.
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 10, "the upload's start")
        victim = int(pid_file.read_text())
        (other,) = set(clients) - {victim}
        streaming = clients[other]
        streaming.send(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        streaming.read_until(b"\r\n\r\n")  # the response has started on the other worker
        mark = master.mark()
        os.kill(victim, signal.SIGKILL)
        answered = _upload_until_reset(upload, size)
        rest = streaming.read_until(b"0\r\n\r\n")  # the other worker's response completes
        streaming.send(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        again = streaming.response()
        master.wait_for(rf"\b{victim}\b", after=mark)  # the master noticed
        master.wait_workers(lambda pids: len(pids - {victim}) >= 2, "a replacement worker")
        fresh = [request(port, b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n").status for _ in range(10)]
        for client in (*clients.values(), upload):
            client.close()
    assert answered == b"", f"the client of the killed worker got {answered[:80]!r}"
    assert all(b"%x\r\n%d\n" % (2, i) in rest for i in range(1, 10)), rest
    assert again.status == 200 and int(again.body) == other
    assert fresh == [200] * 10
