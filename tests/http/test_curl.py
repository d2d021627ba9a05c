"""curl, a client people really use, against both parsers: keep-alive reuse, HTTP/1.0, HEAD,
chunked upload and a large upload with curl's own ``Expect: 100-continue``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import apps
from tests.support.clients import curl
from tests.support.servers import Running, serve

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None, reason="curl is not installed (scripts/system-deps installs it)"
)


@pytest.fixture
def echo(http: str) -> Iterator[Running]:
    with serve(apps.echo, http=http) as running:
        yield running


def test_keep_alive_is_reused(echo: Running) -> None:
    result = curl("--verbose", echo.url("/a"), echo.url("/b"))
    assert b"Re-using existing connection" in result.stderr


def test_http10(echo: Running) -> None:
    result = curl("--http1.0", "--include", "--data-binary", "form=1", echo.url("/old"))
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert b"\r\nconnection: close" in head
    assert body == b"form=1"


def test_head(echo: Running) -> None:
    result = curl("--head", echo.url("/"))
    assert result.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ncontent-length: 0\r\n" in result.stdout


def test_chunked_upload(echo: Running) -> None:
    result = curl(
        "--header",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "@-",
        echo.url(),
        data=b"x" * 100_000,
    )
    assert result.stdout == b"x" * 100_000


def test_large_upload_with_expect_continue(echo: Running, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 12_000  # 3 MB: curl asks Expect: 100-continue first
    source = tmp_path / "payload"
    source.write_bytes(payload)
    result = curl("--verbose", "--data-binary", f"@{source}", echo.url("/upload"))
    assert b"Expect: 100-continue" in result.stderr
    assert b"HTTP/1.1 100 Continue" in result.stderr
    assert result.stdout == payload
