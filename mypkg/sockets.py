"""Binding listening sockets: TCP (IPv4, IPv6, dual stack), UNIX domain sockets, inherited fds,
and sockets passed by systemd socket activation.

The process that binds (a single server, the supervisor's master, Gunicorn's arbiter) is not
always the one that serves: ``Server.serve`` only ever receives bound sockets.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
from collections.abc import MutableMapping

from mypkg.config import Config
from mypkg.config.binds import BindTarget
from mypkg.errors import StartupError

logger = logging.getLogger("mypkg.error")

SD_LISTEN_FDS_START = 3  # sd_listen_fds(3): passed sockets start at this descriptor
_SYSTEMD_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def bind_sockets(config: Config) -> list[socket.socket]:
    """The listening sockets the settings ask for, bound and listening.

    Sockets passed by systemd (socket activation) win: the unit's ListenStream= is the bind
    address then, and the socket outlives restarts of the service. Otherwise every --bind, plus
    --uds and --fd when given; --host/--port only when none of those is.
    """
    passed = systemd_sockets()
    if passed:
        logger.info("Using %d socket(s) passed by systemd (LISTEN_FDS)", len(passed))
        return passed
    targets = list(config.bind)
    if config.uds is not None:
        targets.append(BindTarget("unix", path=config.uds))
    if config.fd is not None:
        targets.append(BindTarget("fd", fd=config.fd))
    if not targets:
        targets.append(BindTarget("tcp", host=config.host, port=config.port))
    sockets: list[socket.socket] = []
    try:
        for target in targets:
            sockets.append(bind_target(target, config.backlog, config.uds_mode))
    except BaseException:
        for sock, target in zip(sockets, targets, strict=False):
            sock.close()
            if target.kind == "unix":
                with contextlib.suppress(OSError):
                    os.unlink(target.path)
        raise
    return sockets


def bind_target(target: BindTarget, backlog: int, uds_mode: int = 0o660) -> socket.socket:
    if target.kind == "unix":
        return bind_unix(target.path, backlog, uds_mode)
    if target.kind == "fd":
        return socket_from_fd(target.fd, backlog)
    return bind_tcp(target.host, target.port, backlog)


def bind_tcp(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # dual stack
        sock.bind((host.strip("[]"), port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def bind_unix(path: str, backlog: int, mode: int = 0o660) -> socket.socket:
    """Bind a UNIX socket, first removing a stale socket file (never any other kind of file,
    and never the socket of a server that still answers on it)."""
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise StartupError(f"unix:{path} exists and is not a socket; not removing it")
        if _socket_in_use(path):
            raise StartupError(f"unix:{path} is in use: another server answers on it")
        try:
            os.unlink(path)
        except OSError as exc:
            raise StartupError(f"cannot remove stale unix:{path}: {exc.strerror}") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, mode)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot bind unix:{path}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    created = os.stat(path)
    _CREATED[path] = (created.st_dev, created.st_ino)
    return sock


# UNIX socket files this process created: path -> (device, inode), so that on exit we remove
# our own socket file and never a file something else has put at that path since.
_CREATED: dict[str, tuple[int, int]] = {}


def remove_socket_files() -> None:
    """Remove the UNIX socket files this process bound (called by whoever bound them: the single
    process or the master, never a worker that inherited the sockets)."""
    for path, identity in list(_CREATED.items()):
        del _CREATED[path]
        try:
            found = os.stat(path)
        except OSError:
            continue
        if stat.S_ISSOCK(found.st_mode) and (found.st_dev, found.st_ino) == identity:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _socket_in_use(path: str) -> bool:
    """Something accepts connections on ``path`` (ECONNREFUSED means the file is stale)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)  # a listener with a full backlog makes connect wait
        try:
            probe.connect(path)
        except TimeoutError:
            return True
        except OSError:
            return False
    return True


def socket_from_fd(fd: int, backlog: int) -> socket.socket:
    sock = _stream_socket(fd, f"--fd {fd}")
    sock.listen(backlog)
    return sock


def _stream_socket(fd: int, where: str) -> socket.socket:
    """An inherited descriptor as a non-blocking stream socket, or a StartupError naming it."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise StartupError(f"{where}: not a usable socket: {exc.strerror or exc}") from None
    if sock.type != socket.SOCK_STREAM:
        sock.detach()  # not ours to close
        raise StartupError(f"{where}: not a stream socket")
    sock.setblocking(False)
    return sock


def systemd_sockets(environ: MutableMapping[str, str] = os.environ) -> list[socket.socket]:
    """The listening sockets of systemd socket activation, if they are meant for this process.

    Per sd_listen_fds(3): only when LISTEN_PID is our pid; the variables are then removed so
    that workers and the app's own subprocesses do not take the sockets for theirs.
    """
    try:
        pid = int(environ.get("LISTEN_PID", "0"))
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        raise StartupError("LISTEN_PID/LISTEN_FDS are not numbers") from None
    if pid != os.getpid() or count < 1:
        return []
    for name in _SYSTEMD_VARIABLES:
        environ.pop(name, None)
    first = SD_LISTEN_FDS_START
    return [_stream_socket(fd, f"LISTEN_FDS (fd {fd})") for fd in range(first, first + count)]


def describe(sock: socket.socket, tls: bool = False) -> str:
    """A URL-ish name for log lines: http://127.0.0.1:8000, https://[::1]:443, unix:/run/a.sock."""
    address = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{address}" + (" (TLS)" if tls else "")
    host, port = address[0], address[1]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"
