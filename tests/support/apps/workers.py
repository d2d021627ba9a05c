"""Apps the supervisor tests run in real worker processes. Every answer is the worker's pid."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Any

_ballast: list[bytes] = []
_SYSTEMD = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"}


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # lifespan "auto": an app that ignores it runs without it
    path = scope["path"]
    if path == "/slow":  # keeps a request in flight across a process change
        await asyncio.sleep(0.2)
    elif path == "/block":  # blocks the event loop: the heartbeat stops
        time.sleep(60)
    elif path == "/block-hard":  # blocked, and deaf to SIGABRT: only SIGKILL ends it
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGABRT})
        time.sleep(60)
    elif path == "/grow":  # 64 MiB of touched memory that stays
        _ballast.append(b"\x01" * (64 * 1024 * 1024))
    elif path == "/log":
        logging.getLogger("mypkg.error").warning("log line from %d", os.getpid())
    body = str(os.getpid()).encode()
    if path == "/systemd-variables":  # which systemd variables the worker inherited
        body = " ".join(sorted(name for name in os.environ if name in _SYSTEMD)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _logged() -> Any:
    """The app, with the error log also written to $MYPKG_TEST_LOG (for SIGUSR1 reopening)."""
    path = os.environ.get("MYPKG_TEST_LOG")
    if path:
        logging.getLogger("mypkg.error").addHandler(logging.FileHandler(path))
    return app


logged = _logged()
