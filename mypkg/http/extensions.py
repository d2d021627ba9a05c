"""ASGI extensions for HTTP: what a connection advertises, and the file sending behind pathsend.

The cycle (cycle.py) handles the extension messages off its hot path; this module holds what is
computed once per connection (the ``extensions`` dict every scope gets a copy of, including the
``tls`` extension) and the I/O of ``http.response.pathsend``: the kernel's sendfile where the loop
and transport allow it (asyncio on plain TCP), otherwise bounded reads written with flow control
(uvloop has no sendfile, and TLS must encrypt in user space).
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from mypkg.errors import ClientDisconnected
from mypkg.http import framing

if TYPE_CHECKING:
    from mypkg.tls import TlsInfo


class Carrier(Protocol):
    """A connection's loop and transport, and whether its writing is paused (HTTP/1's protocol,
    HTTP/2's connection and streams all have them)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def scheme(self) -> str: ...
    @property
    def transport(self) -> asyncio.Transport: ...
    @property
    def write_paused(self) -> bool: ...


class Writer(Carrier, Protocol):
    """Where a response's bytes go, with flow control: what file sending needs (and the base of
    cycle.CycleConnection, which this module cannot import: the cycle imports it)."""

    async def drain(self) -> None: ...
    def close(self) -> None: ...


PATHSEND = "http.response.pathsend"
TRAILERS = "http.response.trailers"
EARLY_HINT = "http.response.early_hint"

# HTTP/1.0 has no chunked framing to carry trailers and no 1xx responses for early hints.
_FOR_HTTP11: dict[str, Any] = {PATHSEND: {}, TRAILERS: {}, EARLY_HINT: {}}
_FOR_HTTP10: dict[str, Any] = {PATHSEND: {}}

# Files up to this size are read at once and leave in the same write as the response head.
SMALL_FILE = 65536
# Larger files without kernel sendfile go out in pieces of this size, read off the event loop.
FILE_CHUNK = 262144


def connection_extensions(ssl_object: Any, tls: TlsInfo | None) -> dict[str, Any]:
    """The extensions an HTTP/1.1 request on this connection is offered (copied per request)."""
    if ssl_object is None or tls is None:
        return _FOR_HTTP11
    return {**_FOR_HTTP11, "tls": tls.extension(ssl_object)}


def for_http10(extensions: dict[str, Any]) -> dict[str, Any]:
    """The subset offered to an HTTP/1.0 request."""
    tls = extensions.get("tls")
    return {**_FOR_HTTP10, "tls": tls} if tls is not None else _FOR_HTTP10.copy()


def accepts_trailers(headers: list[tuple[bytes, bytes]]) -> bool:
    """The client sent ``TE: trailers``; the ASGI spec sends trailers only then."""
    for name, value in headers:
        if name == b"te":
            codings = [coding.split(b";")[0].strip() for coding in value.lower().split(b",")]
            if b"trailers" in codings:
                return True
    return False


def early_hints(links: Any) -> bytes:
    """A ``103 Early Hints`` response carrying one Link field per link."""
    lines = [framing.EARLY_HINTS]
    for link in links:
        if not isinstance(link, bytes) or framing.INVALID_VALUE.search(link):
            raise ValueError(f"invalid early hint link {link!r}: bytes without control characters")
        lines += (b"link: ", link, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def open_regular_file(path: Any) -> tuple[BinaryIO, int]:
    """The file to send and its size; OSError for anything but a regular file.

    Opened non-blocking: a FIFO with no writer (or a device) would otherwise block the event
    loop in open() itself. O_NONBLOCK means nothing for a regular file."""
    fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"pathsend: {os.fsdecode(path)!r} is not a regular file")
        return os.fdopen(fd, "rb"), info.st_size
    except BaseException:
        os.close(fd)
        raise


async def send_file(conn: Writer, file: Any, size: int, chunked: bool) -> int:
    """Write ``size`` bytes of ``file`` after the head already written; the count written.

    A client that goes away raises ClientDisconnected (and closes the connection).
    """
    loop, transport = conn.loop, conn.transport
    if transport.is_closing():
        raise ClientDisconnected("the client has disconnected")
    if not chunked and isinstance(loop, asyncio.BaseEventLoop) and conn.scheme == "http":
        try:
            return await loop.sendfile(transport, file, 0, size)
        except ConnectionError:
            conn.close()
            raise ClientDisconnected("the client has disconnected") from None
    fd, sent = file.fileno(), 0
    while sent < size:
        data = await loop.run_in_executor(None, os.pread, fd, min(FILE_CHUNK, size - sent), sent)
        if not data:
            break  # the file shrank: the caller sees the short count
        if transport.is_closing():
            raise ClientDisconnected("the client has disconnected")
        transport.write(framing.chunk(data) if chunked else data)
        sent += len(data)
        if conn.write_paused:
            await conn.drain()
    return sent
