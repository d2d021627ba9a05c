"""What the server says when it starts: the first questions a new user has, answered in the log.

One line names the versions and the implementations really in use (the ``auto`` choices
resolved), then one line per listening address as a URL, the lifespan outcome, and, on a
terminal, how to stop. The single process and mypkg's master say the same thing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import ipaddress
import logging
import platform
import socket
import sys
from typing import TYPE_CHECKING

from mypkg import compiled
from mypkg.backends import loop_factory, protocol_class
from mypkg.sockets import describe
from mypkg.version import __version__

if TYPE_CHECKING:
    from mypkg.config import Config

logger = logging.getLogger("mypkg.error")


def _version(distribution: str) -> str:
    try:
        return " " + importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


def runtime_line(config: Config, workers: str) -> str:
    """mypkg's version and build (compiled or pure Python: mypkg/compiled.py), Python's, and
    the loop, parser (and HTTP/2 library) and WebSocket implementation that ``--loop``,
    ``--http`` (``--http2``) and ``--ws`` resolve to here."""
    loop = "uvloop" if loop_factory(config.loop).__module__.startswith("uvloop") else "asyncio"
    http = "httptools" if "httptools" in protocol_class(config.http).__module__ else "h11"
    ws = "off"
    if config.ws != "none" and importlib.util.find_spec("websockets") is not None:
        ws = f"websockets{_version('websockets')} (sans-I/O)"
    http += _version(http)
    if config.http2:
        http += f" and HTTP/2 h2{_version('h2')}"
    python = f"{platform.python_implementation()} {platform.python_version()}"
    loop += _version(loop) if loop == "uvloop" else ""
    return (
        f"mypkg {__version__} ({compiled.flavour()}) on {python}: loop {loop},"
        f" HTTP {http}, WebSockets {ws}, {workers}"
    )


def listen_line(sock: socket.socket, tls: bool) -> str:
    """``Serving on URL``; a wildcard address also gets a URL a browser can open."""
    url = describe(sock, tls=tls)
    line = f"Serving on {url}"
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host, port = sock.getsockname()[:2]
        if ipaddress.ip_address(host).is_unspecified:
            local = "[::1]" if sock.family == socket.AF_INET6 else "127.0.0.1"
            scheme = "https" if tls else "http"
            line += f" (every interface; from this machine: {scheme}://{local}:{port})"
    return line


def press_ctrl_c() -> None:
    """Only a person at a terminal can press it; a service manager's log does not need it."""
    if sys.stderr.isatty():
        logger.info("Press CTRL+C to quit")
