"""Apps for tests/processes/test_worker_runtime.py, run by real workers of both process managers."""

from __future__ import annotations

import asyncio
import os
from typing import Any


async def hanging_shutdown(scope: Any, receive: Any, send: Any) -> None:
    """Lifespan startup completes; lifespan shutdown never does. HTTP answers with the pid."""
    if scope["type"] == "lifespan":
        message = await receive()
        assert message["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown: never answered
        await asyncio.Event().wait()
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
