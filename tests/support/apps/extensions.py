"""Apps that use the ASGI extensions (pathsend, trailers, early hints); importable by processes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

LINKS = [b"</style.css>; rel=preload; as=style", b"</app.js>; rel=preload; as=script"]


def _query(scope: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}


async def pathsend(scope: Any, receive: Any, send: Any) -> None:
    """Sends the file named by ?path=; ?length= sets Content-Length, ?trailers=1 adds a trailer."""
    if scope["type"] != "http":
        return
    query = _query(scope)
    headers = [(b"content-type", b"application/octet-stream")]
    if "length" in query:
        headers.append((b"content-length", query["length"].encode()))
    trailers = "trailers" in query
    await send(
        {"type": "http.response.start", "status": 200, "headers": headers, "trailers": trailers}
    )
    await send({"type": "http.response.pathsend", "path": query["path"]})
    if trailers:
        await send({"type": "http.response.trailers", "headers": [(b"x-done", b"yes")]})


async def trailers(scope: Any, receive: Any, send: Any) -> None:
    """Two body pieces, then trailers (in two messages with ?split=1); ?one=1 sends one piece."""
    if scope["type"] != "http":
        return
    query = _query(scope)
    headers = [(b"trailer", b"x-checksum, x-count")]
    await send({"type": "http.response.start", "status": 200, "headers": headers, "trailers": True})
    if "one" in query:
        await send({"type": "http.response.body", "body": b"hello world"})
    else:
        await send({"type": "http.response.body", "body": b"hello ", "more_body": True})
        await send({"type": "http.response.body", "body": b"world"})
    first = {"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")]}
    if "split" in query:
        await send({**first, "more_trailers": True})
        await send({"type": "http.response.trailers", "headers": [(b"x-count", b"2")]})
    else:
        await send(first)


async def early_hints(scope: Any, receive: Any, send: Any) -> None:
    """A hint before the start, one between start and body, one too late (ignored)."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.early_hint", "links": LINKS[:1]})
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.early_hint", "links": LINKS[1:]})
    await send({"type": "http.response.body", "body": b"page", "more_body": True})
    await send({"type": "http.response.early_hint", "links": [b"</late.css>; rel=preload"]})
    await send({"type": "http.response.body", "body": b""})


async def websocket_scope(scope: Any, receive: Any, send: Any) -> None:
    """Accepts, sends what its scope says (scheme, client, extensions), and closes."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    tls = scope["extensions"].get("tls")
    report = {
        "scheme": scope["scheme"],
        "client": scope["client"],
        "extensions": sorted(scope["extensions"]),
        "tls_version": tls["tls_version"] if tls else None,
    }
    await send({"type": "websocket.send", "text": json.dumps(report)})
    await send({"type": "websocket.close"})
