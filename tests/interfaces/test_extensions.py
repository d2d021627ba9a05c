"""ASGI extensions over real sockets: pathsend (large files too), trailers, 103 Early Hints."""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support import apps
from tests.support.apps import extensions
from tests.support.clients import RawClient, Response, raw_get
from tests.support.logs import capture_logs
from tests.support.pki import Pki
from tests.support.processes import ServerProcess
from tests.support.servers import serve

MB = 1024 * 1024


def _read_chunked(client: RawClient) -> tuple[bytes, list[bytes]]:
    """A chunked body and the trailer field lines after it."""
    body = b""
    while size := int(client.read_until(b"\r\n").split(b";")[0], 16):
        body += client.read_exactly(size)
        assert client.read_exactly(2) == b"\r\n"
    trailers = []
    while line := client.read_until(b"\r\n"):
        trailers.append(line)
    return body, trailers


def _make_file(path: Path, size: int) -> str:
    """A file of ``size`` bytes that is not one repeated byte; its sha256."""
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    digest = hashlib.sha256()
    with path.open("wb") as file:
        written = 0
        while written < size:
            piece = block[: size - written]
            file.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


# --------------------------------------------------------------------------- scope


def test_extensions_advertised_per_http_version(http: str) -> None:
    with serve(apps.scope_json, http=http) as running:
        with RawClient(running.port) as client:
            client.send(raw_get("/"))
            v11 = client.response()
        with RawClient(running.port) as client:
            client.send(raw_get("/", version=b"1.0"))
            v10 = client.response()
    assert json.loads(v11.body)["extensions"] == {
        "http.response.pathsend": {},
        "http.response.trailers": {},
        "http.response.early_hint": {},
    }
    assert json.loads(v10.body)["extensions"] == {"http.response.pathsend": {}}


# --------------------------------------------------------------------------- pathsend


def test_pathsend_small_and_medium_files(http: str, tmp_path: Path) -> None:
    small, medium = tmp_path / "small.txt", tmp_path / "medium.bin"
    small.write_bytes(b"tiny file\n")
    medium_sha = _make_file(medium, 3 * MB + 17)
    with (
        serve(extensions.pathsend, http=http) as running,
        RawClient(running.port) as client,  # keep-alive across all three: framing is exact
    ):
        client.send(raw_get(f"/?path={quote(str(small))}"))
        first = client.response()
        client.send(raw_get(f"/?path={quote(str(medium))}"))
        second = client.response()
        client.send(b"HEAD /?path=" + quote(str(medium)).encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        head = client.response(head_only=True)
    assert first.status == 200 and first.body == b"tiny file\n"
    assert first.header("content-length") == "10"
    assert second.header("content-length") == str(3 * MB + 17)
    assert hashlib.sha256(second.body).hexdigest() == medium_sha
    assert head.header("content-length") == str(3 * MB + 17) and head.body == b""


def test_pathsend_errors_become_500(http: str, tmp_path: Path) -> None:
    file = tmp_path / "f.txt"
    file.write_bytes(b"12345")
    with serve(extensions.pathsend, http=http) as running:
        missing = httpx.get(running.url(f"/?path={tmp_path / 'nope'}"), timeout=5)
        wrong_length = httpx.get(running.url(f"/?path={file}&length=9"), timeout=5)
        right_length = httpx.get(running.url(f"/?path={file}&length=5"), timeout=5)
    assert missing.status_code == 500
    assert wrong_length.status_code == 500
    assert right_length.status_code == 200 and right_length.content == b"12345"


def test_starlette_file_response_uses_pathsend(http: str, tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Route

    big = tmp_path / "big.bin"
    digest = _make_file(big, 2 * MB)
    sent: list[str] = []

    async def endpoint(request: Any) -> FileResponse:
        return FileResponse(big)

    starlette_app = Starlette(routes=[Route("/file", endpoint)])

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        async def recording_send(message: Any) -> None:
            if scope["type"] == "http":
                sent.append(message["type"])
            await send(message)

        await starlette_app(scope, receive, recording_send)

    with serve(spy, http=http) as running:
        response = httpx.get(running.url("/file"), timeout=10)
    assert hashlib.sha256(response.content).hexdigest() == digest
    assert sent == ["http.response.start", "http.response.pathsend"]


def _vm_hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])


