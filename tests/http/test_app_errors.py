"""What the client sees when the app misbehaves or the client leaves, on both parsers.

Each check reads the raw bytes up to the close: a truncated body must never look complete, and a
bad response header must never reach the wire.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.support import apps
from tests.support.clients import RawClient, is_500
from tests.support.servers import raw_exchange, serve

KEEP = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def start(status: int = 200, headers: list[Any] | None = None) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": headers or []}


def body(data: bytes, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


# --------------------------------------------------------------------------- response headers

BAD_HEADERS = {
    "cr-in-value": (b"x-a", b"a\rInjected: 1"),
    "lf-in-value": (b"x-a", b"a\nInjected: 1"),
    "crlf-in-value": (b"x-a", b"a\r\nInjected: 1"),
    "nul-in-value": (b"x-a", b"a\x00Injected"),
    "crlf-in-name": (b"x-a\r\nInjected", b"1"),
    "lf-in-name": (b"x-a\nInjected", b"1"),
    "nul-in-name": (b"x-a\x00Injected", b"1"),
    "space-in-name": (b"x Injected", b"1"),
    "colon-in-name": (b"x:Injected", b"1"),
    "empty-name": (b"", b"Injected"),
}


@pytest.mark.parametrize("header", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_bad_response_header_becomes_500(
    http: str, header: tuple[bytes, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send(start(200, [(b"content-type", b"text/plain"), header]))
            await send(body(b"secret body"))

    raw = raw_exchange(app, http)
    assert is_500(raw), raw
    assert b"Injected" not in raw
    assert b"secret body" not in raw
    assert b"\x00" not in raw
    assert raw.count(b"\r\n\r\n") == 1  # one head, no stray line breaks
    assert "Exception in ASGI application" in caplog.text


def test_bad_header_value_type_becomes_500(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send(start(200, [(b"x-a", "text, not bytes")]))
            await send(body(b"secret body"))

    raw = raw_exchange(app, http)
    assert is_500(raw) and b"secret body" not in raw


# --------------------------------------------------------------------------- app failures


def test_app_raising_before_responding_gets_500(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise RuntimeError("boom")

    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(KEEP)
        response = client.response()
        assert response.status == 500
        client.send(KEEP)  # the connection survives a handled failure
        assert client.response().status == 500


def test_app_raising_after_start_before_body_gets_500(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send(start(201, [(b"x-partial", b"1")]))
            raise RuntimeError("boom")

    raw = raw_exchange(app, http)
    assert is_500(raw)
    assert b"x-partial" not in raw


@pytest.mark.parametrize("ending", ["raises", "returns"])
def test_app_ending_mid_chunked_body_never_completes_it(http: str, ending: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send(start())
            await send(body(b"partial", more=True))
            if ending == "raises":
                raise RuntimeError("boom")

    raw = raw_exchange(app, http, KEEP)  # the server closes although the client kept alive
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding: chunked" in head.lower()
    assert rest == b"7\r\npartial\r\n"  # no terminating 0-chunk


@pytest.mark.parametrize("ending", ["raises", "returns", "finishes short"])
def test_app_ending_mid_fixed_length_body_sends_fewer_bytes_and_closes(
    http: str, ending: str
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send(start(200, [(b"content-length", b"100")]))
            await send(body(b"partial", more=ending != "finishes short"))
            if ending == "raises":
                raise RuntimeError("boom")

    head, _, rest = raw_exchange(app, http, KEEP).partition(b"\r\n\r\n")
    assert b"content-length: 100" in head.lower()
    assert rest == b"partial"


def test_app_sending_more_than_its_content_length_is_cut(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send(start(200, [(b"content-length", b"5")]))
            await send(body(b"abc", more=True))
            await send(body(b"defgh"))

    head, _, rest = raw_exchange(app, http, KEEP).partition(b"\r\n\r\n")
    assert b"content-length: 5" in head.lower()
    assert rest == b"abc"


def test_app_returning_without_responding_gets_500(http: str, caplog: Any) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(KEEP)
        assert client.response().status == 500
    assert "returned without starting a response" in caplog.text


def test_app_returning_after_start_only_gets_500(http: str) -> None:
    """Nothing of the response is on the wire yet, so the client can still get a real answer."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send(start(200, [(b"x-partial", b"1")]))

    raw = raw_exchange(app, http)
    assert is_500(raw)
    assert b"x-partial" not in raw


def test_app_raising_after_the_response_does_not_cut_the_next_request(http: str) -> None:
    """A failure after a complete response is logged; the keep-alive connection lives on."""
    release = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await apps.read_body(receive)
        await apps.respond(send, 200, scope["path"].encode())
        if scope["path"] == "/first":
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 5)
            raise RuntimeError("background failure")

    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.response().body == b"/first"
        client.send(b"GET /second HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        release.set()  # /first's app fails while /second is waiting for its body
        client.send(b"0\r\n\r\n")
        assert client.response().body == b"/second"
        client.send(KEEP)
        assert client.response().status == 200


def test_send_after_the_response_is_complete_is_an_error(http: str) -> None:
    errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await apps.respond(send, 200, b"done")
            try:
                await send(body(b"more"))
            except RuntimeError as exc:
                errors.append(exc)

    with serve(app, http=http) as running, RawClient(running.port) as client:
        client.send(KEEP + KEEP)
        assert [client.response().body for _ in range(2)] == [b"done", b"done"]
    assert len(errors) == 2


# --------------------------------------------------------------------------- client going away


def test_disconnect_delivered_to_app_waiting_in_receive(http: str) -> None:
    waiting = threading.Event()
    finished = threading.Event()
    messages: list[Any] = []
    send_errors: list[BaseException] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        messages.append(await receive())  # the whole (empty) body
        waiting.set()
        messages.append(await receive())  # blocks until the client goes away
        try:
            await send(start())
        except OSError as exc:
            send_errors.append(exc)
        finished.set()

    with serve(app, http=http) as running:
        client = RawClient(running.port)
        client.send(KEEP)
        assert waiting.wait(5)
        client.close()
        assert finished.wait(5)
    assert messages == [
        {"type": "http.request", "body": b"", "more_body": False},
        {"type": "http.disconnect"},
    ]
    assert len(send_errors) == 1  # send() after a disconnect raises an OSError


def test_disconnect_during_upload(http: str) -> None:
    app = apps.UntilDisconnect()
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    with serve(app, http=http) as running:
        client = RawClient(running.port)
        client.send(head + b"x" * 10)
        client.close()
        assert app.finished.wait(5)
    kinds = [message["type"] for message in app.messages]
    assert kinds[-1] == "http.disconnect"
    assert set(kinds[:-1]) <= {"http.request"}
