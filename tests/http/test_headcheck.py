"""The verdict on a parsed request head (mypkg/http/headcheck.py), as a table: inputs -> verdict
or status. Over the wire llhttp refuses most of these heads before mypkg's own check runs, so
without a direct test the check could rot unnoticed while httptools covers for it; h11 lets
many of them through to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mypkg import Config
from mypkg.errors import ProtocolError
from mypkg.http.headcheck import Headers, Verdict, check_head
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState
from tests.support import apps

HOST = (b"host", b"x")
CL, TE, CONN, EXPECT = b"content-length", b"transfer-encoding", b"connection", b"expect"

Case = tuple[str, bytes, str, Headers, int | None]


def head(version: str, *headers: tuple[bytes, bytes], method: str = "POST", target: bytes = b"/",
         limit: int | None = None) -> Case:  # fmt: skip
    """The inputs of one call of check_head."""
    return method, target, version, list(headers), limit


# name -> (inputs, status, a word of the reason)
REFUSED: dict[str, tuple[Case, int, str]] = {
    "cl-and-te": (head("1.1", HOST, (CL, b"5"), (TE, b"chunked")), 400, "both"),
    "te-and-cl": (head("1.1", HOST, (TE, b"chunked"), (CL, b"5")), 400, "both"),
    "te-twice": (head("1.1", HOST, (TE, b"chunked"), (TE, b"chunked")), 400, "Transfer"),
    "te-gzip": (head("1.1", HOST, (TE, b"gzip")), 400, "Transfer-Encoding"),
    "te-list": (head("1.1", HOST, (TE, b"gzip, chunked")), 400, "Transfer"),
    "te-in-1.0": (head("1.0", (TE, b"chunked")), 400, "HTTP/1.0"),
    "te-identity-1.0": (head("1.0", (TE, b"identity")), 400, "Transfer"),
    "cl-twice-same": (head("1.1", HOST, (CL, b"5"), (CL, b"5")), 400, "repeated"),
    "cl-list": (head("1.1", HOST, (CL, b"5, 5")), 400, "Content-Length"),
    "cl-plus": (head("1.1", HOST, (CL, b"+5")), 400, "Content-Length"),
    "cl-negative": (head("1.1", HOST, (CL, b"-1")), 400, "Content-Length"),
    "cl-space": (head("1.1", HOST, (CL, b"5 5")), 400, "Content-Length"),
    "cl-empty": (head("1.1", HOST, (CL, b"")), 400, "Content-Length"),
    "cl-2^64": (head("1.1", HOST, (CL, b"18446744073709551616")), 400, "range"),
    "cl-21-digits": (head("1.1", HOST, (CL, b"0" * 20 + b"1")), 400, "range"),
    "cl-over-limit": (head("1.1", HOST, (CL, b"11"), limit=10), 413, "too large"),
    "no-host-1.1": (head("1.1", method="GET"), 400, "Host"),
    "two-hosts-1.1": (head("1.1", HOST, HOST), 400, "Host"),
    "two-hosts-1.0": (head("1.0", HOST, HOST), 400, "Host"),
    "http-2.0": (head("2.0", HOST), 505, "version"),
    "http-1.2": (head("1.2", HOST), 505, "version"),
    "http-0.9": (head("0.9", HOST), 400, "0.9"),
    "asterisk-get": (head("1.1", HOST, method="GET", target=b"*"), 400, "OPTIONS"),
    "no-scheme": (head("1.1", HOST, target=b"host/path"), 400, "target"),
}

T, F = True, False
# name -> (inputs, verdict: keep_alive, upgrade, expect_100, length, chunked, raw_path, query)
ACCEPTED: dict[str, tuple[Case, Verdict]] = {
    "plain-1.1": (head("1.1", HOST, target=b"/a?b=1"), (T, F, F, 0, F, b"/a", b"b=1")),
    "plain-1.0": (head("1.0"), (F, F, F, 0, F, b"/", b"")),
    "1.0-keep-alive": (head("1.0", (CONN, b"Keep-Alive")), (T, F, F, 0, F, b"/", b"")),
    "1.1-close": (head("1.1", HOST, (CONN, b"foo, close")), (F, F, F, 0, F, b"/", b"")),
    "upgrade": (head("1.1", HOST, (CONN, b"Upgrade")), (T, T, F, 0, F, b"/", b"")),
    "upgrade-list": (head("1.0", (CONN, b"keep-alive, Upgrade")), (T, T, F, 0, F, b"/", b"")),
    "close-wins": (head("1.1", HOST, (CONN, b"Keep-Alive,close")), (F, F, F, 0, F, b"/", b"")),
    "length": (head("1.1", HOST, (CL, b"10"), limit=10), (T, F, F, 10, F, b"/", b"")),
    "cl-zeros": (head("1.1", HOST, (CL, b"0" * 19 + b"7")), (T, F, F, 7, F, b"/", b"")),
    "chunked": (head("1.1", HOST, (TE, b" Chunked "), limit=1), (T, F, F, 0, T, b"/", b"")),
    "expect-100": (head("1.1", HOST, (EXPECT, b"100-Continue")), (T, F, T, 0, F, b"/", b"")),
    "expect-in-1.0": (head("1.0", (EXPECT, b"100-continue")), (F, F, F, 0, F, b"/", b"")),
    "absolute": (head("1.1", HOST, target=b"http://h:8/p?q#f"), (T, F, F, 0, F, b"/p", b"q")),
    "absolute-bare": (head("1.1", HOST, target=b"http://h?q"), (T, F, F, 0, F, b"/", b"q")),
    "fragment": (head("1.1", HOST, target=b"/p#f"), (T, F, F, 0, F, b"/p", b"")),
    "asterisk": (head("1.1", HOST, method="OPTIONS", target=b"*"), (T, F, F, 0, F, b"*", b"")),
}


@pytest.mark.parametrize(("case", "status", "word"), REFUSED.values(), ids=REFUSED.keys())
def test_refused(case: Case, status: int, word: str) -> None:
    with pytest.raises(ProtocolError) as info:
        check_head(*case)
    assert info.value.status == status
    assert word in info.value.reason, info.value.reason


@pytest.mark.parametrize(("case", "verdict"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted(case: Case, verdict: Verdict) -> None:
    assert check_head(*case) == verdict


@pytest.fixture
def protocol() -> Iterator[HttpProtocol]:
    """A connection's shared lifecycle over a real server state; no parser, no transport: the
    head check runs before either is needed."""
    loop = asyncio.new_event_loop()
    try:
        yield HttpProtocol(ServerState(Config(apps.hello), apps.hello, loop))
    finally:
        loop.close()


@pytest.mark.parametrize("name", ["cl-and-te", "no-host-1.1", "http-2.0", "cl-list"])
def test_a_refused_head_starts_nothing_on_the_connection(protocol: HttpProtocol, name: str) -> None:
    (method, target, version, headers, _), status, _ = REFUSED[name]
    with pytest.raises(ProtocolError) as info:
        protocol.on_request_head(method, target, version, headers)
    assert info.value.status == status
    assert protocol.cycle is None and protocol.parsing is None and protocol.upgrade_scope is None
