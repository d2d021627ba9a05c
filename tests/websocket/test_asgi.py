"""The ASGI WebSocket cycle through both HTTP parsers, driven by the websockets client."""

from __future__ import annotations

import contextlib
import logging
import queue
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support import apps
from tests.support.clients import RawClient, request
from tests.support.servers import serve
from tests.support.websocket import (
    RawWebSocket,
    echo_app,
    frame,
    handshake,
    scripted_app,
    subprotocols,
    wait_for,
)


def url(port: int, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{port}{path}"


def test_echo_text_and_bytes(http: str) -> None:
    with serve(echo_app(), http=http) as running, connect(url(running.port)) as ws:
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\xffbytes")
        assert ws.recv(timeout=5) == b"\x00\xffbytes"
        ws.send("x" * 200_000)  # several TCP reads, a 64-bit length
        assert ws.recv(timeout=5) == "x" * 200_000


def test_scope(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    with (
        serve(echo_app(events), http=http, root_path="/api") as running,
        connect(
            url(running.port, "/ws/caf%C3%A9?x=1&y=2"),
            subprotocols=subprotocols("b", "a"),
        ) as ws,
    ):
        ws.send("ping")
        assert ws.recv(timeout=5) == "ping"
    scope = wait_for(events, "scope")
    assert scope["type"] == "websocket"
    assert scope["scheme"] == "ws"
    assert scope["http_version"] == "1.1"
    assert scope["path"] == "/api/ws/café"
    assert scope["raw_path"] == b"/api/ws/caf%C3%A9"
    assert scope["root_path"] == "/api"
    assert scope["query_string"] == b"x=1&y=2"
    assert scope["subprotocols"] == ["b", "a"]
    assert scope["client"][0] == "127.0.0.1"
    assert scope["server"] == ("127.0.0.1", running.port)
    assert "websocket.http.response" in scope["extensions"]
    assert "method" not in scope
    assert (b"upgrade", b"websocket") in scope["headers"]
    assert scope["asgi"]["version"] == "3.0"


def test_subprotocol_and_extra_headers_on_accept(http: str) -> None:
    app = echo_app(subprotocol="chat", headers=[(b"x-session", b"42"), (b"set-cookie", b"a=b")])
    with (
        serve(app, http=http) as running,
        connect(url(running.port), subprotocols=subprotocols("superchat", "chat")) as ws,
    ):
        assert ws.subprotocol == "chat"
        assert ws.response is not None
        assert ws.response.headers["x-session"] == "42"
        assert ws.response.headers["set-cookie"] == "a=b"
        assert ws.response.headers["server"] == "mypkg"
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"


def test_subprotocol_not_offered_is_a_500(http: str) -> None:
    with (
        serve(echo_app(subprotocol="nope"), http=http) as running,
        pytest.raises(InvalidStatus) as caught,
    ):
        connect(url(running.port), subprotocols=subprotocols("chat"), open_timeout=5)
    assert caught.value.response.status_code == 500


def test_app_closes_with_code_and_reason(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    with serve(echo_app(events), http=http) as running, connect(url(running.port)) as ws:
        ws.send("close-me")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 4001
        assert ws.close_reason == "asked to"
        message = wait_for(events, "disconnect")
        assert message == {"type": "websocket.disconnect", "code": 4001, "reason": "asked to"}


def test_client_close_code_and_reason_reach_the_app(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    with serve(echo_app(events), http=http) as running:
        with connect(url(running.port)) as ws:
            ws.close(4002, "client leaving")
        message = wait_for(events, "disconnect")
    assert message == {"type": "websocket.disconnect", "code": 4002, "reason": "client leaving"}


def test_abrupt_loss_is_1006(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    with serve(echo_app(events), http=http) as running:
        with RawWebSocket(running.port) as client:
            client.open()
        message = wait_for(events, "disconnect")
    assert message["code"] == 1006


def test_close_before_accept_is_403(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    app = scripted_app({"type": "websocket.close", "code": 4003}, events=events)
    with serve(app, http=http) as running:
        with pytest.raises(InvalidStatus) as caught:
            connect(url(running.port), open_timeout=5)
        assert caught.value.response.status_code == 403
        assert events.get(timeout=5) == (
            "after",
            {"type": "websocket.disconnect", "code": 4003, "reason": ""},
        )


def test_denial_response_with_status_headers_and_body(http: str) -> None:
    app = scripted_app(
        {
            "type": "websocket.http.response.start",
            "status": 418,
            "headers": [(b"content-type", b"text/plain"), (b"x-why", b"teapot")],
        },
        {"type": "websocket.http.response.body", "body": b"I'm a ", "more_body": True},
        {"type": "websocket.http.response.body", "body": b"teapot"},
    )
    with serve(app, http=http) as running:
        response = request(running.port, handshake())
        with pytest.raises(InvalidStatus) as caught:
            connect(url(running.port), open_timeout=5)
    assert response.status == 418
    assert response.header("x-why") == "teapot"
    assert response.header("content-length") == "12"
    assert response.header("server") == "mypkg"
    assert response.body == b"I'm a teapot"
    assert caught.value.response.status_code == 418
    assert caught.value.response.body == b"I'm a teapot"


def test_bad_denial_status_is_a_500(http: str) -> None:
    app = scripted_app({"type": "websocket.http.response.start", "status": 101})
    with serve(app, http=http) as running:
        assert request(running.port, handshake()).status == 500


def test_app_error_before_accept_is_500_and_after_is_1011(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        if scope["path"] == "/early":
            raise RuntimeError("boom before accept")
        await send({"type": "websocket.accept"})
        await receive()
        raise RuntimeError("boom after accept")

    with serve(app, http=http, lifespan="off") as running:
        assert request(running.port, handshake("/early")).status == 500
        for _ in range(2):  # and the server stays healthy
            with connect(url(running.port, "/late")) as ws:
                ws.send("trigger")
                with pytest.raises(ConnectionClosed):
                    ws.recv(timeout=5)
                assert ws.close_code == 1011


def test_app_returning_without_answer_is_500_and_after_accept_closes_1000(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        if scope["path"] == "/accept":
            await send({"type": "websocket.accept"})

    with serve(app, http=http, lifespan="off") as running:
        assert request(running.port, handshake("/silent")).status == 500
        with connect(url(running.port, "/accept")) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 1000


def test_send_before_accept_is_an_error(http: str) -> None:
    app = scripted_app({"type": "websocket.send", "text": "too early"})
    with serve(app, http=http) as running:
        assert request(running.port, handshake()).status == 500


def test_send_after_disconnect_raises_oserror(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        events.put(await receive())
        try:
            await send({"type": "websocket.send", "text": "anyone?"})
        except OSError as exc:
            events.put(exc)

    with serve(app, http=http, lifespan="off") as running:
        with connect(url(running.port)) as ws:
            ws.close()
        assert events.get(timeout=5)["type"] == "websocket.disconnect"
        assert isinstance(events.get(timeout=5), OSError)


def test_fragmented_messages_are_reassembled(http: str) -> None:
    with serve(echo_app(), http=http) as running, connect(url(running.port)) as ws:
        ws.send(["frag", "ment", "ed"])
        assert ws.recv(timeout=5) == "fragmented"
        ws.send([b"\x01", b"\x02", b"\x03"])
        assert ws.recv(timeout=5) == b"\x01\x02\x03"


def test_client_ping_gets_pong(http: str) -> None:
    with serve(echo_app(), http=http) as running, connect(url(running.port)) as ws:
        assert ws.ping(b"are you there").wait(5)


def test_per_message_deflate_negotiated_and_toggleable(http: str) -> None:
    with serve(echo_app(), http=http) as running, connect(url(running.port)) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers.get("sec-websocket-extensions", "")
        ws.send("z" * 100_000)
        assert ws.recv(timeout=5) == "z" * 100_000
    with (
        serve(echo_app(), http=http, ws_per_message_deflate=False) as running,
        connect(url(running.port)) as ws,
    ):
        assert ws.response is not None
        assert "sec-websocket-extensions" not in ws.response.headers
        ws.send("plain")
        assert ws.recv(timeout=5) == "plain"


def test_frames_sent_with_the_handshake_are_not_lost(http: str) -> None:
    """Bytes read past the upgrade request are handed over with the connection."""
    with serve(echo_app(), http=http) as running, RawWebSocket(running.port) as client:
        client.open(after=frame(0x1, b"first") + frame(0x1, b"second"))
        assert client.read_frame() == (0x1, True, b"first")
        assert client.read_frame() == (0x1, True, b"second")


def test_invalid_handshakes_get_clear_http_errors(http: str) -> None:
    with serve(echo_app(), http=http) as running:
        no_key = handshake().replace(b"Sec-WebSocket-Key", b"X-Nothing")
        response = request(running.port, no_key)
        assert response.status == 400
        assert b"Sec-WebSocket-Key" in response.body
        assert response.header("server") == "mypkg"
        old = handshake().replace(b"Version: 13", b"Version: 8")
        assert request(running.port, old).status == 400
        post = handshake().replace(b"GET", b"POST")
        response = request(running.port, post)
        assert response.status == 405
        assert response.header("allow") == "GET"
        with connect(url(running.port)) as ws:  # and the server is fine
            ws.send("ok")
            assert ws.recv(timeout=5) == "ok"


def test_ws_none_serves_upgrade_requests_as_plain_http(http: str) -> None:
    with serve(apps.hello, http=http, ws="none") as running, RawClient(running.port) as client:
        client.send(handshake())
        response = client.response()
        assert response.status == 200
        assert response.body == b"Hello, world!"
        assert client.is_closed()


def test_many_concurrent_connections(http: str) -> None:
    with serve(echo_app(), http=http) as running, contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(connect(url(running.port))) for _ in range(20)]
        for number, ws in enumerate(sockets):
            ws.send(f"message {number}")
        for number, ws in enumerate(sockets):
            assert ws.recv(timeout=5) == f"message {number}"


def test_access_log_line_per_handshake(http: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mypkg.access")
    with serve(echo_app(), http=http) as running:
        with connect(url(running.port, "/ws?room=1")) as ws:
            ws.send("hi")
            ws.recv(timeout=5)
        assert request(running.port, handshake("/ws").replace(b"GET", b"POST")).status == 405
    lines = [r.getMessage() for r in caplog.records if r.name == "mypkg.access"]
    assert any(line.endswith('"WebSocket /ws?room=1" 101') for line in lines), lines
    assert any(line.endswith('"WebSocket /ws" 405') for line in lines), lines


def test_limit_concurrency_refuses_websockets_beyond_it(http: str) -> None:
    with (
        serve(echo_app(), http=http, limit_concurrency=1) as running,
        connect(url(running.port)) as ws,
    ):
        assert request(running.port, handshake()).status == 503
        ws.send("still served")
        assert ws.recv(timeout=5) == "still served"


def test_on_asyncio_own_loop(http: str) -> None:
    """The same hand-off and half-close on asyncio's transports as on uvloop's."""
    events: queue.Queue[Any] = queue.Queue()
    with serve(echo_app(events), http=http, loop="asyncio") as running:
        with connect(url(running.port)) as ws:
            ws.send("over asyncio")
            assert ws.recv(timeout=5) == "over asyncio"
            ws.send("close-me")
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 4001
        with RawWebSocket(running.port) as client:
            client.open(after=frame(0x1, b"first"))
            assert client.read_frame() == (0x1, True, b"first")
            client.send(frame(0x1, b"\xff"))
            assert client.read_close()[0] == 1007
            assert client.is_closed()


def test_upgrade_pipelined_behind_requests_waits_for_their_responses(http: str) -> None:
    """The connection is handed over only once earlier responses are completely written."""
    both = echo_app()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await (apps.hello if scope["type"] == "http" else both)(scope, receive, send)

    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with serve(app, http=http) as running, RawWebSocket(running.port) as client:
        client.send(get + get + handshake() + frame(0x1, b"after two responses"))
        for _ in range(2):
            response = client.response()
            assert (response.status, response.body) == (200, b"Hello, world!")
        assert client.read_until(b"\r\n\r\n").startswith(b"HTTP/1.1 101")
        assert client.read_frame() == (0x1, True, b"after two responses")


def test_illegal_messages_raise_in_the_app_and_answer_500_or_1011(http: str) -> None:
    """An app message its state does not allow (machine.py) raises RuntimeError in the app;
    left unhandled, the client gets a 500 before the 101 and a 1011 close after it."""
    errors: queue.Queue[Any] = queue.Queue()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        message: dict[str, Any]
        if scope["path"] == "/denying":
            await send({"type": "websocket.http.response.start", "status": 403})
            message = {"type": "websocket.accept"}  # only a response body may follow
        else:
            await send({"type": "websocket.accept"})
            message = {"type": "websocket.http.response.start", "status": 403}  # too late
        try:
            await send(message)
        except RuntimeError as exc:
            errors.put(exc)
            raise

    with serve(app, http=http, lifespan="off") as running:
        assert request(running.port, handshake("/denying")).status == 500
        assert "expected 'websocket.http.response.body'" in str(errors.get(timeout=5))
        with connect(url(running.port, "/open")) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert ws.close_code == 1011
        assert "on an open WebSocket" in str(errors.get(timeout=5))
