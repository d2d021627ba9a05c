"""The systemd notify protocol (sd_notify(3)): READY, STATUS, RELOADING, STOPPING, WATCHDOG.

Only the master talks to systemd (the units use NotifyAccess=main). The variables are taken out
of the environment so that workers and the app's subprocesses do not inherit them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import MutableMapping

logger = logging.getLogger("mypkg.error")


class Notifier:
    """Sends notify messages when NOTIFY_SOCKET is set; does nothing otherwise."""

    def __init__(self, environ: MutableMapping[str, str] = os.environ) -> None:
        address = environ.pop("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog_interval: float | None = None
        usec = environ.pop("WATCHDOG_USEC", "")
        watchdog_pid = environ.pop("WATCHDOG_PID", "")
        ours = not watchdog_pid or watchdog_pid == str(os.getpid())
        if self.address and usec.isdigit() and int(usec) > 0 and ours:
            # sd_watchdog_enabled(3) advises pinging at half the interval.
            self.watchdog_interval = int(usec) / 2_000_000
        self._socket: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> None:
        if not self.address:
            return
        try:
            if self._socket is None:
                kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                self._socket = socket.socket(socket.AF_UNIX, kind)
            self._socket.sendto("\n".join(fields).encode("utf-8", "replace"), self.address)
        except OSError as exc:
            if not self._warned:  # once: systemd going away must not flood the log
                self._warned = True
                logger.warning("Cannot notify systemd at NOTIFY_SOCKET: %s", exc)

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def reloading(self, status: str) -> None:
        # MONOTONIC_USEC lets systemd (>= 253, Type=notify-reload) match the reload to this HUP.
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"STATUS={status}", f"MONOTONIC_USEC={usec}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def stopping(self, status: str) -> None:
        self.notify("STOPPING=1", f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
