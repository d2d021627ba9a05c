"""--limit-request-body: 413 before the app (and before 100 Continue), a chunked body cut off.

Every case runs on both parsers over a raw socket; then through real processes (mypkg's master
with the flag, Gunicorn's worker with MYPKG_LIMIT_REQUEST_BODY).
"""

from __future__ import annotations

from pathlib import Path

from tests.support import apps
from tests.support.clients import RawClient, request
from tests.support.gunicorn import gunicorn
from tests.support.processes import Master
from tests.support.servers import serve

LIMIT = 100
SUPERVISED = ("-w", "1", "--worker-timeout", "30", "--port", "0")  # a master with one worker


def post(length: int, extra: str = "") -> bytes:
    head = f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n{extra}\r\n"
    return head.encode()


def test_content_length_over_limit_refused_before_the_app(http: str) -> None:
    app = apps.Recorder()
    with serve(app, http=http, limit_request_body=LIMIT) as running:
        ok = request(running.port, post(LIMIT) + b"a" * LIMIT)
        assert (ok.status, ok.body) == (200, b"a" * LIMIT)
        with RawClient(running.port) as client:
            client.send(post(LIMIT + 1) + b"a" * (LIMIT + 1))
            response = client.response()
            assert response.status == 413
            assert response.header("connection") == "close"
            assert client.is_closed()
        assert len(app.scopes) == 1  # only the request within the limit reached the app


def test_expect_100_continue_gets_413_not_100(http: str) -> None:
    app = apps.Recorder()
    with serve(app, http=http, limit_request_body=LIMIT) as running:
        with RawClient(running.port) as client:
            client.send(post(LIMIT + 1, "Expect: 100-continue\r\n"))
            head = client.read_until(b"\r\n")
            assert head.startswith(b"HTTP/1.1 413 "), head
            assert client.is_closed()
        assert app.scopes == []


def test_chunked_body_crossing_the_limit(http: str) -> None:
    app = apps.UntilDisconnect()
    with serve(app, http=http, limit_request_body=LIMIT) as running:
        with RawClient(running.port) as client:
            client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            client.send(b"40\r\n" + b"a" * 64 + b"\r\n")
            client.send(b"40\r\n" + b"b" * 64 + b"\r\n")  # 128 > 100
            response = client.response()
            assert response.status == 413
            assert client.is_closed()
        assert app.finished.wait(5)
        assert app.messages[-1] == {"type": "http.disconnect"}
        assert sum(len(m.get("body", b"")) for m in app.messages) <= LIMIT


async def _answer_then_read(scope: object, receive: object, send: object) -> None:
    """Starts a streamed response at once, then reads the body (as a proxy would)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"started", "more_body": True})  # type: ignore[operator]
    while (await receive())["type"] != "http.disconnect":  # type: ignore[operator]
        pass


def test_chunked_body_crossing_after_the_response_started_closes(http: str) -> None:
    with (
        serve(_answer_then_read, http=http, limit_request_body=LIMIT) as running,
        RawClient(running.port) as client,
    ):
        client.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        head = client.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        client.send(b"80\r\n" + b"a" * 128 + b"\r\n")
        rest = client.read_to_close()
        assert b"413" not in rest and rest.endswith(b"started\r\n")  # cut, never completed


def test_no_limit_by_default(http: str) -> None:
    with serve(apps.echo, http=http) as running:
        response = request(running.port, post(100_000) + b"z" * 100_000)
        assert (response.status, len(response.body)) == (200, 100_000)


# --------------------------------------------------------------------------- real processes


def test_supervised_workers_enforce_the_limit() -> None:
    with Master("tests.support.apps:echo", *SUPERVISED, "--limit-request-body", "100") as m:
        port = m.ready()
        assert request(port, post(100) + b"a" * 100).status == 200
        assert request(port, post(101) + b"a" * 101).status == 413


def test_gunicorn_worker_reads_the_variable(tmp_path: Path) -> None:
    """One worker class: the parsers are covered above, this checks the variable arrives."""
    env = {"MYPKG_LIMIT_REQUEST_BODY": "100"}
    with gunicorn(app="tests.support.apps:echo", env=env) as master:
        assert request(master.port, post(100) + b"a" * 100).status == 200
        assert request(master.port, post(101) + b"a" * 101).status == 413
