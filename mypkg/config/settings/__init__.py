"""Every setting, declared once, by area (serving, logs, connections, operations).

Each ``Setting`` is a typed descriptor (mypkg/config/descriptor.py). From its one declaration come
the command-line flags, the ``MYPKG_*`` environment variable, the TOML key, the help text,
validation, the row in the generated reference (``docs/settings.md``) and in
``docs/migrating-from-uvicorn.md``. Sections are mixins so that each area's settings sit
together; ``Config`` (mypkg/config/core.py) inherits them all. The areas are imported in the
order of the reference (a setting's place in ``SETTINGS`` is its place in the docs).
"""

from __future__ import annotations

from mypkg.config.settings.serving import (
    ApplicationSettings,
    HttpSettings,
    ProcessSettings,
    SocketSettings,
)

# isort: split
from mypkg.config.settings.logs import LOG_LEVELS, LoggingSettings

# isort: split
from mypkg.config.settings.connections import (
    ProxySettings,
    TlsSettings,
    WebSocketSettings,
)

# isort: split
from mypkg.config.settings.operations import (
    HookSettings,
    OperationsSettings,
    SupervisorSettings,
)

__all__ = [
    "LOG_LEVELS",
    "ApplicationSettings",
    "HookSettings",
    "HttpSettings",
    "LoggingSettings",
    "OperationsSettings",
    "ProcessSettings",
    "ProxySettings",
    "Settings",
    "SocketSettings",
    "SupervisorSettings",
    "TlsSettings",
    "WebSocketSettings",
]


class Settings(
    ApplicationSettings,
    SocketSettings,
    ProcessSettings,
    SupervisorSettings,
    HttpSettings,
    WebSocketSettings,
    TlsSettings,
    ProxySettings,
    LoggingSettings,
    OperationsSettings,
    HookSettings,
):
    """All settings; ``Config`` adds loading and derived values on top."""
