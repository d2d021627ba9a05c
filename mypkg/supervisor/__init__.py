"""mypkg's own pre-fork master: ``mypkg-supervise -w N main:app``.

One module per job: ``arbiter`` (the loop, signals, policy), ``pool`` (the worker processes),
``child`` (a worker from fork to exit; once the app is loaded it runs the one worker runtime,
``mypkg.runtime``, as Gunicorn's worker class does), ``heartbeat`` (liveness written by the
worker's loop), ``channel`` (worker -> master messages), ``reload`` (file watching), ``systemd``
(notify), ``pidfile``, ``privileges`` (--user/--group) and ``checks`` (when the master runs,
its settings).
"""

from __future__ import annotations

from collections.abc import Callable

from mypkg.config import Config
from mypkg.supervisor.checks import wants_supervisor


def supervise(config: Config, reread: Callable[[], Config] | None = None) -> int:
    """Run the master until it is stopped; the exit code. ``reread`` loads settings on HUP."""
    from mypkg.supervisor.arbiter import Arbiter

    return Arbiter(config, reread or (lambda: config)).run()


__all__ = ["supervise", "wants_supervisor"]
