"""Memory per connection stays bounded whatever the peer does, on both parsers.

(a) A client uploading a large body to an app that does not read it: the server stops reading,
    so what it buffers never exceeds the high-water mark plus one read.
(b) An app streaming a large response to a client that does not read: the app's ``send`` waits,
    so the transport's buffer never exceeds its high-water mark plus one piece.
(c) A client pipelining requests behind a busy one: reading stops, the queue stays bounded.
"""

from __future__ import annotations

import socket
from typing import Any

from mypkg.http.cycle import BODY_HIGH_WATER, RequestCycle
from mypkg.http.protocol import HttpProtocol
from mypkg.sockets import bind_tcp
from tests.support import apps
from tests.support.clients import RawClient
from tests.support.servers import serve
from tests.support.waiting import wait_until

READ_SIZE = 256 * 1024  # the most asyncio or uvloop reads from a socket at once
MB = 1024 * 1024


def small_buffers() -> list[socket.socket]:
    """A listener whose accepted sockets inherit fixed kernel buffers: what the kernel can
    hold for us is then small on every host, whatever its TCP autotuning allows."""
    sock = bind_tcp("127.0.0.1", 0, 128)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 128 * 1024)
    return [sock]


async def body_length(scope: Any, receive: Any, send: Any) -> None:
    size = len(await apps.read_body(receive))
    await apps.respond(send, 200, b"%d" % size)


def test_upload_to_an_app_that_does_not_read_is_bounded(http: str) -> None:
    total = 20 * MB
    cycles: list[RequestCycle] = []
    gate = apps.Gate(body_length)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            cycles.append(receive.__self__)  # the server's own bookkeeping, to inspect it
            await gate(scope, receive, send)

    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total
    with (
        serve(app, http=http, sockets=small_buffers()) as running,
        RawClient(running.port) as client,
    ):
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        client.send(head)
        gate.wait_entered(1)
        client.sock.settimeout(0.5)
        sent = 0
        piece = b"x" * (64 * 1024)
        try:
            while sent < total:
                sent += client.sock.send(piece[: total - sent])
        except TimeoutError:
            pass  # the server stopped reading: our send buffer is full
        cycle = cycles[0]
        assert sent < total, "the whole body went through to an app that reads nothing"
        assert cycle.body_size <= BODY_HIGH_WATER + READ_SIZE, cycle.body_size
        assert isinstance(cycle.conn, HttpProtocol) and cycle.conn.reading_paused
        gate.open()  # now the app reads everything; the client can send the rest
        client.sock.settimeout(10)
        client.sock.sendall(b"x" * (total - sent))
        response = client.response()
        assert (response.status, response.body) == (200, b"%d" % total)


def test_pipelined_requests_behind_a_busy_one_are_bounded(http: str) -> None:
    """(c) A client pipelining requests behind one the app is still answering: the server stops
    reading, so the requests it queues never exceed what one read holds."""
    total = 2 * MB
    one = b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n"
    conns: list[HttpProtocol] = []
    gate = apps.Gate()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            conns.append(receive.__self__.conn)  # the server's own bookkeeping, to inspect it
            await gate(scope, receive, send)

    with (
        serve(app, http=http, sockets=small_buffers()) as running,
        RawClient(running.port) as client,
    ):
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        client.send(one)
        gate.wait_entered(1)
        client.sock.settimeout(0.5)
        flood = one * (total // len(one))
        sent = 0
        try:
            while sent < len(flood):
                sent += client.sock.send(flood[sent : sent + 64 * 1024])
        except TimeoutError:
            pass  # the server stopped reading: our send buffer is full
        conn = conns[0]
        assert sent < len(flood), "every pipelined request was read while the first was busy"
        assert len(conn.pipeline) <= READ_SIZE // len(one) + 1, len(conn.pipeline)
        assert conn.reading_paused
        gate.open()  # let the server finish; the client leaves without reading the answers


def test_send_waits_while_the_client_does_not_read(http: str) -> None:
    pieces, piece = 32, b"y" * MB
    progress = {"sent": 0, "max_buffer": 0}
    connections: list[HttpProtocol] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        conn = send.__self__.conn
        connections.append(conn)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(pieces):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            progress["sent"] += 1
            size = conn.transport.get_write_buffer_size()
            progress["max_buffer"] = max(progress["max_buffer"], size)
        await send({"type": "http.response.body", "body": b""})

    with (
        serve(app, http=http, sockets=small_buffers()) as running,
        RawClient(running.port) as client,
    ):
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        # Nothing else can tell us the app is parked in send(): poll that, with a deadline.
        wait_until(lambda: connections and connections[0].drain_waiter, 10, "send() to wait")
        conn = connections[0]
        high_water = conn.transport.get_write_buffer_limits()[1]
        assert progress["sent"] < pieces  # the app cannot get far ahead of the client
        assert progress["max_buffer"] <= high_water + len(piece), progress
        response = client.response()  # reading lets the app go on to the end
        assert len(response.body) == pieces * len(piece)
    assert progress["sent"] == pieces
