"""``python -m mypkg -w N`` as a real process: its master, its workers and its log."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
from pathlib import Path
from types import TracebackType

from tests.processes import ServerProcess

READY = re.compile(r"Ready: \d+ worker\(s\) serving on http://127\.0\.0\.1:(\d+)")


class Master(ServerProcess):
    """A master process (give ``--port 0`` in ``args``); stopped with SIGQUIT at exit.

    ``command`` replaces ``python -m mypkg ARGS`` (e.g. to run it through ``setpriv``)."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, command: list[str] | None = None
    ) -> None:
        super().__init__(*args, env=env, port=False, command=command)

    def wait_for(self, pattern: str, timeout: float = 15.0, after: int = 0) -> re.Match[str]:
        """The first log line from index ``after`` on that matches the regex ``pattern``."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            return next(filter(None, map(regex.search, self.lines[after:])), None)

        with self.condition:
            self.condition.wait_for(lambda: found() is not None or self.closed, timeout)
            match = found()
        assert match is not None, f"no log line matching {pattern!r}; log:\n{self.output}"
        return match

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

    def ready(self, timeout: float = 15.0) -> int:
        """Wait until every worker serves; the port the master bound."""
        self.port = int(self.wait_for(READY.pattern, timeout).group(1))
        return self.port

    def mark(self) -> int:
        """A position in the log; pass it as ``after`` to wait for what comes next."""
        with self.condition:
            return len(self.lines)

    def workers(self) -> set[int]:
        """The master's live children."""
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return set()
        return {int(child) for child in text.split()}

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:  # a fast stop, so that no worker outlives the test
            self.signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
        super().__exit__(kind, exc, tb)


def status_of(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict (Uid, Gid, Umask, ...)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def title_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
