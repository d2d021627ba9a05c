"""Protocol behaviour proven with hand-built frames on raw sockets, over both HTTP parsers."""

from __future__ import annotations

import asyncio
import queue
import select
import socket
import threading
import time
from typing import Any

from tests.support.servers import serve
from tests.support.waiting import assert_on_time
from tests.support.websocket import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    RawWebSocket,
    close_payload,
    echo_app,
    frame,
    wait_for,
)


def test_ping_gets_pong_with_same_payload_even_mid_message(http: str) -> None:
    with serve(echo_app(), http=http) as running, RawWebSocket(running.port) as client:
        client.open()
        client.send(frame(PING, b"payload-1"))
        assert client.read_frame() == (PONG, True, b"payload-1")
        # A control frame may arrive between the fragments of a message (RFC 6455 §5.4).
        client.send(frame(TEXT, b"frag", fin=False) + frame(PING, b"p2"))
        client.send(frame(CONT, b"men", fin=False) + frame(CONT, b"ted"))
        assert client.read_frame() == (PONG, True, b"p2")
        assert client.read_frame() == (TEXT, True, b"fragmented")


def test_fragmented_binary_message(http: str) -> None:
    with serve(echo_app(), http=http) as running, RawWebSocket(running.port) as client:
        client.open()
        client.send(frame(BINARY, b"\x00" * 10, fin=False))
        client.send(frame(CONT, b"\x01" * 10, fin=False))
        client.send(frame(CONT, b"\x02" * 10))
        assert client.read_frame() == (BINARY, True, b"\x00" * 10 + b"\x01" * 10 + b"\x02" * 10)


def test_unmasked_client_frame_closes_with_1002(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    with serve(echo_app(events), http=http) as running, RawWebSocket(running.port) as client:
        client.open()
        client.send(frame(TEXT, b"not masked", mask=False))
        assert client.read_close()[0] == 1002
        assert client.is_closed()
        assert wait_for(events, "disconnect")["code"] == 1002


def test_invalid_utf8_closes_with_1007(http: str) -> None:
    events: queue.Queue[Any] = queue.Queue()
    with serve(echo_app(events), http=http) as running:
        with RawWebSocket(running.port) as client:
            client.open()
            client.send(frame(TEXT, b"ok \xff\xfe not utf-8"))
            assert client.read_close()[0] == 1007
            assert client.is_closed()
        assert wait_for(events, "disconnect")["code"] == 1007
        with RawWebSocket(running.port) as client:  # split inside a fragmented message too
            client.open()
            client.send(frame(TEXT, b"caf\xc3", fin=False) + frame(CONT, b"\x28"))
            assert client.read_close()[0] == 1007


def test_oversize_message_closes_with_1009(http: str) -> None:
    with serve(echo_app(), http=http, ws_max_size=1024) as running:
        with RawWebSocket(running.port) as client:
            client.open()
            client.send(frame(BINARY, b"a" * 1024))  # exactly the limit is fine
            assert client.read_frame() == (BINARY, True, b"a" * 1024)
            client.send(frame(BINARY, b"b" * 1025))
            assert client.read_close()[0] == 1009
        with RawWebSocket(running.port) as client:  # the limit is on the whole message
            client.open()
            client.send(frame(TEXT, b"c" * 600, fin=False) + frame(CONT, b"d" * 600))
            assert client.read_close()[0] == 1009


def test_reserved_bits_and_bad_opcodes_close_with_1002(http: str) -> None:
    with serve(echo_app(), http=http) as running:
        for bad in (b"\xc1\x80" + b"\x00" * 4, b"\x83\x80" + b"\x00" * 4):  # rsv1 text; opcode 3
            with RawWebSocket(running.port) as client:
                client.open()
                client.send(bad)
                assert client.read_close()[0] == 1002


def test_client_close_is_echoed_then_tcp_closed(http: str) -> None:
    with serve(echo_app(), http=http) as running, RawWebSocket(running.port) as client:
        client.open()
        client.send(frame(CLOSE, close_payload(4321, "bye")))
        assert client.read_close() == (4321, "bye")
        assert client.is_closed()


def test_server_pings_and_closes_1011_without_pong(http: str) -> None:
    settings = {"ws_ping_interval": 0.2, "ws_ping_timeout": 0.3}
    with serve(echo_app(), http=http, **settings) as running:
        with RawWebSocket(running.port) as client:  # answers the pings: stays open
            client.open()
            for _ in range(2):
                opcode, _, payload = client.read_frame()
                assert opcode == PING
                client.send(frame(PONG, payload))
            client.send(frame(TEXT, b"still here"))
            while (got := client.read_frame())[0] == PING:
                client.send(frame(PONG, got[2]))
            assert got == (TEXT, True, b"still here")
        with RawWebSocket(running.port) as client:  # ignores them: closed with 1011
            client.open()
            started = time.monotonic()
            assert client.read_close()[0] == 1011
            assert time.monotonic() - started < 3
            assert client.is_closed()


def test_client_that_never_answers_a_close_is_cut_at_the_close_timeout(http: str) -> None:
    """The app closes; the client never sends its close frame back: the server waits the
    closing-handshake timeout (--ws-ping-timeout when set), not less and not much more."""
    timeout = 0.5
    with (
        serve(echo_app(), http=http, ws_ping_timeout=timeout) as running,
        RawWebSocket(running.port) as client,
    ):
        client.open()
        client.send(frame(TEXT, b"close-me"))
        assert client.read_close() == (4001, "asked to")
        closing = time.monotonic()
        assert client.is_closed()
        tick = running.server.state.tick_interval  # type: ignore[union-attr]
        assert_on_time(time.monotonic() - closing, timeout, tick)


def test_slow_app_pauses_reading_and_loses_nothing(http: str) -> None:
    """--ws-max-queue: a client faster than the app is pushed back by TCP, not buffered."""
    release = threading.Event()
    received: queue.Queue[int] = queue.Queue()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        # A busy app: the event loop runs on, but this app reads nothing until released.
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 20)
        total = 0
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            total += len(message["bytes"])
        received.put(total)

    message = frame(BINARY, b"m" * 65536)
    with serve(app, http=http, ws_max_queue=4, lifespan="off") as running:
        with RawWebSocket(running.port) as client:
            client.open()
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            client.sock.setblocking(False)
            sent = 0
            limit = 256 * len(message)  # 16 MiB: far more than the queue and socket buffers
            while sent < limit:
                _, writable, _ = select.select([], [client.sock], [], 1.0)
                if not writable:
                    break  # nothing drained for a second: the server stopped reading
                sent += client.sock.send(message[sent % len(message) :])
            assert sent < limit, "the server kept reading for an app that was not"
            release.set()
            client.sock.setblocking(True)
            client.sock.settimeout(10)
            while sent % len(message):  # finish the last partial frame
                sent += client.sock.send(message[sent % len(message) :])
            client.send(frame(CLOSE, close_payload(1000)))
            assert client.read_close()[0] == 1000
        messages = sent // len(message)
        assert received.get(timeout=10) == messages * 65536
