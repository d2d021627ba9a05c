"""Errors that carry their answer: an HTTP status for protocol errors, an exit code for startup."""

from __future__ import annotations

# Exit codes shared by the CLI, the supervisor and the Gunicorn worker.
EXIT_OK = 0
EXIT_CONFIG = 2  # bad setting, bad flag, unreadable file
EXIT_APP_LOAD = 3  # the app cannot be imported or is not ASGI (Gunicorn's APP_LOAD_ERROR is 4)
EXIT_STARTUP = 4  # lifespan startup failed, or the sockets could not be bound


class ProtocolError(Exception):
    """A client broke HTTP; ``status`` is what we answer with before closing."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ConfigError(Exception):
    """A bad setting; the message names the flag, variable or key that holds it."""

    exit_code = EXIT_CONFIG


class AppLoadError(ConfigError):
    """The app named on the command line cannot be imported or is not an ASGI callable."""

    exit_code = EXIT_APP_LOAD


class StartupError(Exception):
    """Serving could not begin: lifespan startup failed or a socket could not be bound."""

    exit_code = EXIT_STARTUP


class ClientDisconnected(OSError):
    """Raised by ``send`` when the client has gone away (ASGI HTTP spec 2.4)."""
