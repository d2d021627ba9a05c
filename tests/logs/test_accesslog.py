"""The access log: Gunicorn's atoms, computed only when the access logger is on, on both parsers."""

from __future__ import annotations

import base64
import logging
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mypkg import Config
from mypkg.accesslog import ATOMS, GUNICORN_FORMAT
from mypkg.errors import ConfigError
from mypkg.sockets import bind_tcp, bind_unix
from mypkg.websocket.connection import WebSocketConnection
from tests.support import apps
from tests.support.clients import RawClient, request
from tests.support.logs import capture_logs
from tests.support.processes import ROOT, run_cli
from tests.support.servers import serve
from tests.support.websocket import RawWebSocket, echo_app, handshake


@pytest.fixture
def access_lines() -> Iterator[list[str]]:
    """The access lines of the in-process server, as they are logged."""
    with capture_logs("mypkg.access") as records:
        yield records.lines


async def with_headers(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"X-Trace", b"abc"), (b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"12345"})


def test_default_format(http: str, access_lines: list[str]) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(b"GET /p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.response().status == 200
        port = client.sock.getsockname()[1]
    [line] = access_lines
    assert re.fullmatch(rf'127\.0\.0\.1:{port} - "GET /p\?q=1 HTTP/1\.1" 200 13 \d+ms', line), line


def test_default_format_ipv6_client(http: str, access_lines: list[str]) -> None:
    sock = bind_tcp("::1", 0, 16)
    port = sock.getsockname()[1]
    with serve(apps.hello, http=http, sockets=[sock]), RawClient(port, host="::1") as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.response().status == 200
        client_port = client.sock.getsockname()[1]
    [line] = access_lines
    assert line.startswith(f'[::1]:{client_port} - "GET / HTTP/1.1" 200 13 '), line


def test_default_format_unix_client(http: str, access_lines: list[str], tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    sock = bind_unix(path, 16)
    with serve(apps.hello, http=http, sockets=[sock]), socket.socket(socket.AF_UNIX) as raw:
        raw.settimeout(5)
        raw.connect(path)
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        while raw.recv(65536):
            pass
    [line] = access_lines
    assert line.startswith('unix: - "GET / HTTP/1.1" 200 13 '), line


def test_gunicorn_format_every_atom(http: str, access_lines: list[str]) -> None:
    fmt = GUNICORN_FORMAT + (
        " m=%(m)s U=%(U)s q=%(q)s H=%(H)s B=%(B)d T=%(T)s M=%(M)s D=%(D)s L=%(L)s p=%(p)s"
        " i=%({X-Req}i)s o=%({x-trace}o)s len=%({Content-Length}o)s srv=%({server}o)s"
        " e=%({REMOTE_ADDR}e)s path=%({PATH_INFO}e)s env=%({MYPKG_TEST_VAR}e)s"
        " none=%({x-missing}i)s"
    )
    os.environ["MYPKG_TEST_VAR"] = "from-env"
    try:
        with serve(with_headers, http=http, access_log_format=fmt) as running:
            auth = base64.b64encode(b"alice:secret").decode()
            head = (
                "GET /a%20b?x=1 HTTP/1.1\r\nHost: x\r\nReferer: http://ref/\r\n"
                f"User-Agent: agent/1\r\nAuthorization: Basic {auth}\r\nX-Req: r1\r\n\r\n"
            )
            assert request(running.port, head.encode()).status == 201
    finally:
        del os.environ["MYPKG_TEST_VAR"]
    [line] = access_lines
    pattern = (
        r"127\.0\.0\.1 - alice \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "
        r'"GET /a%20b\?x=1 HTTP/1\.1" 201 5 "http://ref/" "agent/1" '
        r"m=GET U=/a b q=x=1 H=HTTP/1\.1 B=5 T=0 M=\d+ D=\d+ L=0\.\d{6} "
        rf"p=<{os.getpid()}> i=r1 o=abc len=5 srv=mypkg e=127\.0\.0\.1 path=/a b env=from-env"
        r" none=-"
    )
    assert re.fullmatch(pattern, line), line


def test_client_text_is_escaped(http: str, access_lines: list[str]) -> None:
    with serve(apps.hello, http=http, access_log_format='"%(a)s" "%(f)s"') as running:
        head = b'GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: a"b\\c\r\nReferer: a\tb\r\n\r\n'
        assert request(running.port, head).status == 200
    assert access_lines == ['"a\\"b\\\\c" "a\\x09b"']


def test_root_path_is_not_in_the_request_line(http: str, access_lines: list[str]) -> None:
    fmt = "%(r)s %(U)s %({SCRIPT_NAME}e)s"
    with serve(apps.hello, http=http, root_path="/api", access_log_format=fmt) as running:
        assert request(running.port, b"GET /x?y HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    assert access_lines == ["GET /x?y HTTP/1.1 /x /api"]


def test_error_and_head_responses_are_logged(http: str, access_lines: list[str]) -> None:
    async def boom(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise RuntimeError("boom")

    with serve(boom, http=http, access_log_format="%(m)s %(s)s %(b)s") as running:
        assert request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 500
    with (
        serve(apps.hello, http=http, access_log_format="%(m)s %(s)s %(b)s") as running,
        RawClient(running.port) as client,
    ):
        client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.response(head_only=True).status == 200
    assert access_lines[0].startswith("GET 500 ")
    assert access_lines[1] == "HEAD 200 0"


def test_nothing_is_computed_when_the_access_log_is_off(http: str) -> None:
    calls: list[str] = []
    logger = logging.getLogger("mypkg.access")
    logger.addFilter(lambda record: calls.append("filtered") or True)  # type: ignore[func-returns-value]
    try:
        with serve(apps.hello, http=http, access_log=False) as running:
            assert running.server.state is not None
            assert not running.server.state.access_log
            assert request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    finally:
        logger.filters.clear()
    assert calls == []


def test_unknown_atom_warns_and_logs_a_dash(
    access_lines: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="mypkg.error"),
        serve(apps.hello, access_log_format="%(s)s %(nope)s") as running,
    ):
        assert request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    assert access_lines == ["200 -"]
    assert "unknown atom %(nope)s" in caplog.text


@pytest.mark.parametrize("fmt", ["%(h)s %d", "%(h)", "100%"])
def test_bad_format_is_refused(fmt: str) -> None:
    with pytest.raises(ConfigError, match="access_log_format=: not a valid access log format"):
        Config("tests.support.apps:hello", access_log_format=fmt)


def test_bad_format_on_the_command_line() -> None:
    result = run_cli("tests.support.apps:hello", "--access-log-format", "%(h)s %d", cwd=ROOT)
    assert result.returncode == 2
    assert "--access-log-format: not a valid access log format" in result.stderr


def test_every_atom_is_documented() -> None:
    doc = (ROOT / "docs" / "access-log.md").read_text()
    for atom in [*ATOMS, "{header}i", "{header}o", "{VAR}e"]:
        assert f"`%({atom})s`" in doc, atom


def test_websocket_handshakes_use_the_format(http: str, access_lines: list[str]) -> None:
    """An explicit --access-log-format applies to WebSocket handshakes too: the request line,
    the 101 (or the refusal's status and body size) and the handshake's response headers."""
    fmt = '%(h)s "%(r)s" %(s)s %(b)s %({sec-websocket-accept}o)s "%({x-trace}i)s" %(M)s'
    with serve(echo_app(), http=http, access_log_format=fmt) as running:
        with RawWebSocket(running.port) as client:
            client.open("/ws?room=%1b", extra="X-Trace: a\tb\r\n")
        refused = handshake("/ws").replace(b"GET", b"POST")
        assert request(running.port, refused).status == 405
    assert len(access_lines) == 2, access_lines
    accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455's example key's answer
    assert re.fullmatch(
        rf'127\.0\.0\.1 "GET /ws\?room=%1b HTTP/1\.1" 101 0 {re.escape(accept)} "a\\x09b" \d+',
        access_lines[0],
    ), access_lines[0]
    assert re.fullmatch(r'127\.0\.0\.1 "POST /ws HTTP/1\.1" 405 \d+ - "-" \d+', access_lines[1])


def test_websocket_handshake_does_no_log_work_when_the_log_is_off(http: str) -> None:
    with (
        serve(echo_app(), http=http, access_log=False) as running,
        RawWebSocket(running.port) as client,
    ):
        client.open()
        assert running.server.state is not None
        [conn] = running.server.state.connections
        assert isinstance(conn, WebSocketConnection)
        assert conn.record is None
