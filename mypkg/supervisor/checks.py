"""Which settings need the master, and the checks of its own settings.

The rule: mypkg runs its master when --workers is given at all (flag, MYPKG_WORKERS, config
file or keyword; even ``-w 1``) or with --reload. Without either it serves in one process, as
uvicorn does, and the master's other settings are refused rather than silently ignored.
"""

from __future__ import annotations

import os

from mypkg.config import Config
from mypkg.errors import ConfigError
from mypkg.settings import Setting, SupervisorSettings

_RELOAD_DETAILS = ("reload_dir", "reload_include", "reload_exclude", "reload_delay")


def given(config: Config, name: str) -> bool:
    """Set from any source (flag, environment, file, keyword), not just the default."""
    return name in vars(config)


def wants_supervisor(config: Config) -> bool:
    return given(config, "workers") or config.reload


def refuse_master_settings(config: Config) -> None:
    """In single-process mode, a master-only setting is a mistake worth one clear line."""
    for name, setting in vars(SupervisorSettings).items():
        if isinstance(setting, Setting) and given(config, name):
            raise ConfigError(f"{setting.flag} needs mypkg's master: add --workers N (e.g. -w 1)")


def check_settings(config: Config) -> None:
    """The master's settings, checked together before anything binds or forks."""
    timeout = config.worker_timeout
    if 0 < timeout < 2:
        raise ConfigError(
            f"--worker-timeout: expected 0 (off) or at least 2 seconds, got {timeout:g}"
            " (the heartbeat is written about once a second)"
        )
    if config.limit_max_memory and not os.path.exists("/proc/self/statm"):
        raise ConfigError("--limit-max-memory reads worker memory from /proc: Linux only")
    if config.max_requests_jitter and config.limit_max_requests is None:
        raise ConfigError("--max-requests-jitter needs --limit-max-requests")
    if not config.reload:
        for name in _RELOAD_DETAILS:
            if given(config, name):
                raise ConfigError(f"--{name.replace('_', '-')} needs --reload")
    for directory in config.reload_dir:
        if not os.path.isdir(directory):
            raise ConfigError(f"--reload-dir: no such directory: {directory}")
