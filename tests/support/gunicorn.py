"""A real Gunicorn master with mypkg's worker class, and a small keep-alive load generator."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mypkg.sockets import bind_tcp
from tests.conftest import ROOT, RawClient, Response

WORKER_CLASSES = ["mypkg.workers.AsgiWorker", "mypkg.workers.AsgiH11Worker"]
APP = "tests.gunicorn_apps:app"
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` (another process's state: nothing to await) until true or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Master:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, count: int = 1, timeout: float = 15) -> str:
        def found() -> bool:
            if self.proc.poll() is not None and self.log().count(text) < count:
                raise AssertionError(f"gunicorn exited ({self.proc.returncode}):\n{self.log()}")
            return self.log().count(text) >= count

        wait_until(found, timeout, f"{count} x {text!r} in the log:\n{self.log()}")
        return self.log()

    def workers(self) -> set[int]:
        """The master's current child processes (its workers)."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except FileNotFoundError:
            return set()
        return {int(pid) for pid in children.split()}

    def wait_workers(
        self, check: Callable[[set[int]], bool], what: str, timeout: float = 15
    ) -> set[int]:
        return set(wait_until(lambda: (w := self.workers()) and check(w) and w, timeout, what))

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def request(self, path: str = "/", headers: str = "", timeout: float = 5) -> Response:
        with RawClient(self.port, timeout=timeout) as client:
            client.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode("latin-1"))
            return client.response()

    def wait_exit(self, timeout: float = 15) -> int:
        return self.proc.wait(timeout)


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
    tmp_path: Path,
    *args: str,
    app: str = APP,
    worker: str = WORKER_CLASSES[0],
    workers: int = 1,
    env: dict[str, str] | None = None,
    ready: bool = True,
    bind: str | None = None,
    systemd: bool = False,
) -> Iterator[Master]:
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
    log_path = tmp_path / f"gunicorn-{port}.log"
    command = [
        sys.executable, "-m", "gunicorn", "-k", worker, *(["--bind", bind] if bind else []),
        "--workers", str(workers), "--no-control-socket", "--graceful-timeout", "5", *args, app,
    ]  # fmt: skip
    if systemd:  # as systemd does: the socket on fd 3, LISTEN_PID naming the process it execs
        command = [sys.executable, "-c", _SYSTEMD_EXEC, str(fd), *command[1:]]
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=environ, pass_fds=(fd,)
        )
    sock.close()
    master = Master(proc, port, log_path)
    try:
        if ready:
            master.wait_for_log("Serving on", count=workers)
        if master.port == 0:
            found = _LISTENING.search(master.wait_for_log("Listening at: "))
            assert found is not None, master.log()
            master.port = int(found.group(1))
        yield master
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def run_gunicorn(*command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a Gunicorn that is expected to stop by itself (a boot failure); bounded."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--no-control-socket", *command],
        capture_output=True, text=True, cwd=ROOT, env=environ, timeout=30, **kwargs,
    )  # fmt: skip


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    """Keep-alive GET requests on a few connections, as fast as they come back (with a short
    pause between requests, so connections are sometimes idle when the server changes). Every
    socket error and every non-2xx answer is a failure; a response with ``Connection: close``
    makes the connection reconnect, as any HTTP client does. A client thread that dies of
    anything else (an answer it cannot parse) is recorded and fails the test in ``stop`` and
    the waits."""

    port: int
    connections: int = 4
    path: str = "/"
    pause: float = 0.002
    recycle: int = 50  # the client closes and reconnects after this many requests on a connection
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    pids: Counter[str] = field(default_factory=Counter)
    crashes: list[BaseException] = field(default_factory=list)  # what killed client threads
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for index in range(self.connections):
            thread = threading.Thread(target=self._run, name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        assert not any(thread.is_alive() for thread in self._threads), "load did not stop"
        self._check()

    def _check(self) -> bool:
        if self.crashes:
            raise AssertionError(f"a load thread died: {self.crashes[0]!r}") from self.crashes[0]
        return True

    def wait_ok(self, count: int, timeout: float = 15) -> None:
        start = self.ok
        what = f"{count} more OK responses"
        wait_until(lambda: self._check() and self.ok >= start + count, timeout, what)

    def wait_served_by(self, pids: set[int], timeout: float = 15) -> None:
        """Until every one of these workers has answered (the load spreads as clients reconnect)."""
        wanted = {str(pid) for pid in pids}
        what = f"responses from each of {pids}"
        wait_until(lambda: self._check() and wanted <= set(self.pids), timeout, what)

    def _run(self) -> None:
        try:
            self._requests()
        except BaseException as exc:  # surfaced by stop() and the waits
            with self._lock:
                self.crashes.append(exc)

    def _requests(self) -> None:
        client: RawClient | None = None
        request = f"GET {self.path} HTTP/1.1\r\nHost: load\r\n\r\n".encode()
        sent = 0
        while not self._stop.is_set():
            try:
                if client is None or sent >= self.recycle:
                    if client is not None:
                        client.close()
                    client, sent = RawClient(self.port, timeout=10), 0
                sent += 1
                client.send(request)
                response = client.response()
            except OSError as exc:  # ConnectionError, timeouts, resets
                self._record(f"{type(exc).__name__}: {exc}")
                if client is not None:
                    client.close()
                client = None
                continue
            if 200 <= response.status < 300:
                self._record(None, response.header("x-pid") or "?")
            else:
                self._record(f"HTTP {response.status}: {response.body[:80]!r}")
            if (response.header("connection") or "").lower() == "close":
                client.close()
                client = None
            self._stop.wait(self.pause)
        if client is not None:
            client.close()

    def _record(self, failure: str | None, pid: str = "") -> None:
        with self._lock:
            if failure is None:
                self.ok += 1
                self.pids[pid] += 1
            else:
                self.failures.append(failure)


def marks(marker: Path, word: str) -> int:
    """How many lines of the TEST_MARKER file (written by tests/gunicorn_apps.py) start so."""
    try:
        return sum(line.startswith(word + " ") for line in marker.read_text().splitlines())
    except FileNotFoundError:
        return 0


def send_slow(master: Master, seconds: float, marker: Path) -> RawClient:
    """Start GET /slow?SECONDS on a new connection; return once the app is running it."""
    before = marks(marker, "slow")
    client = RawClient(master.port, timeout=10)
    client.send(f"GET /slow?{seconds} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    wait_until(lambda: marks(marker, "slow") > before, 5, "the app to start the request")
    return client


def process_gone(pid: int) -> bool:
    """Exited (a zombie counts: it no longer runs anything)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or during the read
        return True
    return "\nState:\tZ" in status


def pids_in_log(log: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log)]
