"""A real Gunicorn master with mypkg's worker class: ``with gunicorn() as master``.

The master is a ``ServerProcess`` (tests/support/processes.py) reading Gunicorn's log, so the
waits, ``workers()`` and ``request()`` are the ones every process test uses.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from gunicorn.config import Config as GunicornConfig

from mypkg.sockets import bind_tcp
from tests.support.clients import RawClient
from tests.support.processes import ROOT, ServerProcess, child_env
from tests.support.waiting import wait_until

WORKER_CLASSES = ["mypkg.workers.AsgiWorker", "mypkg.workers.AsgiH11Worker"]
APP = "tests.support.apps.gunicorn:app"
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


class GunicornMaster(ServerProcess):
    """Gunicorn's master, its log being its stdout and stderr; stopped with SIGQUIT at exit."""

    stop_signal = signal.SIGQUIT


_SYSTEMD_EXEC = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
"""


@contextmanager
def gunicorn(
    *args: str,
    app: str = APP,
    worker: str = WORKER_CLASSES[0],
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready: bool = True,
    bind: str | None = None,
    systemd: bool = False,
) -> Iterator[GunicornMaster]:
    """``python -m gunicorn -k WORKER ... APP``. By default on a socket bound here and passed as
    ``fd://N`` (no port race); ``bind`` lets Gunicorn bind; ``systemd`` passes the socket as
    systemd does (fd 3, LISTEN_FDS, LISTEN_PID)."""
    sock = bind_tcp("127.0.0.1", 0, 128)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    if bind is None:
        bind = "" if systemd else f"fd://{fd}"
    elif bind.startswith("127.0.0.1:"):
        port = int(bind.rpartition(":")[2])  # 0: read back from Gunicorn's log once it listens
    command = [
        sys.executable, "-m", "gunicorn", "-k", worker, *(["--bind", bind] if bind else []),
        "--workers", str(workers), "--no-control-socket", "--graceful-timeout", "5", *args, app,
    ]  # fmt: skip
    if systemd:  # as systemd does: the socket on fd 3, LISTEN_PID naming the process it execs
        command = [sys.executable, "-c", _SYSTEMD_EXEC, str(fd), *command[1:]]
    master = GunicornMaster(command=command, env=env, pass_fds=(fd,), merge_stdout=True)
    sock.close()
    master.port = port
    with master:
        if ready:
            master.wait_for_line("Serving on", count=workers)
        if master.port == 0:
            master.port = int(master.wait_for(_LISTENING.pattern).group(1))
        yield master


def run_gunicorn(*command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a Gunicorn that is expected to stop by itself (a boot failure); bounded."""
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--no-control-socket", *command],
        capture_output=True, text=True, cwd=ROOT, env=child_env(kwargs.pop("env", {})),
        timeout=30, **kwargs,
    )  # fmt: skip


def marks(marker: Path, word: str) -> int:
    """How many lines of the TEST_MARKER file (written by apps/gunicorn.py) start with ``word``."""
    try:
        return sum(line.startswith(word + " ") for line in marker.read_text().splitlines())
    except FileNotFoundError:
        return 0


def send_slow(master: ServerProcess, seconds: float, marker: Path) -> RawClient:
    """Start GET /slow?SECONDS on a new connection; return once the app is running it."""
    before = marks(marker, "slow")
    client = RawClient(master.port, timeout=10)
    client.send(f"GET /slow?{seconds} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    wait_until(lambda: marks(marker, "slow") > before, 5, "the app to start the request")
    return client


def pids_in_log(log: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log)]


def fake_worker(**settings: Any) -> Any:
    """What the table's converters read from a worker: cfg, log, max_requests (with jitter)."""
    cfg = GunicornConfig()
    for name, value in settings.items():
        cfg.set(name, value)
    max_requests = cfg.max_requests + cfg.max_requests_jitter if cfg.max_requests else 0
    log = SimpleNamespace(access_log_enabled=bool(cfg.accesslog))
    return SimpleNamespace(cfg=cfg, log=log, max_requests=max_requests)
