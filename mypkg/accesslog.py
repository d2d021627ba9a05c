"""The access log line, in Gunicorn's format atoms, shared by every way of running mypkg.

A format such as ``%(h)s "%(r)s" %(s)s %({x-request-id}i)s`` is compiled once per server into the
list of atoms it uses, each with a small function that computes it from a finished request. Only
those atoms are computed, and only when the access logger is on: the request cycle does no work at
all for a log that is off. The line is formatted by ``logging`` (``format % atoms``), so a handler
that drops the record never pays for the string.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypkg.http.cycle import RequestCycle

access_logger = logging.getLogger("mypkg.access")
error_logger = logging.getLogger("mypkg.error")

# Gunicorn's default is Apache's combined format; mypkg's own default keeps its timestamp to the
# log handler (whose prefix already has one) and adds the request duration in seconds.
GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
DEFAULT_FORMAT = '%(h)s - "%(r)s" %(s)s %(b)s %(L)ss'

Getter = Callable[["RequestCycle", float], object]

_ATOM = re.compile(r"%\(([^)]*)\)")
# Client-controlled text is escaped so that a line cannot be forged or broken: quotes and
# backslashes get a backslash, control characters become \xHH (as Apache does).
_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", 0x7F: "\\x7f"}
_ESCAPES.update({code: f"\\x{code:02x}" for code in range(32)})


def _text(value: bytes | str) -> str:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return text.translate(_ESCAPES)


def _path(cycle: RequestCycle) -> str:
    """The path as the client sent it, without the root_path the server put in front."""
    state = cycle.conn.state
    path: str = cycle.scope["path"]
    if state.root_path and path.startswith(state.root_path):
        path = path[len(state.root_path) :]
    return path


def _raw_target(cycle: RequestCycle) -> str:
    scope = cycle.scope
    raw: bytes = scope["raw_path"]
    state = cycle.conn.state
    if state.root_path and raw.startswith(state.root_path_bytes):
        raw = raw[len(state.root_path_bytes) :]
    if scope["query_string"]:
        raw += b"?" + scope["query_string"]
    return _text(raw)


def _request_line(cycle: RequestCycle, elapsed: float) -> str:
    scope = cycle.scope
    return f"{scope['method']} {_raw_target(cycle)} HTTP/{scope['http_version']}"


def _client_host(cycle: RequestCycle, elapsed: float) -> str:
    client = cycle.scope["client"]
    return str(client[0]) if client else "-"


def _request_header(cycle: RequestCycle, name: bytes) -> str | None:
    values = [value for key, value in cycle.scope["headers"] if key == name]
    return _text(b", ".join(values)) if values else None


def _response_header(cycle: RequestCycle, name: bytes) -> str | None:
    values = [value for key, value in cycle.headers if key.lower() == name]
    if not values:  # Server, Date and --header values, unless the app set its own
        values = [value for key, value in cycle.conn.state.default_header_list if key == name]
    return _text(b", ".join(values)) if values else None


def _user(cycle: RequestCycle, elapsed: float) -> str:
    """The user name of HTTP Basic authentication, as Gunicorn's ``%(u)s`` gives it."""
    auth = _request_header(cycle, b"authorization")
    if not auth or auth[:6].lower() != "basic ":
        return "-"
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "-"
    return _text(decoded.split(":", 1)[0]) or "-"


def _header_atom(lookup: Callable[[RequestCycle, bytes], str | None], name: str) -> Getter:
    key = name.lower().encode("latin-1")

    def get(cycle: RequestCycle, elapsed: float) -> str:
        return lookup(cycle, key) or "-"

    return get


def _dash(cycle: RequestCycle, elapsed: float) -> str:
    return "-"


def _method(cycle: RequestCycle, elapsed: float) -> str:
    return str(cycle.scope["method"])


def _path_atom(cycle: RequestCycle, elapsed: float) -> str:
    return _text(_path(cycle))


def _query(cycle: RequestCycle, elapsed: float) -> str:
    return _text(cycle.scope["query_string"])


def _protocol(cycle: RequestCycle, elapsed: float) -> str:
    return "HTTP/" + str(cycle.scope["http_version"])


def _status(cycle: RequestCycle, elapsed: float) -> int | None:
    return cycle.status


def _bytes(cycle: RequestCycle, elapsed: float) -> int:
    return cycle.bytes_sent


def _bytes_text(cycle: RequestCycle, elapsed: float) -> str:
    return str(cycle.bytes_sent)


def _referer(cycle: RequestCycle, elapsed: float) -> str:
    return _request_header(cycle, b"referer") or "-"


def _user_agent(cycle: RequestCycle, elapsed: float) -> str:
    return _request_header(cycle, b"user-agent") or "-"


def _seconds(cycle: RequestCycle, elapsed: float) -> int:
    return int(elapsed)


def _milliseconds(cycle: RequestCycle, elapsed: float) -> int:
    return int(elapsed * 1e3)


