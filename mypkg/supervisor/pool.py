"""The master's table of worker processes: fork, reap, signal, and the checks that need a clock.

The pool knows processes, not policy: the arbiter decides when to start, replace or stop one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from mypkg.procinfo import resident_memory
from mypkg.supervisor.child import WorkerSpec, run_worker
from mypkg.supervisor.heartbeat import Heartbeat

logger = logging.getLogger("mypkg.error")

# Signals in the order they escalate: a worker is never sent a milder one after a harsher one.
_ESCALATION = (signal.SIGTERM, signal.SIGQUIT, signal.SIGABRT, signal.SIGKILL)


@dataclass(eq=False)
class Child:
    """One worker process as the master sees it."""

    pid: int
    generation: int  # bumped by each reload; workers of an older one are being replaced
    heartbeat: Heartbeat
    spawned: float
    ready_at: float = 0.0  # when it said "ready" (0: still booting)
    retiring: str = ""  # why its replacement was asked for; it serves until that one is up
    stop_signal: int = 0  # the harshest signal sent so far (0: not asked to stop)
    kill_at: float = 0.0  # SIGKILL if still alive then
    hung: bool = False  # aborted for a blocked loop or a boot that took too long
    failure: str = ""  # why it could not boot, as it told us
    failure_code: int = 0

    @property
    def ready(self) -> bool:
        return self.ready_at > 0

    @property
    def stopping(self) -> bool:
        return self.stop_signal != 0

    def silence(self, now: float) -> float:
        """Seconds since the worker's loop last proved alive (booting: since the fork)."""
        return now - max(self.heartbeat.last(), self.ready_at, self.spawned)


class Pool:
    def __init__(self) -> None:
        self.children: dict[int, Child] = {}

    def __iter__(self) -> Iterator[Child]:
        return iter(list(self.children.values()))

    def __len__(self) -> int:
        return len(self.children)

    def active(self) -> list[Child]:
        """Workers not asked to stop, oldest first."""
        return sorted((c for c in self.children.values() if not c.stopping), key=_age)

    def spawn(self, generation: int, make_spec: Callable[[Heartbeat], WorkerSpec]) -> Child:
        heartbeat = Heartbeat()
        spec = make_spec(heartbeat)
        for stream in (sys.stdout, sys.stderr):  # or the child would write our buffers again
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        # Signals are blocked across the fork: until the child drops the master's handlers, a
        # SIGTERM sent to it (a stop right after a reload started it) would run them there and
        # be lost, and the worker would boot and serve on until SIGKILL. The child restores
        # the mask once its own dispositions are set (child.py), the master right away.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        spec.signal_mask = mask
        pid = os.fork()
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if pid == 0:  # pragma: no cover - the child's own coverage is not collected
            try:
                for other in self.children.values():
                    other.heartbeat.close()
                run_worker(spec)
            finally:
                os._exit(1)  # never return into the master's code
        child = Child(pid, generation, heartbeat, time.monotonic())
        self.children[pid] = child
        logger.info("Booting worker %d", pid)
        return child

    def reap(self) -> list[tuple[Child, int]]:
        """Workers that exited, with ``os.waitstatus_to_exitcode`` (negative: the signal)."""
        gone = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            child = self.children.pop(pid, None)
            if child is not None:
                child.heartbeat.close()
                gone.append((child, os.waitstatus_to_exitcode(status)))
        return gone

    def signal(self, child: Child, sig: int, kill_at: float) -> None:
        """Send ``sig`` unless a harsher one was sent; SIGKILL at ``kill_at`` at the latest."""
        if child.stop_signal and _ESCALATION.index(sig) <= _ESCALATION.index(child.stop_signal):
            child.kill_at = min(child.kill_at, kill_at)
            return
        child.stop_signal = sig
        child.kill_at = min(child.kill_at, kill_at) if child.kill_at else kill_at
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, sig)

    def send_all(self, sig: int) -> None:
        """A signal that asks nothing of the stop machinery (e.g. SIGUSR1)."""
        for child in self:
            if child.ready:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, sig)

    def kill_overdue(self, now: float) -> None:
        for child in self:
            if child.kill_at and now >= child.kill_at and child.stop_signal != signal.SIGKILL:
                logger.error(
                    "Worker %d did not exit in time after %s; sending SIGKILL",
                    child.pid,
                    signal.Signals(child.stop_signal).name,
                )
                self.signal(child, signal.SIGKILL, now)

    def hung(self, now: float, timeout: float) -> list[Child]:
        """Workers whose loop is silent for ``timeout`` (not already aborted)."""
        return [
            child
            for child in self
            if not child.hung
            and child.stop_signal != signal.SIGKILL
            and child.silence(now) > timeout
        ]

    def over_memory(self, limit: int) -> list[tuple[Child, int]]:
        """Serving workers whose resident memory is above ``limit`` bytes."""
        found = []
        for child in self.active():
            if child.ready and not child.retiring:
                rss = resident_memory(child.pid)
                if rss > limit:
                    found.append((child, rss))
        return found


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class Backoff:
    """Delay before replacing workers that die unexpectedly: 0, 0.5, 1, 2 ... 30 s.

    Forgotten after a minute without deaths, so one crash a day never slows a respawn.
    """

    CALM = 60.0
    LONGEST = 30.0

    def __init__(self) -> None:
        self.deaths = 0
        self.last = 0.0
        self.not_before = 0.0

    def died(self, now: float) -> float:
        if now - self.last > self.CALM:
            self.deaths = 0
        self.deaths += 1
        self.last = now
        delay = 0.0 if self.deaths == 1 else min(self.LONGEST, 0.5 * 2 ** (self.deaths - 2))
        self.not_before = now + delay
        return delay

    def allows(self, now: float) -> bool:
        return now >= self.not_before


def _age(child: Child) -> float:
    return child.spawned
