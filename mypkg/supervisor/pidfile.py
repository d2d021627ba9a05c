"""--pid FILE: the master's pid, written atomically, refused if another live master owns it.

The temporary file is created by ``mkstemp`` (O_CREAT|O_EXCL|O_NOFOLLOW, a random name) in the
pid file's directory: a root master never writes through a link that someone who can write to
that directory planted, and ``os.replace`` swaps the name itself, never what a link points to.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from mypkg.errors import StartupError
from mypkg.pids import alive


class Pidfile:
    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.pid: int | None = None

    def create(self, pid: int) -> None:
        other = self.read()
        if other is not None and other != pid and alive(other):
            raise StartupError(f"--pid: {self.path} names running process {other}; stop it first")
        directory, name = os.path.split(self.path)
        temporary = None
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            with os.fdopen(descriptor, "w") as file:
                os.fchmod(file.fileno(), 0o644 & ~_umask())  # mkstemp makes it 0600
                file.write(f"{pid}\n")
            os.replace(temporary, self.path)  # readers never see a half-written file
        except OSError as exc:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            raise StartupError(f"--pid: cannot write {self.path}: {exc.strerror}") from None
        self.pid = pid

    def read(self) -> int | None:
        try:
            with open(self.path) as file:
                text = file.read().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def remove(self) -> None:
        """Unlink the file if it is still ours (a successor may have replaced it)."""
        if self.pid is not None and self.read() == self.pid:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self.pid = None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
