"""Lifespan: auto/on/off, startup failures (exit code 4, a clear message), state, shutdown."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from mypkg.errors import EXIT_STARTUP, StartupError
from tests.support import apps
from tests.support.clients import RawClient, request
from tests.support.processes import ServerProcess, run_cli
from tests.support.servers import serve

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


class LifespanApp:
    """Answers lifespan events (recording them) and HTTP requests."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.events.append(scope["type"])
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await apps.hello(scope, receive, send)


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_and_shutdown_run(http: str, mode: str) -> None:
    app = LifespanApp()
    with serve(app, http=http, lifespan=mode) as running:
        assert app.events == ["lifespan", "lifespan.startup"]  # before the first request
        assert request(running.port, GET).status == 200
    assert app.events == ["lifespan", "lifespan.startup", "http", "lifespan.shutdown"]


def test_off_never_calls_lifespan(http: str) -> None:
    app = LifespanApp()
    with serve(app, http=http, lifespan="off") as running:
        assert request(running.port, GET).status == 200
    assert app.events == ["http"]


def test_auto_goes_on_without_an_app_that_has_no_lifespan(
    http: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "this app knows only HTTP"
        await apps.hello(scope, receive, send)

    with serve(app, http=http, lifespan="auto") as running:
        assert request(running.port, GET).status == 200
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_on_refuses_an_app_without_lifespan() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http", "this app knows only HTTP"

    with (
        pytest.raises(StartupError, match="lifespan startup failed: AssertionError"),
        serve(app, lifespan="on"),
    ):
        pass


def test_on_refuses_an_app_that_returns_without_answering() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with (
        pytest.raises(StartupError, match=r"returned without answering lifespan\.startup"),
        serve(app, lifespan="on"),
    ):
        pass


@pytest.mark.parametrize(
    ("app", "message", "traceback"),
    [
        # The app reported the failure itself: one clear line, nothing else.
        (
            "tests.support.apps:failing_startup",
            "lifespan startup failed: database is unreachable",
            False,
        ),
        # The app raised: the line, and the app's traceback for its developer.
        (
            "tests.support.apps:raising_startup",
            "lifespan startup failed: RuntimeError: config file",
            True,
        ),
    ],
)
@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_failure_exits_with_code_4(
    app: str, message: str, traceback: bool, mode: str
) -> None:
    result = run_cli(app, "--port", "0", "--lifespan", mode)
    assert result.returncode == EXIT_STARTUP == 4
    assert message in result.stderr
    assert ("Traceback" in result.stderr) is traceback, result.stderr
    assert "Serving on" not in result.stderr  # it never started serving


def test_state_is_a_copy_of_the_lifespan_state_per_request(http: str) -> None:
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["pool"] = "the pool"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        seen.append(dict(scope["state"]))
        scope["state"]["leak"] = scope["path"]  # must not reach the next request
        await apps.respond(send, 200, b"")

    with serve(app, http=http) as running, RawClient(running.port) as client:
        for path in (b"/1", b"/2"):
            client.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
            assert client.response().status == 200
    assert seen == [{"pool": "the pool"}, {"pool": "the pool"}]


def test_shutdown_failure_is_logged_and_the_server_still_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.failed", "message": "flush failed"})

    with serve(app, lifespan="on"):
        pass
    assert "lifespan shutdown failed: flush failed" in caplog.text


def test_shutdown_runs_when_the_process_exits(http: str, tmp_path: Path) -> None:
    events = tmp_path / "events"
    env = {"MYPKG_TEST_EVENTS": str(events)}
    with ServerProcess("tests.support.apps:held", "--http", http, env=env) as proc:
        port = proc.wait_serving()
        assert events.read_text() == "startup\n"
        assert request(port, GET).status == 200
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
    assert events.read_text() == "startup\nshutdown\n"
