"""Logging: mypkg's default handlers, or the user's --log-config, configured once per process.

By default the error and access loggers each get one stderr handler (level names in color on a
terminal) and do not propagate, so nothing is printed twice. With --log-config the file is in
charge: our handlers are removed, our loggers propagate to whatever it configures, and loggers it
does not mention are left enabled (``disable_existing_loggers`` defaults to False).
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import sys
from typing import Any

from mypkg.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

ERROR_LOGGER = "mypkg.error"
ACCESS_LOGGER = "mypkg.access"
_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
_DATEFMT = "%Y-%m-%d %H:%M:%S %z"
_COLORS = {
    TRACE: "\x1b[34m",  # blue
    logging.DEBUG: "\x1b[36m",  # cyan
    logging.INFO: "\x1b[32m",  # green
    logging.WARNING: "\x1b[33m",  # yellow
    logging.ERROR: "\x1b[31m",  # red
    logging.CRITICAL: "\x1b[1;31m",  # bold red
}
_RESET = "\x1b[0m"


class ColorFormatter(logging.Formatter):
    """Colors the level name; usable from a --log-config file as ``mypkg.logging.ColorFormatter``.

    ``use_colors=None`` colors only when stderr is a terminal.
    """

    def __init__(
        self,
        fmt: str | None = _FORMAT,
        datefmt: str | None = _DATEFMT,
        style: Any = "%",
        use_colors: bool | None = None,
    ) -> None:
        super().__init__(fmt, datefmt, style)
        self.use_colors = sys.stderr.isatty() if use_colors is None else use_colors

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not self.use_colors:
            return super().formatMessage(record)
        plain = record.levelname
        record.levelname = f"{_COLORS.get(record.levelno, '')}{plain}{_RESET}"
        try:
            return super().formatMessage(record)
        finally:
            record.levelname = plain  # the record goes on to other handlers


class _OwnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handlers mypkg installed, so a second configure replaces instead of adding."""


# The --log-config call last applied: the CLI and Server.run both configure, the file is read once.
_applied: tuple[object, ...] | None = None


def configure_logging(
    log_level: str,
    access_log: bool,
    log_config: str | None = None,
    use_colors: bool | None = None,
) -> None:
    """Set up mypkg's loggers; ConfigError (naming --log-config) if the user's file is bad."""
    global _applied
    key = (log_level, access_log, log_config, use_colors)
    if log_config is not None and key == _applied:
        return
    _applied = None
    level = TRACE if log_level == "trace" else getattr(logging, log_level.upper())
    own = [logging.getLogger(ERROR_LOGGER), logging.getLogger(ACCESS_LOGGER)]
    for logger in own:
        for handler in [h for h in logger.handlers if isinstance(h, _OwnHandler)]:
            logger.removeHandler(handler)
    if log_config is not None:
        for logger in own:
            logger.propagate = True
            logger.setLevel(logging.NOTSET)
        load_log_config(log_config)
        _applied = key
        if not any(_has_handler(logger) for logger in own):
            own[0].warning(
                "--log-config %s configures neither the mypkg.error / mypkg.access loggers nor"
                " the root logger: mypkg's own messages reach no handler",
                log_config,
            )
        for logger in own:
            logger.disabled = False  # the server's own messages are never silenced by omission
    else:
        formatter = ColorFormatter(use_colors=use_colors)
        for logger in own:
            if not logger.handlers:  # unless the application configured it already
                handler = _OwnHandler(sys.stderr)
                handler.setFormatter(formatter)
                logger.addHandler(handler)
            logger.propagate = False
    error, access = own
    if error.level == logging.NOTSET or log_config is None:
        error.setLevel(level)
    if not access_log or level > logging.INFO:
        access.setLevel(logging.WARNING)
    elif access.level == logging.NOTSET or log_config is None:
        access.setLevel(logging.INFO)


def _has_handler(logger: logging.Logger) -> bool:
    """Whether a record of ``logger`` reaches a handler (its own or an ancestor's)."""
    current: logging.Logger | None = logger
    while current is not None:
        if current.handlers:
            return True
        current = current.parent if current.propagate else None
    return False


def logging_configured() -> bool:
    """Someone set logging up already: the root logger or one of mypkg's has a handler."""
    return any(logging.getLogger(name).handlers for name in ("", ERROR_LOGGER, ACCESS_LOGGER))


def load_log_config(path: str) -> None:
    """Apply a dictConfig (.json, .toml, .yaml/.yml) or fileConfig (INI, anything else) file."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise ConfigError(f"--log-config: cannot read {path}: {exc.strerror or exc}") from None
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix in (".json", ".toml", ".yaml", ".yml"):
            data = _parse_dict_config(raw, suffix, path)
            data.setdefault("version", 1)
            data.setdefault("disable_existing_loggers", False)
            logging.config.dictConfig(data)
        else:
            text = raw.decode("utf-8")
            logging.config.fileConfig(io.StringIO(text), disable_existing_loggers=False)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"--log-config: {path}: {_one_line(exc)}") from None


def _parse_dict_config(raw: bytes, suffix: str, path: str) -> dict[str, Any]:
    if suffix == ".json":
        data = json.loads(raw)
    elif suffix == ".toml":
        data = tomllib.loads(raw.decode("utf-8"))
    else:
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                f"--log-config: {path} is YAML, which needs PyYAML: pip install pyyaml"
            ) from None
        data = yaml.safe_load(raw)
    if not isinstance(data, dict):
        raise ConfigError(f"--log-config: {path} must hold a mapping (a dictConfig dictionary)")
    return data


def _one_line(exc: BaseException) -> str:
    """dictConfig wraps the real reason in __cause__; YAML errors span lines."""
    text = str(exc) or type(exc).__name__
    if exc.__cause__ is not None:
        text += f": {exc.__cause__}"
    return " ".join(text.split())


def reopen_log_files() -> None:
    """SIGUSR1: reopen every file a logging handler writes to (after logrotate moved it).

    The stream is closed and dropped under the handler's lock; ``FileHandler.emit`` opens the
    file again, by name, on the next record.
    """
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.FileHandler) and handler.stream is not None:
                handler.acquire()
                try:
                    stream, handler.stream = handler.stream, None
                    stream.close()
                finally:
                    handler.release()
