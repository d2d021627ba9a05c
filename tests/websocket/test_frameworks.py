"""FastAPI and Starlette WebSocket endpoints end to end, on both parsers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.servers import serve
from tests.support.websocket import subprotocols

api = FastAPI()
disconnects: list[int] = []


@api.websocket("/chat/{room}")
async def chat(websocket: WebSocket, room: str) -> None:
    if websocket.query_params.get("token") != "secret":
        await websocket.close(code=4401, reason="bad token")  # before accept: HTTP 403
        return
    await websocket.accept(subprotocol="chat.v1")
    try:
        while True:
            data = await websocket.receive_json()
            if data.get("bye"):
                await websocket.close(code=4000, reason=f"bye from {room}")
                return
            await websocket.send_json({"room": room, "echo": data})
    except WebSocketDisconnect as exc:
        disconnects.append(exc.code)


async def denied(websocket: WebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("go away", status_code=401))


async def binary_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for data in websocket.iter_bytes():
        await websocket.send_bytes(data[::-1])


starlette_app = Starlette(
    routes=[WebSocketRoute("/denied", denied), WebSocketRoute("/reverse", binary_echo)]
)


def test_fastapi_endpoint(http: str) -> None:
    disconnects.clear()
    with serve(api, http=http) as running:
        base = f"ws://127.0.0.1:{running.port}/chat/lobby"
        with connect(base + "?token=secret", subprotocols=subprotocols("chat.v1")) as ws:
            assert ws.subprotocol == "chat.v1"
            ws.send('{"n": 1}')
            assert ws.recv(timeout=5) == '{"room":"lobby","echo":{"n":1}}'
            ws.send('{"bye": true}')
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            assert (ws.close_code, ws.close_reason) == (4000, "bye from lobby")
        with connect(base + "?token=secret", subprotocols=subprotocols("chat.v1")) as ws:
            ws.send('{"n": 2}')
            ws.recv(timeout=5)
        with pytest.raises(InvalidStatus) as caught:
            connect(base + "?token=wrong", open_timeout=5)
        assert caught.value.response.status_code == 403
    assert disconnects == [1000]


def test_starlette_denial_response_and_binary(http: str) -> None:
    with serve(starlette_app, http=http) as running:
        with pytest.raises(InvalidStatus) as caught:
            connect(f"ws://127.0.0.1:{running.port}/denied", open_timeout=5)
        assert caught.value.response.status_code == 401
        assert caught.value.response.body == b"go away"
        with connect(f"ws://127.0.0.1:{running.port}/reverse") as ws:
            ws.send(b"\x01\x02\x03")
            assert ws.recv(timeout=5) == b"\x03\x02\x01"
