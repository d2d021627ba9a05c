"""Sans-I/O runs of the real HTTP protocols: bytes in, in exactly the pieces a test chooses.

A socket cannot promise that two sends arrive as two reads; these runs can. The protocol class,
its parser and the app are real; only the transport is a recorder (what was written, closed).
"""

from __future__ import annotations

import asyncio
from typing import Any

from mypkg import Config
from mypkg.http.h11_impl import H11Protocol
from mypkg.http.httptools_impl import HttptoolsProtocol
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState

PROTOCOLS: dict[str, type[HttpProtocol]] = {"httptools": HttptoolsProtocol, "h11": H11Protocol}


class RecordingTransport:
    """Records writes; reading can be paused, as asyncio's transports can."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name)

    def write(self, data: bytes) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def run(http: str, app: Any, pieces: list[bytes], **settings: Any) -> bytes:
    """Feed ``pieces`` as separate reads (running the app between them); all that was written."""
    loop = asyncio.new_event_loop()
    try:
        state = ServerState(Config(app, http=http, **settings), app, loop)
        protocol = PROTOCOLS[http](state)
        transport = RecordingTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]

        async def settle() -> None:
            """Until every app task is done or waiting for the client."""
            for _ in range(50):
                await asyncio.sleep(0)

        async def drive() -> None:
            for piece in pieces:
                if transport.closed:
                    break
                if not piece:
                    continue  # asyncio never reports an empty read (h11 would take it for EOF)
                protocol.data_received(piece)
                await settle()
            protocol.connection_lost(None)
            await settle()

        loop.run_until_complete(asyncio.wait_for(drive(), 10))
        return bytes(transport.written)
    finally:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.wait(tasks))
        loop.close()
