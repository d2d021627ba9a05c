"""Requests exactly at a head limit and one past it, in mypkg's own meaning of each setting.

They count as Gunicorn does (README, "Request parsing rules"): ``limit_request_line`` bounds the
whole request line without its CRLF, ``limit_request_fields`` the number of header fields (Host
included) and ``limit_request_field_size`` a field as ``name: value`` plus its CRLF. A test sends
``at(N)`` (answered 200) and ``at(N + 1)`` (refused), so an off-by-one in either backend (``>=``
against ``>``) fails it.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.support.clients import RawClient, request

# setting -> (status past the limit, build a request whose measured size is exactly n)
Builder = Callable[[int], bytes]


def request_line(n: int) -> bytes:
    """A request whose request line (``GET /aaa HTTP/1.1``, no CRLF) is ``n`` bytes long."""
    return b"GET /" + b"a" * (n - len(b"GET / HTTP/1.1")) + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def field_count(n: int) -> bytes:
    """A request with ``n`` header fields (Host and n - 1 others)."""
    fields = b"".join(b"X-%d: y\r\n" % i for i in range(n - 1))
    return b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"


def field_size(n: int) -> bytes:
    """A request with one field line of ``n`` bytes, CRLF included (``X-Big: vvv``)."""
    return b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * (n - len(b"X-Big: \r\n")) + b"\r\n\r\n"


LIMITS: dict[str, tuple[int, Builder]] = {
    "limit_request_line": (414, request_line),
    "limit_request_fields": (431, field_count),
    "limit_request_field_size": (431, field_size),
}


GOOD = b"GET /good HTTP/1.1\r\nHost: x\r\n\r\n"
SMALL_LIMITS = {
    "limit_request_line": 100,
    "limit_request_fields": 5,
    "limit_request_field_size": 100,
}


def assert_refused(port: int, data: bytes, status: int, *, pieces: int = 1) -> None:
    """Send ``data`` (in ``pieces`` sends); expect ``status`` with Connection: close, then EOF."""
    with RawClient(port) as client:
        size = -(-len(data) // pieces)
        try:
            for start in range(0, len(data), size):
                client.send(data[start : start + size])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before we were done sending
        response = client.response()
        assert response.status == status, response
        assert response.header("connection") == "close"
        assert client.is_closed()


def assert_healthy(port: int) -> None:
    """The server still answers a good request (after refusing a bad one)."""
    response = request(port, GOOD)
    assert response.status == 200
