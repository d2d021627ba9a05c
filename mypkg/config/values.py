"""Parsers for setting values, shared by every surface (CLI, environment, TOML, Python).

A parser takes a string (CLI, environment) or a native value (TOML, Python) and returns the
validated value, or raises ValueError with a message that reads well after the setting's name.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import ssl
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
Parser = Callable[[object], T]

# RFC 9110: a field name is a token (§5.1); a value is Latin-1 text without control characters
# other than HTAB (§5.5), the same rule the response writer enforces on the app's headers.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[^\x00-\x08\x0a-\x1f\x7f]*")


def text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    raise ValueError(f"expected true or false, got {value!r}")


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser[int]:
    def parse(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"expected an integer, got {value!r}")
        try:
            number = int(value, 0) if isinstance(value, str) else value
        except ValueError:
            raise ValueError(f"expected an integer, got {value!r}") from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise ValueError(f"expected an integer {_range_text(minimum, maximum)}, got {number}")
        return number

    return parse


def number(minimum: float | None = None) -> Parser[float]:
    def parse(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            result = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if result != result or (minimum is not None and result < minimum):
            raise ValueError(f"expected a number {_range_text(minimum, None)}, got {value!r}")
        return result

    return parse


def octal(value: object) -> int:
    """A file mode mask such as a umask: ``"022"``/``"0o22"`` are octal; a TOML integer is as is."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value.strip().lower().removeprefix("0o") or "x", 8)
        except ValueError:
            raise ValueError(f"expected an octal mode such as 022, got {value!r}") from None
    else:
        raise ValueError(f"expected an octal mode such as 022, got {value!r}")
    if not 0 <= number <= 0o777:
        raise ValueError(f"expected a mode from 000 to 777, got {oct(number)}")
    return number


def choice(*options: str) -> Parser[str]:
    def parse(value: object) -> str:
        if value not in options:
            close = difflib.get_close_matches(str(value), options, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"expected one of {', '.join(options)}; got {value!r}{hint}")
        return str(value)

    parse.options = options  # type: ignore[attr-defined]
    return parse


def optional(inner: Parser[T]) -> Parser[T | None]:
    """None stays None; an empty string (e.g. ``MYPKG_UDS=``) means "not set"."""

    def parse(value: object) -> T | None:
        if value is None or value == "":
            return None
        return inner(value)

    parse.options = getattr(inner, "options", None)  # type: ignore[attr-defined]
    return parse


def listing(item: Parser[T]) -> Parser[list[T]]:
    """A list; from a string (environment) the items are comma-separated."""

    def parse(value: object) -> list[T]:
        if isinstance(value, str):
            items: Iterable[object] = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            raise ValueError(f"expected a list, got {value!r}")
        return [item(each) for each in items]

    return parse


def header(value: object) -> tuple[str, str]:
    """``NAME:VALUE`` for a default response header."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        name, _, content = str(value[0]), ":", str(value[1])
    else:
        name, sep, content = text(value).partition(":")
        if not sep:
            raise ValueError(f"expected NAME:VALUE, got {value!r}")
    name, content = name.strip(), content.strip()
    if not _TOKEN.fullmatch(name) or not _field_value(content):
        raise ValueError(
            f"not a valid header NAME:VALUE (a token, then Latin-1 text without control"
            f" characters): {value!r}"
        )
    return name, content


def _field_value(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return _FIELD_VALUE.fullmatch(text) is not None


def address_list(value: object) -> list[str]:
    """IP addresses, CIDR networks, ``*`` or ``unix:``, validated at startup."""
    entries = listing(text)(value)
    parse_peers(entries)  # the one parser of these entries; raises ValueError naming the bad one
    return entries


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"from {minimum} to {maximum}"
    if minimum is not None:
        return f">= {minimum}"
    return f"<= {maximum}"


# --------------------------------------------------------------------------- TLS

MIN_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# uvicorn and Gunicorn take an ssl.PROTOCOL_* number; those that negotiate the best version
# mean our default. PROTOCOL_TLSv1 (3) and PROTOCOL_TLSv1_1 (4) are refused, not weakened to.
_PROTOCOL_NUMBERS = {2: "TLSv1.2", 5: "TLSv1.2", 16: "TLSv1.2", 17: "TLSv1.2"}
CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def tls_version(value: object) -> str:
    """``TLSv1.2`` or ``TLSv1.3`` (the minimum), or an ssl.PROTOCOL_* number as uvicorn takes."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value in _PROTOCOL_NUMBERS:
            return _PROTOCOL_NUMBERS[value]
        raise ValueError(f"ssl.PROTOCOL_* number {value} is not supported: use TLSv1.2 or TLSv1.3")
    if value in MIN_VERSIONS:
        return str(value)
    raise ValueError(f"expected TLSv1.2 or TLSv1.3, got {value!r}")


tls_version.options = tuple(MIN_VERSIONS)  # type: ignore[attr-defined]


def cert_reqs(value: object) -> str:
    """``none``, ``optional`` or ``required``; uvicorn's and Gunicorn's 0, 1, 2 mean the same."""
    names = list(CERT_REQS)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if value in CERT_REQS:
        return str(value)
    raise ValueError(f"expected none, optional or required (or 0, 1, 2), got {value!r}")


cert_reqs.options = tuple(CERT_REQS)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the access log

# mypkg's default access line (mypkg/accesslog.py compiles it): client address:port as uvicorn
# shows it, request line, status, body bytes, milliseconds.
DEFAULT_FORMAT = '%(client)s - "%(r)s" %(s)s %(b)s %(M)sms'


def check_format(value: object) -> str:
    """The Setting parser: a format string that ``%`` accepts with any atom values."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")

    class Zeros(dict[str, int]):
        def __missing__(self, key: str) -> int:
            return 0

    try:
        value % Zeros()
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(
            f"not a valid access log format ({exc}); atoms look like %(h)s, a literal % is %%"
        ) from None
    return value


# --------------------------------------------------------------------------- proxies

XFORWARDED, FORWARDED = "xforwarded", "forwarded"
PROXY_MODES = (XFORWARDED, FORWARDED)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_peers(entries: Iterable[str]) -> tuple[bool, bool, set[str], list[Network]]:
    """``--forwarded-allow-ips`` entries as (everyone, UNIX peers, single hosts, networks).

    The one parser of these entries: the setting validates with it, and the runtime's
    ``TrustedPeers`` (mypkg/middleware/proxy_headers.py) is built from its result.
    """
    always = unix = False
    hosts: set[str] = set()
    networks: list[Network] = []
    for entry in entries:
        if not entry:
            continue
        if entry == "*":
            always = unix = True
        elif entry == "unix:":
            unix = True
        else:
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address, network, '*' or 'unix:': {entry!r}") from None
            if network.num_addresses == 1:
                hosts.add(str(network.network_address))
            else:
                networks.append(network)
    return always, unix, hosts, networks
