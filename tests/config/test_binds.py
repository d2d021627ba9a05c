"""--bind in every form, beside --host/--port/--uds/--fd; UNIX socket modes and stale files."""

from __future__ import annotations

import os
import signal
import socket
import stat
from pathlib import Path

import httpx
import pytest

from mypkg import Config
from mypkg.config.binds import BindTarget, parse_bind
from mypkg.errors import ConfigError, StartupError
from mypkg.sockets import bind_sockets, bind_tcp, bind_unix
from tests.support import apps
from tests.support.clients import RawClient
from tests.support.processes import ServerProcess, run_cli
from tests.support.servers import serve


def _get_tcp(host: str, port: int) -> httpx.Response:
    return httpx.get(f"http://{host}:{port}/", timeout=5)


def _get_unix(path: str) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(uds=path)) as client:
        return client.get("http://app/", timeout=5)


def test_parse_bind_forms() -> None:
    assert parse_bind("127.0.0.1:8000") == BindTarget("tcp", host="127.0.0.1", port=8000)
    assert parse_bind("localhost:0") == BindTarget("tcp", host="localhost", port=0)
    assert parse_bind("[::1]:443") == BindTarget("tcp", host="::1", port=443)
    assert parse_bind("[::]:80") == BindTarget("tcp", host="::", port=80)
    assert parse_bind("unix:/run/app.sock") == BindTarget("unix", path="/run/app.sock")
    assert parse_bind("fd://3") == BindTarget("fd", fd=3)
    assert [str(parse_bind(v)) for v in ("[::1]:1", "unix:/a", "fd://4")] == [
        "[::1]:1",
        "unix:/a",
        "fd://4",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8000", "expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N"),
        ("::1:8000", "put an IPv6 address in brackets"),
        ("[::1]8000", "expected [IPv6]:PORT"),
        ("[nope]:80", "not an IPv6 address"),
        ("host:http", "expected a port from 0 to 65535"),
        ("host:70000", "expected a port from 0 to 65535"),
        ("unix:", "'unix:' needs a path"),
        ("fd://x", "'fd://' needs a descriptor number"),
    ],
)
def test_bad_bind_values_name_the_flag(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(bind=[value])
    assert str(info.value).startswith("bind=: ")
    assert message in str(info.value)


def test_cli_bad_bind_is_one_line_before_serving() -> None:
    result = run_cli("tests.support.apps:hello", "--bind", "127.0.0.1:8000", "--bind", "nowhere")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "mypkg-supervise: error: --bind: expected HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N;"
        " got 'nowhere'"
    ]


def test_every_form_served_at_once(http: str, tmp_path: Path) -> None:
    inherited = bind_tcp("127.0.0.1", 0, 16)
    fd = os.dup(inherited.fileno())
    inherited.close()
    path = str(tmp_path / "app.sock")
    config = Config(bind=["127.0.0.1:0", "[::1]:0", f"unix:{path}", f"fd://{fd}"], uds_mode="600")
    sockets = bind_sockets(config)
    v4, v6, unix, from_fd = sockets
    assert (v4.family, v6.family, unix.family) == (socket.AF_INET, socket.AF_INET6, socket.AF_UNIX)
    assert from_fd.fileno() == fd
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with serve(apps.hello, http=http, sockets=sockets):
        responses = [
            _get_tcp("127.0.0.1", v4.getsockname()[1]),
            _get_tcp("[::1]", v6.getsockname()[1]),
            _get_unix(path),
            _get_tcp("127.0.0.1", from_fd.getsockname()[1]),
        ]
    assert [r.text for r in responses] == ["Hello, world!"] * 4


def test_dual_stack_serves_ipv4_and_ipv6(http: str) -> None:
    sockets = bind_sockets(Config(bind=["[::]:0"]))
    port = sockets[0].getsockname()[1]
    with serve(apps.scope_json, http=http, sockets=sockets):
        v4 = _get_tcp("127.0.0.1", port).json()
        v6 = _get_tcp("[::1]", port).json()
    assert v4["client"][0] == "::ffff:127.0.0.1"
    assert v6["client"][0] == "::1"


def test_host_port_used_only_without_other_binds(tmp_path: Path) -> None:
    path = str(tmp_path / "a.sock")
    only_uds = bind_sockets(Config(uds=path, port=0))
    assert [s.family for s in only_uds] == [socket.AF_UNIX]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660  # the default: not world-writable
    for sock in only_uds:
        sock.close()
    both = bind_sockets(Config(bind=["127.0.0.1:0"], uds=str(tmp_path / "b.sock")))
    assert [s.family for s in both] == [socket.AF_INET, socket.AF_UNIX]
    for sock in both:
        sock.close()
    default = bind_sockets(Config(host="::1", port=0))
    assert default[0].family == socket.AF_INET6
    default[0].close()


