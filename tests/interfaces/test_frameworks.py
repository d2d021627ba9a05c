"""Real frameworks served end to end on both parsers: Starlette and FastAPI, through httpx.

Each app has routes, JSON, a streaming response, lifespan state and a body upload; the lifespan
also proves shutdown ran.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.servers import serve

UPLOAD = bytes(range(256)) * 4096  # 1 MiB


async def numbers() -> AsyncIterator[bytes]:
    for number in range(100):
        yield b"%d\n" % number


EXPECTED_STREAM = b"".join(b"%d\n" % n for n in range(100))


def recording_lifespan(events: list[str]) -> Any:
    """A lifespan that records startup and shutdown and shares a greeting in the state."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"greeting": "hello from lifespan"}
        events.append("shutdown")

    return lifespan


def starlette_app(events: list[str]) -> Starlette:
    async def home(request: StarletteRequest) -> Response:
        return PlainTextResponse("home")

    async def item(request: StarletteRequest) -> Response:
        return JSONResponse(
            {
                "id": request.path_params["item_id"],
                "q": request.query_params.get("q"),
                "greeting": request.state.greeting,
            }
        )

    async def stream(request: StarletteRequest) -> Response:
        return StreamingResponse(numbers(), media_type="text/plain")

    async def upload(request: StarletteRequest) -> Response:
        body = await request.body()
        return JSONResponse({"size": len(body), "same": body == UPLOAD})

    return Starlette(
        routes=[
            Route("/", home),
            Route("/items/{item_id:int}", item),
            Route("/stream", stream),
            Route("/upload", upload, methods=["POST"]),
        ],
        lifespan=recording_lifespan(events),
    )


def fastapi_app(events: list[str]) -> FastAPI:
    app = FastAPI(lifespan=recording_lifespan(events))

    @app.get("/", response_class=PlainTextResponse)
    async def home() -> str:
        return "home"

    @app.get("/items/{item_id}")
    async def item(item_id: int, request: Request, q: str | None = None) -> dict[str, Any]:
        return {"id": item_id, "q": q, "greeting": request.state.greeting}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(numbers(), media_type="text/plain")

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {"size": len(body), "same": body == UPLOAD}

    return app


@pytest.fixture(params=["starlette", "fastapi"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(framework: str, http: str) -> Iterator[tuple[httpx.Client, list[str]]]:
    events: list[str] = []
    app = starlette_app(events) if framework == "starlette" else fastapi_app(events)
    with (
        serve(app, http=http, lifespan="on") as running,
        httpx.Client(base_url=running.url(), timeout=10) as http_client,
    ):
        yield http_client, events
    assert events == ["startup", "shutdown"]


def test_routes_and_json(client: tuple[httpx.Client, list[str]]) -> None:
    http_client, events = client
    assert events == ["startup"]
    home = http_client.get("/")
    assert (home.status_code, home.text) == (200, "home")
    item = http_client.get("/items/42", params={"q": "a b"})
    assert item.status_code == 200
    assert item.json() == {"id": 42, "q": "a b", "greeting": "hello from lifespan"}
    assert item.headers["content-type"] == "application/json"
    assert http_client.get("/missing").status_code == 404
    assert http_client.delete("/").status_code == 405


def test_streaming_response(client: tuple[httpx.Client, list[str]]) -> None:
    http_client, _ = client
    with http_client.stream("GET", "/stream") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert b"".join(response.iter_bytes()) == EXPECTED_STREAM


def test_upload(client: tuple[httpx.Client, list[str]]) -> None:
    http_client, _ = client
    fixed = http_client.post("/upload", content=UPLOAD)
    assert fixed.json() == {"size": len(UPLOAD), "same": True}

    def pieces() -> Iterator[bytes]:  # no length known: httpx sends it chunked
        for start in range(0, len(UPLOAD), 100_000):
            yield UPLOAD[start : start + 100_000]

    chunked = http_client.post("/upload", content=pieces())
    assert chunked.json() == {"size": len(UPLOAD), "same": True}
