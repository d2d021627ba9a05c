"""HTTP/2 (--http2): how it is reached, and each stream through the shared ASGI cycle.

Real clients (curl over TLS by ALPN and by prior knowledge, httpx with its http2 extra) and a raw
frame client (tests/support/h2client.py). Every server runs once per HTTP/1 parser: HTTP/2 sits
in front of either, and the HTTP/1 path must keep working beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2
import h2.events
import httpx
import pytest
from h2.errors import ErrorCodes

from tests.support import apps
from tests.support.apps import extensions
from tests.support.cdp import browser_page, chromium_path
from tests.support.clients import RawClient, curl
from tests.support.h2client import H2Client, request_headers
from tests.support.pki import Pki
from tests.support.processes import ROOT
from tests.support.servers import Running, serve

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed (scripts/system-deps)")


def curl_text(*args: str) -> str:
    """What curl wrote to stdout (the body, and what ``-w`` adds)."""
    return curl(*args).stdout.decode()


@pytest.fixture
def echo(http: str) -> Iterator[Running]:
    with serve(apps.echo, http=http, http2=True) as running:
        yield running


# --------------------------------------------------------------------------- how it is reached


def test_banner_names_the_http2_library(http: str) -> None:
    from mypkg.banner import runtime_line
    from mypkg.config import Config

    on = runtime_line(Config(apps.hello, http=http, http2=True), "1 worker")
    off = runtime_line(Config(apps.hello, http=http), "1 worker")
    assert f"HTTP {http} " in on and f" and HTTP/2 h2 {h2.__version__}, " in on
    assert "HTTP/2" not in off


def test_without_the_extra_http2_fails_at_startup() -> None:
    code = (
        "import sys; sys.modules['h2'] = None; from mypkg.cli import main;"
        " raise SystemExit(main(['tests.support.apps:hello', '--http2']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mypkg-supervise: error: --http2: the h2 package is not installed;"
        " install it with: pip install 'mypkg[http2]'"
    ]


@needs_curl
def test_curl_prior_knowledge_and_http1_beside_it(echo: Running) -> None:
    fmt = ["-w", " %{http_version}"]
    assert curl_text("--http2-prior-knowledge", *fmt, "-d", "abc", echo.url("/p?q")) == "abc 2"
    assert curl_text("--http1.1", "-w", " %{http_version}", "-d", "xyz", echo.url("/")) == "xyz 1.1"
    with RawClient(echo.port) as client:  # a plain HTTP/1 request, byte for byte
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.response().status == 200


@needs_curl
def test_curl_over_tls_picks_h2_by_alpn(http: str, pki: Pki) -> None:
    settings = {"ssl_certfile": pki.server_cert, "ssl_keyfile": pki.server_key, "http2": True}
    with serve(apps.echo, http=http, **settings) as running:
        url = f"https://127.0.0.1:{running.port}/tls"
        fmt = ["-w", " %{http_version}", "--cacert", pki.ca_file, "-d", "sec"]
        assert curl_text("--http2", *fmt, url) == "sec 2"
        assert curl_text("--http1.1", *fmt, url) == "sec 1.1"  # ALPN http/1.1: served as before


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load: scripts/system-deps")
@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_h2load_streams_all_succeed(http: str, pki: Pki, tls: bool) -> None:
    """nghttp2's load generator: 4 connections x 16 concurrent streams, no failure."""
    settings: dict[str, Any] = {"access_log": False}
    if tls:
        settings.update(ssl_certfile=pki.server_cert, ssl_keyfile=pki.server_key)
    with serve(apps.hello, http=http, http2=True, **settings) as running:
        url = f"{'https' if tls else 'http'}://127.0.0.1:{running.port}/"
        result = subprocess.run(
            ["h2load", "-n", "400", "-c", "4", "-m", "16", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert "400 succeeded, 0 failed, 0 errored" in result.stdout, result.stdout
    assert "400 2xx" in result.stdout
    assert ("TLS Protocol" in result.stdout) == tls


@pytest.mark.timeout(90)
def test_chromium_over_tls_speaks_h2(http: str, pki: Pki) -> None:
    binary = chromium_path()
    if binary is None:
        pytest.skip("chromium is not installed (scripts/system-deps installs it)")
    settings = {"ssl_certfile": pki.server_cert, "ssl_keyfile": pki.server_key, "http2": True}
    with serve(apps.scope_json, http=http, **settings) as running, browser_page(binary) as page:
        page.call("Security.setIgnoreCertificateErrors", ignore=True)  # the test's own CA
        page.call("Page.enable")
        page.call("Page.navigate", url=f"https://127.0.0.1:{running.port}/from-chromium")
        page.wait_event("Page.loadEventFired")
        protocol = page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
        scope = json.loads(page.evaluate("document.body.innerText"))
    assert protocol == "h2"
    assert (scope["http_version"], scope["path"], scope["scheme"]) == (
        "2",
        "/from-chromium",
        "https",
    )


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_asyncio_loop(http: str, pki: Pki, tls: bool) -> None:
    """asyncio's own loop (and its SSL transport) hands over as uvloop's does."""
    settings: dict[str, Any] = {"loop": "asyncio", "http2": True}
    context = None
    if tls:
        settings.update(ssl_certfile=pki.server_cert, ssl_keyfile=pki.server_key)
        context = pki.client_context(with_cert=False)
        context.set_alpn_protocols(["h2"])
    with serve(apps.echo, http=http, **settings) as running:
        with H2Client(running.port, context=context) as client:
            stream_id = client.request(request_headers(b"POST"), b"via asyncio")
            assert client.response(stream_id)[::2] == (200, b"via asyncio")
        if not tls:  # HTTP/1 beside it
            with RawClient(running.port) as raw:
                raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert raw.response().status == 200


@pytest.mark.skipif(shutil.which("nghttp") is None, reason="nghttp: scripts/system-deps")
@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_nghttp_upload(http: str, pki: Pki, tls: bool, tmp_path: Path) -> None:
    """nghttp2's client: prior knowledge on http://, ALPN on https:// (it does not verify)."""
    settings: dict[str, Any] = {}
    if tls:
        settings.update(ssl_certfile=pki.server_cert, ssl_keyfile=pki.server_key)
    body = tmp_path / "body.bin"
    body.write_bytes(b"n" * 200_000)  # several windows' worth
    with serve(apps.echo, http=http, http2=True, **settings) as running:
        url = f"{'https' if tls else 'http'}://127.0.0.1:{running.port}/up"
        result = subprocess.run(
            ["nghttp", "-d", str(body), url], capture_output=True, timeout=30, check=True
        )
    assert result.stdout == b"n" * 200_000


def test_preface_without_http2_is_still_505(http: str) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        assert client.response().status == 505


def test_preface_split_across_reads(echo: Running) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n")
        sock.sendall(b"\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        frame = sock.recv(9)
        assert frame[3] == 0x04  # the server's SETTINGS: it speaks HTTP/2


# --------------------------------------------------------------------------- one ASGI cycle


def test_httpx_scope_and_many_streams(http: str) -> None:
    async def main(port: int) -> list[Any]:
        async with httpx.AsyncClient(http1=False, http2=True, timeout=10) as client:
            url = f"http://127.0.0.1:{port}/a%20b?x=1"
            responses = await asyncio.gather(*(client.get(url) for _ in range(20)))
        return responses

    with serve(apps.scope_json, http=http, http2=True, root_path="/r") as running:
        responses = asyncio.run(main(running.port))
    assert {r.http_version for r in responses} == {"HTTP/2"}
    scope = json.loads(responses[0].content)
    assert scope["http_version"] == "2"
    assert (scope["method"], scope["scheme"]) == ("GET", "http")
    assert (scope["path"], scope["raw_path"]) == ("/r/a b", "/r/a%20b")
    assert scope["query_string"] == "x=1"
    headers = dict(scope["headers"])
    assert headers["host"] == f"127.0.0.1:{running.port}"
    assert not any(name.startswith(":") for name in headers)
    assert "http.response.trailers" in scope["extensions"]


def test_request_body_window_opens_only_as_the_app_reads(echo_gate: Any) -> None:
    running, gate = echo_gate
    with H2Client(running.port) as client:
        stream_id = client.conn.get_next_available_stream_id()
        client.conn.send_headers(stream_id, request_headers(b"POST"))
        window = client.conn.local_flow_control_window(stream_id)
        while window:
            piece = min(window, client.conn.max_outbound_frame_size)
            client.conn.send_data(stream_id, b"x" * piece)
            window -= piece
        client.flush()
        gate.wait_entered(1)
        # The app has read nothing: the server must not have given any window back.
        client.sock.settimeout(0.3)
        with contextlib.suppress(TimeoutError):
            client.read()
        updates = [e for e in client.received if isinstance(e, h2.events.WindowUpdated)]
        assert not [e for e in updates if e.stream_id == stream_id]
        gate.open()
        client.wait_for(h2.events.WindowUpdated, stream_id)
        client.conn.send_data(stream_id, b"end", end_stream=True)
        client.flush()
        status, _, body = client.response(stream_id)
    assert (status, len(body)) == (200, 65535 + 3)


def test_unread_request_bodies_give_their_window_back(http: str) -> None:
    """An app that answers without reading the body: what it left unread must still count as
    consumed, or the connection's window shrinks with each such request until nothing moves."""
    with serve(apps.hello, http=http, http2=True) as running, H2Client(running.port) as client:
        for _ in range(24):  # 24 x 64 KiB: well past the 1 MiB connection window
            stream_id = client.conn.get_next_available_stream_id()
            client.conn.send_headers(stream_id, request_headers(b"POST"))
            window = client.conn.local_flow_control_window(stream_id)
            assert window == 65535, "the server's windows did not open again"
            for _ in range(4):
                client.conn.send_data(stream_id, b"x" * 16383)
            client.conn.send_data(stream_id, b"xxx", end_stream=True)
            client.flush()
            assert client.response(stream_id)[0] == 200


@pytest.fixture
def echo_gate(http: str) -> Iterator[tuple[Running, apps.Gate]]:
    gate = apps.Gate(apps.echo)
    with serve(gate, http=http, http2=True) as running:
        yield running, gate


class SlowReader:
    """/slow streams without end (counting its sends); anything else gets a short answer."""

    def __init__(self) -> None:
        self.sent = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/slow":
            await apps.hello(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        while True:
            await send({"type": "http.response.body", "body": b"y" * 65536, "more_body": True})
            self.sent += 1


def test_response_waits_for_the_peer_window(http: str) -> None:
    """A peer that never opens its window: the app's send blocks, memory stays bounded, and the
    server keeps serving others."""
    app = SlowReader()
    with serve(app, http=http, http2=True) as running, H2Client(running.port) as slow:
        stream_id = slow.request(request_headers(path=b"/slow"), None)
        slow.wait_for(h2.events.DataReceived, stream_id)
        with H2Client(running.port) as other:
            for _ in range(3):
                assert other.response(other.request(request_headers(), None))[0] == 200
        # 64 KiB of window: the first send fits (but one byte), the next waits for a window
        # update that never comes.
        assert app.sent == 1


def test_trailers(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        await send({"type": "http.response.trailers", "headers": [(b"grpc-status", b"0")]})

    with serve(app, http=http, http2=True) as running, H2Client(running.port) as client:
        stream_id = client.request(request_headers(te=b"trailers"), None)
        trailers = client.wait_for(h2.events.TrailersReceived, stream_id)
        status, _, body = client.response(stream_id)
    assert (status, body) == (200, b"data")
    assert trailers.headers == [(b"grpc-status", b"0")]


def test_pathsend_with_flow_control_and_trailers(http: str, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1200  # 300 KiB: several windows, read off the loop in pieces
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with serve(extensions.pathsend, http=http, http2=True) as running, H2Client(running.port) as c:
        target = f"/?path={path}&trailers=1".encode()
        stream_id = c.request(request_headers(path=target, te=b"trailers"), None)
        status, headers, body = c.response(stream_id)  # acks the DATA: the windows reopen
        trailers = c.wait_for(h2.events.TrailersReceived, stream_id)
    assert (status, headers[b"content-length"], body == data) == (200, b"307200", True)
    assert trailers.headers == [(b"x-done", b"yes")]


def test_early_hints_and_continue(http: str) -> None:
    with (
        serve(extensions.early_hints, http=http, http2=True) as running,
        H2Client(running.port) as c,
    ):
        stream_id = c.request(request_headers(), None)
        status, _, body = c.response(stream_id)
    hints = [e for e in c.received if isinstance(e, h2.events.InformationalResponseReceived)]
    assert [dict(e.headers)[b":status"] for e in hints] == [b"103", b"103"]
    assert [dict(e.headers)[b"link"] for e in hints] == extensions.LINKS
    assert (status, body) == (200, b"page")
    with serve(apps.echo, http=http, http2=True) as running, H2Client(running.port) as c:
        stream_id = c.conn.get_next_available_stream_id()
        c.conn.send_headers(stream_id, request_headers(b"POST", expect=b"100-continue"))
        c.flush()
        informational = c.wait_for(h2.events.InformationalResponseReceived, stream_id)
        assert dict(informational.headers)[b":status"] == b"100"
        c.conn.send_data(stream_id, b"go on", end_stream=True)
        c.flush()
        assert c.response(stream_id)[2] == b"go on"


def test_limit_concurrency_answers_503_per_stream(http: str) -> None:
    gate = apps.Gate(apps.hello)
    with (
        serve(gate, http=http, http2=True, limit_concurrency=1) as running,
        H2Client(running.port) as client,
    ):
        first = client.request(request_headers(), None)
        gate.wait_entered(1)
        second = client.request(request_headers(), None)
        assert client.response(second)[0] == 503
        gate.open()
        assert client.response(first)[0] == 200


def test_rst_stream_is_a_disconnect(http: str) -> None:
    app = apps.UntilDisconnect()

    async def route(scope: Any, receive: Any, send: Any) -> None:
        handler = app if scope.get("path") == "/wait" else apps.hello
        await handler(scope, receive, send)

    with serve(route, http=http, http2=True) as running, H2Client(running.port) as client:
        stream_id = client.conn.get_next_available_stream_id()
        client.conn.send_headers(stream_id, request_headers(b"POST", b"/wait"))
        client.conn.send_data(stream_id, b"part")
        client.flush()
        client.conn.reset_stream(stream_id, ErrorCodes.CANCEL)
        client.flush()
        assert app.finished.wait(10)
        assert app.messages[-1] == {"type": "http.disconnect"}
        # The connection serves on.
        assert client.response(client.request(request_headers(), None))[0] == 200


def test_access_log_and_status_per_stream(http: str, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="mypkg.access"),
        serve(apps.hello, http=http, http2=True, limit_request_fields=3) as running,
        H2Client(running.port) as c,
    ):
        assert c.response(c.request(request_headers(path=b"/logged"), None))[0] == 200
        many = request_headers(path=b"/refused", x_a=b"1", x_b=b"2", x_c=b"3", x_d=b"4")
        assert c.response(c.request(many, None))[0] == 431
    lines = [r.getMessage() for r in caplog.records if r.name == "mypkg.access"]
    assert any('"GET /logged HTTP/2" 200' in line for line in lines), lines
    assert any('"GET /refused HTTP/2" 431' in line for line in lines), lines


def test_limits_apply_per_stream(http: str) -> None:
    settings = {"limit_request_fields": 5, "limit_request_line": 100}
    with (
        serve(apps.hello, http=http, http2=True, **settings) as running,
        H2Client(running.port) as client,
    ):
        many = request_headers(**{f"x_{i}": b"1" for i in range(6)})
        assert client.response(client.request(many, None))[0] == 431
        long = request_headers(path=b"/" + b"a" * 200)
        assert client.response(client.request(long, None))[0] == 414
        for path in (b"relative", b"http://x/absolute", b"/with#fragment"):
            assert client.response(client.request(request_headers(path=path), None))[0] == 400
        assert client.response(client.request(request_headers(), None))[0] == 200


def test_limits_at_n_and_n_plus_one(http: str) -> None:
    """The HTTP/1 limits in their Gunicorn meaning (tests/support/boundaries.py), applied to the
    same request in HTTP/2: the request line as "GET /path HTTP/1.1", fields counting :authority as
    Host, a field as "name: value\r\n"."""
    settings = {
        "limit_request_fields": 4,
        "limit_request_line": 100,
        "limit_request_field_size": 50,
    }

    def status(headers: list[Any]) -> int:
        with H2Client(running.port) as client:
            return client.response(client.request(headers, None))[0]

    with serve(apps.hello, http=http, http2=True, **settings) as running:
        fields = {f"x_{i}": b"1" for i in range(3)}  # and :authority, the Host
        assert status(request_headers(**fields)) == 200
        assert status(request_headers(**fields, x_more=b"1")) == 431
        path = b"/" + b"a" * (100 - len(b"GET / HTTP/1.1"))  # the line is exactly 100
        assert status(request_headers(path=path)) == 200
        assert status(request_headers(path=path + b"a")) == 414
        value = b"v" * (50 - len(b"x-f: \r\n"))  # the field line is exactly 50
        assert status(request_headers(x_f=value)) == 200
        assert status(request_headers(x_f=value + b"v")) == 431


@pytest.mark.parametrize(
    "headers",
    [
        request_headers(connection=b"keep-alive"),  # connection-specific
        request_headers(transfer_encoding=b"chunked"),
        request_headers(te=b"gzip"),
        [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"x")],  # no :path
        [*request_headers(), (b":path", b"/again")],  # repeated pseudo-header
        [(b"x-first", b"1"), *request_headers()],  # pseudo-header after a regular one
        request_headers(**{"X_Upper": b"1"}),  # uppercase name
    ],
)
def test_malformed_requests_are_refused(http: str, headers: list[Any]) -> None:
    with serve(apps.hello, http=http, http2=True) as running, H2Client(running.port) as client:
        client.request(headers, None)
        code = _error_code(client)
    assert code == ErrorCodes.PROTOCOL_ERROR


def test_connection_specific_response_headers_are_dropped(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"Connection", b"close"), (b"keep-alive", b"timeout=5"), (b"x-kept", b"1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    with serve(app, http=http, http2=True) as running, H2Client(running.port) as client:
        status, headers, _ = client.response(client.request(request_headers(), None))
    assert (status, headers.get(b"x-kept")) == (200, b"1")
    assert b"connection" not in headers and b"keep-alive" not in headers


def test_short_response_body_is_reset(http: str) -> None:
    """A body shorter than its Content-Length must not end cleanly (END_STREAM)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", b"10")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"de"})

    with serve(app, http=http, http2=True) as running, H2Client(running.port) as client:
        stream_id = client.request(request_headers(), None)
        reset = client.wait_for(h2.events.StreamReset, stream_id)
        ended = [e for e in client.received if isinstance(e, h2.events.StreamEnded)]
    assert reset.error_code == ErrorCodes.INTERNAL_ERROR and not ended


def test_content_length_must_match_data(http: str) -> None:
    with serve(apps.echo, http=http, http2=True) as running, H2Client(running.port) as client:
        client.request(request_headers(b"POST", content_length=b"10"), b"short")
        assert _error_code(client) == ErrorCodes.PROTOCOL_ERROR


def _error_code(client: H2Client) -> int:
    """The code of the GOAWAY or RST_STREAM the server answered with."""
    while True:
        for event in client.received:
            if isinstance(event, h2.events.ConnectionTerminated | h2.events.StreamReset):
                return int(event.error_code or 0)
        assert not client.closed, "closed without GOAWAY or RST_STREAM"
        client.read()


# --------------------------------------------------------------------------- stopping


def test_graceful_stop_sends_goaway_and_finishes_streams(http: str) -> None:
    """GOAWAY in two steps: the first names no last stream and comes with a PING; a stream the
    client opens before acking that PING is still served; the second names the last stream."""
    gate = apps.Gate(apps.hello)
    with serve(gate, http=http, http2=True) as running, H2Client(running.port) as client:
        first = client.request(request_headers(), None)
        second = client.request(request_headers(), None)
        gate.wait_entered(2)
        stopper = threading.Thread(target=running.server.request_exit_threadsafe)
        stopper.start()
        announce = client.goaway()
        assert (announce.error_code, announce.last_stream_id) == (ErrorCodes.NO_ERROR, 2**31 - 1)
        late = second + 2
        client.raw_request(late, request_headers(path=b"/late"))  # in flight as GOAWAY came
        ping = client.wait_for(h2.events.PingReceived)
        client.ack_ping(ping.ping_data)
        final = client.wait_for_next(h2.events.ConnectionTerminated, announce)
        assert (final.error_code, final.last_stream_id) == (ErrorCodes.NO_ERROR, late)
        gate.open()
        assert [client.response(s)[0] for s in (first, second, late)] == [200, 200, 200]
        client.read_to_close()
        stopper.join()


def test_settings_reach_gunicorn_mapping() -> None:
    from mypkg.workers import mapping

    assert mapping.TABLE["http_protocols"].target == "http2"
    assert mapping.TABLE["http_protocols"].convert("h2,h1", None) is True
    assert mapping.TABLE["http_protocols"].convert(["h1"], None) is False
    assert mapping.TABLE["http2_max_concurrent_streams"].target == "h2_max_concurrent_streams"


def test_request_body_limit_refuses_that_stream_alone(http: str) -> None:
    """--limit-request-body on HTTP/2: a declared Content-Length over it is 413 before the app; a
    body that grows past it (no Content-Length) is 413 for that stream, its app sees a disconnect,
    and the connection goes on serving other streams (it was torn down with INTERNAL_ERROR)."""
    with (
        serve(apps.echo, http=http, http2=True, limit_request_body=1000) as running,
        H2Client(running.port) as client,
    ):
        post = request_headers(method=b"POST")
        declared = [*post, (b"content-length", b"5000")]
        assert client.response(client.request(declared, b"x" * 5000))[0] == 413
        assert client.response(client.request(post, b"x" * 5000))[0] == 413
        status, _, body = client.response(client.request(post, b"y" * 900))
        assert (status, body) == (200, b"y" * 900)
        assert not client.closed


def test_request_id_header_applies_to_streams(http: str) -> None:
    """--request-id-header on HTTP/2: the client's id is in the scope and echoed; without one, a
    fresh id per stream."""
    with (
        serve(apps.echo, http=http, http2=True, request_id_header="X-Request-ID") as running,
        H2Client(running.port) as client,
    ):
        _, headers, _ = client.response(client.request(request_headers(x_request_id=b"abc-1")))
        assert headers.get(b"x-request-id") == b"abc-1"
        first = client.response(client.request(request_headers()))[1].get(b"x-request-id")
        second = client.response(client.request(request_headers()))[1].get(b"x-request-id")
        assert first and second and first != second
