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
from typing import Any, Protocol

from mypkg.asgi import Scope, path_info
from mypkg.config.values import DEFAULT_FORMAT

access_logger = logging.getLogger("mypkg.access")
error_logger = logging.getLogger("mypkg.error")

# Gunicorn's default is Apache's combined format. mypkg's own default is the line it always wrote
# (client address:port as uvicorn shows it, request line, status, body bytes, milliseconds) and
# leaves the timestamp to the log handler, whose prefix already has one (the setting's default,
# DEFAULT_FORMAT, is declared with the setting's parser in mypkg/config/values.py).
GUNICORN_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
# With mypkg's default format, a WebSocket handshake gets uvicorn's WebSocket line (the one mypkg
# always wrote); any other --access-log-format applies to WebSocket handshakes as it is.
WEBSOCKET_DEFAULT_FORMAT = '%(client)s - "WebSocket %(websocket_target)s" %(s)s'


class _Server(Protocol):
    @property
    def default_header_list(self) -> list[tuple[bytes, bytes]]: ...


class _Connection(Protocol):
    @property
    def state(self) -> _Server: ...


class Exchange(Protocol):
    """What an access line is computed from: a finished HTTP request cycle, or a WebSocket
    handshake's answer (``scope`` is the HTTP scope of the upgrade request)."""

    @property
    def scope(self) -> Scope: ...
    @property
    def conn(self) -> _Connection: ...
    @property
    def status(self) -> int | None: ...
    @property
    def bytes_sent(self) -> int: ...
    @property
    def headers(self) -> list[tuple[bytes, bytes]]: ...
    @property
    def start_time(self) -> float: ...


Getter = Callable[[Exchange, float], object]

_ATOM = re.compile(r"%\(([^)]*)\)")
# Client-controlled text is escaped so that a line cannot be forged, broken or disguised on a
# terminal: quotes and backslashes get a backslash, and every character Python does not call
# printable (C0 and C1 controls such as the 8-bit CSI U+009B, DEL, bidi overrides such as U+202E,
# separators other than the space) becomes \xHH, \uHHHH or \UHHHHHHHH (as Apache does for bytes).
_QUOTES = {ord('"'): '\\"', ord("\\"): "\\\\"}


def escape(value: bytes | str) -> str:
    """Text for a log line; bytes are read as latin-1. Three C-speed scans in the usual case."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if text.isprintable():
        return text.translate(_QUOTES) if '"' in text or "\\" in text else text
    return "".join(ch if ch.isprintable() else _escaped(ord(ch)) for ch in text.translate(_QUOTES))


def _escaped(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


# --------------------------------------------------------------------------- the request, by scope
# Plain values computed from an ASGI scope; the Gunicorn worker's request hooks use them too.


def raw_uri(scope: Scope) -> str:
    """The request target as the client sent it."""
    raw: bytes = scope["raw_path"]
    root = scope["root_path"].encode("latin-1")
    if root and raw.startswith(root):
        raw = raw[len(root) :]
    if scope["query_string"]:
        raw += b"?" + scope["query_string"]
    return raw.decode("latin-1")


def request_header(scope: Scope, name: bytes) -> str | None:
    """A request header (lowercase name); repeated fields joined with ', '."""
    values = [value for key, value in scope["headers"] if key == name]
    return b", ".join(values).decode("latin-1") if values else None


def _address_part(key: str, index: int) -> Callable[[Scope], str]:
    def get(scope: Scope) -> str:
        address = scope[key]
        return str(address[index]) if address else ""

    return get


# What Gunicorn's WSGI environ holds, for %({NAME}e)s and for post_request's environ.
CGI: dict[str, Callable[[Scope], str]] = {
    "REMOTE_ADDR": _address_part("client", 0),
    "REMOTE_PORT": _address_part("client", 1),
    "SERVER_NAME": _address_part("server", 0),
    "SERVER_PORT": _address_part("server", 1),
    "REQUEST_METHOD": lambda scope: str(scope["method"]),
    "SCRIPT_NAME": lambda scope: str(scope["root_path"]),
    "PATH_INFO": path_info,
    "QUERY_STRING": lambda scope: bytes(scope["query_string"]).decode("latin-1"),
    "SERVER_PROTOCOL": lambda scope: "HTTP/" + str(scope["http_version"]),
    "RAW_URI": raw_uri,
    "wsgi.url_scheme": lambda scope: str(scope["scheme"]),
}


# --------------------------------------------------------------------------- the atoms


def _scope_atom(function: Callable[[Scope], str]) -> Getter:
    def get(cycle: Exchange, elapsed: float) -> str:
        return escape(function(cycle.scope)) or "-"

    return get


def _header_atom(name: str, response: bool) -> Getter:
    key = name.lower().encode("latin-1")

    def get(cycle: Exchange, elapsed: float) -> str:
        value = _response_header(cycle, key) if response else request_header(cycle.scope, key)
        return escape(value) if value is not None else "-"

    return get


def _response_header(cycle: Exchange, name: bytes) -> str | None:
    values = [value for key, value in cycle.headers if key.lower() == name]
    if not values:  # Server, Date and --header values, unless the app set its own
        values = [value for key, value in cycle.conn.state.default_header_list if key == name]
    return b", ".join(values).decode("latin-1") if values else None


def _request_line(cycle: Exchange, elapsed: float) -> str:
    scope = cycle.scope
    return f"{scope['method']} {escape(raw_uri(scope))} HTTP/{scope['http_version']}"


def _user(cycle: Exchange, elapsed: float) -> str:
    """The user name of HTTP Basic authentication, as Gunicorn's ``%(u)s`` gives it."""
    auth = request_header(cycle.scope, b"authorization")
    if not auth or auth[:6].lower() != "basic ":
        return "-"
    try:
        decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "-"
    return escape(decoded.split(":", 1)[0]) or "-"


