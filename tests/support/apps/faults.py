"""An app for the fault tests, run in real worker processes.

``/pid`` answers the worker's pid; ``/upload`` writes the pid to $FAULT_PID_FILE as the request
starts (so a test knows which worker to kill), then reads the whole body before answering;
``/stream`` sends ten chunks a tenth of a second apart.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/upload":
        with open(os.environ["FAULT_PID_FILE"], "w") as file:
            file.write(str(os.getpid()))
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await _answer(send, b"%d" % size)
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for index in range(10):
            await send({"type": "http.response.body", "body": b"%d\n" % index, "more_body": True})
            await asyncio.sleep(0.1)
        await send({"type": "http.response.body", "body": b""})
    else:
        await _answer(send, str(os.getpid()).encode())


async def _answer(send: Any, body: bytes) -> None:
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
