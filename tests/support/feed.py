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


class Feed:
    """One real protocol (parser, lifecycle, app) on its own loop, fed read by read; the test
    looks at ``protocol.phase`` and ``transport.written`` between reads. Close it when done."""

    def __init__(self, http: str, app: Any, **settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.state = ServerState(Config(app, http=http, **settings), app, self.loop)
        self.protocol = PROTOCOLS[http](self.state)
        self.transport = RecordingTransport()
        self.protocol.connection_made(self.transport)  # type: ignore[arg-type]

    def settle(self) -> None:
        """Run the loop until every app task is done or waiting for the client."""

        async def settle() -> None:
            for _ in range(50):
                await asyncio.sleep(0)

        self.loop.run_until_complete(asyncio.wait_for(settle(), 10))

    def send(self, data: bytes) -> bytes:
        """One read of ``data``, then settle; what was written meanwhile."""
        before = len(self.transport.written)
        if data:  # asyncio never reports an empty read (h11 would take it for EOF)
            self.protocol.data_received(data)
        self.settle()
        return bytes(self.transport.written[before:])

    def close(self) -> None:
        if not self.loop.is_closed():
            self.protocol.connection_lost(None)
            self.settle()
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.wait(tasks))
            self.loop.close()

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def run(http: str, app: Any, pieces: list[bytes], **settings: Any) -> bytes:
    """Feed ``pieces`` as separate reads (running the app between them); all that was written."""
    with Feed(http, app, **settings) as feed:
        for piece in pieces:
            if feed.transport.closed:
                break
            feed.send(piece)
        return bytes(feed.transport.written)
