"""Bad input from the first byte: limits, request smuggling, versions, deadlines, load limits.

Every case runs on both parsers over a raw socket, checks the status and that the connection is
closed, and then checks that the same server still answers a good request.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.support import apps
from tests.support.boundaries import GOOD, LIMITS, SMALL_LIMITS, assert_healthy, assert_refused
from tests.support.clients import RawClient, request
from tests.support.processes import ServerProcess
from tests.support.servers import serve
from tests.support.waiting import assert_on_time

# --------------------------------------------------------------------------- sizes


def test_request_line_too_long(http: str) -> None:
    with serve(apps.hello, http=http, **SMALL_LIMITS) as running:
        assert (
            request(running.port, b"GET /" + b"a" * 85 + b" HTTP/1.1\r\nHost: x\r\n\r\n").status
            == 200
        )
        assert_refused(running.port, b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414)
        assert_healthy(running.port)


@pytest.mark.parametrize("setting", LIMITS)
def test_limit_boundaries(http: str, setting: str) -> None:
    """Exactly at each head limit is served; one byte (or field) more is refused."""
    status, build = LIMITS[setting]
    limit = SMALL_LIMITS[setting]
    with serve(apps.hello, http=http, **SMALL_LIMITS) as running:
        assert request(running.port, build(limit)).status == 200
        assert_refused(running.port, build(limit + 1), status)
        assert_healthy(running.port)


def test_request_line_trickled_never_ending(http: str) -> None:
    """A line that never ends is refused once it passes the limit, however it is split."""
    with serve(apps.hello, http=http, **SMALL_LIMITS) as running:
        assert_refused(running.port, b"GET /" + b"a" * 400, 414, pieces=40)
        assert_healthy(running.port)


def test_too_many_headers(http: str) -> None:
    fields = b"".join(b"X-%d: y\r\n" % i for i in range(10))
    with serve(apps.hello, http=http, **SMALL_LIMITS) as running:
        assert_refused(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n", 431)
        assert_healthy(running.port)


def test_header_too_large(http: str) -> None:
    with serve(apps.hello, http=http, **SMALL_LIMITS) as running:
        ok = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 90 + b"\r\n\r\n"
        assert request(running.port, ok).status == 200
        big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 200 + b"\r\n\r\n"
        assert_refused(running.port, big, 431)
        assert_healthy(running.port)


def test_header_trickled_never_ending(http: str) -> None:
    """A header value that never ends cannot make the server buffer without bound."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 5000
    with serve(apps.hello, http=http, **SMALL_LIMITS) as running:
        assert_refused(running.port, head, 431, pieces=50)
        assert_healthy(running.port)


def test_pipelined_requests_within_limits_are_not_refused(http: str) -> None:
    """Head limits count each request's own head, not the bytes of the requests before it."""
    one = b"GET /x HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 60 + b"\r\n\r\n"
    with serve(apps.hello, http=http, **SMALL_LIMITS) as running, RawClient(running.port) as client:
        client.send(one * 8 + one[:20])  # ends inside the ninth head
        assert [client.response().status for _ in range(8)] == [200] * 8
        client.send(one[20:])
        assert client.response().status == 200


# --------------------------------------------------------------------------- smuggling

H = b"POST / HTTP/1.1\r\nHost: x\r\n"
CHUNKED = H + b"Transfer-Encoding: chunked\r\n\r\n"

