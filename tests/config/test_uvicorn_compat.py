"""uvicorn's command line, unchanged: every option of uvicorn's own click command is accepted
(or listed in docs/migrating-from-uvicorn.md as not accepted, with why), its variables are read,
and the page is generated from the declarations.

The walk reads uvicorn's click parameters (uvicorn is a dev-only dependency), as
test_gunicorn_mapping.py walks Gunicorn's settings: a flag uvicorn adds fails here.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import signal
import threading
from typing import Any

import click
import pytest
import uvicorn
from websockets.sync.client import connect

from mypkg import Config, Server
from mypkg.config.argv import build_parser
from mypkg.config.descriptor import SETTINGS, Setting
from mypkg.config.reference import NOT_ACCEPTED, migrating_markdown
from mypkg.docgen import UVICORN_DOC
from mypkg.sockets import bind_tcp
from tests.support.clients import RawClient, request
from tests.support.h2client import H2Client, request_headers
from tests.support.processes import Master
from tests.support.servers import serve
from tests.support.websocket import echo_app

PARAMS: list[click.Parameter] = list(uvicorn.main.params)
BUILTIN = {"version"}  # --version: mypkg has its own; --help is click's


def uvicorn_settings() -> dict[str, Setting[Any]]:
    """uvicorn's flag (or 'app') -> the mypkg setting that declares it."""
    found = {}
    for setting in SETTINGS.values():
        if setting.uvicorn is not None:
            theirs = setting.uvicorn.flag or (
                "app" if setting.kind == "positional" else setting.flag
            )
            found[theirs] = setting
    return found


def choices(param: click.Parameter) -> list[str]:
    """uvicorn's allowed values: a click.Choice, or the [a|b|c] metavar of a plain string."""
    listed = getattr(param.type, "choices", None)
    if listed is not None:
        return [str(choice) for choice in listed]
    match = re.fullmatch(r"\[(.+)\]", getattr(param, "metavar", None) or "")
    return match[1].split("|") if match else []


def accepts(flag: str) -> bool:
    return flag in build_parser()._option_string_actions


@pytest.mark.parametrize("param", PARAMS, ids=[param.name or "" for param in PARAMS])
def test_every_uvicorn_option_is_accepted_or_explained(param: click.Parameter) -> None:
    flag = param.opts[0]
    doc = migrating_markdown()
    if param.name in BUILTIN:
        assert accepts(flag)
        return
    if flag in NOT_ACCEPTED:
        assert not accepts(flag), f"{flag} is accepted now: take it off NOT_ACCEPTED"
        assert f"* `{flag}`: " in doc
        return
    setting = uvicorn_settings().get(flag)
    assert setting is not None, f"uvicorn's {flag} is neither declared nor in NOT_ACCEPTED"
    assert setting.uvicorn is not None
    for opt in [*param.opts, *param.secondary_opts]:
        assert opt == "app" or accepts(opt), opt
    expected_env = param.envvar or "UVICORN_" + (param.name or "").upper()
    assert setting.uvicorn_env == expected_env
    for value in choices(param):
        if value in setting.uvicorn.refused:
            with pytest.raises(ValueError):
                setting.parse(value)
            assert value in doc
        else:
            setting.parse(value)  # accepted as uvicorn spells it
    assert f"| `{'APP' if flag == 'app' else flag}` |" in doc


def test_no_declaration_names_a_flag_uvicorn_lacks() -> None:
    theirs = {param.opts[0] for param in PARAMS}
    assert set(uvicorn_settings()) <= theirs


def test_migrating_doc_is_current() -> None:
    text = UVICORN_DOC.read_text()
    assert text == migrating_markdown(), "stale: run python -m mypkg.docgen"


def parse(argv: list[str], environ: dict[str, str] | None = None) -> Config:
    return Config.from_sources(vars(build_parser().parse_args(argv)), environ or {}, foreign=True)


@pytest.mark.parametrize(
    ("argv", "name", "value"),
    [
        (["--limit-max-requests-jitter", "7"], "max_requests_jitter", 7),
        (["--max-requests-jitter", "7"], "max_requests_jitter", 7),
        (["--timeout-worker-healthcheck", "5"], "worker_timeout", 5.0),
        (["--reset-contextvars"], "reset_contextvars", True),
        (["--ws", "websockets-sansio"], "ws", "websockets-sansio"),
        (["--ws-per-message-deflate", "false"], "ws_per_message_deflate", False),
        (["--ws-per-message-deflate", "False"], "ws_per_message_deflate", False),
        (["--ws-per-message-deflate=true"], "ws_per_message_deflate", True),
        (["--no-ws-per-message-deflate"], "ws_per_message_deflate", False),
        (["--access-log", "false", "main:app"], "access_log", False),
    ],
)
def test_uvicorn_spellings(argv: list[str], name: str, value: object) -> None:
    config = parse(argv)
    assert getattr(config, name) == value
    if "main:app" in argv:
        assert config.app == "main:app"


