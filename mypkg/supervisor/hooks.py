"""Server hooks for mypkg's master, by Gunicorn's names and signatures.

Each is a dotted path in the config (``post_fork = "app.tracing:post_fork"``), loaded once in the
master before anything forks, so a bad path stops startup with its setting named. A hook that
raises is logged and serving goes on, except ``pre_request``, whose exception answers that
request 500 (as in Gunicorn). ``pre_request``/``post_request`` wrap the app only when set.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mypkg.config import Config
from mypkg.errors import ConfigError

logger = logging.getLogger("mypkg.error")
NAMES = (
    "on_starting",
    "when_ready",
    "post_fork",
    "post_worker_init",
    "worker_exit",
    "on_reload",
    "pre_request",
    "post_request",
)


@dataclass
class HookServer:
    """The ``server`` a hook gets: the master's config, its pid, its logger."""

    config: Config
    pid: int = field(default_factory=os.getpid)
    log: logging.Logger = logger

    @property
    def cfg(self) -> Config:  # Gunicorn's name for it
        return self.config


@dataclass
class HookWorker:
    """The ``worker`` a hook gets: its pid, config, logger, and the app once loaded."""

    config: Config
    pid: int = field(default_factory=os.getpid)
    log: logging.Logger = logger
    app: Any = None

    @property
    def cfg(self) -> Config:
        return self.config


def load_hook(setting: str, path: str) -> Callable[..., object]:
    """``module:attr`` or ``module.attr`` to the callable; ConfigError naming the setting."""
    module_name, colon, attribute = path.partition(":")
    if not colon:
        module_name, _, attribute = path.rpartition(".")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"--{setting.replace('_', '-')}: cannot load {path!r}: {exc}") from None
    if not callable(target):
        raise ConfigError(f"--{setting.replace('_', '-')}: {path!r} is not callable")
    return target  # type: ignore[no-any-return]


class Hooks:
    """The configured hooks; ``call`` runs one if set."""

    def __init__(self, config: Config) -> None:
        self.server = HookServer(config)
        self.found: dict[str, Callable[..., object]] = {}
        for name in NAMES:
            path = getattr(config, name)
            if path:
                self.found[name] = load_hook(name, path)

    def call(self, name: str, *args: object) -> None:
        hook = self.found.get(name)
        if hook is None:
            return
        try:
            hook(*args)
        except Exception:
            logger.exception("Exception in %s hook", name)

    def wrap(self, app: Any, worker: HookWorker) -> Any:
        """The app with pre_request/post_request around it, or unchanged when neither is set."""
        pre, post = self.found.get("pre_request"), self.found.get("post_request")
        if pre is None and post is None:
            return app
        from mypkg.workers.hooks import RequestHooks  # the adapter Gunicorn's worker uses too

        return RequestHooks(app, worker, pre, post)
