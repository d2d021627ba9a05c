"""ASGI lifespan: startup before serving, shutdown after draining, state shared into scopes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mypkg.asgi import ASGI3App, Message
from mypkg.errors import StartupError

logger = logging.getLogger("mypkg.error")


class Lifespan:
    """Runs the app's lifespan protocol in a task; ``mode`` is the lifespan setting."""

    def __init__(self, app: ASGI3App, mode: str, state: dict[str, Any]) -> None:
        self.app = app
        self.mode = mode
        self.state = state
        self.supported = mode != "off"
        self.task: asyncio.Task[None] | None = None
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.startup_done = asyncio.Event()
        self.shutdown_done = asyncio.Event()
        self.failure = ""
        self.received = False  # the app asked for lifespan.startup: it does speak lifespan

    async def startup(self, stop: asyncio.Event) -> bool:
        """Run the app's startup; False if ``stop`` was set first (startup is then abandoned,
        so that a signal can end a process whose startup hangs)."""
        if not self.supported:
            return True
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.inbox.put({"type": "lifespan.startup"})
        waiters = [asyncio.ensure_future(event.wait()) for event in (self.startup_done, stop)]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        if not self.startup_done.is_set():
            logger.warning("Asked to stop: stopping before lifespan startup completed")
            await self._cancel()
            return False
        if self.failure:
            await self._cancel()  # an app that reported failure may still wait in receive()
            raise StartupError(f"lifespan startup failed: {self.failure}")
        return True

    async def _cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    def outcome(self) -> str:
        """The start-up banner's lifespan line."""
        if self.mode == "off":
            return "Lifespan: off (--lifespan off)"
        if not (self.supported and self.received):
            return "Lifespan: the app does not use it; serving without it (--lifespan auto)"
        return "Lifespan: startup complete"

    async def shutdown(self) -> None:
        if not self.supported or self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.shutdown_done.wait()
        if self.failure:
            logger.error("lifespan shutdown failed: %s", self.failure)
        else:
            logger.info("Lifespan: shutdown complete")

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self.receive, self.send)
        except asyncio.CancelledError:
            raise  # we stopped it: not a failure of the app
        except BaseException as exc:
            if not self.startup_done.is_set() and self.mode == "auto" and not self.received:
                # An app without lifespan support raises on the unknown scope type: that is fine.
                # One that raises after receiving lifespan.startup has failed its startup.
                logger.debug("lifespan not supported by the app (%r); going on without it", exc)
                self.supported = False
            elif not self.startup_done.is_set() or not self.shutdown_done.is_set():
                self.failure = f"{type(exc).__name__}: {exc}"
                logger.error("Exception in lifespan", exc_info=exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            if not self.startup_done.is_set() and self.mode == "on" and not self.failure:
                self.failure = "the app returned without answering lifespan.startup"
            self.startup_done.set()
            self.shutdown_done.set()

    async def receive(self) -> Message:
        self.received = True
        return await self.inbox.get()

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self.startup_done.set()
        elif kind == "lifespan.startup.failed":
            self.failure = message.get("message", "") or "the app sent lifespan.startup.failed"
            self.startup_done.set()
        elif kind == "lifespan.shutdown.complete":
            self.shutdown_done.set()
        elif kind == "lifespan.shutdown.failed":
            self.failure = message.get("message", "") or "the app sent lifespan.shutdown.failed"
            self.shutdown_done.set()
        else:
            raise RuntimeError(f"unexpected lifespan message {kind!r}")
