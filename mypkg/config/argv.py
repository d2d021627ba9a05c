"""The command line as a source of settings, generated from the declarations.

``mypkg-supervise [FLAGS] APP``: flags, help, did-you-mean and uvicorn's boolean spellings.
What is done with the settings (serve, supervise, exit codes) is mypkg/cli.py's job.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from mypkg import compiled
from mypkg.config.core import Config
from mypkg.config.descriptor import SETTINGS, Setting
from mypkg.version import __version__

PROG = "mypkg-supervise"


SYNOPSIS = """\
Serve an ASGI application (HTTP/1.1 and WebSockets) in one process, or under mypkg's own
pre-fork master with -w N. APP is 'module:attribute', e.g. main:app. Every flag has a MYPKG_*
environment variable and a TOML key (--config); uvicorn's flags are accepted as they are."""

EPILOG = """\
examples:
  mypkg-supervise main:app                            serve on http://127.0.0.1:8000
  mypkg-supervise main:app --host 0.0.0.0 --port 80   every interface, port 80
  mypkg-supervise -w 4 main:app                       four worker processes under a master
  mypkg-supervise --reload main:app                   development: restart on file changes
  mypkg-supervise --uds /run/app.sock main:app        behind nginx on a UNIX socket
  mypkg-supervise --config mypkg.toml                 settings from a file

exit codes:
  0  stopped normally (SIGTERM, SIGINT)
  2  a bad setting, flag, variable or file
  3  the application cannot be imported, or is not an ASGI application
  4  startup failed: lifespan startup, or a socket could not be bound
  (a worker that cannot boot stops the master with its code)

docs: README.md, docs/settings.md, docs/migrating-from-uvicorn.md"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}{self._suggestion(message)} (see --help)\n")

    def _suggestion(self, message: str) -> str:
        """For a mistyped flag: the closest one we know, as "did you mean"."""
        if not message.startswith("unrecognized arguments:"):
            return ""
        known = [flag for flag in self._option_string_actions if flag.startswith("--")]
        for word in message.split(":", 1)[1].split():
            if word.startswith("-"):
                close = difflib.get_close_matches(word.partition("=")[0], known, n=1)
                if close:
                    return f" (did you mean {close[0]}?)"
        return ""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        argv = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(spell_toggles(argv), namespace)


BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "on": True}
BOOLEAN_WORDS.update({"false": False, "0": False, "no": False, "off": False})


def spell_toggles(argv: list[str]) -> list[str]:
    """uvicorn's ``--ws-per-message-deflate false``: a toggle followed by a boolean word (or
    ``--toggle=word``) becomes ``--toggle`` or ``--no-toggle``. An APP is never a boolean word."""
    toggles = {flag for s in SETTINGS.values() if s.kind == "toggle" for flag in s.flags}
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        flag, eq, value = word.partition("=")
        if flag in toggles and not eq and i < len(argv) and argv[i].lower() in BOOLEAN_WORDS:
            value = argv[i]
            i += 1
        elif flag not in toggles or value.lower() not in BOOLEAN_WORDS:
            out.append(word)  # not ours to rewrite; argparse judges it
            continue
        out.append(flag if BOOLEAN_WORDS[value.lower()] else "--no-" + flag[2:])
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        usage="%(prog)s [FLAGS] APP",
        description=SYNOPSIS,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,  # else a new setting could make an old abbreviation ambiguous
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"mypkg {__version__} (Python {sys.version.split()[0]}, {compiled.flavour()})",
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
    flags = setting.flags if setting.short is None else [setting.short, *setting.flags]
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
    return Config.from_sources(vars(args), foreign=True)
