"""Worker -> master messages over one pipe: "ready", "recycle <why>", "failed <code> <why>".

Every worker inherits the write end; the master reads lines from the non-blocking read end in
its select loop. One message is one short line written in one ``write`` (below PIPE_BUF, so
lines from different workers never interleave).
"""

from __future__ import annotations

import contextlib
import os
from typing import NamedTuple

_MAX_LINE = 4000  # below PIPE_BUF (4096 on Linux): writes of this size are atomic


class Message(NamedTuple):
    pid: int
    kind: str
    detail: str


class Channel:
    """The pipe; the master keeps ``reader``, workers use ``send``."""

    def __init__(self) -> None:
        self.reader, self.writer = os.pipe()
        os.set_blocking(self.reader, False)
        self._buffer = b""

    # ------------------------------------------------------------------ worker side
    def send(self, kind: str, detail: str = "") -> bool:
        """Tell the master something; False if the master is gone."""
        line = f"{os.getpid()} {kind} {' '.join(detail.split())}".strip()
        data = line.encode("utf-8", "replace")[: _MAX_LINE - 1] + b"\n"
        try:
            os.write(self.writer, data)
        except OSError:
            return False
        return True

    def close_reader(self) -> None:
        """In a worker: the read end is the master's alone."""
        with contextlib.suppress(OSError):
            os.close(self.reader)

    # ------------------------------------------------------------------ master side
    def receive(self) -> list[Message]:
        """Every complete message waiting in the pipe."""
        while True:
            try:
                data = os.read(self.reader, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        messages = []
        for line in lines:
            pid, _, rest = line.decode("utf-8", "replace").partition(" ")
            kind, _, detail = rest.partition(" ")
            if pid.isdigit() and kind:
                messages.append(Message(int(pid), kind, detail))
        return messages

    def close(self) -> None:
        for fd in (self.reader, self.writer):
            with contextlib.suppress(OSError):
                os.close(fd)