def client_text(client: Any) -> str:
    """A client as a log line shows it: host:port, [IPv6]:port, or unix: for a UNIX-socket
    peer (whose ASGI client is None)."""
    if not client:
        return "unix:"
    host = str(client[0])
    return f"[{host}]:{client[1]}" if ":" in host else f"{host}:{client[1]}"


def _client(cycle: Exchange, elapsed: float) -> str:
    return escape(client_text(cycle.scope["client"]))


def _dash(cycle: Exchange, elapsed: float) -> str:
    return "-"


def _status(cycle: Exchange, elapsed: float) -> int | None:
    return cycle.status


def _bytes(cycle: Exchange, elapsed: float) -> int:
    return cycle.bytes_sent


def _bytes_text(cycle: Exchange, elapsed: float) -> str:
    return str(cycle.bytes_sent)


def _seconds(cycle: Exchange, elapsed: float) -> int:
    return int(elapsed)


def _milliseconds(cycle: Exchange, elapsed: float) -> int:
    return int(elapsed * 1e3)


def _microseconds(cycle: Exchange, elapsed: float) -> int:
    return int(elapsed * 1e6)


def _decimal_seconds(cycle: Exchange, elapsed: float) -> str:
    return f"{elapsed:.6f}"


# Fixed atoms, as Gunicorn documents them. ``t`` and ``p`` are bound per AccessLog (a cached
# clock, the worker's pid); the {name}i, {name}o and {name}e atoms are built on demand.
ATOMS: dict[str, tuple[str, Getter]] = {
    "h": ("remote address", _scope_atom(CGI["REMOTE_ADDR"])),
    "l": ("'-'", _dash),
    "u": ("user name (HTTP Basic authentication)", _user),
    "t": ("date of the request, [10/Oct/2000:13:55:36 -0700]", _dash),
    "r": ("request line", _request_line),
    "m": ("request method", _scope_atom(CGI["REQUEST_METHOD"])),
    "U": ("URL path without query string", _scope_atom(path_info)),
    "q": ("query string", _scope_atom(CGI["QUERY_STRING"])),
    "H": ("protocol", _scope_atom(CGI["SERVER_PROTOCOL"])),
    "s": ("status", _status),
    "B": ("response body length (integer)", _bytes),
    "b": ("response body length", _bytes_text),
    "f": ("referer", _header_atom("referer", response=False)),
    "a": ("user agent", _header_atom("user-agent", response=False)),
    "T": ("request time in seconds (integer)", _seconds),
    "M": ("request time in milliseconds (integer)", _milliseconds),
    "D": ("request time in microseconds (integer)", _microseconds),
    "L": ("request time in decimal seconds", _decimal_seconds),
    "p": ("process id, as <1234>", _dash),
    # mypkg's own: the client as uvicorn shows it, with an IPv6 address bracketed.
    "client": ("client as host:port, [IPv6]:port, or unix: for a UNIX-socket peer", _client),
}