def _read_syscalls(pid: int) -> int:
    io = Path(f"/proc/{pid}/io").read_text()
    return int(next(line for line in io.splitlines() if line.startswith("syscr")).split()[1])


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_pathsend_large_file_bounded_memory(http: str, loop: str, tmp_path: Path) -> None:
    """50 MB to a client that stalls for a moment: all bytes arrive, memory stays far below it.

    On asyncio's loop the kernel's sendfile is used, so the file is not read() in pieces.
    """
    size = 50 * MB + 3
    path = tmp_path / "big.bin"
    digest = _make_file(path, size)
    args = ["tests.support.apps.extensions:pathsend", "--http", http, "--loop", loop]
    with ServerProcess(*args, "--no-access-log") as server:
        port, pid = server.wait_serving(), server.process.pid
        peak_before, reads_before = _vm_hwm_kib(pid), _read_syscalls(pid)
        sha = hashlib.sha256()
        with RawClient(port, timeout=20) as client:
            client.send(raw_get(f"/?path={quote(str(path))}"))
            head = client.read_until(b"\r\n\r\n")
            assert f"content-length: {size}".encode() in head
            sha.update(client.buffer)  # the body bytes that came with the head
            received = len(client.buffer)
            stalled = False
            while received < size:
                if not stalled and received > MB:
                    stalled = True
                    time.sleep(0.5)  # a slow client: a server without flow control piles up here
                data = client.sock.recv(256 * 1024)
                if not data:
                    break
                received += len(data)
                sha.update(data)
        peak_after, reads_after = _vm_hwm_kib(pid), _read_syscalls(pid)
    assert received == size
    assert sha.hexdigest() == digest
    assert (peak_after - peak_before) * 1024 < 16 * MB, (peak_before, peak_after)
    if loop == "asyncio":
        assert reads_after - reads_before < 50, "the file was read in pieces, not sendfile'd"


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_pathsend_client_gone_midway(http: str, loop: str, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    _make_file(path, 20 * MB)
    with (
        capture_logs("mypkg.error", "asyncio") as logs,
        serve(extensions.pathsend, http=http, loop=loop) as running,
    ):
        with RawClient(running.port) as client:
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            client.send(raw_get(f"/?path={quote(str(path))}"))
            client.read_exactly(200_000)
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
        after = httpx.get(running.url(f"/?path={quote(str(path))}"), timeout=10)  # still healthy
    assert after.status_code == 200 and len(after.content) == 20 * MB
    assert logs.messages(logging.ERROR) == []


def test_pathsend_over_tls(http: str, tmp_path: Path, pki: Pki) -> None:
    path = tmp_path / "big.bin"
    digest = _make_file(path, 5 * MB)
    with serve(extensions.pathsend, http=http, ssl_certfile=pki.server_combined) as running:
        context = pki.client_context(with_cert=False)
        url = f"https://127.0.0.1:{running.port}/?path={quote(str(path))}"
        response = httpx.get(url, verify=context, timeout=10)
    assert hashlib.sha256(response.content).hexdigest() == digest


# --------------------------------------------------------------------------- trailers


def test_trailers_sent_when_the_client_accepts_them(http: str) -> None:
    with serve(extensions.trailers, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get("/", b"TE: trailers"))
        head = client.read_until(b"\r\n\r\n")
        body, trailers = _read_chunked(client)
        client.send(raw_get("/?split=1&one=1", b"TE: deflate;q=0.5, Trailers"))
        split_head = client.read_until(b"\r\n\r\n")
        split_body, split_trailers = _read_chunked(client)
    assert b"transfer-encoding: chunked" in head
    assert body == b"hello world"
    assert trailers == [b"x-checksum: abc"]
    assert b"transfer-encoding: chunked" in split_head  # one body piece, still chunked
    assert split_body == b"hello world"
    assert split_trailers == [b"x-checksum: abc", b"x-count: 2"]


def test_trailers_dropped_without_te_and_for_http10(http: str) -> None:
    with serve(extensions.trailers, http=http) as running:
        with RawClient(running.port) as client:
            client.send(raw_get("/"))
            streamed = client.response()
            client.send(raw_get("/?one=1"))
            whole = client.response()
            client.send(raw_get("/"))  # the connection is still in step
            again = client.response()
        with RawClient(running.port) as client:
            client.send(raw_get("/", b"TE: trailers", version=b"1.0"))
            old = client.read_to_close()
    assert streamed.header("transfer-encoding") == "chunked" and streamed.body == b"hello world"
    assert whole.header("content-length") == "11" and whole.body == b"hello world"
    assert again.body == b"hello world"
    assert b"x-checksum: abc" not in old and old.endswith(b"\r\n\r\nhello world")


def test_trailers_after_pathsend(http: str, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    digest = _make_file(path, 300_000)  # above the small-file size: streamed in chunks
    with serve(extensions.pathsend, http=http) as running, RawClient(running.port) as client:
        client.send(raw_get(f"/?path={quote(str(path))}&trailers=1", b"TE: trailers"))
        head = client.read_until(b"\r\n\r\n")
        body, trailers = _read_chunked(client)
    assert b"transfer-encoding: chunked" in head and b"content-length" not in head
    assert hashlib.sha256(body).hexdigest() == digest
    assert trailers == [b"x-done: yes"]


# --------------------------------------------------------------------------- early hints


def test_early_hints_before_the_response(http: str) -> None:
    with serve(extensions.early_hints, http=http) as running:
        with RawClient(running.port) as client:
            client.send(raw_get("/"))
            first = client.response()
            second = client.response()
            final = client.response()
        with RawClient(running.port) as client:
            client.send(raw_get("/", version=b"1.0"))
            old = client.response()
    assert (first.status, first.reason) == (103, "Early Hints")
    assert first.headers == [("link", extensions.LINKS[0].decode())]
    assert second.status == 103 and second.headers == [("link", extensions.LINKS[1].decode())]
    assert final.status == 200 and final.body == b"page"
    assert "late.css" not in str(final.headers)
    assert old.status == 200 and old.body == b"page"  # HTTP/1.0 has no 1xx responses


def test_early_hint_with_bad_link_is_an_app_error(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.early_hint", "links": [b"</x>\r\nevil: 1"]})

    with serve(app, http=http) as running:
        response: Response
        with RawClient(running.port) as client:
            client.send(raw_get("/"))
            response = client.response()
    assert response.status == 500


def test_extension_messages_out_of_order_are_errors(http: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.trailers", "headers": []})

    with serve(app, http=http) as running:
        assert httpx.get(running.url("/"), timeout=5).status_code == 500
