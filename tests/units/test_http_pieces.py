"""Sans-I/O unit tests of the pure pieces: target splitting, response framing, head checks,
value parsers. Cheaper than a server, and they pin the exact bytes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from mypkg.config import values
from mypkg.errors import ProtocolError
from mypkg.http import framing
from mypkg.http.headcheck import split_target
from mypkg.http.headscan import HeadScanner
from mypkg.state import ServerState
from tests.support.boundaries import LIMITS


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/", (b"/", b"")),
        (b"/a/b?x=1&y", (b"/a/b", b"x=1&y")),
        (b"/a?", (b"/a", b"")),
        (b"/a#frag", (b"/a", b"")),
        (b"/a?b=1#frag", (b"/a", b"b=1")),
        (b"/a%20b?c=%20", (b"/a%20b", b"c=%20")),
        (b"*", (b"*", b"")),
        (b"http://example.com/x?y=1", (b"/x", b"y=1")),
        (b"http://example.com", (b"/", b"")),
        (b"http://example.com?y=1", (b"/", b"y=1")),
        (b"https://user@example.com:8443/p", (b"/p", b"")),
    ],
)
def test_split_target(target: bytes, expected: tuple[bytes, bytes]) -> None:
    assert split_target(target) == expected


@pytest.mark.parametrize("target", [b"foo", b"://x/", b"example.com:443"])
def test_split_target_refuses(target: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        split_target(target)
    assert info.value.status == 400


def test_header_name_lowercases_and_validates() -> None:
    assert framing.header_name(b"Content-Type") == b"content-type"
    assert framing.header_name(b"x-a!#$%&'*+-.^_`|~9") == b"x-a!#$%&'*+-.^_`|~9"
    for bad in (b"", b"x a", b"x:a", b"x\r\na", b"x\x00", b"caf\xc3\xa9", b"(x)"):
        with pytest.raises(ValueError):
            framing.header_name(bad)
    with pytest.raises(TypeError):
        framing.header_name("str")  # type: ignore[arg-type]


def test_response_head_bytes() -> None:
    head = framing.response_head(200, b"server: mypkg\r\n", [(b"x-a", b"1"), (b"X-B", b"2")])
    assert head == b"HTTP/1.1 200 OK\r\nserver: mypkg\r\nx-a: 1\r\nX-B: 2\r\n\r\n"
    assert framing.status_line(299) == b"HTTP/1.1 299 \r\n"  # unknown status: empty phrase


def test_chunk_framing() -> None:
    assert framing.chunk(b"hello world!") == b"c\r\nhello world!\r\n"
    assert framing.chunk(b"") == b""  # an empty piece must not end the body
    assert framing.LAST_CHUNK == b"0\r\n\r\n"


def test_error_response_is_complete_and_closes() -> None:
    raw = framing.error_response(431, b"date: x\r\n", "too many request header fields")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\ndate: x\r\n")
    assert b"\r\nconnection: close" in head
    assert b"\r\ncontent-length: %d" % len(body) in head
    assert body == b"too many request header fields\n"


def scan(head: bytes, *, pieces: bool = False, **limits: int) -> int:
    """Feed ``head`` to a HeadScanner (whole, or one byte at a time); where the head ended."""
    settings = {"max_head_size": 65536, "limit_request_line": 4094, "limit_request_fields": 100}
    state = SimpleNamespace(**{"limit_request_field_size": 8190, **settings, **limits})
    scanner = HeadScanner(cast(ServerState, state))
    if not pieces:
        return scanner.feed(head)
    for index in range(len(head)):
        if scanner.feed(head[index : index + 1]) != -1:
            return index + 1
    return -1


GOOD_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-T: a\tb\xe9\r\n\r\n"


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\n\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n",
    ],
)
@pytest.mark.parametrize("pieces", [False, True])
def test_h11_strict_head_check_refuses(head: bytes, pieces: bool) -> None:
    with pytest.raises(ProtocolError) as info:
        scan(head, pieces=pieces)
    assert info.value.status == 400


@pytest.mark.parametrize("pieces", [False, True])
def test_h11_strict_head_check_accepts(pieces: bool) -> None:
    assert scan(GOOD_HEAD + b"hello", pieces=pieces) == len(GOOD_HEAD)


@pytest.mark.parametrize(
    ("head", "limits", "status"),
    [
        (b"GET /" + b"a" * 100, {"limit_request_line": 64}, 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 2000, {"max_head_size": 1024}, 431),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"v" * 100 + b"\r\n",
            {"limit_request_field_size": 100},
            431,
        ),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 5, {"limit_request_fields": 4}, 431),
        (b"GET /" + b"a" * 5000, {}, 414),  # past the first KiB of a line: a plain length check
    ],
)
def test_head_scanner_limits_apply_before_the_head_ends(
    head: bytes, limits: dict[str, int], status: int
) -> None:
    """Refused while the head is still arriving: nothing waits for its end."""
    with pytest.raises(ProtocolError) as info:
        scan(head, pieces=True, **limits)
    assert info.value.status == status


@pytest.mark.parametrize(
    ("parse", "given", "expected"),
    [
        (values.integer(0, 10), "7", 7),
        (values.integer(0, 10), 7, 7),
        (values.number(0), "0.5", 0.5),
        (values.number(0), 2, 2.0),
        (values.boolean, "Yes", True),
        (values.boolean, "off", False),
        (values.boolean, False, False),
        (values.choice("a", "b"), "b", "b"),
        (values.optional(values.integer()), "", None),
        (values.listing(values.text), "a, b,,c", ["a", "b", "c"]),
        (values.header, "X-A: b c", ("X-A", "b c")),
        (values.header, ["X-A", "b"], ("X-A", "b")),
        (
            values.address_list,
            "127.0.0.1,10.0.0.0/8,*,unix:",
            ["127.0.0.1", "10.0.0.0/8", "*", "unix:"],
        ),
    ],
)
def test_parsers_accept(parse: Any, given: Any, expected: Any) -> None:
    assert parse(given) == expected


@pytest.mark.parametrize(
    ("parse", "given"),
    [
        (values.integer(0, 10), "11"),
        (values.integer(0, 10), "ten"),
        (values.integer(), True),
        (values.integer(), 1.5),
        (values.number(0), "-1"),
        (values.number(0), "nan"),
        (values.boolean, "maybe"),
        (values.choice("a", "b"), "c"),
        (values.header, "no-colon"),
        (values.header, "X A:b"),
        (values.header, "X-A:b\r\nInjected: 1"),
        (values.address_list, "not-an-ip"),
    ],
)
def test_parsers_refuse(parse: Any, given: Any) -> None:
    with pytest.raises(ValueError):
        parse(given)


@pytest.mark.parametrize("pieces", [False, True])
@pytest.mark.parametrize("setting", sorted(LIMITS))
def test_head_scanner_boundaries(setting: str, pieces: bool) -> None:
    """Each limit at N (accepted) and N + 1 (refused), fed whole and one byte at a time."""
    status, build = LIMITS[setting]
    limits = {setting: 40 if setting == "limit_request_line" else 4}
    if setting == "limit_request_field_size":
        limits[setting] = 40
    n = limits[setting]
    assert scan(build(n), pieces=pieces, **limits) == build(n).index(b"\r\n\r\n") + 4
    with pytest.raises(ProtocolError) as info:
        scan(build(n + 1), pieces=pieces, **limits)
    assert info.value.status == status
