"""The ASGI HTTP scope, exactly as the spec (2.4) describes it, on both parsers; the access log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import apps
from tests.support.clients import RawClient, request
from tests.support.servers import serve


def scope_of(http: str, data: bytes, **settings: Any) -> tuple[dict[str, Any], Any, Any]:
    """The scope the app saw for the raw request ``data``; the client's and server's address."""
    recorder = apps.Recorder(apps.hello)
    with serve(recorder, http=http, **settings) as running, RawClient(running.port) as client:
        client.send(data)
        assert client.response().status == 200
        addresses = client.sock.getsockname(), client.sock.getpeername()
    assert len(recorder.scopes) == 1
    return recorder.scopes[0], *addresses


def test_full_scope(http: str) -> None:
    data = (
        b"GET /caf%C3%A9/a%20b/c%2Fd?x=%20y&z=caf%C3%A9&flag HTTP/1.1\r\n"
        b"Host: example.com\r\nX-Custom: Mixed Case\r\nX-Custom: second\r\n\r\n"
    )
    scope, local, peer = scope_of(http, data)
    assert scope["type"] == "http"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/café/a b/c/d"
    assert scope["raw_path"] == b"/caf%C3%A9/a%20b/c%2Fd"
    assert scope["query_string"] == b"x=%20y&z=caf%C3%A9&flag"
    assert scope["root_path"] == ""
    assert scope["headers"] == [
        (b"host", b"example.com"),
        (b"x-custom", b"Mixed Case"),
        (b"x-custom", b"second"),
    ]
    assert scope["client"] == (local[0], local[1])
    assert scope["server"] == (peer[0], peer[1])
    for address in (scope["client"], scope["server"]):
        assert isinstance(address, tuple)
        assert [type(part) for part in address] == [str, int]
    assert scope["state"] == {}


def test_root_path_prefixes_path_and_raw_path(http: str) -> None:
    scope, *_ = scope_of(http, b"GET /items/1?q HTTP/1.1\r\nHost: x\r\n\r\n", root_path="/api")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/items/1"
    assert scope["raw_path"] == b"/api/items/1"
    assert scope["query_string"] == b"q"


def test_absolute_form_target(http: str) -> None:
    scope, *_ = scope_of(http, b"GET http://example.com/a%20b?c=d HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (scope["path"], scope["raw_path"], scope["query_string"]) == (
        "/a b",
        b"/a%20b",
        b"c=d",
    )


def test_http10_scope(http: str) -> None:
    scope, *_ = scope_of(http, b"POST /form HTTP/1.0\r\nContent-Length: 0\r\n\r\n")
    assert (scope["http_version"], scope["method"], scope["path"]) == ("1.0", "POST", "/form")


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The access logger enabled at INFO, as configure_logging does when --access-log is on."""
    logger = logging.getLogger("mypkg.access")
    level = logger.level
    logger.setLevel(logging.INFO)
    caplog.set_level(logging.INFO, logger="mypkg.access")
    yield caplog
    logger.setLevel(level)


def test_access_log_line_per_request(http: str, access_log: pytest.LogCaptureFixture) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
        client.response()
        client.response(head_only=True)
        port = client.sock.getsockname()[1]
    lines = [r.getMessage() for r in access_log.records if r.name == "mypkg.access"]
    assert len(lines) == 2
    assert lines[0].startswith(f'127.0.0.1:{port} - "GET /a?b=1 HTTP/1.1" 200 13 ')
    assert lines[0].endswith("ms")
    assert lines[1].startswith(f'127.0.0.1:{port} - "HEAD /h HTTP/1.1" 200 0 ')


def test_no_access_log_when_off(http: str, access_log: pytest.LogCaptureFixture) -> None:
    with serve(apps.hello, http=http, access_log=False) as running:
        assert request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    assert not [r for r in access_log.records if r.name == "mypkg.access"]
