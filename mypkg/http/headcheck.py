"""The verdict on a parsed HTTP/1 request head: refused (with its status) or how it is framed.

Both parsers hand every head here before anything else looks at it: the rules that keep
request smuggling out (RFC 9112 §6.1, §6.3: one Content-Length, digits only, below 2^64; only
``chunked`` as Transfer-Encoding, never with Content-Length, never in HTTP/1.0; exactly one
Host), the HTTP version, the request target, and the body limit. A pure function of its inputs:
no connection, no parser, no I/O; tests/http/test_headcheck.py holds the table.
"""

from __future__ import annotations

from mypkg.errors import ProtocolError

Headers = list[tuple[bytes, bytes]]
# (keep_alive, upgrade, expect_100, length, chunked, raw_path, query): a plain tuple, the
# cheapest thing to build and take apart once per request.
Verdict = tuple[bool, bool, bool, int, bool, bytes, bytes]

_SPECIAL = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade")
)


def check_head(
    method: str, target: bytes, version: str, headers: Headers, body_limit: int | None
) -> Verdict:
    """How the request is framed and whether it keeps the connection; ProtocolError (whose
    status is the answer: 400, 413, 505) when it must be refused. ``headers`` are lowercased."""
    if version != "1.1" and version != "1.0":
        if version == "0.9":  # llhttp reads "GET /" as 0.9: not an HTTP/1 request line
            raise ProtocolError(400, "HTTP/0.9 requests are not supported")
        raise ProtocolError(505, f"HTTP version {version} is not supported")
    keep_alive = version == "1.1"
    expect_100 = upgrade = chunked = False
    hosts = 0
    length: int | None = None
    for name, value in headers:
        if name in _SPECIAL:
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                if length is not None or not value.isdigit():
                    raise ProtocolError(400, "invalid or repeated Content-Length")
                if len(value) > 19 and _out_of_range(value):
                    raise ProtocolError(400, "Content-Length out of range")
                length = int(value)
            elif name == b"transfer-encoding":
                if chunked or value.strip().lower() != b"chunked":
                    raise ProtocolError(400, "unsupported Transfer-Encoding")
                if version == "1.0":  # RFC 9112 §6.1: faulty framing
                    raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
                chunked = True
            elif name == b"connection":
                value = value.lower()
                if value == b"keep-alive":  # what most clients send: no list to take apart
                    keep_alive = True
                    continue
                tokens = {token.strip() for token in value.split(b",")}
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
                upgrade = upgrade or b"upgrade" in tokens
            elif name == b"expect":
                expect_100 = value.lower() == b"100-continue" and version == "1.1"
    if chunked and length is not None:
        raise ProtocolError(400, "both Content-Length and Transfer-Encoding")
    if length and body_limit is not None and length > body_limit:
        raise ProtocolError(413, "request body too large")  # before the app, before a 100
    if hosts != 1 and (version == "1.1" or hosts > 1):
        raise ProtocolError(400, "a request needs exactly one Host header")
    if target[:1] == b"/" and b"#" not in target:  # origin form, the usual case
        raw_path, _, query = target.partition(b"?")
    else:
        raw_path, query = split_target(target)
        if raw_path == b"*" and method != "OPTIONS":  # RFC 9112 §3.2.4
            raise ProtocolError(400, "asterisk-form target is for OPTIONS only")
    return keep_alive, upgrade, expect_100, length or 0, chunked, raw_path, query


def _out_of_range(digits: bytes) -> bool:
    """A Content-Length of 2^64 or more, as llhttp refuses it, or of more than 20 digits, as h11
    refuses it even with leading zeros: one rule on both backends, and int() stays cheap."""
    return len(digits) > 20 or int(digits) >> 64 != 0


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Path and query of an origin-form or absolute-form request target (no fragment)."""
    if target.find(b"#") != -1:  # not `in`: see docs/architecture.md
        target = target.partition(b"#")[0]
    if not target.startswith(b"/"):
        if target == b"*":
            return target, b""
        scheme_end = target.find(b"://")
        if scheme_end <= 0:
            raise ProtocolError(400, "invalid request target")
        authority = scheme_end + 3
        ends = (target.find(b"/", authority), target.find(b"?", authority))
        target = target[min((end for end in ends if end != -1), default=len(target)) :]
        if not target.startswith(b"/"):
            target = b"/" + target  # "http://host" or "http://host?query"
    path, _, query = target.partition(b"?")
    return path, query
