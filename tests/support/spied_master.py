"""``python -m tests.support.spied_master ARGS``: ``mypkg-supervise ARGS``, its loop logging waits.

Promptness is a question of order, not of clocks: the master should act on what it knows (its
first workers to fork, a dead worker to replace) before its loop next blocks. The arbiter here is
the real one with the real selector; the selector only logs "Master waits up to T s" first
whenever the loop is about to block, so a test can read the order of events in the log.
"""

from __future__ import annotations

import logging
import selectors
import sys
from collections.abc import Callable

from mypkg.cli import main
from mypkg.config import Config
from mypkg.supervisor import arbiter

logger = logging.getLogger("mypkg.error")
WAITS = "Master waits"


class WaitLoggingSelector(selectors.DefaultSelector):
    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > 0:
            logger.info("%s up to %s s", WAITS, "ever" if timeout is None else f"{timeout:.3f}")
        return super().select(timeout)


class SpiedArbiter(arbiter.Arbiter):
    def __init__(self, config: Config, reread: Callable[[], Config]) -> None:
        super().__init__(config, reread)
        self.selector.close()
        self.selector = WaitLoggingSelector()


if __name__ == "__main__":
    arbiter.Arbiter = SpiedArbiter  # type: ignore[misc]
    sys.exit(main())
