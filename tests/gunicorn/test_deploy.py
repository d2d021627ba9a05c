"""systemd/mypkg-gunicorn.{socket,service} and deploy/gunicorn.conf.py, checked for real."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.clients import RawClient
from tests.support.processes import ROOT, free_port
from tests.support.waiting import wait_until

UNITS = ["mypkg-gunicorn.socket", "mypkg-gunicorn.service"]
VENV_BIN = "/srv/app/.venv/bin/"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package systemd; see scripts/system-deps)")
    return path


def unit_setting(unit: str, key: str) -> str:
    text = (ROOT / "systemd" / unit).read_text()
    match = re.search(rf"^{key}=(.*)$", text, re.MULTILINE)
    assert match is not None, f"{unit} has no {key}="
    return match.group(1)


def test_units_pass_systemd_analyze_verify() -> None:
    """The files as shipped: ExecStart is /usr/bin/env, the venv comes first on the unit's PATH."""
    analyze = tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "verify", *(f"./{unit}" for unit in UNITS)],
        capture_output=True, text=True, cwd=ROOT / "systemd", timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "" and result.stdout.strip() == ""
    assert unit_setting("mypkg-gunicorn.service", "Environment=PATH").startswith(VENV_BIN[:-1])


def test_the_service_command_serves_under_socket_activation(tmp_path: Path) -> None:
    """The unit's ExecStart with the example config, given its socket the way systemd does."""
    activate = tool("systemd-socket-activate")
    argv = shlex.split(unit_setting("mypkg-gunicorn.service", "ExecStart"))
    assert argv[:4] == ["/usr/bin/env", "gunicorn", "--config", "/srv/app/deploy/gunicorn.conf.py"]
    argv = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--config",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
    ]
    argv.append("tests.support.apps.gunicorn:app")
    port = free_port()
    runtime = tmp_path / "run"
    runtime.mkdir()
    notify_path = str(tmp_path / "notify")
    env = {
        "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "WEB_CONCURRENCY": "2",
        "NOTIFY_SOCKET": notify_path, "RUNTIME_DIRECTORY": str(runtime),
    }  # fmt: skip
    log_path = tmp_path / "service.log"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify, open(log_path, "wb") as log:
        notify.bind(notify_path)
        notify.settimeout(15)
        proc = subprocess.Popen(
            [activate, "-l", f"127.0.0.1:{port}", *(f"-E{k}={v}" for k, v in env.items()), *argv],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            wait_until(lambda: "Listening on" in log_path.read_text(), 10, "the socket")
            with RawClient(port, timeout=15) as client:  # the first connection starts gunicorn
                client.send(b"GET /deployed HTTP/1.1\r\nHost: x\r\nUser-Agent: probe\r\n\r\n")
                assert client.response().status == 200
            assert b"READY=1" in notify.recv(4096)  # Type=notify
            wait_until(lambda: log_path.read_text().count("Serving on") == 2, 15, "2 workers")
            proc.send_signal(signal.SIGTERM)  # KillMode=mixed: TERM to the master
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    output = log_path.read_text()
    line = r'127\.0\.0\.1 - - \[[^]]+\] "GET /deployed HTTP/1\.1" 200 2 "-" "probe" \d+ms'
    assert re.search(line, output), output
    assert "mypkg worker: HttptoolsProtocol on uvloop" in output