def test_stale_socket_file_replaced_live_one_and_other_files_kept(tmp_path: Path) -> None:
    stale = str(tmp_path / "stale.sock")
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(stale)
    leftover.close()  # the file stays behind, as after a crash
    bind_unix(stale, 16).close()

    live = str(tmp_path / "live.sock")
    listening = bind_unix(live, 16)
    with pytest.raises(StartupError, match="is in use: another server answers on it"):
        bind_unix(live, 16)
    listening.close()

    regular = tmp_path / "data.txt"
    regular.write_text("keep me")
    with pytest.raises(StartupError, match="exists and is not a socket; not removing it"):
        bind_unix(str(regular), 16)
    assert regular.read_text() == "keep me"


def test_failed_bind_releases_the_ones_before(tmp_path: Path) -> None:
    taken = bind_tcp("127.0.0.1", 0, 16)
    path = tmp_path / "first.sock"
    config = Config(bind=[f"unix:{path}", f"127.0.0.1:{taken.getsockname()[1]}"])
    with pytest.raises(StartupError, match=r"cannot bind 127\.0\.0\.1:"):
        bind_sockets(config)
    taken.close()
    assert not path.exists()


def test_uds_mode_values() -> None:
    assert Config(uds_mode="0o600").uds_mode == 0o600
    assert Config(uds_mode="0666").uds_mode == 0o666
    assert Config(uds_mode=0o640).uds_mode == 0o640
    assert str(Config().uds_mode) == "0o660"
    with pytest.raises(ConfigError, match="in TOML write 0o660"):
        Config(uds_mode=660)
    with pytest.raises(ConfigError, match="expected an octal file mode"):
        Config(uds_mode="rw")


def test_cli_binds_every_form(tmp_path: Path) -> None:
    """A real process: several --bind flags (and one from the environment), IPv6, a passed fd."""
    inherited = bind_tcp("127.0.0.1", 0, 16)
    fd = inherited.fileno()
    path = str(tmp_path / "cli.sock")
    args = ["tests.support.apps:hello", "--bind", "127.0.0.1:0", "--bind", "[::1]:0"]
    args += ["--bind", f"unix:{path}", "--bind", f"fd://{fd}", "--uds-mode", "640"]
    with ServerProcess(*args, port=False, pass_fds=(fd,)) as server:
        fd_port = inherited.getsockname()[1]
        inherited.close()
        server.wait_for_line(f"Serving on http://127.0.0.1:{fd_port}")  # the last one bound
        v4, v6, unix, passed = server.addresses
        assert v6.startswith("http://[::1]:")
        assert unix == f"unix:{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        for url in (v4, v6, passed):
            assert httpx.get(url + "/", timeout=5).text == "Hello, world!"
        assert _get_unix(path).text == "Hello, world!"
        server.signal(signal.SIGTERM)
        assert server.wait() == 0


def test_cli_bind_from_environment_and_toml(tmp_path: Path) -> None:
    toml = tmp_path / "mypkg.toml"
    toml.write_text('bind = ["127.0.0.1:0", "[::1]:0"]\nuds_mode = 0o600\n')
    with ServerProcess("tests.support.apps:hello", "--config", str(toml), port=False) as server:
        server.wait_for_line("Serving on http://[::1]:")
        port = int(server.addresses[1].rsplit(":", 1)[1])
        with RawClient(port, host="::1") as client:
            client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert client.response().status == 200
    env = {"MYPKG_BIND": "127.0.0.1:0,[::1]:0"}
    with ServerProcess("tests.support.apps:hello", env=env, port=False) as server:
        server.wait_for_line("Serving on http://[::1]:")
        assert [a.split("://")[1][0] for a in server.addresses] == ["1", "["]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_stopping_server_leaves_the_unix_socket_file_to_its_owner(
    http: str, loop: str, tmp_path: Path
) -> None:
    """The master binds the file once; an old worker that stops after a HUP must not unlink it
    while the new workers serve on it (asyncio and uvloop do by default from Python 3.13)."""
    path = str(tmp_path / "app.sock")
    sock = bind_unix(path, 16)
    old = socket.socket(fileno=os.dup(sock.fileno()))  # each worker holds its own descriptor
    with serve(apps.hello, http=http, loop=loop, sockets=[old]):
        assert _get_unix(path).text == "Hello, world!"
    assert os.path.exists(path), "the stopped server removed the socket file"
    with serve(apps.hello, http=http, loop=loop, sockets=[sock]):
        assert _get_unix(path).text == "Hello, world!"
