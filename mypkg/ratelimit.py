"""The one rate limiter for log lines: a flood of events writes a bounded number of lines.

``Throttle`` lets at most ``limit`` lines through per ``window`` seconds and counts the rest, so
the count can be told when the next window opens. It serves two styles of line:

* ``Throttle.allow``: the caller writes its own line when allowed (a refused malformed request);
  the lines held back are told in one line when the next window opens.
* ``Throttled.report``: a fixed message about one fault (out of descriptors, a log that cannot be
  written), at most once per interval, with how many times it happened since the last line.

Both windows are anchored at the first event after the previous window ended, so a quiet server
reports the next event at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger("mypkg.error")

REPORT_INTERVAL = 10.0  # seconds between two lines about the same fault


class Throttle:
    """At most ``limit`` lines per ``window`` seconds. ``now`` comes from the caller: the
    server's coarse clock, so a rejected request costs no time call."""

    __slots__ = ("held", "limit", "summary", "used", "window", "window_end")

    def __init__(
        self, limit: int = 10, window: float = 10.0, *, summary: str = "malformed-request line(s)"
    ) -> None:
        self.limit = limit
        self.window = window
        self.summary = summary  # what ``allow`` calls the lines it held back
        self.window_end = float("-inf")
        self.used = 0
        self.held = 0

    def take(self, now: float) -> int | None:
        """None when this line is held back; else how many were held back in the window that
        just ended (0 unless this line opens a new window)."""
        missed = 0
        if now >= self.window_end:
            missed, self.held, self.used = self.held, 0, 0
            self.window_end = now + self.window
        if self.used < self.limit:
            self.used += 1
            return missed
        self.held += 1
        return None

    def allow(self, log: logging.Logger, now: float) -> bool:
        """Whether the caller may write its line; says on ``log`` how many it did not."""
        missed = self.take(now)
        if missed:
            log.warning(
                "%d more %s were not logged in %gs (rate limit)", missed, self.summary, self.window
            )
        return missed is not None


class Throttled:
    """Counts occurrences of one fault; logs the first at once, then one line per interval with
    the number seen meanwhile (so an operator learns the rate, not only that it happens)."""

    __slots__ = ("clock", "count", "level", "message", "throttle")

    def __init__(
        self,
        message: str,
        *,
        interval: float = REPORT_INTERVAL,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.message = message
        self.level = level
        self.clock = clock
        self.count = 0  # since start: the metric
        self.throttle = Throttle(limit=1, window=interval)

    def report(self, detail: object) -> None:
        self.count += 1
        missed = self.throttle.take(self.clock())
        if missed is None:
            return
        logger.log(
            self.level,
            "%s: %s (%d time(s) since the last report; next report in %.0f s at the earliest)",
            self.message,
            detail,
            missed + 1,
            self.throttle.window,
        )
