"""HTTP/1.1 connection behaviour and response framing, on both parsers, checked on the raw bytes."""

from __future__ import annotations

import email.utils
import threading
import time
from typing import Any

from tests.support import apps
from tests.support.clients import RawClient, raw_get, request
from tests.support.processes import ServerProcess
from tests.support.servers import serve


async def streamer(scope: Any, receive: Any, send: Any) -> None:
    """Streams "hello world" in pieces, with an empty piece between, and no length."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    for piece in (b"hello", b"", b" world"):
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


# --------------------------------------------------------------------------- connections


def test_pipelined_requests_answered_in_order(http: str) -> None:
    """Several requests in one send, the first one slow: the responses come in order."""
    gate = apps.Gate(apps.echo)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await (gate if scope["path"] == "/slow" else apps.echo)(scope, receive, send)

    requests = (
        raw_get("/slow")
        + b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        + b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"3\r\nabc\r\n0\r\n\r\n"
        + raw_get("/last")
    )
    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(requests)
        gate.wait_entered(1)
        gate.open()
        answers = [client.response() for _ in range(4)]
    assert [(r.header("x-path"), r.body) for r in answers] == [
        ("/slow", b""),
        ("/post", b"hello"),
        ("/chunked", b"abc"),
        ("/last", b""),
    ]


def test_many_pipelined_requests(http: str) -> None:
    with serve(apps.echo, http=http) as running, RawClient(running.port) as client:
        client.send(b"".join(raw_get(f"/{index}") for index in range(200)))
        paths = [client.response().header("x-path") for _ in range(200)]
    assert paths == [f"/{index}" for index in range(200)]


# --------------------------------------------------------------------------- bodiless responses


def test_head_has_no_body_and_the_length_get_would_send(http: str) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + raw_get("/"))
        head = client.response(head_only=True)
        assert head.header("content-length") == "13"
        get_response = client.response()  # would not parse if the HEAD had sent a body
        assert (get_response.status, get_response.body) == (200, b"Hello, world!")


def test_head_with_a_streamed_body_sends_no_body(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-length", b"10")] if scope["path"] == "/length" else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for piece in (b"01234", b"56789"):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with serve(app, http=http) as running, RawClient(running.port) as client:
        head = b"HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n"
        client.send(head % b"/length" + head % b"/stream" + raw_get("/length"))
        first = client.response(head_only=True)
        assert first.header("content-length") == "10"
        assert first.header("connection") is None
        second = client.response(head_only=True)
        assert second.header("content-length") is None
        assert second.header("connection") is None
        assert client.response().body == b"0123456789"


def test_no_body_on_204_and_304(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            status = int(scope["path"][1:])
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b"must not be sent"})

    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get("/204") + raw_get("/304") + raw_get("/200"))
        for status in (204, 304):
            response = client.response()
            assert response.status == status
            assert response.header("content-length") is None
            assert response.header("transfer-encoding") is None
        last = client.response()
        assert (last.status, last.body) == (200, b"must not be sent")


# --------------------------------------------------------------------------- request bodies


def test_content_length_body(http: str) -> None:
    with serve(apps.echo, http=http) as running:
        data = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
        assert request(running.port, data).body == b"hello world"


def test_chunked_body_with_extensions_and_trailers(http: str) -> None:
    body = b"5;name=value\r\nhello\r\n6;flag\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    head = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with serve(apps.echo, http=http) as running, RawClient(running.port) as client:
        client.send(head + body + raw_get("/next"))
        assert client.response().body == b"hello world"
        assert client.response().header("x-path") == "/next"  # the trailer did not leak


def test_body_streams_to_the_app_in_pieces(http: str) -> None:
    pieces: list[tuple[bytes, bool]] = []
    first_piece = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            pieces.append((message["body"], message["more_body"]))
            first_piece.set()
            if not message["more_body"]:
                break
        await apps.respond(send, 200, b"done")

    head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(head + b"3\r\nabc\r\n")
        assert first_piece.wait(5)
        assert pieces == [(b"abc", True)]  # delivered before the rest was even sent
        client.send(b"3\r\ndef\r\n0\r\n\r\n")
        assert client.response().body == b"done"
    assert b"".join(body for body, _ in pieces) == b"abcdef"
    assert pieces[-1][1] is False


def test_expect_100_continue_sent_when_the_app_reads(http: str) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    with serve(apps.echo, http=http) as running, RawClient(running.port) as client:
        client.send(head)
        assert client.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue"
        client.send(b"hello")
        response = client.response()
        assert (response.status, response.body) == (200, b"hello")
        client.send(raw_get("/after"))  # still keep-alive
        assert client.response().status == 200


def test_expect_100_not_sent_when_the_app_answers_without_reading(http: str) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(head)
        response = client.response()  # the first bytes: a 100 would be read here
        assert (response.status, response.body) == (200, b"Hello, world!")
        assert response.header("connection") == "close"
        assert client.is_closed()


# --------------------------------------------------------------------------- response framing


def test_streamed_response_is_chunked_on_http11(http: str) -> None:
    with serve(streamer, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get())
        head = client.read_until(b"\r\n\r\n").lower()
        assert b"\r\ntransfer-encoding: chunked" in head
        assert b"content-length" not in head
        assert client.read_until(b"0\r\n\r\n") == b"5\r\nhello\r\n6\r\n world\r\n"
        client.send(raw_get())  # the connection is still usable
        assert client.response().body == b"hello world"


def test_streamed_response_is_close_delimited_on_http10(http: str) -> None:
    with serve(streamer, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get("/", b"Connection: keep-alive", version=b"1.0"))
        head, _, body = client.read_to_close().partition(b"\r\n\r\n")
    assert b"\r\nconnection: close" in head.lower()
    assert b"transfer-encoding" not in head.lower()
    assert body == b"hello world"


def test_body_in_one_piece_gets_a_content_length(http: str) -> None:
    with serve(apps.hello, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get())
        head = client.read_until(b"\r\n\r\n").lower()
        assert b"\r\ncontent-length: 13" in head
        assert b"transfer-encoding" not in head


def test_app_given_length_with_streamed_body_is_not_chunked(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"6")]}
        )
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"def"})

    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get() + raw_get())
        for _ in range(2):
            response = client.response()
            assert response.body == b"abcdef"
            assert response.header("transfer-encoding") is None


# --------------------------------------------------------------------------- default headers


def test_server_and_date_headers(http: str) -> None:
    with serve(apps.hello, http=http) as running:
        response = request(running.port, raw_get())
    assert response.header("server") == "mypkg"
    date = response.header("date")
    assert date is not None
    assert abs(email.utils.parsedate_to_datetime(date).timestamp() - time.time()) < 5


def test_no_server_header_no_date_header_and_extra_headers(http: str) -> None:
    settings = {
        "server_header": False,
        "date_header": False,
        "headers": ["X-Served-By:mypkg-test", "X-Other: two"],
    }
    with serve(apps.hello, http=http, **settings) as running:
        response = request(running.port, raw_get())
        refused = request(running.port, b"GET / HTTP/1.1\r\n\r\n")  # our own 400 too
    for answer in (response, refused):
        assert answer.header("server") is None
        assert answer.header("date") is None
        assert answer.header("x-served-by") == "mypkg-test"
        assert answer.header("x-other") == "two"


def test_app_headers_replace_the_defaults(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await apps.respond(send, 200, b"", [(b"Server", b"custom"), (b"X-Default", b"app")])

    with serve(app, http=http, headers=["X-Default:server"]) as running:
        response = request(running.port, raw_get())
    names = [name.lower() for name, _ in response.headers]
    assert names.count("server") == 1 and response.header("server") == "custom"
    assert names.count("x-default") == 1 and response.header("x-default") == "app"
    assert response.header("date") is not None


def test_default_header_flags_in_a_real_process(http: str) -> None:
    flags = ("--no-server-header", "--no-date-header", "--header", "X-Served-By: flag")
    with ServerProcess("tests.support.apps:hello", "--http", http, *flags) as proc:
        response = request(proc.wait_serving(), raw_get())
    assert response.header("server") is None
    assert response.header("date") is None
    assert response.header("x-served-by") == "flag"
