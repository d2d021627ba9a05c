"""Whether a process id names a running process: for the pid file and the /metrics files."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True for a live process, whoever owns it; False once it has exited, zombie included
    (a zombie is only waiting for its parent to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            return file.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no procfs: kill's answer is all we have
