"""Logging defaults: one error logger and one access logger, configured once per process."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

ERROR_LOGGER = "mypkg.error"
ACCESS_LOGGER = "mypkg.access"
_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
_DATEFMT = "%Y-%m-%d %H:%M:%S %z"


def configure_logging(log_level: str, access_log: bool) -> None:
    """Give mypkg's loggers a stderr handler unless the application already configured them."""
    level = TRACE if log_level == "trace" else getattr(logging, log_level.upper())
    formatter = logging.Formatter(_FORMAT, _DATEFMT)
    for name in (ERROR_LOGGER, ACCESS_LOGGER):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(formatter)
            logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger(ERROR_LOGGER).setLevel(level)
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(logging.INFO if access_log and level <= logging.INFO else logging.WARNING)


def client_and_path(scope: Mapping[str, Any]) -> tuple[str, str]:
    """An access log line's client ("host:port", or "-") and path with its query string."""
    client = scope["client"]
    path: str = scope["path"]
    if scope["query_string"]:
        path += "?" + scope["query_string"].decode("latin-1")
    return (f"{client[0]}:{client[1]}" if client else "-"), path
