"""414 and 431 come from parser callbacks; httptools wraps what they raise, and must not turn
the answer into a 400. Both parsers, whole requests in one chunk."""

from __future__ import annotations

from tests.support import apps
from tests.support.clients import request
from tests.support.servers import serve


def test_long_request_line_in_one_chunk_gets_414(http: str) -> None:
    with serve(apps.hello, http=http, limit_request_line=64) as running:
        assert (
            request(running.port, b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: x\r\n\r\n").status
            == 414
        )


def test_too_many_or_too_large_fields_in_one_chunk_get_431(http: str) -> None:
    settings = {"limit_request_fields": 4, "limit_request_field_size": 100}
    with serve(apps.hello, http=http, **settings) as running:
        many = b"".join(b"X-%d: y\r\n" % i for i in range(5))
        assert (
            request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n").status == 431
        )
        big = b"X-Big: " + b"b" * 120 + b"\r\n"
        assert request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n").status == 431
