"""Config: the settings from every source, validated together, plus what is derived from them."""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Mapping
from typing import Any

from mypkg.asgi import ASGI3App
from mypkg.config.descriptor import Origin, apply
from mypkg.config.settings import Settings
from mypkg.config.sources import (
    env_sources,
    from_environ,
    load_env_file,
    read_config_file,
    uvicorn_notes,
)
from mypkg.config.tlscontext import build_context
from mypkg.errors import ConfigError
from mypkg.loader import load_app


class Config(Settings):
    """Every setting as a typed attribute. ``Config(app, port=8001)`` validates as it assigns."""

    def __init__(self, app: str | ASGI3App | None = None, **kwargs: Any) -> None:
        self.app_object: Any = None
        self.ssl_context: ssl.SSLContext | None = None  # built by check()
        if isinstance(app, str):
            kwargs.setdefault("app", app)
        elif app is not None:
            self.app_object = app
        config_file = kwargs.pop("config", None)
        if config_file is not None:
            self.config = config_file
            apply(self, read_config_file(config_file), Origin("file", config_file))
        apply(self, kwargs, Origin("argument"))
        if self.env_file:  # from_sources loads it itself, before reading MYPKG_* variables
            load_env_file(self.env_file, os.environ)

    @classmethod
    def from_sources(
        cls,
        cli: Mapping[str, object],
        environ: Mapping[str, str] | None = None,
        *,
        foreign: bool = False,
    ) -> Config:
        """Defaults < TOML file < MYPKG_* environment (and --env-file) < command-line flags.

        ``foreign``: read uvicorn's variables too (UVICORN_*, WEB_CONCURRENCY, ...), after ours.
        """
        environ = os.environ if environ is None else environ
        config = cls()
        env_values = from_environ(environ, foreign=foreign)
        path = cli.get("config") or env_values.get("config")
        if path:
            config.config = str(path)
            apply(config, read_config_file(str(path)), Origin("file", str(path)))
        env_file = cli.get("env_file") or env_values.get("env_file") or config.env_file
        if env_file:
            config.env_file = str(env_file)
            load_env_file(str(env_file), environ)
        for name, variable in env_sources(environ, foreign).items():
            apply(config, {name: environ[variable]}, Origin("env", variable))
        apply(config, cli, Origin("cli"))
        for note in uvicorn_notes(environ) if foreign else ():
            print(f"mypkg: note: {note}", file=sys.stderr)
        return config

    def load_app(self) -> ASGI3App:
        """Import (or take) the app and adapt it to ASGI 3; errors name the app."""
        target = self.app_object if self.app_object is not None else self.app
        if target is None:
            raise ConfigError("no application given: pass APP as 'module:attribute', e.g. main:app")
        return load_app(
            target,
            factory=self.factory,
            app_dir=self.app_dir,
            interface=self.interface,
            wsgi_threads=self.wsgi_threads,
        )

    def check(self) -> None:
        """Checks that involve several settings; run before anything binds or forks."""
        if self.uds is not None and self.fd is not None:
            raise ConfigError("--uds and --fd cannot be used together")
        if self.reload and self.app_object is not None:
            raise ConfigError(
                "--reload needs the app as an import string such as 'main:app' (it is imported"
                " again on every change), not an application object"
            )
        if self.backpressure and self.limit_concurrency is None:
            raise ConfigError("--backpressure needs --limit-concurrency (the limit it holds to)")
        # Built here so that a bad certificate, key or password stops startup, not a connection.
        self.ssl_context = build_context(self)
        if self.http2:
            check_http2(self.ssl_context)


def check_http2(context: ssl.SSLContext | None) -> None:
    """--http2 needs the optional h2 package; over TLS, clients choose h2 by ALPN."""
    try:
        import h2  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--http2: the h2 package is not installed; install it with: pip install 'mypkg[http2]'"
        ) from None
    if context is not None:
        context.set_alpn_protocols(["h2", "http/1.1"])
