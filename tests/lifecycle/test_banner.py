"""The start-up banner and the stop lines: what a new user sees first, in a real process."""

from __future__ import annotations

import os
import platform
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

import mypkg
from mypkg import compiled
from tests.support.clients import RawClient
from tests.support.processes import ROOT, ServerProcess, mypkg_command

GET = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_banner_and_stop_lines(http: str) -> None:
    with ServerProcess("tests.support.apps:held", "--http", http, "--loop", "asyncio") as proc:
        port = proc.wait_serving()
        runtime = proc.wait_for_line("mypkg ")
        python = f"{platform.python_implementation()} {platform.python_version()}"
        version = f"{mypkg.__version__} ({compiled.flavour()})"
        assert f"mypkg {version} on {python}: loop asyncio, HTTP {http} " in runtime
        assert "WebSockets websockets " in runtime and "(sans-I/O)" in runtime
        assert runtime.endswith(", 1 worker (this process)")
        proc.wait_for_line("Lifespan: startup complete")
        assert f"Serving on http://127.0.0.1:{port}" in proc.output
        assert "Press CTRL+C" not in proc.output  # stderr is a pipe here, not a terminal
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
    lines = proc.output.splitlines()
    order = ["Stopped accepting connections", "Lifespan: shutdown complete", "Stopped in "]
    positions = [next(i for i, line in enumerate(lines) if text in line) for text in order]
    assert positions == sorted(positions), proc.output


def test_wildcard_address_gets_a_url_to_open() -> None:
    with ServerProcess("tests.support.apps:hello", "--host", "0.0.0.0") as proc:
        port = proc.wait_serving()
        line = proc.wait_for_line("Serving on")
        assert line.endswith(
            f"Serving on http://0.0.0.0:{port} (every interface; from this machine:"
            f" http://127.0.0.1:{port})"
        )


def test_lifespan_line_for_an_app_without_lifespan() -> None:
    with ServerProcess("tests.support.apps:hello") as proc:
        proc.wait_serving()
        proc.wait_for_line("Lifespan: the app does not use it; serving without it")


def test_debug_logs_each_connection(http: str) -> None:
    with ServerProcess("tests.support.apps:hello", "--http", http, "--log-level", "debug") as proc:
        port = proc.wait_serving()
        with RawClient(port) as client:
            client.send(GET)
            assert client.response().status == 200
            local = client.sock.getsockname()[1]
        proc.wait_for_line(f"Connection from 127.0.0.1:{local} opened")
        proc.wait_for_line(f"Connection from 127.0.0.1:{local} closed")


def test_press_ctrl_c_on_a_terminal() -> None:
    """With stderr on a terminal (a pty here) the banner ends with how to stop."""
    leader, follower = pty.openpty()
    command = mypkg_command("tests.support.apps:hello", "--port", "0")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=follower,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 15
        while b"Press CTRL+C to quit" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], deadline - time.monotonic())
            if not ready:
                break
            seen += os.read(leader, 4096)
        assert b"Press CTRL+C to quit" in seen, seen
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(15)
        os.close(leader)
    assert process.returncode == 0


def test_log_config_that_configures_nothing_of_ours_is_warned_about(tmp_path: Path) -> None:
    config = tmp_path / "logging.json"
    config.write_text('{"version": 1, "loggers": {"myapp": {"level": "INFO"}}}')
    with ServerProcess("tests.support.apps:hello", "--log-config", str(config)) as proc:
        line = proc.wait_for_line("configures neither")
        assert f"--log-config {config} configures neither the mypkg.error" in line
        assert proc.output.count("configures neither") == 1


@pytest.mark.parametrize("target", ["root", "mypkg"])
def test_log_config_that_configures_root_or_ours_is_quiet(target: str, tmp_path: Path) -> None:
    handler = '{"h": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}}'
    where = (
        '"root": {"level": "INFO", "handlers": ["h"]}'
        if target == "root"
        else '"loggers": {"mypkg": {"level": "INFO", "handlers": ["h"]}}'
    )
    config = tmp_path / "logging.json"
    config.write_text(f'{{"version": 1, "handlers": {handler}, {where}}}')
    with ServerProcess("tests.support.apps:hello", "--log-config", str(config)) as proc:
        proc.wait_serving()
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
    assert "configures neither" not in proc.output
