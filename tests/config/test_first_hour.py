"""A new user's first hour: --help that teaches, a mistyped flag answered with the right one,
the UNIX socket file gone after exit (only ours), the docs generator's own --help."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mypkg.errors import EXIT_CONFIG
from tests.support.processes import ROOT, ServerProcess, run_cli


def test_help_opens_with_a_synopsis_and_ends_with_examples_and_exit_codes() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "usage: mypkg-supervise [FLAGS] APP"
    assert lines[2].startswith("Serve an ASGI application")
    tail = result.stdout[result.stdout.index("examples:") :]
    assert "mypkg-supervise -w 4 main:app" in tail
    for code in ("0", "2", "3", "4"):
        assert f"\n  {code}  " in tail[tail.index("exit codes:") :]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("--prot", "--port"), ("--worker", "--workers"), ("--relaod", "--reload")],
)
def test_mistyped_flag_gets_did_you_mean(typed: str, meant: str) -> None:
    result = run_cli("tests.support.apps:hello", typed, "2")
    assert result.returncode == EXIT_CONFIG
    assert f"(did you mean {meant}?)" in result.stderr.strip().splitlines()[-1]


def test_mistyped_value_gets_did_you_mean() -> None:
    result = run_cli("tests.support.apps:hello", "--loop", "uvlop")
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.strip().splitlines()[-1] == (
        "mypkg-supervise: error: --loop: expected one of auto, uvloop, asyncio; got 'uvlop'"
        " (did you mean uvloop?)"
    )


def test_docgen_help_writes_nothing(tmp_path: Path) -> None:
    docs = ROOT / "docs"
    before = {path: path.stat().st_mtime_ns for path in docs.iterdir()}
    result = subprocess.run(
        [sys.executable, "-m", "mypkg.docgen", "--help"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m mypkg.docgen")
    assert "wrote" not in result.stdout
    assert {path: path.stat().st_mtime_ns for path in docs.iterdir()} == before


def test_docgen_check_says_the_docs_are_current() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypkg.docgen", "--check"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("workers", [(), ("-w", "2")], ids=["single", "master"])
def test_unix_socket_file_is_removed_on_exit(workers: tuple[str, ...], tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    command = ("tests.support.apps.workers:app", "--uds", str(path), *workers)
    with ServerProcess(*command, port=False) as proc:
        proc.wait_for_line("Ready" if workers else "Serving on unix:")
        assert path.is_socket()
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
    assert not path.exists()


def test_a_file_put_at_the_socket_path_meanwhile_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    with ServerProcess("tests.support.apps:hello", "--uds", str(path), port=False) as proc:
        proc.wait_for_line("Serving on unix:")
        os.unlink(path)
        path.write_text("someone else's file\n")
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
    assert path.read_text() == "someone else's file\n"


def test_readme_main_py_serves_as_written(tmp_path: Path) -> None:
    """The README's main.py, copied out of the README, run by its first command."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```python\n", readme.index("`main.py`")) + len("```python\n")
    (tmp_path / "main.py").write_text(readme[start : readme.index("```", start)])
    with ServerProcess("main:app", "--app-dir", str(tmp_path)) as proc:
        port = proc.wait_serving()
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text == "Hello, world!"
        proc.signal(signal.SIGINT)
        assert proc.wait() == 0
