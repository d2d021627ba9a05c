"""Response bytes: status lines, head serialisation, chunk framing, canned error responses.

Both parsers share this one writer; only parsing differs between the HTTP backends.
"""

from __future__ import annotations

import http
import re

LAST_CHUNK = b"0\r\n\r\n"
LAST_CHUNK_LINE = b"0\r\n"  # before a trailer section
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\n"

# A header value may not smuggle a line break or NUL onto the wire (RFC 9110 §5.5).
INVALID_VALUE = re.compile(rb"[\x00\r\n]")
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
