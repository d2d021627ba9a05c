"""The server answers on both parsers, through a real client and through raw bytes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import apps
from tests.support.clients import request
from tests.support.servers import serve


def test_get_with_httpx(http: str) -> None:
    with serve(apps.hello, http=http) as running:
        response = httpx.get(running.url("/"), timeout=5)
    assert response.status_code == 200
    assert response.text == "Hello, world!"
    assert response.headers["content-length"] == "13"
    assert response.headers["server"] == "mypkg"
    assert "date" in response.headers


def test_post_body_echoed(http: str) -> None:
    with serve(apps.echo, http=http) as running:
        response = httpx.post(running.url("/x"), content=b"a" * 200_000, timeout=5)
    assert response.status_code == 200
    assert response.content == b"a" * 200_000


def test_raw_request(http: str) -> None:
    with serve(apps.hello, http=http) as running:
        response = request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 200
    assert response.body == b"Hello, world!"


def test_request_body_pieces_are_bytes(http: str) -> None:
    """ASGI says ``body`` is bytes; h11 hands its parser's bytearrays out unless we convert."""
    kinds: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            kinds.append(type(message["body"]).__name__)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with serve(app, http=http) as running:
        response = httpx.post(running.url("/"), content=b"a" * 200_000, timeout=5)
    assert response.status_code == 204
    assert kinds and set(kinds) == {"bytes"}, kinds
