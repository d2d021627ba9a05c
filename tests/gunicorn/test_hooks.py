"""pre_request / post_request look-alikes, served in-process on both parsers."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config as GunicornConfig

from mypkg.workers import hooks, mapping
from tests.support import apps
from tests.support.clients import request
from tests.support.servers import serve


def test_unset_hooks_leave_the_app_unwrapped() -> None:
    worker = SimpleNamespace(cfg=GunicornConfig())
    assert hooks.wrap(apps.hello, worker, mapping.is_default) is apps.hello


def test_hooks_see_gunicorn_like_objects(http: str) -> None:
    seen: list[Any] = []
    worker = object()
    app = hooks.RequestHooks(
        apps.echo,
        worker,
        pre=lambda w, req: seen.append(("pre", w, req.method, req.path, req.query, req.version)),
        post=lambda w, req, environ, resp: seen.append(
            ("post", req.uri, req.headers[-1], environ["HTTP_X_ONE"], resp.status, resp.sent)
        ),
    )
    with serve(app, http=http) as running:
        body = b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-One: 1\r\nContent-Length: 3\r\n\r\nabc"
        assert request(running.port, body.replace(b"GET", b"PUT")).status == 200
    assert seen == [
        ("pre", worker, "PUT", "/a b", "x=1", (1, 1)),
        ("post", "/a%20b?x=1", ("CONTENT-LENGTH", "3"), "1", "200 OK", 3),
    ]


def test_pre_request_raising_answers_500(http: str) -> None:
    def pre(worker: Any, req: Any) -> None:
        raise RuntimeError("no")

    with serve(hooks.RequestHooks(apps.hello, None, pre, None), http=http) as running:
        assert request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 500


def test_post_request_raising_is_logged(http: str, caplog: pytest.LogCaptureFixture) -> None:
    def post(*args: Any) -> None:
        raise RuntimeError("post failed")

    app = hooks.RequestHooks(apps.hello, None, None, post)
    with caplog.at_level(logging.ERROR, "mypkg.error"), serve(app, http=http) as running:
        assert request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    assert "Exception in post_request hook" in caplog.text
