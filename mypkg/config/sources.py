"""The sources of settings besides the command line (argv.py) and keywords (``Config(**kw)``):
``MYPKG_*`` environment variables (and, for uvicorn users, theirs), TOML files and .env files.

Precedence is ``Config.from_sources``' job; each function here only reads its one source.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from mypkg.config.descriptor import SETTINGS
from mypkg.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]


def from_environ(environ: Mapping[str, str], *, foreign: bool = False) -> dict[str, str]:
    """The variables that name a setting: ``MYPKG_*``, and with ``foreign`` the ones uvicorn
    users already set (``UVICORN_*``, ``WEB_CONCURRENCY``, ``FORWARDED_ALLOW_IPS``). Gunicorn
    reads the latter itself, so its worker leaves them out."""
    return {name: environ[variable] for name, variable in env_sources(environ, foreign).items()}


def env_sources(environ: Mapping[str, str], foreign: bool) -> dict[str, str]:
    """Each setting found in the environment -> the variable it is read from."""
    found = {}
    for name, setting in SETTINGS.items():
        for variable in setting.environment_names(foreign):
            if variable in environ:
                found[name] = variable
                break
    return found


def uvicorn_notes(environ: Mapping[str, str]) -> list[str]:
    """One deprecation line per UVICORN_* variable that is read, naming its MYPKG_* name."""
    return [
        f"{setting.uvicorn_env} is read as {setting.env}; rename it (UVICORN_* variables are"
        " deprecated in mypkg)"
        for setting in SETTINGS.values()
        if setting.uvicorn_env is not None
        and setting.uvicorn_env in environ
        and setting.env not in environ
    ]


def read_config_file(path: str) -> dict[str, Any]:
    """The settings in a TOML file; a pyproject.toml contributes its [tool.mypkg] table."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"--config: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config: {path} is not valid TOML: {exc}") from None
    if os.path.basename(path) == "pyproject.toml":
        data = data.get("tool", {}).get("mypkg", {})
    if not isinstance(data, dict):
        raise ConfigError(f"--config: {path}: [tool.mypkg] must be a table")
    return data


def load_env_file(path: str, environ: Mapping[str, str]) -> None:
    """Load a .env file into the environment; variables already set are kept."""
    try:
        from dotenv import dotenv_values  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ConfigError("--env-file needs python-dotenv: pip install 'mypkg[dotenv]'") from None
    if not os.path.isfile(path):
        raise ConfigError(f"--env-file: no such file: {path}")
    target: Any = environ
    for key, value in dotenv_values(path).items():
        if value is not None and key not in target:
            target[key] = value
