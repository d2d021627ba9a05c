"""Security regressions on the HTTP path (issue 18), on both parsers, over raw sockets."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from mypkg.http import scope as http_scope
from mypkg.middleware import proxy_headers
from tests.support import apps
from tests.support.apps import extensions
from tests.support.clients import RawClient, is_500, request
from tests.support.servers import raw_exchange, serve


def test_exception_while_parsing_answers_400(
    http: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No exception from request parsing escapes data_received: the request before the failing
    one is answered, the failing one gets 400, the connection closes, one error is logged."""
    real = proxy_headers.apply_proxy_headers

    def failing(scope: Any, *args: Any) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("forced parsing failure")
        real(scope, *args)

    monkeypatch.setattr(http_scope, "apply_proxy_headers", failing)
    pipelined = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /boom HTTP/1.1\r\nHost: x\r\n\r\n"
    with serve(apps.scope_json, http=http) as running, RawClient(running.port) as client:
        client.send(pipelined)
        assert client.response().status == 200
        failed = client.response()
        assert failed.status == 400
        assert failed.header("connection") == "close"
        assert client.is_closed()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].getMessage().startswith("Error while parsing a request from")
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == "forced parsing failure"


def test_access_log_escapes_every_non_printable_character(
    http: str, caplog: pytest.LogCaptureFixture
) -> None:
    """8-bit CSI (U+009B) and a bidi override (U+202E), raw in a User-Agent or UTF-8 in a Basic
    auth user name, never reach the log as they are."""
    caplog.set_level(logging.INFO, logger="mypkg.access")
    user = base64.b64encode("\u202eroot\u009b[2J:pw".encode()).decode()
    head = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: a\x9b[2Jb \xe2\x80\xaec\xa0\r\n"
        b"Authorization: Basic " + user.encode() + b"\r\n\r\n"
    )
    with serve(apps.hello, http=http, access_log_format='"%(a)s" %(u)s') as running:
        assert request(running.port, head).status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "mypkg.access"]
    assert lines == ['"a\\x9b[2Jb \u00e2\\x80\u00aec\\xa0" \\u202eroot\\x9b[2J']


INVALID_HEADS = {
    **{
        f"ctl-{byte:02x}-in-value": (200, [(b"x-a", b"a" + bytes([byte]) + b"Injected")])
        for byte in (0x01, 0x0B, 0x0C, 0x1B, 0x7F)
    },
    "two-content-lengths": (200, [(b"content-length", b"5"), (b"Content-Length", b"11")]),
    "status-600": (600, []),
    "status-999": (999, []),
}


@pytest.mark.parametrize("case", INVALID_HEADS.values(), ids=INVALID_HEADS.keys())
def test_invalid_response_head_becomes_500(http: str, case: tuple[int, list[Any]]) -> None:
    """RFC 9110 §5.5 field values, RFC 9112 §6.3 one Content-Length, RFC 9110 §15 status codes:
    a head that breaks them is never written; the client gets a 500 instead."""
    status, headers = case

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"secret body"})

    raw = raw_exchange(app, http)
    assert is_500(raw), raw
    assert b"Injected" not in raw and b"secret body" not in raw


def test_valid_head_with_tab_and_obs_text_is_sent(http: str) -> None:
    """HTAB and bytes 0x80-0xFF (obs-text) are valid in a field value; a repeated identical
    Content-Length is tolerated (RFC 9112 §6.3)."""
    headers = [(b"x-a", b"a\tb\xe9"), (b"content-length", b"2"), (b"content-length", b"2")]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 599, "headers": headers})
            await send({"type": "http.response.body", "body": b"ok"})

    raw = raw_exchange(app, http)
    assert raw.startswith(b"HTTP/1.1 599 "), raw
    assert b"x-a: a\tb\xe9\r\n" in raw and raw.endswith(b"\r\n\r\nok")


def test_pathsend_on_a_fifo_is_a_500_and_never_blocks(
    http: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Opening a FIFO without a writer would block the event loop; a directory or a device is
    no file to send either. Each is refused with a 500 and logged; the server stays responsive."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with serve(extensions.pathsend, http=http) as running:
        try:
            for path in (fifo, tmp_path, Path("/dev/zero")):
                with RawClient(running.port, timeout=5) as client:
                    client.send(f"GET /?path={path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    assert client.response().status == 500, path
            assert request(running.port, b"GET /?path=/dev/null HTTP/1.0\r\n\r\n").status == 500
        finally:  # before the fix the loop is stuck in open(): a writer lets it go on
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert "not a regular file" in caplog.text
