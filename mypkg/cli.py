"""The command: ``mypkg-supervise [FLAGS] APP`` (and ``python -m mypkg``, ``mypkg.run``).

It reads the settings (mypkg/config/argv.py: flags, then the environment and files), then serves
in this process or runs mypkg's master; every failure ends as one message and its exit code.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable

from mypkg.config import Config
from mypkg.config.argv import PROG, parse_config
from mypkg.errors import EXIT_OK, ConfigError, StartupError
from mypkg.logging import configure_logging
from mypkg.server import Server
from mypkg.supervisor import supervise, wants_supervisor


def serve(config: Config, reread: Callable[[], Config] | None = None) -> int:
    """Serve in this process, or run mypkg's master (more than one worker, --reload, or a
    master-only setting: see mypkg.supervisor.checks).

    ``reread`` loads the settings again from their sources (the master calls it on SIGHUP).
    """
    config.check()
    if wants_supervisor(config):
        return supervise(config, reread)
    Server(config).run()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """The command line: flags and the environment, logging always set up as the CLI's."""

    def load() -> Config:
        config = parse_config(argv)
        configure_logging(
            config.log_level,
            config.access_log,
            config.log_config,
            config.use_colors,
            config.log_format,
        )
        return config

    return execute(load, reread=lambda: parse_config(argv))


def execute(load: Callable[[], Config], reread: Callable[[], Config]) -> int:
    """Load the settings and serve; every failure becomes one message and its exit code.

    Shared by the CLI and ``mypkg.run`` so that both end with the same codes.
    """
    try:
        return serve(load(), reread=reread)
    except ConfigError as exc:
        if exc.__cause__ is not None:  # an error inside the app's own code: show where
            traceback.print_exception(exc.__cause__)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except StartupError as exc:
        logging.getLogger("mypkg.error").error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        pass
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
