"""The request-parsing rules both backends apply (README "Request parsing rules").

Each rule is checked on both parsers over a raw socket: what the app sees for a request that is
accepted, and the status plus a closed connection for one that is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

import httptools
import pytest

from mypkg.http import walk
from mypkg.http.methods import KNOWN_METHODS
from tests.support import apps, feed
from tests.support.boundaries import SMALL_LIMITS, assert_healthy, assert_refused
from tests.support.clients import RawClient, request
from tests.support.servers import serve

CHUNKED = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


async def scope_after_body(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body first, then answers with the method, path, headers and body: the
    headers as they are once the body (and any trailer section) has been parsed."""
    if scope["type"] != "http":
        return
    body = await apps.read_body(receive)
    seen = {
        "method": scope["method"],
        "path": scope["path"],
        "headers": [
            [name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]
        ],
        "body": body.decode("latin-1"),
    }
    await apps.respond(send, 200, json.dumps(seen).encode())


def seen(port: int, data: bytes) -> dict[str, Any]:
    response = request(port, data)
    assert response.status == 200, response
    result: dict[str, Any] = json.loads(response.body)
    return result


# --------------------------------------------------------------------------- trailers


def test_chunked_trailers_never_reach_the_scope_headers(http: str) -> None:
    """Trailer fields are dropped: a trailer section cannot add or change a request header."""
    trailers = b"Host: evil\r\nX-Forwarded-For: 6.6.6.6\r\nX-Trailer: 1\r\n\r\n"
    recorder = apps.Recorder(scope_after_body)
    with serve(recorder, http=http) as running, RawClient(running.port) as client:
        client.send(CHUNKED + b"5\r\nhello\r\n0\r\n" + trailers)
        client.send(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        first = json.loads(client.response().body)
        assert first["headers"] == [["host", "x"], ["transfer-encoding", "chunked"]]
        assert first["body"] == "hello"
        assert json.loads(client.response().body)["path"] == "/next"
    headers = recorder.scopes[0]["headers"]  # the very list the app was given, after the body
    assert headers == [(b"host", b"x"), (b"transfer-encoding", b"chunked")]


def test_trailer_fields_are_held_to_the_field_limits(http: str) -> None:
    """Dropped trailers still count: one over the field size limit gets 431."""
    big = b"X-Big: " + b"b" * 200 + b"\r\n\r\n"
    with serve(apps.echo, http=http, limit_request_field_size=100) as running:
        assert_refused(running.port, CHUNKED + b"5\r\nhello\r\n0\r\n" + big, 431)
        assert_healthy(running.port)


def test_trailer_section_trickled_without_end_is_bounded(http: str) -> None:
    """A trailer field that never ends cannot make the server buffer without bound."""
    data = CHUNKED + b"5\r\nhello\r\n0\r\nX-T: " + b"v" * 5000
    with serve(apps.echo, http=http, **SMALL_LIMITS) as running:
        assert_refused(running.port, data, 431, pieces=50)
        assert_healthy(running.port)


# --------------------------------------------------------------------------- field values


def test_whitespace_around_field_values_is_not_part_of_the_value(http: str) -> None:
    """RFC 9110 §5.5: leading and trailing SP/HTAB are excluded from a field value."""
    data = b"GET / HTTP/1.1\r\nHost: x\r\nName: \t value \t \r\nOther:v\r\nMid: a  b\r\n\r\n"
    with serve(scope_after_body, http=http) as running:
        headers = seen(running.port, data)["headers"]
    assert headers == [["host", "x"], ["name", "value"], ["other", "v"], ["mid", "a  b"]]


# --------------------------------------------------------------------------- request target


def test_asterisk_form_only_for_options(http: str) -> None:
    """RFC 9112 §3.2.4: ``*`` is the target of a server-wide OPTIONS request only."""
    with serve(scope_after_body, http=http) as running:
        assert seen(running.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")["path"] == "*"
        for method in (b"GET", b"POST", b"HEAD", b"DELETE"):
            assert_refused(running.port, method + b" * HTTP/1.1\r\nHost: x\r\n\r\n", 400)
        assert_healthy(running.port)


# --------------------------------------------------------------------------- framing


@pytest.mark.parametrize(
    "framing",
    [
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["chunked", "chunked-and-length", "chunked-body"],
)
def test_http10_with_transfer_encoding_is_refused(http: str, framing: bytes) -> None:
    """RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing."""
    recorder = apps.Recorder()
    with serve(recorder, http=http) as running:
        assert_refused(running.port, b"POST / HTTP/1.0\r\nHost: x\r\n" + framing, 400)
        assert_healthy(running.port)
    assert [scope["path"] for scope in recorder.scopes] == ["/good"]  # refused before the app


# --------------------------------------------------------------------------- methods

CANDIDATE_METHODS = [
    *(name.decode() for name in sorted(KNOWN_METHODS)),
    *(
        [
            "DESCRIBE",
            "ANNOUNCE",
            "SETUP",
            "PLAY",
            "PAUSE",
            "TEARDOWN",
            "GET_PARAMETER",
            "RECORD",
            "FLUSH",
        ]
    ),
    *(["PRI", "get", "Get", "GeT", "GE`T", "FOO", "BREW"]),
]


def test_known_methods_are_the_ones_llhttp_knows() -> None:
    """KNOWN_METHODS (which h11 requests are held to) is exactly what llhttp accepts."""

    class Head:
        done = False

        def on_headers_complete(self) -> None:
            self.done = True

    accepted = set()
    for method in CANDIDATE_METHODS:
        head = Head()
        target = b"x:443" if method == "CONNECT" else b"/"
        with contextlib.suppress(httptools.HttpParserError, httptools.HttpParserUpgrade):
            httptools.HttpRequestParser(head).feed_data(
                method.encode() + b" " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"
            )
        if head.done:
            accepted.add(method.encode())
    assert accepted == KNOWN_METHODS


@pytest.mark.parametrize("method", [b"GeT", b"get", b"GE`T", b"FOO", b"BREW", b"DESCRIBE"])
def test_unknown_method_tokens_are_refused(http: str, method: bytes) -> None:
    """Valid tokens llhttp does not know: 400 on both (README: llhttp cannot be told otherwise)."""
    recorder = apps.Recorder()
    with serve(recorder, http=http) as running:
        assert_refused(running.port, method + b" / HTTP/1.1\r\nHost: x\r\n\r\n", 400)
        assert_healthy(running.port)
    assert [scope["path"] for scope in recorder.scopes] == ["/good"]


def test_registered_methods_are_served(http: str) -> None:
    with serve(scope_after_body, http=http) as running:
        for method in (b"PROPFIND", b"QUERY", b"M-SEARCH", b"PURGE"):
            assert (
                seen(running.port, method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")["method"]
                == method.decode()
            )


# --------------------------------------------------------------------------- chunked bodies


@pytest.mark.parametrize(
    "size_line",
    [
        b"5; name=value",
        b"5 ; name = value",
        b"5\t;\tname\t=\tvalue",
        b'5 ;n="a b";flag',
        b"005;a=b",
    ],
)
def test_chunk_extensions_with_optional_whitespace_are_accepted(
    http: str, size_line: bytes
) -> None:
    """RFC 9112 §7.1.1: BWS around ";" and "="; the extension is ignored."""
    with serve(scope_after_body, http=http) as running:
        data = CHUNKED + size_line + b"\r\nhello\r\n6 ;x\r\n world\r\n0 ; last = 1\r\n\r\n"
        assert seen(running.port, data)["body"] == "hello world"


BAD_CHUNKED = {
    "bare-lf-after-last-chunk": b"5\r\nhello\r\n0\r\n\n",
    "bare-lf-in-trailer": b"5\r\nhello\r\n0\r\nX: y\n\r\n",
    "space-after-size": b"5 \r\nhello\r\n0\r\n\r\n",
    "empty-extension": b"5;\r\nhello\r\n0\r\n\r\n",
    "extension-without-name": b"5;=x\r\nhello\r\n0\r\n\r\n",
    "extension-without-value": b"5;a=\r\nhello\r\n0\r\n\r\n",
    "control-in-extension": b"5;a\x01=b\r\nhello\r\n0\r\n\r\n",
    "size-overflow": b"10000000000000000\r\nx\r\n0\r\n\r\n",
    "obs-fold-in-trailer": b"5\r\nhello\r\n0\r\nX: y\r\n z\r\n\r\n",
    "not-a-trailer-field": b"5\r\nhello\r\n0\r\nnot a field\r\n\r\n",
}


@pytest.mark.parametrize("body", BAD_CHUNKED.values(), ids=BAD_CHUNKED.keys())
def test_malformed_chunked_bodies_are_refused(http: str, body: bytes) -> None:
    with serve(apps.echo, http=http) as running:
        assert_refused(running.port, CHUNKED + body, 400)
        assert_healthy(running.port)


CHUNKED_STREAM = (
    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    b"\r\n"  # a blank line between requests: skipped
    b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3 ; e = 1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"
    b"POST /d HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\n\r\nhi"
    b"POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
)
EXPECTED_BODIES = [("/a", b""), ("/b", b"hello"), ("/c", b"abc"), ("/d", b"hi"), ("/e", b"ok")]


def bodies(written: bytes) -> list[tuple[str, bytes]]:
    """(path, body) of each echo response in ``written``."""
    answers = []
    for raw in written.split(b"HTTP/1.1 ")[1:]:
        head, _, body = raw.partition(b"\r\n\r\n")
        if b"x-path: " in head:  # (an error response has none)
            path = head.split(b"x-path: ")[1].split(b"\r\n")[0].decode()
            answers.append((path, body))
    return answers


@pytest.mark.parametrize("split", [*range(0, len(CHUNKED_STREAM), 7), len(CHUNKED_STREAM) - 1])
def test_chunked_requests_among_pipelined_ones_in_any_split(http: str, split: int) -> None:
    """Whatever the read boundaries, each request gets its own body (the httptools backend
    finds where a chunked head ended in a read that held other requests too)."""
    pieces = [CHUNKED_STREAM[:split], CHUNKED_STREAM[split:]]
    assert bodies(feed.run(http, apps.echo, pieces)) == EXPECTED_BODIES


def test_chunked_requests_among_pipelined_ones_byte_by_byte(http: str) -> None:
    pieces = [CHUNKED_STREAM[i : i + 1] for i in range(len(CHUNKED_STREAM))]
    assert bodies(feed.run(http, apps.echo, pieces)) == EXPECTED_BODIES


# --------------------------------------------------------------------------- request line


@pytest.mark.parametrize("line", [b"GET  / HTTP/1.1", b"GET /  HTTP/1.1", b"GET   /a  HTTP/1.1"])
def test_request_line_with_two_spaces_is_refused(http: str, line: bytes) -> None:
    """RFC 9112 §3: single SPs; llhttp would skip the extra ones, h11 refuses: 400 on both."""
    recorder = apps.Recorder()
    with serve(recorder, http=http) as running:
        assert_refused(running.port, line + b"\r\nHost: x\r\n\r\n", 400)
        assert_healthy(running.port)
    assert [scope["path"] for scope in recorder.scopes] == ["/good"]


PIPELINE_WITH_BAD_LINE = (
    b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nGET  / x "  # spaces in a body: fine
    b"GET /b HTTP/1.1\r\nHost: x\r\nX-Pad: a  b\r\n\r\n"  # and in a field value
    b"GET  /c HTTP/1.1\r\nHost: x\r\n\r\n"
)


@pytest.mark.parametrize("split", range(0, len(PIPELINE_WITH_BAD_LINE), 5))
def test_two_spaces_refused_only_in_a_request_line_whatever_the_reads(
    http: str, split: int
) -> None:
    pieces = [PIPELINE_WITH_BAD_LINE[:split], PIPELINE_WITH_BAD_LINE[split:]]
    written = feed.run(http, apps.echo, pieces)
    assert bodies(written) == [("/a", b"GET  / x "), ("/b", b"")]
    assert written.split(b"HTTP/1.1 ")[-1].startswith(b"400 ")


def test_content_length_with_whitespace_around_it(http: str) -> None:
    """RFC 9110 §5.5: OWS around a field value is not part of it, Content-Length included."""
    with serve(scope_after_body, http=http) as running:
        for field in (b"Content-Length: 5 ", b"Content-Length:5\t", b"Content-Length: \t5 \t"):
            data = b"POST / HTTP/1.1\r\nHost: x\r\n" + field + b"\r\n\r\nhello"
            assert seen(running.port, data)["body"] == "hello"


# --------------------------------------------------------------------------- head size


def head_of(size: int) -> bytes:
    """A request head of exactly ``size`` bytes (request line, fields, blank line)."""
    start = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: "
    return start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"


@pytest.mark.parametrize("pieces", [1, 2, 7])
def test_head_size_limit_is_exact_on_both(http: str, pieces: int) -> None:
    """--limit-request-head-size counts the head's bytes: N is served, N+1 gets 431."""
    settings = {"limit_request_head_size": 2048, "limit_request_field_size": 4096}
    for size, status in ((2047, b"200 "), (2048, b"200 "), (2049, b"431 ")):
        data = head_of(size)
        step = -(-len(data) // pieces)
        split = [data[i : i + step] for i in range(0, len(data), step)]
        written = feed.run(http, apps.hello, split, **settings)
        assert written[9:13] == status, (size, written[:60])


def test_bytes_after_an_upgrade_request_are_not_read_as_requests() -> None:
    """Two spaces in what follows an upgrade request (WebSocket frames) refuse nothing."""
    head = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: other\r\n\r\n"
    starts = [start for start, _, _ in walk.heads(head + b"GET  / HTTP/1.1\r\n\r\n", b"", 0)]
    assert starts == [0]


EARLY = {
    "not-a-method": (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nxhello", b"400"),
    "bad-version": (b"GET / HTTP/7.0\r\n\r", b"505"),
    "bad-target": (b"OPTIONS =* HTTP/1.1\r\nHost: x\r\n", b"400"),
    "byte-in-target": (b"GET /\xf3HTT", b"400"),
    "cr-in-name": (b"GET / HTTP/1.0\r\nX\r", b"400"),
    "control-in-value": (b"GET / HTTP/1.0\r\nX: \x01", b"400"),
    "bare-cr": (b"GET / HTTP/1.0\r\x01", b"400"),
}


@pytest.mark.parametrize(("data", "status"), EARLY.values(), ids=EARLY.keys())
def test_a_head_already_wrong_is_answered_before_it_ends(
    http: str, data: bytes, status: bytes
) -> None:
    """llhttp refuses at the first byte that cannot fit; the h11 backend checks each line as it
    arrives (mypkg/http/headscan.py), so a head that never ends gets the same answer at once."""
    written = feed.run(http, apps.echo, [data])
    assert written.split(b"HTTP/1.1 ")[-1][:3] == status, written


def test_transfer_encoding_reaches_the_app_as_chunked(http: str) -> None:
    """Its only allowed value, whatever its case or surrounding whitespace."""
    data = CHUNKED.replace(b"chunked", b" ChUnKeD ") + b"2\r\nhi\r\n0\r\n\r\n"
    with serve(scope_after_body, http=http) as running:
        headers = seen(running.port, data)["headers"]
    assert headers == [["host", "x"], ["transfer-encoding", "chunked"]]


# --------------------------------------------------------------------------- content-length range


def test_content_length_of_2_to_the_64_or_more_is_refused(http: str) -> None:
    """llhttp's bound (a length must fit 64 bits) and h11's (at most 20 digits, leading zeros
    included) hold on both backends: 400 before the app, whatever the parser."""
    recorder = apps.Recorder()
    values = (b"18446744073709551616", b"99999999999999999999999", b"0" * 20 + b"5")
    with serve(recorder, http=http) as running:
        for value in values:
            head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + value + b"\r\n\r\n"
            assert_refused(running.port, head + b"hello", 400)
        assert_healthy(running.port)
        padded = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: " + b"0" * 19 + b"5\r\n\r\nhello"
        response = request(running.port, padded)  # 20 digits, leading zeros: accepted
        assert (response.status, response.body) == (200, b"hello")
        with RawClient(running.port) as client:  # 2^64 - 1: accepted, the app asks for the body
            client.send(
                b"POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                b"Content-Length: 18446744073709551615\r\n\r\n"
            )
            assert client.response().status == 100
    assert [scope["path"] for scope in recorder.scopes] == ["/good", "/p", "/p"]


# --------------------------------------------------------------------------- half-close


GET = b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n"


async def hello_later(scope: Any, receive: Any, send: Any) -> None:
    """Lets the loop turn a few times before answering: long enough for the server to read a
    half-close that came after the request (no wall-clock wait)."""
    for _ in range(20):
        await asyncio.sleep(0)
    await apps.hello(scope, receive, send)


def responses_after_half_close(port: int, data: bytes) -> list[Any]:
    """Send ``data``, half-close (shutdown(SHUT_WR)), read every response until the close."""
    with RawClient(port) as client:
        client.send(data)
        client.sock.shutdown(socket.SHUT_WR)
        responses = []
        while True:
            try:
                responses.append(client.response())
            except ConnectionError:
                assert client.buffer == b"", client.buffer  # nothing but whole responses
                return responses


@pytest.mark.parametrize("count", [1, 6])
def test_requests_followed_by_a_half_close_are_all_answered(http: str, count: int) -> None:
    """RFC 9112 §9.6: a client may half-close after its requests; each one sent in full is
    answered, in order, then the connection closes."""
    recorder = apps.Recorder(hello_later)
    with serve(recorder, http=http) as running:
        data = b"".join(GET % n for n in range(count))
        responses = responses_after_half_close(running.port, data)
    assert [response.status for response in responses] == [200] * count
    assert [scope["path"] for scope in recorder.scopes] == [f"/{n}" for n in range(count)]


def test_post_with_a_body_then_half_close_is_answered(http: str) -> None:
    with serve(apps.echo, http=http) as running:
        post = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        chunked = CHUNKED + b"3\r\nabc\r\n0\r\n\r\n"
        responses = responses_after_half_close(running.port, post + chunked + post)
    answered = [(response.status, response.body) for response in responses]
    assert answered == [(200, b"hello"), (200, b"abc"), (200, b"hello")]


@pytest.mark.parametrize(
    "cut",
    [
        b"GET /cut HTTP/1.1\r\nHost:",
        b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nhel",
    ],
    ids=["head", "body"],
)
def test_a_request_cut_short_by_a_half_close_gets_no_response(http: str, cut: bytes) -> None:
    """RFC 9112 §8: an incomplete request is not answered; those before it are, then the close."""
    recorder = apps.Recorder()
    with serve(recorder, http=http) as running:
        responses = responses_after_half_close(running.port, GET % 0 + GET % 1 + cut)
        assert_healthy(running.port)
    assert [response.status for response in responses] == [200, 200]
    paths = [scope["path"] for scope in recorder.scopes]
    assert paths == ["/0", "/1", "/good"] or paths == ["/0", "/1", "/cut", "/good"]


def test_an_app_waiting_for_the_client_to_go_sees_a_half_close_as_gone(http: str) -> None:
    """An app still in receive() after its whole body (a long poll) takes a half-close as the
    client leaving: http.disconnect, and the connection closes without a response."""
    app = apps.UntilDisconnect()
    with serve(app, http=http) as running:
        responses = responses_after_half_close(running.port, GET % 0)
        assert app.finished.wait(5)
    assert responses == []
    assert [message["type"] for message in app.messages] == ["http.request", "http.disconnect"]
