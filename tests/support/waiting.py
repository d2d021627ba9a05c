"""Waiting for something that happens elsewhere, always with a deadline, never a bare sleep.

* ``wait_on(condition, predicate, timeout, what)``: state of this process guarded by a
  ``threading.Condition`` (log lines read by a thread, a load's tally): woken at once.
* ``wait_until(predicate, timeout, what)``: state of another process or of the kernel (a file, a
  pid under /proc), which nothing can notify us of: polled every 20 ms.
* ``assert_on_time``: a timeout fired neither early nor late (for a loaded machine).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` (another process's state: nothing to await) until true or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def wait_on(
    condition: threading.Condition, predicate: Callable[[], Any], timeout: float, what: str
) -> None:
    """Wait on ``condition`` until ``predicate()`` is true; fail naming ``what`` at the deadline.

    A predicate may raise (e.g. "the load thread died") to end the wait early."""
    with condition:
        if not condition.wait_for(predicate, timeout):
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# What a loaded, shared machine may add to an event's time (scheduling, process teardown).
SLACK = 1.0


def assert_on_time(elapsed: float, timeout: float, tick: float = 0.0, slack: float = SLACK) -> None:
    """``elapsed`` (measured around the event) says a ``timeout`` fired on time.

    Never early: the server's clock is refreshed once a ``tick``, so a deadline may fall up to
    one tick before ``timeout`` (``tick=0`` where the timer is exact). Not late: at most two
    ticks plus ``slack``. The window must still fail a timeout four times too long, so it is
    checked to be narrower than that: choose timeouts of at least ~0.5 s.
    """
    assert slack + 2 * tick < 3 * timeout, "this window would accept a timeout 4x too long"
    assert elapsed >= timeout - tick - 0.02, f"{elapsed:.3f}s: before the {timeout}s timeout"
    assert elapsed <= timeout + 2 * tick + slack, f"{elapsed:.3f}s: late for a {timeout}s timeout"