def _websocket_target(cycle: Exchange, elapsed: float) -> str:
    """The decoded path and the query string, as uvicorn's WebSocket line shows them."""
    scope = cycle.scope
    path: str = scope["path"]
    if scope["query_string"]:
        path += "?" + scope["query_string"].decode("latin-1")
    return escape(path)


# Atoms of WEBSOCKET_DEFAULT_FORMAT only.
_WEBSOCKET_ATOMS: dict[str, Getter] = {"websocket_target": _websocket_target}


def atom_names(fmt: str) -> list[str]:
    """The atoms a format uses, in order, each once."""
    return list(dict.fromkeys(_ATOM.findall(fmt)))


class AccessLog:
    """One server's compiled access log format: the atoms it needs and how to compute each."""

    __slots__ = (
        "_second",
        "_stamp",
        "format",
        "getters",
        "headers",
        "logger",
        "request_id",
        "websocket_format",
        "websocket_getters",
    )

    def __init__(
        self,
        fmt: str,
        logger: logging.Logger = access_logger,
        headers: list[str] | None = None,
        request_id: bool = False,
    ) -> None:
        self.format = fmt
        self.logger = logger
        self.headers = tuple(name.lower().encode("latin-1") for name in headers or ())
        self.request_id = request_id
        self._second = -1
        self._stamp = ""
        self.getters = tuple((name, self._getter(name)) for name in atom_names(fmt))
        self.websocket_format, self.websocket_getters = fmt, self.getters
        if fmt == DEFAULT_FORMAT:
            self.websocket_format = WEBSOCKET_DEFAULT_FORMAT
            self.websocket_getters = tuple(
                (name, _WEBSOCKET_ATOMS.get(name) or self._getter(name))
                for name in atom_names(WEBSOCKET_DEFAULT_FORMAT)
            )

    def log(self, cycle: Exchange) -> None:
        """Write the line for a finished request (called only while the access log is on)."""
        elapsed = time.perf_counter() - cycle.start_time
        atoms = {name: get(cycle, elapsed) for name, get in self.getters}
        self.logger.info(self.format, atoms, extra=self.extras(cycle, elapsed))

    def extras(self, cycle: Exchange, elapsed: float) -> dict[str, object]:
        """The line's fields as LogRecord attributes (see mypkg.jsonlog.ACCESS_FIELDS); the
        JSON formatter escapes them, a user's formatter gets them as sent."""
        scope = cycle.scope
        client = scope["client"]
        extra: dict[str, object] = {
            "client": f"{client[0]}:{client[1]}" if client else None,
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode("latin-1"),
            "status": cycle.status,
            "bytes": cycle.bytes_sent,
            "duration_us": int(elapsed * 1e6),
            "user_agent": request_header(scope, b"user-agent"),
            "referer": request_header(scope, b"referer"),
        }
        if self.request_id:
            extra["request_id"] = scope["state"].get("request_id")
        if self.headers:
            extra["headers"] = {
                name.decode("latin-1"): request_header(scope, name) for name in self.headers
            }
        return extra

    def log_websocket(self, handshake: Exchange) -> None:
        """Write the line for an answered WebSocket handshake (101 or a refusal)."""
        elapsed = time.perf_counter() - handshake.start_time
        getters = self.websocket_getters
        self.logger.info(
            self.websocket_format, {name: get(handshake, elapsed) for name, get in getters}
        )

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
            if kind == "e":
                return self._variable(inner)
            return _header_atom(inner, response=kind == "o")
        error_logger.warning("access_log_format: unknown atom %%(%s)s is logged as '-'", name)
        return lambda cycle, elapsed: "-"

    @staticmethod
    def _variable(name: str) -> Getter:
        """A CGI variable of the request, an HTTP_* header, else the process environment's."""
        lowered = name.lower()
        for key, function in CGI.items():
            if key.lower() == lowered:
                return _scope_atom(function)
        if lowered.startswith("http_"):
            return _header_atom(lowered[5:].replace("_", "-"), response=False)
        value = next((v for k, v in os.environ.items() if k.lower() == lowered), "-")
        return lambda cycle, elapsed: value

    def _timestamp(self, cycle: Exchange, elapsed: float) -> str:
        """Apache's [day/month/year:hh:mm:ss zone], formatted at most once a second."""
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second))
        return self._stamp
