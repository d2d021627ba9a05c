"""When the master runs, and the checks of its own settings.

The rule: one worker is one worker, as in uvicorn. mypkg serves in a single process unless
there is something only a master can do: more than one worker, --reload, or any of the master's
own settings given (--pid, --user, --limit-max-requests-jitter, --worker-timeout, ...), which
then get a master with one worker rather than an error. ``-w 1`` and no ``-w`` are the same.
"""

from __future__ import annotations

import os

from mypkg.config import Config
from mypkg.config.descriptor import Setting
from mypkg.config.settings import HookSettings, SupervisorSettings
from mypkg.errors import ConfigError

_RELOAD_DETAILS = ("reload_dir", "reload_include", "reload_exclude", "reload_delay")


def given(config: Config, name: str) -> bool:
    """Set from any source (flag, environment, file, keyword), not just the default."""
    return name in vars(config)


def wants_supervisor(config: Config) -> bool:
    return config.workers > 1 or config.reload or bool(master_settings_given(config))


def master_settings_given(config: Config) -> list[str]:
    """The flags of the master-only settings set from any source."""
    return [
        setting.flag
        for section in (SupervisorSettings, HookSettings)  # hooks are the master's too
        for name, setting in vars(section).items()
        if isinstance(setting, Setting) and given(config, name)
    ]


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
