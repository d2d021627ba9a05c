"""The one worker runtime: a worker process from "the app is loaded" to its exit, whichever
process manager forked it (mypkg's own master or Gunicorn's).

As gunicorn's ``workers/base.py`` serves every worker type, ``WorkerRuntime`` owns what every
worker does the same way: its event loop (and the tasks the app leaves behind), the signals a
serving worker obeys (TERM drains, QUIT cuts connections and exits within a second, USR1 reopens
logs), the tick that proves the loop runs, the check that the parent is still there,
--limit-max-requests recycling, and the stack dump when the manager finds the loop blocked
(SIGABRT). A manager subclasses it and fills in only what is its own: how the heartbeat and the
metrics figures reach it, what "ready" means to it, whether it starts a replacement first, its
hooks. Memory and lifetime limits are the master's policy (it recycles one worker at a time
while the others serve) and stay in ``supervisor/arbiter.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import traceback
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any, ClassVar, NoReturn

from mypkg.logging import reopen_log_files
from mypkg.server import Server

logger = logging.getLogger("mypkg.error")

QUICK_EXIT_BUDGET = 0.7  # seconds a QUIT/INT gives lifespan shutdown before the loop is cut short
CLEANUP_BUDGET = 1.0  # seconds for leftover tasks and the default executor after serving


def install_abort_handler(timeout: str, then: Callable[[], NoReturn]) -> None:
    """SIGABRT means the manager found the event loop blocked (``timeout`` names the setting).

    It must interrupt a blocked loop, so it is a plain signal handler, installed at fork: say
    where the main thread is stuck, then ``then`` exits the way the manager expects."""

    def on_abort(signum: int, frame: FrameType | None) -> None:
        stack = "".join(traceback.format_stack(frame)) if frame else "(no frame)\n"
        logger.critical(
            "WORKER TIMEOUT (pid:%d): the event loop was blocked (%s); the main thread was at:\n%s",
            os.getpid(),
            timeout,
            stack.rstrip("\n"),
        )
        then()

    signal.signal(signal.SIGABRT, on_abort)


class WorkerRuntime:
    """One serving worker: ``run`` it with the sockets; subclasses fill in the manager's parts."""

    # Signals that cut connections and exit quickly (mypkg's workers leave SIGINT to the master).
    QUICK_SIGNALS: ClassVar[tuple[int, ...]] = (signal.SIGINT, signal.SIGQUIT)
    # Whether the worker waits out --shutdown-delay after SIGTERM (mypkg's master waits it out
    # itself, for all its workers at once, before it sends them SIGTERM).
    DELAYS_SHUTDOWN: ClassVar[bool] = True

    def __init__(self, server: Server, parent_pid: int) -> None:
        self.server = server
        self.parent_pid = parent_pid
        self.ready = False  # the loop has ticked once: it serves
        self.quick = False  # a quick stop (QUIT/INT) is under way
        self.aborting = False  # leaving through an exception from a signal handler
        self.recycling = False  # --limit-max-requests reached
        self._main_task: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ the manager's parts
    def beat(self) -> None:
        """Tell the manager the loop runs (called from the loop on every tick)."""

    def on_ready(self) -> None:
        """The first tick: the worker serves."""

    def report(self) -> None:
        """Hand the manager this worker's metrics figures; also called once on the way out."""

    def on_stop(self, quick: bool) -> None:
        """A stop signal arrived (before the server is asked to stop): the manager's hooks."""

    def replace_me(self, reason: str) -> bool:
        """--limit-max-requests: ask the manager to start a replacement first. False: it cannot;
        the worker finishes its in-flight work and exits."""
        return False

    def reason_to_leave(self) -> str:
        """Why to stop serving unasked (checked every tick); empty: stay."""
        if os.getppid() != self.parent_pid:
            return f"The parent process {self.parent_pid} is gone"
        return ""

    # ------------------------------------------------------------------ the loop
    def run(
        self, main: Coroutine[Any, Any, None], new_loop: Callable[[], asyncio.AbstractEventLoop]
    ) -> None:
        """Run ``main`` (which awaits ``serve``) on a new loop; then tidy up briefly and close."""
        loop = new_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main)
        except (SystemExit, KeyboardInterrupt):
            self.aborting = True  # raised from a signal handler: leave fast
            raise
        finally:
            try:
                loop.run_until_complete(_finish_leftovers(fast=self.quick or self.aborting))
            except Exception:
                logger.debug("Error while cancelling leftover tasks", exc_info=True)
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    async def serve(self, sockets: list[socket.socket]) -> None:
        """Serve until stopped; the last metrics figures go to the manager whatever happens."""
        self._main_task = asyncio.current_task()
        try:
            await self.server.serve(
                sockets,
                install_signal_handlers=False,
                on_tick=self._tick,
                on_max_requests=self._max_requests,
                announce=False,  # the manager says it once for all workers
            )
        except asyncio.CancelledError:
            if not self.quick:
                raise
            logger.warning("Quick exit: lifespan shutdown cut short")
        finally:
            self.report()  # nothing served is lost from the manager's counters

    def install_signal_handlers(self) -> None:
        """Loop signal handlers: they run between callbacks, so they only ask the server."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        for sig in self.QUICK_SIGNALS:
            loop.add_signal_handler(sig, self.quick_stop)
        loop.add_signal_handler(signal.SIGUSR1, self.reopen_logs)

    def reopen_logs(self) -> None:
        """SIGUSR1 (logrotate)."""
        reopen_log_files()

    # ------------------------------------------------------------------ stopping
    def stop(self) -> None:
        """SIGTERM: drain gracefully (after --shutdown-delay, if any). A repeated TERM (systemd
        and the master both send one) is not a QUIT; one during the delay stops at once."""
        self.on_stop(quick=False)
        if not self.server.stopping:
            logger.info("Worker %d received SIGTERM: finishing in-flight requests", os.getpid())
            if self.DELAYS_SHUTDOWN:
                self.server.request_exit_after_delay()
            else:
                self.server.request_exit()

    def quick_stop(self) -> None:
        """SIGQUIT/SIGINT: cut connections now; lifespan shutdown gets QUICK_EXIT_BUDGET."""
        if self.quick:
            return
        self.quick = True
        self.on_stop(quick=True)
        self.server.request_exit(force=True)
        asyncio.get_running_loop().call_later(QUICK_EXIT_BUDGET, self._cut_short)

    def _cut_short(self) -> None:
        task = self._main_task
        if task is not None and not task.done():
            task.cancel()

    def _tick(self) -> None:
        """Run by the server's ticker in the event loop: the proof that the loop runs."""
        self.beat()
        server = self.server
        if not self.ready:
            self.ready = True
            self.on_ready()
        elif not (server.stopping or server.delaying):
            reason = self.reason_to_leave()
            if reason:
                logger.warning("%s; finishing in-flight requests and exiting", reason)
                server.request_exit()

    def _max_requests(self) -> None:
        if self.recycling:
            return
        self.recycling = True
        served = self.server.state.total_requests if self.server.state else 0
        self.report()  # current figures before a replacement starts
        if not self.replace_me(f"served {served} requests (--limit-max-requests)"):
            logger.info(
                "Served %d requests (--limit-max-requests); finishing in-flight work and exiting",
                served,
            )
            self.server.request_exit()


async def _finish_leftovers(fast: bool) -> None:
    """Cancel tasks the app left behind and shut the default executor down, within a budget."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    budget = 0.1 if fast else CLEANUP_BUDGET
    if tasks:
        await asyncio.wait(tasks, timeout=budget)
    if fast:
        return
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.shutdown_asyncgens(), budget)
    with contextlib.suppress(asyncio.TimeoutError):  # a busy thread is left to the manager's KILL
        await asyncio.wait_for(loop.shutdown_default_executor(), budget)
