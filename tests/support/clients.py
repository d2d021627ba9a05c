"""Raw HTTP/1 clients: bytes we choose on a real socket, responses read one at a time."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from dataclasses import dataclass
from typing import Any

from typing_extensions import Self


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class SocketClient:
    """A client over one socket (``self.sock``), closed at the end of its ``with`` block."""

    sock: socket.socket

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RawClient(SocketClient):
    """A socket speaking bytes we choose, reading responses one at a time."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}; got {self.buffer!r}")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError(f"closed with {len(self.buffer)} of {size} bytes")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_to_close(self) -> bytes:
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data

    def response(self, head_only: bool = False) -> Response:
        """Read one response, framed by Content-Length, chunked encoding or close."""
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *lines = head.split("\r\n")
        _, status, reason = [*status_line.split(" ", 2), ""][:3]
        headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
        response = Response(int(status), reason, headers, b"")  # type: ignore[arg-type]
        if head_only or response.status in (204, 304) or response.status < 200:
            return response
        length = response.header("content-length")
        if length is not None:
            response.body = self.read_exactly(int(length))
        elif (response.header("transfer-encoding") or "").lower() == "chunked":
            response.body = self._read_chunked()
        else:
            response.body = self.read_to_close()
        return response

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                self.read_until(b"\r\n")
                return b"".join(parts)
            parts.append(self.read_exactly(size))
            assert self.read_exactly(2) == b"\r\n", "chunk not followed by CRLF"

    def is_closed(self, timeout: float = 5.0) -> bool:
        """True once the server closes the connection (EOF or reset) within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            return not self._fill()
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def raw_get(path: str = "/", *extra: bytes, version: bytes = b"1.1") -> bytes:
    """The bytes of ``GET path HTTP/version`` with Host and the ``extra`` header lines."""
    lines = [b"GET %s HTTP/%s" % (path.encode(), version), b"Host: x", *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def request(port: int, data: bytes, timeout: float = 5.0) -> Response:
    """Send raw bytes on a new connection and read one response."""
    with RawClient(port, timeout=timeout) as client:
        client.send(data)
        return client.response()


def tls_get(port: int, context: ssl.SSLContext, path: str = "/") -> tuple[bytes, str]:
    """One HTTPS request over a raw TLS socket: the response bytes and the cipher's name."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        cipher = sock.cipher()
        return data, cipher[0] if cipher else ""


def json_body(response: bytes) -> Any:
    """The JSON body of a complete 200 response given as bytes."""
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return json.loads(body)


def is_500(raw: bytes) -> bool:
    """``raw`` starts with the 500 mypkg sends when the app fails before its response."""
    return raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


def curl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """curl, a client people really use, with a deadline; fails the test on its errors."""
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "20", *args],
        input=data,
        capture_output=True,
        timeout=30,
        check=True,
    )
