"""An app that answers which modules of the serving stack its process had not imported yet when
it imported the app. In a worker of mypkg's master, only those of the backends not chosen: the
master imported the chosen ones once, before forking."""

from __future__ import annotations

import sys
from typing import Any

STACK = (
    "mypkg.http.httptools_impl",
    "mypkg.http.h11_impl",
    "uvloop",
    "mypkg.websocket.upgrade",
    "mypkg.http.h2_negotiate",  # with --http2 (and h2 with it)
)
MISSING = " ".join(sorted(name for name in STACK if name not in sys.modules)).encode()


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"%d" % len(MISSING))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": MISSING})
