"""The Python API behaves like the CLI: exit codes, logging set-up, --reload's import string.

Each case runs in its own interpreter (``python -c``) so that the exit code, the process's real
stderr and its logging configuration are what a user's program would get.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from mypkg.errors import EXIT_APP_LOAD, EXIT_CONFIG, EXIT_STARTUP
from tests.support.clients import request
from tests.support.processes import ROOT, ServerProcess

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def stamped(level: str) -> str:
    """A log line's start as the CLI writes it: timestamp, pid, level."""
    return r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \[\d+\] \[" + level + r"\] "


def python(code: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("app", "code"),
    [
        ("tests.support.apps.broken:app", EXIT_APP_LOAD),
        ("tests.support.apps:failing_startup", EXIT_STARTUP),
    ],
    ids=["import-error", "lifespan-startup-fails"],
)
def test_run_with_workers_exits_with_the_clis_code(app: str, code: int) -> None:
    """A worker that cannot boot stops the master; ``run`` raises SystemExit with its code."""
    result = python(f"import mypkg; mypkg.run({app!r}, workers=2, port=0)")
    assert result.returncode == code, result.stderr
    assert re.search(stamped("ERROR"), result.stderr), result.stderr


@pytest.mark.parametrize("workers", ["", ", workers=2"])
def test_run_bad_setting_exits_2_with_one_line(workers: str) -> None:
    result = python(f"import mypkg; mypkg.run('tests.support.apps:hello', port=99999{workers})")
    assert result.returncode == EXIT_CONFIG
    assert result.stderr.strip().splitlines() == [
        "mypkg-supervise: error: port=: expected an integer from 0 to 65535, got 99999"
    ]


def test_run_single_process_startup_failure_exits_4() -> None:
    result = python("import mypkg; mypkg.run('tests.support.apps:failing_startup', port=0)")
    assert result.returncode == EXIT_STARTUP, result.stderr


def test_reload_with_an_app_object_is_a_clear_error() -> None:
    code = (
        "import mypkg, tests.support.apps; mypkg.run(tests.support.apps.hello, reload=True, port=0)"
    )
    result = python(code)
    assert result.returncode == EXIT_CONFIG
    assert "--reload needs the app as an import string such as 'main:app'" in result.stderr


SERVE = (
    "import asyncio, mypkg; asyncio.run(mypkg.Server(mypkg.Config("
    "'tests.support.apps:hello', port=0, http={http!r}{extra})).serve())"
)
RUN_WORKERS = (
    "import mypkg; mypkg.run('tests.support.apps:hello', port=0, http={http!r}, workers=2{extra})"
)


@pytest.mark.parametrize(
    ("template", "http"),
    [(SERVE, "httptools"), (SERVE, "h11"), (RUN_WORKERS, "httptools")],
    ids=["await-serve-httptools", "await-serve-h11", "run-workers"],  # the master's is parser-free
)
def test_api_logs_like_the_cli(template: str, http: str) -> None:
    """Serving line, access lines, timestamps and levels, with nothing configured beforehand."""
    command = [sys.executable, "-c", template.format(http=http, extra="")]
    with ServerProcess(command=command) as proc:
        port = proc.wait_serving()
        assert re.search(stamped("INFO") + "Serving on", proc.output)
        assert request(port, GET).status == 200
        line = proc.wait_for_line('"GET / HTTP/1.1" 200')
        assert re.match(stamped("INFO"), line), line
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0


def test_log_config_none_leaves_logging_alone(http: str) -> None:
    """``log_config=None`` given explicitly: mypkg configures nothing (no Serving line)."""
    code = (
        "import asyncio, mypkg, sys\n"
        f"server = mypkg.Server(mypkg.Config('tests.support.apps:hello', port=0, http={http!r},"
        " log_config=None))\n"
        "async def main():\n"
        "    task = asyncio.ensure_future(server.serve())\n"
        "    assert await asyncio.to_thread(server.started.wait, 10)\n"
        "    print('started', file=sys.stderr)\n"
        "    server.request_exit()\n"
        "    await task\n"
        "asyncio.run(main())\n"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["started"]


def test_logging_configured_by_the_app_is_kept(http: str) -> None:
    """The application's basicConfig wins: mypkg's records go through its root handler."""
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stderr,"
        " format='APP %(name)s %(message)s')\n" + SERVE.format(http=http, extra="")
    )
    with ServerProcess(command=[sys.executable, "-c", code]) as proc:
        line = proc.wait_for_line("Serving on")
        assert line.startswith("APP mypkg.error Serving on http://"), line
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