SMUGGLING = {
    "cl-and-te": H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "cl-duplicate-same": H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    "cl-duplicate-differing": H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl-list": H + b"Content-Length: 5, 5\r\n\r\nhello",
    "cl-plus": H + b"Content-Length: +5\r\n\r\nhello",
    "cl-two-numbers": H + b"Content-Length: 5 5\r\n\r\nhello",
    "cl-hex": H + b"Content-Length: 0x5\r\n\r\nhello",
    "cl-negative": H + b"Content-Length: -1\r\n\r\n",
    "cl-empty": H + b"Content-Length: \r\n\r\n",
    "cl-overflow": H + b"Content-Length: 99999999999999999999999\r\n\r\n",
    "te-gzip": H + b"Transfer-Encoding: gzip\r\n\r\nhello",
    "te-chunked-gzip": H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "te-gzip-chunked": H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te-identity": H + b"Transfer-Encoding: identity\r\n\r\nhello",
    "te-twice": H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "chunk-size-not-hex": CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n",
    "chunk-size-negative": CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-0x": CHUNKED + b"0x5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-leading-space": CHUNKED + b" 5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-empty": CHUNKED + b"\r\nhello\r\n0\r\n\r\n",
    "chunk-data-too-long": CHUNKED + b"3\r\nhello\r\n0\r\n\r\n",
    "chunk-missing-crlf": CHUNKED + b"5\r\nhelloXX0\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
    "obs-fold-tab": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "nul-in-name": b"GET / HTTP/1.1\r\nHost: x\r\nX\x00A: ab\r\n\r\n",
    "cr-in-value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "lf-in-value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\nContent-Length: 5\r\n\r\nhello",
    "control-in-value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
    "bare-lf-lines": b"GET / HTTP/1.1\nHost: x\n\n",
    "missing-host": b"GET / HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "two-hosts-http10": b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    "not-http": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n",
    "bad-target": b"GET foo HTTP/1.1\r\nHost: x\r\n\r\n",
    "lowercase-protocol": b"GET / http/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("data", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_refused(http: str, data: bytes) -> None:
    recorder = apps.Recorder()
    with serve(recorder, http=http) as running:
        assert_refused(running.port, data, 400)
        if data.startswith(CHUNKED):  # a valid head; only the chunked body after it is bad
            assert len(recorder.scopes) <= 1, recorder.scopes
        else:
            assert recorder.scopes == [], "a malformed head reached the app"
        assert_healthy(running.port)


def test_chunked_body_error_reaches_app_as_disconnect(http: str) -> None:
    """The app reading a body whose chunks turn out malformed sees http.disconnect, and the
    client still gets a 400 (the app had not started its response)."""
    app = apps.UntilDisconnect()
    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(CHUNKED + b"5\r\nhello\r\n")
        client.send(b"zz\r\n")
        assert client.response().status == 400
        assert client.is_closed()
    assert app.finished.wait(5)
    assert app.messages[-1] == {"type": "http.disconnect"}
    assert b"".join(m.get("body", b"") for m in app.messages) in (b"", b"hello")


def test_http_versions(http: str) -> None:
    """505 for a well-formed HTTP/x.y other than 1.0/1.1; 400 for HTTP/0.9 (see README)."""
    with serve(apps.hello, http=http) as running:
        for version in (b"2.0", b"1.2", b"3.0"):
            assert_refused(running.port, b"GET / HTTP/" + version + b"\r\nHost: x\r\n\r\n", 505)
        assert_refused(running.port, b"GET /\r\n\r\n", 400)
        assert_refused(running.port, b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 400)
        assert_refused(running.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505)
        assert_healthy(running.port)


def test_bad_request_after_good_pipelined_ones(http: str) -> None:
    """Requests before the bad bytes are answered in order; then the error, then close."""
    good = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    with serve(apps.echo, http=http) as running, RawClient(running.port) as client:
        client.send(good + b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n")
        assert client.response().header("x-path") == "/a"
        assert client.response().header("x-path") == "/b"
        assert client.response().status == 400
        assert client.is_closed()


# --------------------------------------------------------------------------- deadlines


def test_request_head_deadline_against_trickling(http: str) -> None:
    """One header byte every 0.2 s never gets past --timeout-request-head (408, close)."""
    timeout = 0.5
    with serve(apps.hello, http=http, timeout_request_head=timeout) as running:
        tick = running.server.state.tick_interval  # type: ignore[union-attr]
        with socket.create_connection(("127.0.0.1", running.port)) as sock:
            started = time.monotonic()
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            sock.settimeout(0.2)  # the pace of the trickle: one byte per wait for an answer
            received = b""
            while time.monotonic() - started < 5:
                try:
                    sock.sendall(b"X")  # a header that never ends
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
                if not data:
                    break
                received += data
            elapsed = time.monotonic() - started
        assert received.startswith(b"HTTP/1.1 408 ")
        assert b"connection: close\r\n" in received
        assert_on_time(elapsed, timeout, tick)
        assert_healthy(running.port)


# --------------------------------------------------------------------------- load limits


def test_limit_concurrency_answers_503(http: str) -> None:
    gate = apps.Gate()
    with serve(gate, http=http, limit_concurrency=2) as running:
        with RawClient(running.port) as one, RawClient(running.port) as two:
            one.send(GOOD)
            two.send(GOOD)
            gate.wait_entered(2)
            with RawClient(running.port) as three:
                three.send(GOOD)
                response = three.response()
                assert response.status == 503
                assert response.header("connection") == "close"
                assert three.is_closed()
            gate.open()
            assert one.response().status == 200
            assert two.response().status == 200
        assert_healthy(running.port)
    assert gate.entered == 3  # the refused request never reached the app


def test_limit_max_requests_finishes_in_flight_work_and_exits(http: str) -> None:
    with ServerProcess(
        "tests.support.apps:held", "--http", http, "--limit-max-requests", "1"
    ) as proc:
        port = proc.wait_serving()
        with RawClient(port) as holder, RawClient(port) as releaser:
            holder.send(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            proc.wait_for_line("app: holding /hold")
            releaser.send(b"GET /release HTTP/1.1\r\nHost: x\r\n\r\n")
            assert releaser.response().body == b"releasing"
            held = holder.response()
            assert (held.status, held.body) == (200, b"released")
        assert proc.wait() == 0
        assert "--limit-max-requests" in proc.output
