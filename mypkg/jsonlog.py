"""--log-format json, request ids, and rate-limited logging of malformed requests.

``JsonFormatter`` writes one JSON object per line (json.dumps escapes every control character,
so nothing a client sends can break or forge a line). The access log passes its fields as
``LogRecord`` extras (``ACCESS_FIELDS``) whatever the format, so a user's own formatter can use
them too. ``RequestIds`` takes the id a client (or proxy) sent in ``--request-id-header`` or makes
one; ``Throttle`` bounds the lines a flood of junk requests can write.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

# The access log's record extras, in the order a JSON line shows them.
ACCESS_FIELDS = (
    "client",
    "method",
    "path",
    "query",
    "status",
    "bytes",
    "duration_us",
    "request_id",
    "user_agent",
    "referer",
    "headers",
)
MAX_REQUEST_ID = 128


class JsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp, level, logger, message, pid, then access fields
    and the traceback when there is one. Usable from a --log-config file by its dotted name."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for field in ACCESS_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                data[field] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=True, default=str)


def _timestamp(created: float) -> str:
    """RFC 3339 in UTC with milliseconds."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


class RequestIds:
    """Ids for --request-id-header: the client's if it is a sane token, else a fresh one."""

    __slots__ = ("counter", "prefix")

    def __init__(self) -> None:
        # Unique across workers and restarts without a syscall per request: random per process
        # plus a counter.
        self.prefix = os.urandom(6).hex()
        self.counter = 0

    def take(self, incoming: bytes | None) -> bytes:
        if incoming and len(incoming) <= MAX_REQUEST_ID and _is_token(incoming):
            return incoming
        self.counter += 1
        return b"%s-%x" % (self.prefix.encode(), self.counter)


def _is_token(value: bytes) -> bool:
    """Visible ASCII only: what goes back into a response header and into logs unescaped."""
    return value.isascii() and all(33 <= byte <= 126 for byte in value)


class Throttle:
    """At most ``limit`` lines per ``window`` seconds; then one line saying how many were not
    written. The clock is the server's coarse one (no time call per rejected request)."""

    __slots__ = ("limit", "suppressed", "used", "window", "window_end")

    def __init__(self, limit: int = 10, window: float = 10.0) -> None:
        self.limit = limit
        self.window = window
        self.window_end = 0.0
        self.used = 0
        self.suppressed = 0

    def allow(self, logger: logging.Logger, now: float) -> bool:
        if now >= self.window_end:
            if self.suppressed:
                logger.warning(
                    "%d more malformed-request line(s) were not logged in %gs (rate limit)",
                    self.suppressed,
                    self.window,
                )
            self.window_end = now + self.window
            self.used = self.suppressed = 0
        if self.used < self.limit:
            self.used += 1
            return True
        self.suppressed += 1
        return False
