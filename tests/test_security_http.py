"""Security regressions on the HTTP path (issue 18), on both parsers, over raw sockets."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mypkg.http import protocol
from mypkg.middleware import proxy_headers
from tests import apps
from tests.conftest import RawClient, serve


def test_exception_while_parsing_answers_400(
    http: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No exception from request parsing escapes data_received: the request before the failing
    one is answered, the failing one gets 400, the connection closes, one error is logged."""
    real = proxy_headers.apply_proxy_headers

    def failing(scope: Any, *args: Any) -> None:
        if scope["path"] == "/boom":
            raise RuntimeError("forced parsing failure")
        real(scope, *args)

    monkeypatch.setattr(protocol, "apply_proxy_headers", failing)
    pipelined = b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /boom HTTP/1.1\r\nHost: x\r\n\r\n"
    with serve(apps.scope_json, http=http) as running, RawClient(running.port) as client:
        client.send(pipelined)
        assert client.response().status == 200
        failed = client.response()
        assert failed.status == 400
        assert failed.header("connection") == "close"
        assert client.is_closed()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].getMessage().startswith("Error while parsing a request from")
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == "forced parsing failure"
