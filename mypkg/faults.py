"""Faults in a worker's surroundings: too few file descriptors, a log that cannot be written.

None of them may stop serving or flood the log. Running out of descriptors makes asyncio's
accept loop report every failed ``accept()`` (thousands of tracebacks a second, one per backlog
slot); uvloop's libuv instead accepts and closes the surplus connections silently. Either way we
count the event in a plain integer and log one line per interval. At start the soft
``RLIMIT_NOFILE`` is raised to the hard limit, as most servers do, because the soft default
(1024 on many systems) is the first thing a busy worker hits.
"""

from __future__ import annotations

import errno
import logging
import os
import sys

from mypkg.ratelimit import Throttled

# accept() failing for lack of a resource: asyncio retries a second later, libuv at once.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
FD_HEADROOM = 8  # descriptors a worker keeps for files, logs and pipes it opens later


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return (before, after)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return (-1, -1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and 0 <= soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):  # a sandbox may refuse; keep what we have
            return (soft, soft)
        return (soft, hard)
    return (soft, soft)


def connection_budget() -> int:
    """How many connections fit under the soft RLIMIT_NOFILE: the limit, less what is open now,
    less FD_HEADROOM for files, logs and pipes opened later. Past it, the limit is near."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 1 << 62
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return 1 << 62
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:  # no procfs: count nothing
        in_use = 0
    return soft - in_use - FD_HEADROOM


def describe_open_file_limit(before: int, after: int) -> str:
    """The startup line about the descriptor limit."""
    if after < 0:
        return "Open-file limit: unknown on this platform"
    if after > before:
        return f"Raised the open-file limit (RLIMIT_NOFILE) from {before} to {after}"
    return f"Open-file limit (RLIMIT_NOFILE): {after}"


def is_accept_resource_error(context: dict[str, object]) -> bool:
    """True for asyncio's "socket.accept() out of system resource" loop error."""
    exc = context.get("exception")
    return (
        isinstance(exc, OSError)
        and exc.errno in RESOURCE_ERRNOS
        and "accept" in str(context.get("message", ""))
    )


# --------------------------------------------------------------------------- log handlers


# mypkg's loggers, the root, and Gunicorn's (mypkg's forward there inside its worker class).
GUARDED_LOGGERS = ("", "mypkg.error", "mypkg.access", "gunicorn.error", "gunicorn.access")


def guard_log_handlers(names: tuple[str, ...] = GUARDED_LOGGERS) -> None:
    """Make the handlers of these loggers report a failed write (disk full, file gone) once per
    interval, with the number of records lost, instead of a traceback on stderr per record.

    logging's default ``handleError`` prints ~40 lines for every record it could not write, so an
    access log on a full disk turns each request into that. Worse, a ``FileHandler`` whose file
    must be reopened (after SIGUSR1) raises out of ``emit`` when the open fails, into the code
    that logged: the request cycle would report an application error for every request.
    """
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if type(handler).__module__.startswith("_pytest"):
                continue  # pytest's capture fails a test on a logging error, on purpose
            if not isinstance(handler.handleError, _Guard):
                guard = _Guard(handler)
                handler.handleError = guard  # type: ignore[method-assign]
                handler.emit = guard.emit  # type: ignore[method-assign]


class _Guard:
    """A handler's ``emit`` that cannot raise, and its ``handleError``: count, say so once per
    interval."""

    __slots__ = ("_emit", "throttled")

    def __init__(self, handler: logging.Handler) -> None:
        target = getattr(handler, "baseFilename", None) or type(handler).__name__
        self.throttled = Throttled(f"Log records to {target} are being lost", level=logging.ERROR)
        self._emit = handler.emit

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record)
        except Exception as exc:  # the handler could not even open its file
            self.throttled.report(exc)

    def __call__(self, record: logging.LogRecord) -> None:
        self.throttled.report(sys.exc_info()[1])
