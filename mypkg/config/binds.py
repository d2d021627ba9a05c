"""What a ``--bind`` value means: a TCP address, a UNIX socket path or an inherited descriptor.

Parsing is kept apart from binding (sockets.py) so that a bad value is refused while the settings
are read, with the flag named, before anything binds or forks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

BIND_FORMS = "HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N"


@dataclass(frozen=True)
class BindTarget:
    """One place to listen. ``host`` has no brackets; ``port`` is 0 for 'any free port'."""

    kind: Literal["tcp", "unix", "fd"]
    host: str = ""
    port: int = 0
    path: str = ""
    fd: int = -1

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "fd":
            return f"fd://{self.fd}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_bind(value: str) -> BindTarget:
    """``HOST:PORT``, ``[::1]:PORT``, ``unix:PATH`` or ``fd://N``; ValueError says what is wrong."""
    value = value.strip()
    if value.startswith("unix:"):
        path = value[5:]
        if not path:
            raise ValueError(f"'unix:' needs a path, e.g. unix:/run/app.sock; got {value!r}")
        return BindTarget("unix", path=path)
    if value.startswith("fd://"):
        digits = value[5:]
        if not digits.isdigit():
            raise ValueError(f"'fd://' needs a descriptor number, e.g. fd://3; got {value!r}")
        return BindTarget("fd", fd=int(digits))
    host, port = _split_host_port(value)
    return BindTarget("tcp", host=host, port=port)


def _split_host_port(value: str) -> tuple[str, int]:
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"expected [IPv6]:PORT, got {value!r}")
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"not an IPv6 address: {host!r} (in {value!r})") from None
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep or not host:
            raise ValueError(f"expected {BIND_FORMS}; got {value!r}")
        if ":" in host:
            raise ValueError(f"put an IPv6 address in brackets, e.g. [::1]:8000; got {value!r}")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"expected a port from 0 to 65535 after the last ':', got {value!r}")
    return host, int(port_text)


def bind_address(value: object) -> BindTarget:
    """Setting parser for one ``--bind`` value (TOML and Python may pass a BindTarget)."""
    if isinstance(value, BindTarget):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected {BIND_FORMS}; got {value!r}")
    return parse_bind(value)


class FileMode(int):
    """A permission mode that reads back in octal (``0o660``) in help, docs and errors."""

    def __str__(self) -> str:
        return f"0o{self:o}"

    __repr__ = __str__


def file_mode(value: object) -> FileMode:
    """Octal, as chmod takes it: ``660``, ``0660`` or ``0o660`` (a TOML int is taken as is)."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        try:
            mode = int(text, 8)
        except ValueError:
            raise ValueError(f"expected an octal file mode such as 660, got {value!r}") from None
    else:
        raise ValueError(f"expected an octal file mode such as 660, got {value!r}")
    if not 0 <= mode <= 0o777:
        hint = f' (in TOML write 0o{value} or "{value}")' if isinstance(value, int) else ""
        raise ValueError(f"expected a file mode from 0o000 to 0o777, got {value!r}{hint}")
    return FileMode(mode)
