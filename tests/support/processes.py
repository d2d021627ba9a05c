"""A real ``python -m mypkg`` process for tests of signals, exits and logs.

The server binds port 0 and logs "Serving on http://HOST:PORT"; a reader thread collects stderr
so a test can wait for a log line (a condition with a deadline) instead of sleeping.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from types import TracebackType
from typing import IO

from typing_extensions import Self

from tests.conftest import ROOT, mypkg_command

_SERVING = re.compile(r"Serving on http://([^\s:]+):(\d+)")
_ADDRESS = re.compile(r"Serving on (\S+)")


class ServerProcess:
    """``with ServerProcess("tests.apps:hello", "--http", "h11") as proc:`` serves until exit."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        port: bool = True,
        command: list[str] | None = None,
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        """Run ``python -m mypkg ARGS --port 0``, or ``command`` as given."""
        command = command or mypkg_command(*args, *(("--port", "0") if port else ()))
        environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=pass_fds,
        )
        self.lines: list[str] = []
        self.stamps: list[float] = []  # time.monotonic() when each line was read
        self.condition = threading.Condition()
        self.closed = False
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
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
    def addresses(self) -> list[str]:
        """What each "Serving on" line names so far: http://..., https://..., unix:..."""
        with self.condition:
            return [m.group(1) for line in self.lines if (m := _ADDRESS.search(line))]

    @property
    def output(self) -> str:
        with self.condition:
            return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 10.0) -> str:
        """The first stderr line containing ``text``; fails if the process ends or time runs out."""

        def found() -> str | None:
            return next((line for line in self.lines if text in line), None)

        with self.condition:
            self.condition.wait_for(lambda: found() is not None or self.closed, timeout)
            line = found()
        assert line is not None, f"no log line with {text!r}; stderr so far:\n{self.output}"
        return line

    def wait_serving(self, timeout: float = 15.0) -> int:
        match = _SERVING.search(self.wait_for_line("Serving on", timeout))
        assert match is not None
        self.port = int(match.group(2))
        return self.port

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        """The exit code, once the process has exited and its stderr is fully read."""
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
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.process.stderr is not None:
            self.process.stderr.close()


__all__ = ["ServerProcess"]
