"""WSGI apps for tests/interfaces/test_wsgi.py: a plain one reporting what it saw, Flask, Django."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from flask import Flask, Response, request

CHUNK = 64 * 1024

# --------------------------------------------------------------------------- plain WSGI


class Probe:
    """What the plain app saw, shared with the test thread."""

    def __init__(self) -> None:
        self.first_piece = threading.Event()
        self.yielded = 0
        self.environ: dict[str, Any] = {}


probe = Probe()


def plain(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    route = environ["PATH_INFO"]
    probe.environ = {k: v for k, v in environ.items() if isinstance(v, str)}
    if route == "/first-piece":  # reads 5 bytes, says so, then the rest
        first = environ["wsgi.input"].read(5)
        probe.first_piece.set()
        rest = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([first + b"|" + rest])
    if route == "/lines":
        lines = list(environ["wsgi.input"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([str(len(lines)).encode(), b" ", lines[-1] if lines else b""])
    if route == "/big":  # 64 MiB, counted as it is produced
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _big()
    if route == "/errors":
        environ["wsgi.errors"].write("something went wrong\nsecond line")
        environ["wsgi.errors"].flush()
        start_response("204 No Content", [])
        return iter([])
    if route == "/write":  # the legacy write() callable
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return iter([b"and returned"])
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Wsgi", "yes")])
    return iter([b"plain wsgi"])


def _big() -> Iterator[bytes]:
    block = b"x" * CHUNK
    for _ in range(1024):
        probe.yielded += 1
        yield block


# --------------------------------------------------------------------------- Flask

flask_app = Flask(__name__)


@flask_app.get("/")
def flask_hello() -> str:
    return "hello from flask"


@flask_app.post("/echo")
def flask_echo() -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    while piece := request.stream.read(CHUNK):
        digest.update(piece)
        size += len(piece)
    return {"size": size, "sha256": digest.hexdigest(), "query": request.args.get("q")}


@flask_app.get("/stream")
def flask_stream() -> Response:
    return Response((f"part {i}\n" for i in range(100)), mimetype="text/plain")


# --------------------------------------------------------------------------- Django


def django_hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"hello from django {request.method} {request.path}")


def django_echo(request: HttpRequest) -> HttpResponse:
    body = request.body
    return HttpResponse(f"{len(body)} {hashlib.sha256(body).hexdigest()}")


def django_stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(f"row {i}\n" for i in range(100))


urlpatterns = [
    path("", django_hello),
    path("echo", django_echo),
    path("stream", django_stream),
]

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        DATA_UPLOAD_MAX_MEMORY_SIZE=None,
    )
    django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402

django_app = get_wsgi_application()
