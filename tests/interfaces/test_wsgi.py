"""--interface wsgi: Flask and Django's WSGI handler end to end, bodies streamed both ways.

Real servers on real sockets, both HTTP parsers; the plain WSGI app in tests/support/apps/wsgi.py
shows what the app saw and when.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time

import httpx
import pytest

from tests.support.apps import wsgi as wsgi_apps
from tests.support.apps.wsgi import probe
from tests.support.clients import RawClient
from tests.support.servers import serve


def test_plain_wsgi_environ_and_headers(http: str) -> None:
    with serve(wsgi_apps.plain, http=http, interface="wsgi", root_path="/mnt") as running:
        # --root-path: a proxy has stripped /mnt; scope["path"] has it again, PATH_INFO not.
        response = httpx.get(
            running.url("/p/a%20b?x=1&y=2"),
            headers=[("X-A", "1"), ("X-A", "2"), ("Cookie", "a=1"), ("Cookie", "b=2")],
        )
    assert (response.status_code, response.text) == (200, "plain wsgi")
    assert response.headers["x-wsgi"] == "yes"
    seen = probe.environ
    assert (seen["SCRIPT_NAME"], seen["PATH_INFO"], seen["QUERY_STRING"]) == (
        "/mnt",
        "/p/a b",
        "x=1&y=2",
    )
    assert (seen["REQUEST_METHOD"], seen["SERVER_PROTOCOL"], seen["HTTP_X_A"]) == (
        "GET",
        "HTTP/1.1",
        "1,2",
    )
    assert seen["HTTP_COOKIE"] == "a=1; b=2"
    assert seen["REMOTE_ADDR"] == "127.0.0.1" and seen["wsgi.url_scheme"] == "http"


def test_request_body_is_streamed_to_the_app(http: str) -> None:
    """The app reads the first 5 bytes while the client still holds the rest back."""
    probe.first_piece.clear()
    server = serve(wsgi_apps.plain, http=http, interface="wsgi")
    with server as running, RawClient(running.port) as client:
        client.send(
            b"POST /first-piece HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
        )
        assert probe.first_piece.wait(10), "the app did not get the first piece on its own"
        client.send(b"6\r\n world\r\n0\r\n\r\n")
        response = client.response()
    assert response.body == b"hello| world"


def test_wsgi_input_lines(http: str) -> None:
    with serve(wsgi_apps.plain, http=http, interface="wsgi") as running:
        response = httpx.post(running.url("/lines"), content=b"a\nbb\nccc")
    assert response.text == "3 ccc"


def test_response_is_backpressured(http: str) -> None:
    """A client that does not read stops the app's generator instead of filling memory."""
    probe.yielded = 0
    with serve(wsgi_apps.plain, http=http, interface="wsgi") as running:
        sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        with sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            stalled = _settled(lambda: probe.yielded)
            assert stalled < 1024 // 4, f"the app produced {stalled} of 1024 chunks unread"
            received = 0
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
    assert probe.yielded == 1024
    assert received > 1024 * wsgi_apps.CHUNK


def _settled(read: object, quiet: float = 0.5, limit: float = 10.0) -> int:
    """The value once it has stopped changing for ``quiet`` seconds (a stall, observed)."""
    assert callable(read)
    deadline = time.monotonic() + limit
    value, since = read(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        current = read()
        if current != value:
            value, since = current, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return int(value)


def test_wsgi_errors_are_logged(http: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="mypkg.error")
    with serve(wsgi_apps.plain, http=http, interface="wsgi") as running:
        assert httpx.get(running.url("/errors")).status_code == 204
    messages = [r.getMessage() for r in caplog.records if r.name == "mypkg.error"]
    assert messages == ["something went wrong", "second line"]


def test_write_callable(http: str) -> None:
    with serve(wsgi_apps.plain, http=http, interface="wsgi") as running:
        assert httpx.get(running.url("/write")).text == "written and returned"


def test_flask_end_to_end(http: str) -> None:
    body = os.urandom(1024 * 1024 + 3)
    with serve(wsgi_apps.flask_app, http=http, interface="wsgi") as running:
        assert httpx.get(running.url("/")).text == "hello from flask"
        echoed = httpx.post(running.url("/echo?q=1"), content=body).json()
        chunked = httpx.post(running.url("/echo"), content=iter([body[:1000], body[1000:]]))
        streamed = httpx.get(running.url("/stream"))
    digest = hashlib.sha256(body).hexdigest()
    assert echoed == {"size": len(body), "sha256": digest, "query": "1"}
    assert chunked.json()["sha256"] == digest  # no Content-Length: wsgi.input_terminated
    assert streamed.text == "".join(f"part {i}\n" for i in range(100))


def test_django_end_to_end(http: str) -> None:
    body = os.urandom(300_000)
    with serve(wsgi_apps.django_app, http=http, interface="wsgi") as running:
        hello = httpx.get(running.url("/"))
        echoed = httpx.post(running.url("/echo"), content=body)
        streamed = httpx.get(running.url("/stream"))
        missing = httpx.get(running.url("/nope"))
    assert hello.text == "hello from django GET /"
    assert echoed.text == f"{len(body)} {hashlib.sha256(body).hexdigest()}"
    assert streamed.text == "".join(f"row {i}\n" for i in range(100))
    assert missing.status_code == 404


def test_websocket_upgrade_to_a_wsgi_app_is_refused(http: str) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    server = serve(wsgi_apps.plain, http=http, interface="wsgi")
    with server as running, pytest.raises(InvalidStatus) as caught:
        connect(f"ws://127.0.0.1:{running.port}/ws", open_timeout=5)
    assert caught.value.response.status_code == 403
