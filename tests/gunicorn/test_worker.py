"""A real Gunicorn master with mypkg's worker classes: settings checked from the outside."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from pathlib import Path

import pytest

from mypkg.workers import mapping
from tests.support.boundaries import LIMITS
from tests.support.clients import RawClient, Response
from tests.support.gunicorn import (
    WORKER_CLASSES,
    GunicornMaster,
    fake_worker,
    gunicorn,
    run_gunicorn,
    send_slow,
)
from tests.support.waiting import assert_on_time, wait_until

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_access_log_format_and_backends(tmp_path: Path, worker: str) -> None:
    access = tmp_path / "access.log"
    fmt = '%(h)s %(m)s %(U)s %(q)s %(s)s %(b)s "%({user-agent}i)s" %({x-trace}o)s %(D)sus %(p)s'
    args = ("--access-logfile", str(access), "--access-logformat", fmt)
    with gunicorn(*args, worker=worker) as master:
        response = master.request("/items?page=2", headers="User-Agent: tester/1\r\n")
        assert response.status == 200
        pid = response.header("x-pid")
        line = wait_until(lambda: access.read_text().strip(), 5, "an access line")
        log = master.output
    pattern = rf'127\.0\.0\.1 GET /items page=2 200 2 "tester/1" t-1 \d+us <{pid}>'
    assert re.fullmatch(pattern, line), line
    expected = "H11Protocol on asyncio" if "H11" in worker else "HttptoolsProtocol on uvloop"
    assert f"mypkg worker: {expected}" in log


def test_no_access_log_unless_configured(tmp_path: Path) -> None:
    with gunicorn() as master:
        assert master.request("/").status == 200
        assert master.request("/nowhere-logged").status == 200
        assert "nowhere-logged" not in master.output


# mypkg setting, Gunicorn's flag for it, the value given
GUNICORN_LIMITS = [
    ("limit_request_line", "--limit-request-line", 64),
    ("limit_request_fields", "--limit-request-fields", 4),
    ("limit_request_field_size", "--limit-request-field_size", 100),
]


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_request_limits_answer_414_and_431_past_the_boundary(tmp_path: Path, worker: str) -> None:
    """Each Gunicorn limit becomes a mypkg setting (through the mapping table, whatever it
    translates the number to); the worker serves a head exactly at that mypkg limit and refuses
    one past it."""
    translated = mapping.translate(fake_worker(**{name: n for name, _, n in GUNICORN_LIMITS}))
    args = [f"{flag}={value}" for _, flag, value in GUNICORN_LIMITS]
    with gunicorn(*args, worker=worker) as master:
        for setting, (status, build) in LIMITS.items():
            limit = int(translated[setting])  # type: ignore[call-overload]
            assert raw_request(master.port, build(limit)).status == 200, setting
            assert raw_request(master.port, build(limit + 1)).status == status, setting
        assert master.request("/").status == 200  # the worker is healthy


def raw_request(port: int, data: bytes) -> Response:
    with RawClient(port) as client:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            client.send(data)  # the server may answer and close before the last bytes
        return client.response()


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_worker_connections_answer_503(tmp_path: Path, worker: str) -> None:
    marker = tmp_path / "marks"
    env = {"TEST_MARKER": str(marker)}
    with gunicorn("--worker-connections", "2", env=env, worker=worker) as master:
        slow = [send_slow(master, 1, marker) for _ in range(2)]
        assert master.request("/").status == 503
        for client in slow:
            assert client.response().status == 200
            client.close()
        assert master.request("/").status == 200


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_keepalive_timeout_and_keepalive_off(tmp_path: Path, worker: str) -> None:
    keepalive = gunicorn("--keep-alive", "1", worker=worker)
    with keepalive as master, RawClient(master.port) as client:
        client.send(GET)
        assert client.response().header("connection") is None
        started = time.monotonic()
        assert client.is_closed(timeout=4)
        assert_on_time(time.monotonic() - started, 1.0, tick=0.25)  # tick: a quarter timeout
    no_keepalive = gunicorn("--keep-alive", "0", worker=worker)
    with no_keepalive as master, RawClient(master.port) as client:
        client.send(GET)
        assert client.response().header("connection") == "close"
        assert client.is_closed()


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_max_requests_replaces_the_worker(tmp_path: Path, worker: str) -> None:
    with gunicorn("--max-requests", "3", worker=worker) as master:
        pids = [master.request("/").header("x-pid") for _ in range(3)]
        assert len(set(pids)) == 1
        # A connection accepted while the old worker stops is still served by it (draining).
        later = [master.request("/", timeout=15).header("x-pid") for _ in range(3)]
        assert later[-1] != pids[0]
        assert "Served 3 requests (--limit-max-requests)" in master.output


def test_root_path(tmp_path: Path) -> None:
    with gunicorn("--root-path", "/api") as master:
        scope = json.loads(master.request("/scope").body)
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/scope"


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_mypkg_settings_from_environment_variables(tmp_path: Path, worker: str) -> None:
    """MYPKG_TIMEOUT_REQUEST_HEAD reaches the worker: a head that never ends gets 408 on time."""
    env = {"MYPKG_TIMEOUT_KEEP_ALIVE": "99"}
    args = ("-e", "MYPKG_TIMEOUT_REQUEST_HEAD=1")  # Gunicorn's raw_env sets it in the worker
    server = gunicorn(*args, env=env, worker=worker)
    with server as master, RawClient(master.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the head never completes
        started = time.monotonic()
        assert client.response().status == 408
        assert_on_time(time.monotonic() - started, 1.0, tick=0.25)  # tick: a quarter timeout
        log = master.output
    assert "MYPKG_TIMEOUT_KEEP_ALIVE is ignored under Gunicorn: keepalive sets" in log


def test_ignored_setting_is_warned_about_once_in_the_master(tmp_path: Path) -> None:
    with gunicorn("--threads", "4", workers=2) as master:
        log = master.output
    assert log.count("Gunicorn setting threads (--threads) is ignored") == 1


@pytest.mark.parametrize("kind", ["tcp", "unix", "systemd"])
def test_bind_variants(tmp_path: Path, kind: str) -> None:
    if kind == "tcp":
        with gunicorn(bind="127.0.0.1:0") as master:  # Gunicorn binds port 0
            assert master.port != 0
            assert master.request("/").status == 200
    elif kind == "systemd":
        with gunicorn(systemd=True) as master:
            assert master.request("/").status == 200
            assert "Serving on http://127.0.0.1" in master.output
    else:
        path = tmp_path / "g.sock"
        with gunicorn(bind=f"unix:{path}") as master:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(str(path))
                sock.sendall(b"GET /scope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            assert data.startswith(b"HTTP/1.1 200 ")
            assert f"Serving on unix:{path}" in master.output


def test_preload_app(tmp_path: Path) -> None:
    marker = tmp_path / "marks"
    with gunicorn("--preload", workers=2, env={"TEST_MARKER": str(marker)}) as master:
        assert master.request("/").status == 200
        starts = wait_until(lambda: marker.read_text().count("startup") == 2, 5, "2 startups")
        assert starts


# --------------------------------------------------------------------------- boot failures


@pytest.mark.parametrize(
    ("app", "args", "code", "message"),
    [
        ("tests.nonexistent:app", (), 3, "No module named 'tests.nonexistent'"),
        ("tests.support.apps.gunicorn:wsgi", (), 4, "looks like a WSGI application"),
        ("tests.support.apps:failing_startup", (), 3, "lifespan startup failed: database"),
        (
            "tests.support.apps.gunicorn:app",
            ("--proxy-protocol", "v1"),
            3,
            "Gunicorn setting proxy_protocol (--proxy-protocol): PROXY protocol is not supported",
        ),
        (
            "tests.support.apps.gunicorn:app",
            ("--limit-request-field_size", "70000"),
            3,
            "Gunicorn setting limit_request_field_size (--limit-request-field_size): expected an"
            " integer",
        ),
        (
            "tests.support.apps.gunicorn:app",
            ("-e", "MYPKG_TIMEOUT_REQUEST_HEAD=soon"),
            3,
            "MYPKG_TIMEOUT_REQUEST_HEAD: expected a number, got 'soon'",
        ),
    ],
)
def test_boot_failure_stops_gunicorn(
    tmp_path: Path, app: str, args: tuple[str, ...], code: int, message: str
) -> None:
    result = run_gunicorn("-k", "mypkg.workers.AsgiWorker", "--bind", "127.0.0.1:0", *args, app)
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert message in output
    assert output.count("Booting worker") == 1  # stopped, not respawned


def rewrite_until_reloaded(master: GunicornMaster, module: Path, text: str) -> None:
    """Write ``text`` into ``module`` until the worker is replaced (a second "Serving on").

    Gunicorn's reloader notes each file's mtime on its first pass, which may come after a write
    made as soon as the log said "Serving on": then write again, newer."""
    for attempt in range(5):
        module.write_text(f"{text}# {attempt}\n")
        with contextlib.suppress(AssertionError):
            master.wait_for_line("Serving on", count=2, timeout=3)
            return
    master.wait_for_line("Serving on", count=2)


def test_reload_restarts_the_worker_when_the_app_changes(tmp_path: Path) -> None:
    module = tmp_path / "reloaded_app.py"
    source = """
