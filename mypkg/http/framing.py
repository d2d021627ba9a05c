"""Response bytes: status lines, head serialisation, chunk framing, canned error responses.

Both parsers share this one writer; only parsing differs between the HTTP backends.
"""

from __future__ import annotations

import http
import re
from typing import TypeGuard

LAST_CHUNK = b"0\r\n\r\n"
LAST_CHUNK_LINE = b"0\r\n"  # before a trailer section
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\n"

# A field value is visible characters, obs-text, spaces and tabs (RFC 9110 §5.5): any other
# control character (CR, LF and NUL, which would smuggle lines, but also ESC, DEL, VT...) must
# not reach the wire. One precompiled search over the values joined: the cost of the old check.
INVALID_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _status_line(status: int) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("ascii"))


STATUS_LINES = {int(status): _status_line(int(status)) for status in http.HTTPStatus}

# Names an app sends over and over: validated and lowercased once, then looked up.
_NAME_CACHE: dict[bytes, bytes] = {}


def header_name(name: bytes) -> bytes:
    """The lowercased name, or ValueError/TypeError if it is not a valid header name."""
    lowered = _NAME_CACHE.get(name)
    if lowered is not None:
        return lowered
    if not isinstance(name, bytes):
        raise TypeError(f"response header names must be bytes, got {name!r}")
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"invalid response header name {name!r}")
    lowered = name.lower()
    if len(_NAME_CACHE) < 512:
        _NAME_CACHE[name] = lowered
    return lowered


def valid_status(status: object) -> TypeGuard[int]:
    """A final status code an app may send: 200-599 (RFC 9110 §15; 1xx have their extensions)."""
    return isinstance(status, int) and not isinstance(status, bool) and 200 <= status <= 599


def status_line(status: int) -> bytes:
    line = STATUS_LINES.get(status)
    return line if line is not None else _status_line(status)


def response_head(status: int, defaults: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    parts = [status_line(status), defaults]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


def error_response(status: int, defaults: bytes, message: str = "") -> bytes:
    """A complete plain-text response that closes the connection."""
    body = (message or http.HTTPStatus(status).phrase).encode("utf-8") + b"\n"
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return response_head(status, defaults, headers) + body
