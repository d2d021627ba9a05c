"""The setting descriptor: one declaration, every surface.

A ``Setting`` knows its command-line flags, ``MYPKG_*`` variables, TOML key, help, parser and
what uvicorn calls it. The declarations themselves are in ``mypkg/config/settings/``; the
sources that feed them in ``mypkg/config/sources.py`` (environment, files) and ``argv.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

from mypkg.config.values import Parser
from mypkg.errors import ConfigError

T = TypeVar("T")
Kind = Literal["value", "toggle", "switch", "append", "positional"]

ENV_PREFIX = "MYPKG_"
UVICORN_PREFIX = "UVICORN_"


# --------------------------------------------------------------------------- the descriptor

SETTINGS: dict[str, Setting[Any]] = {}
ALIASES: dict[str, str] = {}  # another name of a setting -> the setting's name


@dataclass(frozen=True)
class Uvicorn:
    """uvicorn has this setting: its flag and click parameter when they differ from ours, and
    what differs in meaning. From it come docs/migrating-from-uvicorn.md and the UVICORN_*
    variable read (with a deprecation note) by the command line."""

    flag: str = ""  # uvicorn's flag, when it is not the setting's own
    param: str = ""  # uvicorn's click parameter name (its UVICORN_* variable), if not the name
    note: str = ""
    refused: tuple[str, ...] = ()  # values of uvicorn's that mypkg does not take (see note)


class Setting(Generic[T]):
    """One setting: a typed attribute of ``Config`` that knows its every surface."""

    def __init__(
        self,
        default: T,
        parse: Parser[T],
        help: str,
        *,
        kind: Kind = "value",
        short: str | None = None,
        metavar: str | None = None,
        example: object = None,
        in_file: bool = True,
        flag: str | None = None,
        aliases: tuple[str, ...] = (),
        env_aliases: tuple[str, ...] = (),
        uvicorn: Uvicorn | None = None,
    ) -> None:
        self.default = default
        self.parse = parse
        self.help = help
        self.kind = kind
        self.short = short
        self.metavar = metavar
        self.example = example
        self.in_file = in_file
        self._flag = flag  # when the familiar flag is not the name (uvicorn's --header)
        self.aliases = aliases  # other names: each is a flag, a MYPKG_* variable and a key too
        self.env_aliases = env_aliases  # variables other servers read (WEB_CONCURRENCY), last
        self.uvicorn = uvicorn
        self.name = ""
        self.section = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.section = getattr(owner, "section", "")
        SETTINGS[name] = self
        ALIASES.update(dict.fromkeys(self.aliases, name))

    @property
    def flag(self) -> str:
        return self._flag or "--" + self.name.replace("_", "-")

    @property
    def flags(self) -> list[str]:
        """Every long flag: the setting's own, then its aliases'."""
        return [self.flag, *("--" + alias.replace("_", "-") for alias in self.aliases)]

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def uvicorn_env(self) -> str | None:
        """The UVICORN_* variable uvicorn reads for this setting, if uvicorn has it."""
        if self.uvicorn is None:
            return None
        return UVICORN_PREFIX + (self.uvicorn.param or self.name).upper()

    def environment_names(self, foreign: bool) -> list[str]:
        """The variables read for this setting, first found wins: MYPKG_* (and the aliases'),
        then, with ``foreign``, UVICORN_* and the other servers' (WEB_CONCURRENCY)."""
        names = [self.env, *(ENV_PREFIX + alias.upper() for alias in self.aliases)]
        if foreign:
            names += [name for name in (self.uvicorn_env,) if name] + list(self.env_aliases)
        return names

    @property
    def options(self) -> tuple[str, ...] | None:
        return getattr(self.parse, "options", None)

    @overload
    def __get__(self, obj: None, owner: type) -> Setting[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Setting[T] | T:
        if obj is None:
            return self
        value: T = obj.__dict__.get(self.name, self.default)
        return value

    def __set__(self, obj: object, value: object) -> None:
        obj.__dict__[self.name] = self.convert(value, Origin("argument"))

    def convert(self, value: object, origin: Origin) -> T:
        """Parse and validate, naming where the bad value came from."""
        try:
            return self.parse(value)
        except ValueError as exc:
            raise ConfigError(f"{origin.describe(self)}: {exc}") from None


@dataclass(frozen=True)
class Origin:
    """Where a value came from, so that an error names the flag, variable or file key."""

    source: Literal["cli", "env", "file", "argument"]
    path: str = ""  # the file, or the environment variable

    def describe(self, setting: Setting[Any]) -> str:
        if self.source == "cli":
            return setting.flag if setting.kind != "positional" else setting.name.upper()
        if self.source == "env":
            return self.path or setting.env
        if self.source == "file":
            return f"{setting.name} (in {self.path})"
        return f"{setting.name}="


def apply(target: object, values: Mapping[str, object], origin: Origin) -> None:
    """Set each value on ``target`` through its setting; unknown names are an error."""
    for key, value in values.items():
        name = key.replace("-", "_")
        name = ALIASES.get(name, name)
        setting = SETTINGS.get(name)
        if setting is None or (origin.source == "file" and not setting.in_file):
            where = f" in {origin.path}" if origin.path else ""
            raise ConfigError(f"unknown setting {key!r}{where}")
        target.__dict__[name] = setting.convert(value, origin)
