"""Reloading: SIGHUP re-reads app code and settings; --reload follows file changes. A broken
app never takes the running workers down, and the watcher survives it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from mypkg.supervisor.reload import FileFilter, StatWatcher
from tests.support.processes import ROOT, Master

APP_SOURCE = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"{version}"}})
"""


def _write_app(directory: Path, version: str, broken: bool = False) -> None:
    """Versions differ in length: a .pyc is trusted when the source's size and mtime second
    match, and HUP (unlike --reload) keeps writing .pyc files."""
    source = APP_SOURCE.format(version=version) + ("\ndef oops(:\n" if broken else "")
    (directory / "devapp.py").write_text(source)


def _get(port: int) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_hup_rereads_code_and_settings_and_survives_a_broken_app(tmp_path: Path) -> None:
    _write_app(tmp_path, "one")
    settings = tmp_path / "mypkg.toml"
    settings.write_text('headers = ["X-Generation:one"]\n')
    args = ("-w", "2", "devapp:app", "--app-dir", str(tmp_path), "--config", str(settings))
    with Master(*args, "--port", "0") as master:
        port = master.ready()
        assert _get(port).text == "one"

        _write_app(tmp_path, "two-2")
        settings.write_text('headers = ["X-Generation:two"]\n')
        mark = master.mark()
        master.signal(signal.SIGHUP)
        master.wait_for(r"Reloaded \(SIGHUP\)", after=mark)
        response = _get(port)
        assert (response.text, response.headers["x-generation"]) == ("two-2", "two")
        serving = master.workers()

        _write_app(tmp_path, "three-33", broken=True)
        mark = master.mark()
        master.signal(signal.SIGHUP)
        master.wait_for(
            r"Reload \(SIGHUP\) failed: worker \d+ could not boot: .*SyntaxError", after=mark
        )
        assert "The previous workers keep serving" in master.output
        assert master.workers() >= serving and _get(port).text == "two-2"

        settings.write_text("port = 'not a number'\n")  # a bad settings file is refused too
        mark = master.mark()
        master.signal(signal.SIGHUP)
        master.wait_for(r"Reload \(SIGHUP\) refused: port \(in .*mypkg.toml\)", after=mark)
        assert _get(port).text == "two-2"

        settings.write_text('headers = ["X-Generation:four"]\n')
        _write_app(tmp_path, "four-444")
        mark = master.mark()
        master.signal(signal.SIGHUP)
        master.wait_for(r"Reloaded \(SIGHUP\)", after=mark)
        assert _get(port).text == "four-444"
        master.signal(signal.SIGTERM)
        assert master.wait() == 0


@pytest.fixture(params=["watchfiles", "stat"])
def watcher_env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Run the master with watchfiles, or with it made unimportable (the stat fallback)."""
    if request.param == "watchfiles":
        pytest.importorskip("watchfiles")
        return {}
    blocker = tmp_path_factory.mktemp("no-watchfiles")
    (blocker / "watchfiles").mkdir()
    (blocker / "watchfiles" / "__init__.py").write_text("raise ImportError('blocked for a test')\n")
    return {"PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"}


def test_reload_follows_changes_and_outlives_a_syntax_error(
    tmp_path: Path, watcher_env: dict[str, str]
) -> None:
    _write_app(tmp_path, "one")
    args = ("--reload", "devapp:app", "--app-dir", str(tmp_path), "--reload-dir", str(tmp_path))
    with Master(*args, "--reload-delay", "0.1", "--port", "0", env=watcher_env) as master:
        port = master.ready()
        kind = "stat polling" if watcher_env else "watchfiles"
        assert f"for changes ({kind}" in master.output
        assert _get(port).text == "one"

        mark = master.mark()
        _write_app(tmp_path, "two-2")
        master.wait_for(r"Reloading \(changes in devapp\.py\)", after=mark)
        master.wait_for(r"Reloaded", after=mark)
        assert _get(port).text == "two-2"

        mark = master.mark()
        _write_app(tmp_path, "broken", broken=True)
        master.wait_for(r"could not boot: .*SyntaxError", after=mark)
        assert _get(port).text == "two-2"  # the last good workers keep serving

        mark = master.mark()
        (tmp_path / "notes.txt").write_text("not watched")
        _write_app(tmp_path, "three-33")
        master.wait_for(r"Reloaded \(changes in devapp\.py\)", after=mark)
        assert "notes.txt" not in master.output
        assert _get(port).text == "three-33"
    assert not list(tmp_path.glob("__pycache__/devapp*"))  # no .pyc that could go stale


def test_file_filter_includes_and_excludes(tmp_path: Path) -> None:
    check = FileFilter([str(tmp_path)], ["*.html"], ["tests/*"])
    assert check(str(tmp_path / "app.py"))
    assert check(str(tmp_path / "templates" / "index.html"))
    assert not check(str(tmp_path / "notes.txt"))
    assert not check(str(tmp_path / "tests" / "test_app.py"))
    assert not check(str(tmp_path / "__pycache__" / "app.cpython-311.pyc"))
    assert not check(str(tmp_path / ".venv" / "lib" / "x.py"))
    assert not check(str(tmp_path / ".#app.py"))


def test_stat_watcher_sees_added_changed_and_removed_files(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    watcher = StatWatcher(FileFilter([str(tmp_path)], [], []), 0.1, lambda paths: None)
    assert watcher.changes() == []
    (tmp_path / "b.py").write_text("b = 1\n")
    (tmp_path / "skip.txt").write_text("")
    assert watcher.changes() == [str(tmp_path / "b.py")]
    os.utime(tmp_path / "a.py", ns=(0, 10**9))
    (tmp_path / "b.py").unlink()
    assert watcher.changes() == [str(tmp_path / "a.py"), str(tmp_path / "b.py")]


def test_reload_starting_with_a_broken_app_waits_for_a_fix(tmp_path: Path) -> None:
    _write_app(tmp_path, "zero", broken=True)
    args = ("--reload", "devapp:app", "--app-dir", str(tmp_path), "--reload-dir", str(tmp_path))
    with Master(*args, "--reload-delay", "0.1", "--port", "0") as master:
        master.wait_for(r"could not boot: .*SyntaxError.*Waiting for a change")
        assert master.process.poll() is None  # no exit, no respawn loop
        assert master.count("Booting worker") == 1
        _write_app(tmp_path, "fixed")
        port = master.ready()
        assert _get(port).text == "fixed"
        assert master.count("Booting worker") == 2  # one broken, one fixed: nothing between
