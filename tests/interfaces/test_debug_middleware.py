"""DebugMiddleware: a traceback before the response starts (HTML for a browser, text for curl),
nothing changed after it has started, never on by default."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import httpx
import pytest

from mypkg.middleware import DebugMiddleware
from tests.support.clients import RawClient
from tests.support.servers import serve

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def broken(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/late":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
    raise ValueError("<boom> & friends")


def test_browser_gets_an_html_traceback(http: str) -> None:
    with serve(DebugMiddleware(broken), http=http) as running:
        response = httpx.get(running.url("/"), headers=BROWSER)
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<pre>Traceback (most recent call last):" in response.text
    assert "ValueError: &lt;boom&gt; &amp; friends" in response.text  # escaped
    assert "<boom>" not in response.text


def test_curl_gets_a_plain_text_traceback(http: str) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    with serve(DebugMiddleware(broken), http=http) as running:
        result = subprocess.run(
            [curl, "-s", "-w", "\n%{http_code} %{content_type}", running.url("/")],
            capture_output=True, text=True, timeout=15,
        )  # fmt: skip
    body, _, status_line = result.stdout.rpartition("\n")
    assert status_line == "500 text/plain; charset=utf-8"
    assert body.startswith("Traceback (most recent call last):")
    assert body.rstrip().endswith("ValueError: <boom> & friends")


def test_after_the_response_started_nothing_changes(http: str) -> None:
    """The head is on the wire: the connection is closed as without the middleware."""
    for app in (broken, DebugMiddleware(broken)):
        with serve(app, http=http) as running, RawClient(running.port) as client:
            client.send(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while chunk := client.sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 ")
        # Truncated: no last chunk, so the client cannot take the body for complete.
        assert received.endswith(b"\r\n\r\n7\r\npartial\r\n"), received


def test_without_the_middleware_a_bare_500(http: str) -> None:
    with serve(broken, http=http) as running:
        response = httpx.get(running.url("/"), headers=BROWSER)
    assert response.status_code == 500
    assert "Traceback" not in response.text and "boom" not in response.text
