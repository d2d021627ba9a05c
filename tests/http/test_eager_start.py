"""The app of a request starts eagerly (Python 3.12+) once the read that carried its head is
parsed: an app that answers without waiting is done before ``data_received`` returns, and still
runs as a Task of its own with its own copy of the context, and sees a body that came in the same
read whole."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any

import pytest

from mypkg import Config
from mypkg.http.h11_impl import H11Protocol
from mypkg.http.httptools_impl import HttptoolsProtocol
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState
from tests.support.clients import RawClient
from tests.support.servers import serve

SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")
PROTOCOLS: dict[str, type[HttpProtocol]] = {"httptools": HttptoolsProtocol, "h11": H11Protocol}


async def inspecting(scope: Any, receive: Any, send: Any) -> None:
    """Answers what it saw: the variable (then sets it), its task, its first receive()."""
    if scope["type"] != "http":
        return
    task = asyncio.current_task()
    before = SEEN.get()
    SEEN.set(scope["path"])
    message = await receive()
    if scope["path"] == "/wait":
        await asyncio.sleep(0)  # really suspends: the rest runs as a scheduled task
    body = b"%s %d %d %s" % (
        before.encode(),
        id(task) if task is not None else 0,
        len(message["body"]),
        b"more" if message["more_body"] else b"whole",
    )
    headers = [(b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_each_request_has_its_own_task_and_context_and_its_whole_body(http: str) -> None:
    requests = (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with serve(inspecting, http=http) as running, RawClient(running.port) as client:
        client.send(requests)
        answers = [client.response().body.split() for _ in range(3)]
        client.send(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")  # a later read on the same connection
        answers.append(client.response().body.split())
    assert [a[0] for a in answers] == [b"unset"] * 4  # nothing leaks from an earlier request
    assert all(a[1] != b"0" for a in answers)  # asyncio.current_task() is the app's task
    assert answers[0][2:] == [b"5", b"whole"]  # the body read with the head, in one piece
    assert [a[2:] for a in answers[1:]] == [[b"0", b"whole"]] * 3


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks need Python 3.12")
def test_an_app_that_does_not_wait_has_answered_when_data_received_returns(http: str) -> None:
    written = bytearray()

    class Transport:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return ("127.0.0.1", 9) if name in ("peername", "sockname") else default

        def write(self, data: bytes) -> None:
            written.extend(data)

        def is_closing(self) -> bool:
            return False

    async def drive() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        state = ServerState(Config(inspecting, http=http), inspecting, loop)
        protocol = PROTOCOLS[http](state)
        protocol.connection_made(Transport())  # type: ignore[arg-type]
        protocol.data_received(b"GET /now HTTP/1.1\r\nHost: x\r\n\r\n")
        at_once = bytes(written)
        written.clear()
        protocol.data_received(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        assert not written  # suspended: the rest runs when the loop gets to it
        task = protocol.cycle.task if protocol.cycle is not None else None
        assert task is not None
        await asyncio.wait_for(task, 5)
        return at_once, bytes(written)

    at_once, later = asyncio.run(drive())
    assert at_once.startswith(b"HTTP/1.1 200 OK\r\n") and at_once.endswith(b" 0 whole")
    assert later.startswith(b"HTTP/1.1 200 OK\r\n") and b"\r\n\r\nunset " in later
