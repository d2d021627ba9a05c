"""Flow control both ways, shared by the HTTP and the WebSocket connection.

Reading pauses while the app is behind; the app's ``send`` waits (``drain``) while the transport's
write buffer is above its high-water mark; ``abort`` cuts the connection when the graceful timeout
runs out. Subclasses add their own conditions around these, never a second copy of them.
"""

from __future__ import annotations

import asyncio


def wake(waiter: asyncio.Future[None] | None) -> None:
    """Resolve a waiter just taken out of its slot: None when nobody waits, done when the
    waiting task was cancelled (setting its result then would raise)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class FlowControlProtocol(asyncio.Protocol):
    """An ``asyncio.Protocol`` with pause/resume of reading, a drain waiter, and abort."""

    __slots__ = ("drain_waiter", "loop", "reading_paused", "transport", "write_paused")

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    reading_paused: bool
    write_paused: bool
    drain_waiter: asyncio.Future[None] | None

    # ------------------------------------------------------------------ writing
    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.release_drain()

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark."""
        if self.write_paused and not self.transport.is_closing():
            waiter = self.drain_waiter
            if waiter is None:
                waiter = self.drain_waiter = self.loop.create_future()
            await waiter

    def release_drain(self) -> None:
        """Wake a ``send`` waiting in ``drain`` (room again, or the connection is gone)."""
        waiter, self.drain_waiter = self.drain_waiter, None
        wake(waiter)

    # ------------------------------------------------------------------ reading
    def pause_reading(self) -> None:
        if not self.reading_paused and not self.transport.is_closing():
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and not self.transport.is_closing():
            self.reading_paused = False
            self.transport.resume_reading()

    # ------------------------------------------------------------------ the end
    def abort_task(self, task: asyncio.Task[None] | None) -> asyncio.Task[None] | None:
        """Cut the connection and cancel the app's task; the task if it was still running."""
        self.transport.abort()
        if task is not None and not task.done():
            task.cancel()
            return task
        return None
