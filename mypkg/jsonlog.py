"""--log-format json and request ids.

``JsonFormatter`` writes one JSON object per line (json.dumps escapes every control character,
so nothing a client sends can break or forge a line). The access log passes its fields as
``LogRecord`` extras (``ACCESS_FIELDS``) whatever the format, so a user's own formatter can use
them too. ``RequestIds`` takes the id a client (or proxy) sent in ``--request-id-header`` or makes
one.
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
