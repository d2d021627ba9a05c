"""The command line, generated from the setting declarations: ``mypkg-supervise [FLAGS] APP``."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from mypkg import __version__
from mypkg.config import Config
from mypkg.errors import EXIT_OK, ConfigError, StartupError
from mypkg.logging import configure_logging
from mypkg.server import Server
from mypkg.settings import SETTINGS, Setting
from mypkg.supervisor import refuse_master_settings, supervise, wants_supervisor

PROG = "mypkg-supervise"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Serve an ASGI application (HTTP/1.1 and WebSockets).",
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,  # else a new setting could make an old abbreviation ambiguous
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"mypkg {__version__} (Python {sys.version.split()[0]})",
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for setting in SETTINGS.values():
        group = groups.get(setting.section)
        if group is None:
            group = groups[setting.section] = parser.add_argument_group(setting.section)
        _add_argument(group, setting)
    return parser


def _add_argument(group: argparse._ArgumentGroup, setting: Setting[Any]) -> None:
    default = "" if setting.default in (None, [], "") else f"default: {setting.default}; "
    help_text = f"{setting.help} [{default}env: {setting.env}]".replace("%", "%%")
    if setting.options:
        help_text = f"{{{','.join(setting.options)}}} " + help_text
    flags = [setting.flag] if setting.short is None else [setting.short, setting.flag]
    if setting.kind == "positional":
        group.add_argument(setting.name, nargs="?", metavar=setting.metavar, help=help_text)
    elif setting.kind == "toggle":
        group.add_argument(
            *flags, dest=setting.name, action=argparse.BooleanOptionalAction, help=help_text
        )
    elif setting.kind == "switch":
        group.add_argument(*flags, dest=setting.name, action="store_true", help=help_text)
    elif setting.kind == "append":
        group.add_argument(
            *flags, dest=setting.name, action="append", metavar=setting.metavar, help=help_text
        )
    else:
        metavar = setting.metavar or setting.name.upper()
        group.add_argument(*flags, dest=setting.name, metavar=metavar, help=help_text)


def parse_config(argv: list[str] | None = None) -> Config:
    """Flags, then MYPKG_* variables and the --config file, into one validated Config."""
    args = build_parser().parse_args(argv)
    return Config.from_sources(vars(args))


def serve(config: Config, reread: Callable[[], Config] | None = None) -> int:
    """Serve in this process, or run mypkg's master when --workers is given or --reload.

    ``reread`` loads the settings again from their sources (the master calls it on SIGHUP).
    """
    config.check()
    if wants_supervisor(config):
        return supervise(config, reread)
    refuse_master_settings(config)
    Server(config).run()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_config(argv)
        configure_logging(
            config.log_level,
            config.access_log,
            config.log_config,
            config.use_colors,
            config.log_format,
        )
        return serve(config, reread=lambda: parse_config(argv))
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