async def app(scope, receive, send):
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"VERSION"})
"""
    module.write_text(source.replace("VERSION", "v1"))
    args = ("--reload", "--chdir", str(tmp_path))
    with gunicorn(*args, app="reloaded_app:app") as master:
        assert master.request("/").body == b"v1"
        rewrite_until_reloaded(master, module, source.replace("VERSION", "v2"))
        assert master.request("/").body == b"v2"


def test_reload_serves_a_syntax_error_until_it_is_fixed(tmp_path: Path) -> None:
    module = tmp_path / "broken_app.py"
    module.write_text("async def app(scope, receive, send)\n")  # no colon
    args = ("--reload", "--chdir", str(tmp_path))
    with gunicorn(*args, app="broken_app:app") as master:
        response = master.request("/")
        assert response.status == 500 and b"SyntaxError" in response.body
        fixed = (
            "async def app(scope, receive, send):\n"
            "    if scope['type'] == 'http':\n"
            "        await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
            "        await send({'type': 'http.response.body', 'body': b'fixed'})\n"
        )
        rewrite_until_reloaded(master, module, fixed)
        assert master.request("/").body == b"fixed"


def test_errorlog_logconfig_dict_and_proc_name(tmp_path: Path) -> None:
    errors = tmp_path / "error.log"
    custom = tmp_path / "custom.log"
    logconfig = {
        "version": 1,
        "formatters": {"plain": {"format": "CUSTOM %(name)s %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(custom), "formatter": "plain"}
        },
        "loggers": {"gunicorn.error": {"handlers": ["file"], "level": "INFO"}},
        "root": {"level": "WARNING", "handlers": []},
    }
    args = ("--error-logfile", str(errors), "--name", "shop-api")
    with gunicorn(*args, ready=False) as master:
        wait_until(lambda: errors.exists() and "Serving on" in errors.read_text(), 15, "a line")
        [pid] = master.workers()
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        assert b"worker [shop-api]" in title
    config = tmp_path / "logging.conf.py"  # logconfig_dict has no command-line flag
    config.write_text(f"logconfig_dict = {logconfig!r}\n")
    with gunicorn("-c", str(config), ready=False):
        wait_until(lambda: custom.exists() and "Serving on" in custom.read_text(), 15, "a line")
        assert "CUSTOM mypkg.error Serving on http://127.0.0.1:" in custom.read_text()


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_websockets_and_their_message_limit(tmp_path: Path, worker: str) -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect

    args = ("--websocket-max-message-size", "1000")
    with gunicorn(*args, worker=worker) as master:
        with connect(f"ws://127.0.0.1:{master.port}/ws", open_timeout=5) as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "hello"
        with connect(f"ws://127.0.0.1:{master.port}/ws", open_timeout=5) as ws:
            ws.send("x" * 2000)
            with pytest.raises(ConnectionClosedError) as info:
                ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009