def test_a_toggle_before_the_app_does_not_swallow_it() -> None:
    config = parse(["--ws-per-message-deflate", "main:app"])
    assert config.ws_per_message_deflate is True and config.app == "main:app"


@pytest.mark.parametrize("alias", ["limit_max_requests_jitter", "timeout_worker_healthcheck"])
def test_aliases_reach_every_surface(alias: str) -> None:
    from mypkg.config.descriptor import ALIASES

    setting = SETTINGS[ALIASES[alias]]
    assert getattr(Config(**{alias: "9"}), setting.name) == setting.parse("9"), "keyword"
    assert getattr(parse([], {"MYPKG_" + alias.upper(): "9"}), setting.name) == setting.parse("9")


def test_uvicorn_variables_are_read_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    config = parse([], {"UVICORN_PORT": "8123", "UVICORN_APP": "main:app"})
    assert (config.port, config.app) == (8123, "main:app")
    notes = capsys.readouterr().err.splitlines()
    assert "mypkg: note: UVICORN_PORT is read as MYPKG_PORT; rename it" in notes[1]
    assert len(notes) == 2
    # MYPKG_* wins, and then the UVICORN_* variable is not mentioned.
    assert parse([], {"UVICORN_PORT": "8123", "MYPKG_PORT": "8124"}).port == 8124
    assert capsys.readouterr().err == ""
    # Only the command line reads them; Config() reads no environment.
    assert Config().port == 8000


def test_bad_uvicorn_variable_names_itself() -> None:
    with pytest.raises(Exception, match="UVICORN_PORT: expected an integer"):
        parse([], {"UVICORN_PORT": "x"})


def test_web_concurrency_and_forwarded_allow_ips() -> None:
    config = parse([], {"WEB_CONCURRENCY": "3", "FORWARDED_ALLOW_IPS": "10.0.0.1"})
    assert (config.workers, config.forwarded_allow_ips) == (3, ["10.0.0.1"])
    mine = {"WEB_CONCURRENCY": "3", "MYPKG_WORKERS": "2"}
    assert parse([], mine).workers == 2
    assert parse(["-w", "4"], mine).workers == 4
    assert Config().forwarded_allow_ips == ["127.0.0.1", "::1"]


def test_web_concurrency_runs_that_many_workers() -> None:
    with Master(
        "tests.support.apps.workers:app", "--port", "0", env={"WEB_CONCURRENCY": "2"}
    ) as master:
        master.wait_for(r"Ready: 2 worker\(s\)")
        assert len(master.workers()) == 2
        # The master's banner names the workers; none is printed by the workers themselves.
        assert master.output.count(", 2 worker(s) under this master") == 1
        assert "(this process)" not in master.output and "Press CTRL+C" not in master.output
        master.signal(signal.SIGTERM)
        assert master.wait() == 0


PROXIED = b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n"


def test_ipv6_loopback_proxy_is_trusted_by_default(http: str) -> None:
    """The default --forwarded-allow-ips is uvicorn's: 127.0.0.1 and ::1."""
    import json

    from tests.support.apps import scope_json

    sock = bind_tcp("::1", 0, 16)
    port = sock.getsockname()[1]
    with serve(scope_json, http=http, sockets=[sock]), RawClient(port, host="::1") as client:
        client.send(PROXIED)
        response = client.response()
    assert json.loads(response.body)["client"][0] == "203.0.113.9"


def test_websockets_sansio_serves_websockets(http: str) -> None:
    with serve(echo_app(), http=http, ws="websockets-sansio") as running:
        ws = connect(f"ws://127.0.0.1:{running.port}/ws")
        with ws:
            ws.send("hi")
            assert ws.recv(timeout=5) == "hi"


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


async def show_var(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": VAR.get().encode()})


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
@pytest.mark.parametrize(("reset", "seen"), [(False, b"outer"), (True, b"unset")])
def test_reset_contextvars(http: str, reset: bool, seen: bytes, http2: bool) -> None:
    """A variable set by the code that starts the server reaches requests unless reset (HTTP/2
    streams too)."""
    config = Config(show_var, http=http, reset_contextvars=reset, lifespan="off", http2=http2)
    server = Server(config)
    sock = bind_tcp("127.0.0.1", 0, 16)

    async def main() -> None:
        VAR.set("outer")
        await server.serve([sock], install_signal_handlers=False)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        assert server.started.wait(10)
        port = sock.getsockname()[1]
        if http2:
            with H2Client(port) as client:
                assert client.response(client.request(request_headers()))[2] == seen
        else:
            get = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            assert request(port, get).body == seen
    finally:
        server.request_exit_threadsafe()
        thread.join(10)
        sock.close()
    assert not thread.is_alive()
