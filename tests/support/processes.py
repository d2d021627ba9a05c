"""Real server processes: ``python -m mypkg``, its master (``-w N``), and Gunicorn's (gunicorn.py).

One class reads any of them: a reader thread collects the log (stderr, or stdout and stderr
together) so a test waits for a log line (a condition with a deadline) instead of sleeping.
``ServerProcess`` is one server that binds port 0 and logs "Serving on http://HOST:PORT";
``Master`` is mypkg's master with its workers, stopped with SIGQUIT so no worker outlives a test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import pytest
from typing_extensions import Self

from tests.support.clients import RawClient, Response
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent
_SERVING = re.compile(r"Serving on http://([^\s:]+):(\d+)")
_ADDRESS = re.compile(r"Serving on (\S+)")
READY = re.compile(r"Ready: \d+ worker\(s\) serving on http://127\.0\.0\.1:(\d+)")


def mypkg_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mypkg", *args]


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: ours, with the repository importable (tests.*)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}


def run_cli(*args: str, timeout: float = 20.0, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -m mypkg ARGS`` expected to end by itself (``--help``, a refused config)."""
    return subprocess.run(
        mypkg_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=kwargs.pop("cwd", ROOT),
        env=child_env(kwargs.pop("env", {})),
        **kwargs,
    )


def free_port() -> int:
    """A port free a moment ago: racy (another process may take it before it is bound again).

    Only for tools that must bind a port number themselves and cannot take port 0 or a bound
    socket (nginx's config, systemd-socket-activate's ``-l``); everything of ours binds port 0
    (``--port 0``, ``--bind 127.0.0.1:0``) or is handed a bound socket (``--fd``, ``fd://N``).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str:
    """nginx's path; the test is skipped where it is not installed."""
    path = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip("nginx is not installed (Debian package nginx; see scripts/system-deps)")
    return path


class ServerProcess:
    """``with ServerProcess("tests.support.apps:hello", "--http", "h11") as proc:`` serves until
    exit (killed then, or sent ``stop_signal`` first)."""

    stop_signal: signal.Signals | None = None

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        port: bool = True,
        command: list[str] | None = None,
        pass_fds: tuple[int, ...] = (),
        merge_stdout: bool = False,
    ) -> None:
        """Run ``python -m mypkg ARGS --port 0``, or ``command`` as given; ``merge_stdout`` reads
        stdout with stderr as one log (Gunicorn writes both)."""
        command = command or mypkg_command(*args, *(("--port", "0") if port else ()))
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=child_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stdout else subprocess.PIPE,
            text=True,
            pass_fds=pass_fds,
        )
        self.lines: list[str] = []
        self.stamps: list[float] = []  # time.monotonic() when each line was read
        self.condition = threading.Condition()
        self.closed = False
        stream = self.process.stdout if merge_stdout else self.process.stderr
        assert stream is not None
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()
        self.port = 0

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self.condition:
                self.lines.append(line.rstrip("\n"))
                self.stamps.append(time.monotonic())
                self.condition.notify_all()
        with self.condition:
            self.closed = True
            self.condition.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def addresses(self) -> list[str]:
        """What each "Serving on" line names so far: http://..., https://..., unix:..."""
        with self.condition:
            return [m.group(1) for line in self.lines if (m := _ADDRESS.search(line))]

    @property
    def output(self) -> str:
        with self.condition:
            return "\n".join(self.lines)

    # ------------------------------------------------------------------ the log
    def wait_for(
        self, pattern: str, timeout: float = 15.0, after: int = 0, count: int = 1
    ) -> re.Match[str]:
        """The ``count``-th log line from index ``after`` on that matches the regex ``pattern``;
        fails if the process ends or time runs out first."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            matches = [m for m in map(regex.search, self.lines[after:]) if m]
            return matches[count - 1] if len(matches) >= count else None

        with self.condition:
            self.condition.wait_for(lambda: found() is not None or self.closed, timeout)
            match = found()
        assert match is not None, f"no log line matching {pattern!r}; log:\n{self.output}"
        return match

    def wait_for_line(self, text: str, timeout: float = 15.0, count: int = 1) -> str:
        """The ``count``-th log line containing ``text`` (no regex)."""
        return self.wait_for(re.escape(text), timeout, count=count).string

    def stamp(self, pattern: str, after: int = 0) -> float:
        """When (time.monotonic()) the first line from ``after`` on matching ``pattern`` came."""
        self.wait_for(pattern, after=after)
        regex = re.compile(pattern)
        with self.condition:
            index = next(i for i in range(after, len(self.lines)) if regex.search(self.lines[i]))
            return self.stamps[index]

    def count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        with self.condition:
            return sum(1 for line in self.lines if regex.search(line))

    def mark(self) -> int:
        """A position in the log; pass it as ``after`` to wait for what comes next."""
        with self.condition:
            return len(self.lines)

    def wait_serving(self, timeout: float = 15.0) -> int:
        match = _SERVING.search(self.wait_for_line("Serving on", timeout))
        assert match is not None
        self.port = int(match.group(2))
        return self.port

    # ------------------------------------------------------------------ the process
    def workers(self) -> set[int]:
        """The process's live children (a master's workers)."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return set()
        return {int(child) for child in text.split()}

    def wait_workers(
        self, check: Callable[[set[int]], bool], what: str, timeout: float = 15
    ) -> set[int]:
        """The children, once there are some and ``check`` accepts them."""
        return set(wait_until(lambda: (w := self.workers()) and check(w) and w, timeout, what))

    def request(self, path: str = "/", headers: str = "", timeout: float = 5) -> Response:
        """One GET on a new connection to ``self.port``."""
        with RawClient(self.port, timeout=timeout) as client:
            client.send(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode("latin-1"))
            return client.response()

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        """The exit code, once the process has exited and its log is fully read."""
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        return code

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.stop_signal is not None and self.process.poll() is None:
            self.signal(self.stop_signal)  # a fast stop, so that no worker outlives the test
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._reader.join(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


class Master(ServerProcess):
    """``python -m mypkg -w N ARGS`` (give ``--port 0`` in ``args``); stopped with SIGQUIT at exit.

    ``command`` replaces ``python -m mypkg ARGS`` (e.g. to run it through ``setpriv``)."""

    stop_signal = signal.SIGQUIT

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, command: list[str] | None = None
    ) -> None:
        super().__init__(*args, env=env, port=False, command=command)

    def ready(self, timeout: float = 15.0) -> int:
        """Wait until every worker serves; the port the master bound."""
        self.port = int(self.wait_for(READY.pattern, timeout).group(1))
        return self.port

    def wait_exited(self, pids: Iterable[int], after: int) -> None:
        """Until each worker has exited cleanly (exit code 0: it drained, nothing cut)."""
        for pid in pids:
            self.wait_for(rf"Worker {pid} exited \(exit code 0\)", after=after)

    def reload(self, old: Iterable[int]) -> None:
        """SIGHUP; until the master has reloaded and each of the ``old`` workers exited cleanly."""
        mark = self.mark()
        self.signal(signal.SIGHUP)
        self.wait_for(r"Reloaded \(SIGHUP\)", after=mark)
        self.wait_exited(old, mark)


def process_gone(pid: int) -> bool:
    """Exited (a zombie counts: it no longer runs anything)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or during the read
        return True
    return "\nState:\tZ" in status


def status_of(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict (Uid, Gid, Umask, ...)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def title_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
