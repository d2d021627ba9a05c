"""mypkg's loggers inside a Gunicorn worker: they write through Gunicorn's own loggers.

Gunicorn configures ``gunicorn.error`` and ``gunicorn.access`` from errorlog, accesslog, loglevel,
syslog and the logconfig* settings, and reopens their files on SIGUSR1. Rather than copy that
set-up, ``mypkg.error`` and ``mypkg.access`` hand each record to the matching Gunicorn logger, so
whatever handlers and filters are configured there apply, now and after a reload. A logging
config that configures a mypkg logger itself is left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from mypkg.logging import ACCESS_LOGGER, ERROR_LOGGER


class Forward(logging.Handler):
    """Passes records to another logger's handlers (and its parents', if it propagates)."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        self.target.handle(record)


def access_log_enabled(log: Any, cfg: Any) -> bool:
    """Whether Gunicorn would write access lines (its Logger knows; older ones are asked cfg)."""
    if logging.getLogger(ACCESS_LOGGER).handlers and not _forwarding(ACCESS_LOGGER):
        return True  # configured by the user's logconfig
    enabled = getattr(log, "access_log_enabled", None)
    if enabled is None:
        enabled = bool(
            cfg.accesslog
            or cfg.logconfig
            or cfg.logconfig_dict
            or (cfg.syslog and not cfg.disable_redirect_access_to_syslog)
        )
    return bool(enabled)


def route(log: Any, cfg: Any) -> None:
    """Point mypkg's loggers at Gunicorn's; set their levels so disabled lines cost nothing."""
    pairs = ((ERROR_LOGGER, log.error_log), (ACCESS_LOGGER, log.access_log))
    for name, target in pairs:
        logger = logging.getLogger(name)
        if logger.handlers and not _forwarding(name):
            continue
        logger.handlers = [Forward(target)]
        logger.propagate = False
        logger.setLevel(target.getEffectiveLevel())
    access = logging.getLogger(ACCESS_LOGGER)
    if _forwarding(ACCESS_LOGGER) and not access_log_enabled(log, cfg):
        access.setLevel(logging.WARNING)  # access lines are INFO: off


def _forwarding(name: str) -> bool:
    handlers = logging.getLogger(name).handlers
    return bool(handlers) and all(isinstance(handler, Forward) for handler in handlers)


def json_lines(log: Any) -> None:
    """MYPKG_LOG_FORMAT=json: Gunicorn's error and access handlers write JSON lines too (its own
    messages included), so that one stream has one format."""
    from mypkg.jsonlog import JsonFormatter

    for logger in (log.error_log, log.access_log):
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
