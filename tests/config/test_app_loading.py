"""Loading the app: by name, dotted, factory, --app-dir, ASGI 2 or 3; clear one-line failures;
the programmatic API (mypkg.run, Server.run, await Server.serve)."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import uuid
from pathlib import Path

import pytest

import mypkg
from mypkg.errors import EXIT_APP_LOAD
from tests.support.clients import request
from tests.support.processes import ServerProcess, run_cli
from tests.support.servers import serve

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

MODULE = """
import types


async def respond(send, text):
    body = text.encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send):
    if scope["type"] == "http":
        await respond(send, "asgi3")


namespace = types.SimpleNamespace(inner=types.SimpleNamespace(app=app))


def create_app():
    return app


class Asgi2:
    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] == "http":
            await respond(send, "asgi2 class")


def asgi2_function(scope):
    async def instance(receive, send):
        if scope["type"] == "http":
            await respond(send, "asgi2 function")
    return instance


class Asgi3:
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await respond(send, "asgi3 instance")


asgi3_instance = Asgi3()
number = 42


def wsgi(environ, start_response):
    return [b""]


def no_arguments():
    return None
"""


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A directory outside the repository with a uniquely named module of test apps."""
    directory = tmp_path_factory.mktemp("appdir")
    name = f"loadme_{uuid.uuid4().hex[:8]}"
    (directory / f"{name}.py").write_text(MODULE)
    (directory / f"{name}_broken.py").write_text("import nosuch_dependency_of_the_app\n")
    (directory / f"{name}_raises.py").write_text("raise RuntimeError('bad settings at import')\n")
    (directory / f"{name}_syntax.py").write_text("def app(:\n")
    return directory, name


@pytest.fixture
def clean_path() -> object:
    """--app-dir puts a directory on sys.path; take it off again."""
    saved = list(sys.path)
    yield
    sys.path[:] = saved


@pytest.mark.parametrize(
    ("attr", "settings", "answer"),
    [
        ("app", {}, b"asgi3"),
        ("namespace.inner.app", {}, b"asgi3"),
        ("create_app", {"factory": True}, b"asgi3"),
        ("Asgi2", {}, b"asgi2 class"),
        ("asgi2_function", {}, b"asgi2 function"),
        ("asgi2_function", {"interface": "asgi2"}, b"asgi2 function"),
        ("asgi3_instance", {}, b"asgi3 instance"),
        ("app", {"interface": "asgi3"}, b"asgi3"),
    ],
)
def test_load_by_name(
    http: str,
    app_dir: tuple[Path, str],
    attr: str,
    settings: dict[str, object],
    answer: bytes,
    clean_path: object,
) -> None:
    directory, name = app_dir
    with serve(f"{name}:{attr}", http=http, app_dir=str(directory), **settings) as running:
        assert request(running.port, GET).body == answer


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("nosuch_module_xyz:app", [], "could not import module 'nosuch_module_xyz'"),
        ("{name}:missing", [], "module '{name}' has no attribute 'missing'"),
        ("{name}:namespace.inner.nope", [], "has no attribute 'namespace.inner.nope'"),
        ("{name}", [], "must be given as 'module:attribute'"),
        ("{name}:number", [], "{name}:number is not an ASGI application: it is not callable"),
        ("{name}:wsgi", [], "looks like a WSGI application"),
        ("{name}:no_arguments", [], "is not an ASGI application"),
        ("{name}:number", ["--factory"], "app factory {name}:number is not callable"),
    ],
)
def test_load_failure_is_one_line_exit_3(
    app_dir: tuple[Path, str], target: str, extra: list[str], message: str
) -> None:
    directory, name = app_dir
    result = run_cli(target.format(name=name), "--app-dir", str(directory), "--port", "0", *extra)
    assert result.returncode == EXIT_APP_LOAD == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mypkg-supervise: error: ")
    assert message.format(name=name) in lines[0]


@pytest.mark.parametrize(
    ("suffix", "message"),
    [
        ("broken", "error while importing '{module}': No module named 'nosuch_dependency"),
        ("raises", "error while importing '{module}': RuntimeError: bad settings at import"),
        ("syntax", "error while importing '{module}': SyntaxError"),
    ],
)
def test_error_inside_the_app_module_exits_3_with_its_traceback(
    app_dir: tuple[Path, str], suffix: str, message: str
) -> None:
    """The module exists but fails as it imports: the traceback is the useful part, and the
    last line says what failed (and the exit code is the app-load one, for supervisors)."""
    directory, name = app_dir
    module = f"{name}_{suffix}"
    result = run_cli(f"{module}:app", "--app-dir", str(directory), "--port", "0")
    assert result.returncode == EXIT_APP_LOAD
    assert "Traceback (most recent call last)" in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("mypkg-supervise: error: " + message.format(module=module)), last


def test_missing_dependency_of_a_dotted_module_is_not_blamed_on_the_module(
    tmp_path: Path,
) -> None:
    """App 'foobar_x.app' importing a missing 'foobar' must not read as 'no module foobar_x'."""
    package = tmp_path / "foobarpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text("import foobar\n")
    result = run_cli("foobarpkg.main:app", "--app-dir", str(tmp_path), "--port", "0")
    assert result.returncode == EXIT_APP_LOAD
    assert "No module named 'foobar'" in result.stderr.splitlines()[-1]
    assert "could not import module 'foobarpkg.main'" not in result.stderr


# --------------------------------------------------------------------------- programmatic API


@pytest.mark.parametrize(
    "code",
    [
        "import mypkg; mypkg.run('tests.support.apps:held', port=0, http={http!r})",
        "from tests.support import apps; import mypkg; mypkg.run(apps.held, port=0, http={http!r})",
        "import mypkg; mypkg.Server(mypkg.Config('tests.support.apps:held', port=0, http={http!r}))"
        ".run()",
    ],
    ids=["run-by-name", "run-object", "server-run"],
)
def test_run_in_a_real_process(http: str, code: str, tmp_path: Path) -> None:
    events = tmp_path / "events"
    command = [sys.executable, "-c", code.format(http=http)]
    with ServerProcess(command=command, env={"MYPKG_TEST_EVENTS": str(events)}) as proc:
        port = proc.wait_serving()
        assert request(port, GET).body == b"ok"
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
    assert events.read_text() == "startup\nshutdown\n"


def test_await_server_serve(http: str) -> None:
    """``await Server(config).serve()`` inside the caller's own event loop (here, a thread's)."""
    server = mypkg.Server(mypkg.Config("tests.support.apps:hello", port=0, http=http))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    assert server.started.wait(10)
    port = server.sockets[0].getsockname()[1]
    assert request(port, GET).body == b"Hello, world!"
    server.request_exit_threadsafe()
    thread.join(10)
    assert not thread.is_alive()
