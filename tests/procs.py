"""A real ``python -m mypkg`` process, waited for by reading its log lines (no polling)."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import ROOT, mypkg_command

SERVING = re.compile(r"Serving on (\S+)")


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    lines: list[str] = field(default_factory=list)
    pending: bytes = b""

    @property
    def addresses(self) -> list[str]:
        return [m.group(1) for line in self.lines if (m := SERVING.search(line))]

    def read_until(self, pattern: str, count: int = 1, timeout: float = 15.0) -> None:
        """Read stderr lines until ``count`` of them match ``pattern`` (or fail at the deadline)."""
        assert self.proc.stderr is not None
        fd = self.proc.stderr.fileno()
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while sum(bool(regex.search(line)) for line in self.lines) < count:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise AssertionError(f"no {pattern!r} within {timeout}s: {self.lines}")
                data = os.read(fd, 65536)
                if not data:
                    raise AssertionError(f"exited ({self.proc.wait()}) first: {self.lines}")
                *complete, self.pending = (self.pending + data).split(b"\n")
                self.lines += [line.decode(errors="replace") for line in complete]

    def stop(self) -> str:
        """SIGTERM, wait, and return everything it wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, rest = self.proc.communicate(timeout=20)
        self.lines += (self.pending + rest).decode(errors="replace").splitlines()
        self.pending = b""
        return "\n".join(self.lines)


@contextmanager
def mypkg_process(
    *args: str, listeners: int = 1, env: dict[str, str] | None = None, **popen: Any
) -> Iterator[ServerProcess]:
    """Start mypkg and wait until it logged ``listeners`` "Serving on" lines."""
    proc = subprocess.Popen(
        mypkg_command(*args),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        bufsize=0,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        **popen,
    )
    server = ServerProcess(proc)
    try:
        if listeners:
            server.read_until(SERVING.pattern, listeners)
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