def _microseconds(cycle: RequestCycle, elapsed: float) -> int:
    return int(elapsed * 1e6)


def _decimal_seconds(cycle: RequestCycle, elapsed: float) -> str:
    return f"{elapsed:.6f}"


# Fixed atoms, as Gunicorn documents them. ``t`` and ``p`` are bound per AccessLog (a cached
# clock, the worker's pid); the {name}i, {name}o and {name}e atoms are built on demand.
ATOMS: dict[str, tuple[str, Getter]] = {
    "h": ("remote address", _client_host),
    "l": ("'-'", _dash),
    "u": ("user name (HTTP Basic authentication)", _user),
    "t": ("date of the request, [10/Oct/2000:13:55:36 -0700]", _dash),
    "r": ("request line", _request_line),
    "m": ("request method", _method),
    "U": ("URL path without query string", _path_atom),
    "q": ("query string", _query),
    "H": ("protocol", _protocol),
    "s": ("status", _status),
    "B": ("response body length (integer)", _bytes),
    "b": ("response body length", _bytes_text),
    "f": ("referer", _referer),
    "a": ("user agent", _user_agent),
    "T": ("request time in seconds (integer)", _seconds),
    "M": ("request time in milliseconds (integer)", _milliseconds),
    "D": ("request time in microseconds (integer)", _microseconds),
    "L": ("request time in decimal seconds", _decimal_seconds),
    "p": ("process id, as <1234>", _dash),
}


def _server_part(index: int) -> Getter:
    def get(cycle: RequestCycle, elapsed: float) -> str:
        server = cycle.scope["server"]
        return str(server[index]) if server else "-"

    return get


def _client_port(cycle: RequestCycle, elapsed: float) -> str:
    client = cycle.scope["client"]
    return str(client[1]) if client else "-"


def _script_name(cycle: RequestCycle, elapsed: float) -> str:
    return _text(cycle.scope["root_path"]) or "-"


def _raw_uri(cycle: RequestCycle, elapsed: float) -> str:
    return _raw_target(cycle)


def _scheme(cycle: RequestCycle, elapsed: float) -> str:
    return str(cycle.scope["scheme"])


# ``%({NAME}e)s``: the request's CGI/WSGI variables (what Gunicorn's environ holds), else the
# process environment variable NAME.
_CGI: dict[str, Getter] = {
    "remote_addr": _client_host,
    "remote_port": _client_port,
    "server_name": _server_part(0),
    "server_port": _server_part(1),
    "request_method": _method,
    "script_name": _script_name,
    "path_info": _path_atom,
    "query_string": _query,
    "server_protocol": _protocol,
    "raw_uri": _raw_uri,
    "wsgi.url_scheme": _scheme,
}


def atom_names(fmt: str) -> list[str]:
    """The atoms a format uses, in order, each once."""
    return list(dict.fromkeys(_ATOM.findall(fmt)))


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


class AccessLog:
    """One server's compiled access log format: the atoms it needs and how to compute each."""

    __slots__ = ("_second", "_stamp", "format", "getters", "logger")

    def __init__(self, fmt: str, logger: logging.Logger = access_logger) -> None:
        self.format = fmt
        self.logger = logger
        self._second = -1
        self._stamp = ""
        self.getters = tuple((name, self._getter(name)) for name in atom_names(fmt))

    def log(self, cycle: RequestCycle) -> None:
        """Write the line for a finished request (called only while the access log is on)."""
        elapsed = time.perf_counter() - cycle.start_time
        self.logger.info(self.format, {name: get(cycle, elapsed) for name, get in self.getters})

    def _getter(self, name: str) -> Getter:
        if name == "t":
            return self._timestamp
        if name == "p":
            pid = f"<{os.getpid()}>"
            return lambda cycle, elapsed: pid
        if name in ATOMS:
            return ATOMS[name][1]
        if name.startswith("{") and name[-2:-1] == "}" and name[-1] in "ioe":
            inner, kind = name[1:-2], name[-1]
            if kind == "i":
                return _header_atom(_request_header, inner)
            if kind == "o":
                return _header_atom(_response_header, inner)
            return self._variable(inner)
        error_logger.warning("access_log_format: unknown atom %%(%s)s is logged as '-'", name)
        return lambda cycle, elapsed: "-"

    @staticmethod
    def _variable(name: str) -> Getter:
        lowered = name.lower()
        cgi = _CGI.get(lowered)
        if cgi is not None:
            return cgi
        if lowered.startswith("http_"):
            return _header_atom(_request_header, lowered[5:].replace("_", "-"))
        value = next((v for k, v in os.environ.items() if k.lower() == lowered), "-")
        return lambda cycle, elapsed: value

    def _timestamp(self, cycle: RequestCycle, elapsed: float) -> str:
        """Apache's [day/month/year:hh:mm:ss zone], formatted at most once a second."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second))
        return self._stamp
