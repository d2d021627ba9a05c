"""--log-config in each format, --use-colors, and clear errors; all in real processes."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from mypkg.sockets import bind_tcp
from tests.support.processes import ROOT, ServerProcess, run_cli

FORMAT = "CUSTOM %(name)s %(levelname)s %(message)s"

DICT_CONFIG = {
    "formatters": {"custom": {"format": FORMAT}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "custom",
            "stream": "ext://sys.stderr",
        }
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
}

TOML = f"""
version = 1
[formatters.custom]
format = "{FORMAT}"
[handlers.stderr]
class = "logging.StreamHandler"
formatter = "custom"
stream = "ext://sys.stderr"
[root]
handlers = ["stderr"]
level = "INFO"
"""

YAML = f"""
version: 1
formatters:
  custom:
    format: "{FORMAT}"
handlers:
  stderr:
    class: logging.StreamHandler
    formatter: custom
    stream: ext://sys.stderr
root:
  handlers: [stderr]
  level: INFO
"""

# fileConfig would disable every logger that exists and is not named here, mypkg.error among them.
INI = f"""
[loggers]
keys = root

[handlers]
keys = stderr

[formatters]
keys = custom

[logger_root]
level = INFO
handlers = stderr

[handler_stderr]
class = StreamHandler
formatter = custom
args = (sys.stderr,)

[formatter_custom]
format = {FORMAT}
"""


def _served_output(*args: str) -> str:
    """Start mypkg, wait until it serves, stop it with SIGTERM: all it logged."""
    with ServerProcess("tests.support.apps:hello", *args) as server:
        server.wait_for_line("Serving on")
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
        return server.output


def _write(tmp_path: Path, kind: str) -> Path:
    contents = {
        "json": json.dumps(DICT_CONFIG),
        "toml": TOML,
        "yaml": YAML,
        "ini": INI,
    }
    path = tmp_path / f"logging.{kind}"
    path.write_text(contents[kind])
    return path


@pytest.mark.parametrize("kind", ["json", "toml", "yaml", "ini"])
def test_log_config_formats(kind: str, tmp_path: Path) -> None:
    path = _write(tmp_path, kind)
    with ServerProcess("tests.support.apps:hello", "--log-config", str(path)) as server:
        server.wait_for_line("Serving on")
        url = server.addresses[0]
        assert httpx.get(url + "/x", timeout=5).status_code == 200
        server.wait_for_line('"GET /x HTTP/1.1" 200')
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
        output = server.output.splitlines()
    serving = [line for line in output if "Serving on" in line]
    access = [line for line in output if '"GET /x HTTP/1.1" 200' in line]
    assert serving == [f"CUSTOM mypkg.error INFO Serving on {url}"]  # once, in the user's format
    assert len(access) == 1 and access[0].startswith("CUSTOM mypkg.access INFO ")
    assert any(line.startswith("CUSTOM mypkg.error INFO Received SIGTERM") for line in output)


def test_explicit_disable_existing_loggers_keeps_the_servers_own(tmp_path: Path) -> None:
    path = tmp_path / "logging.json"
    path.write_text(json.dumps({**DICT_CONFIG, "disable_existing_loggers": True}))
    assert "CUSTOM mypkg.error INFO Serving on" in _served_output("--log-config", str(path))


def test_log_level_fills_in_what_the_file_leaves_unset(tmp_path: Path) -> None:
    quiet_root = {**DICT_CONFIG, "root": {"handlers": ["stderr"], "level": "WARNING"}}
    path = tmp_path / "root-warning.json"
    path.write_text(json.dumps(quiet_root))
    output = _served_output("--log-config", str(path))
    assert "CUSTOM mypkg.error INFO Serving on" in output  # --log-level info reached mypkg.*

    quiet_error = {**DICT_CONFIG, "loggers": {"mypkg.error": {"level": "WARNING"}}}
    path = tmp_path / "error-warning.json"
    path.write_text(json.dumps(quiet_error))
    # Nothing is logged at startup now, so the port cannot be read back: pass a bound socket.
    listener = bind_tcp("127.0.0.1", 0, 128)
    port = listener.getsockname()[1]
    args = ["tests.support.apps:hello", "--fd", str(listener.fileno()), "--log-config", str(path)]
    with listener, ServerProcess(*args, port=False, pass_fds=(listener.fileno(),)) as server:
        deadline = time.monotonic() + 15
        while True:  # nothing is logged at startup now: poll the port, with a deadline
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and server.process.poll() is None
                time.sleep(0.05)
        assert response.status_code == 200
        server.wait_for_line('"GET / HTTP/1.1" 200')
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
        output = server.output
    assert "Serving on" not in output  # the file's level for mypkg.error wins over --log-level


def _one_error_line(*args: str, env: dict[str, str] | None = None) -> str:
    result = run_cli("tests.support.apps:hello", "--port", "0", *args, env=env or {})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Serving on" not in result.stderr
    return lines[0]


def test_log_config_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    assert _one_error_line("--log-config", str(missing)) == (
        f"mypkg-supervise: error: --log-config: cannot read {missing}: No such file or directory"
    )
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{nope")
    assert _one_error_line("--log-config", str(bad_json)).startswith(
        f"mypkg-supervise: error: --log-config: {bad_json}: Expecting property name"
    )
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("version: 1\nhandlers: [unclosed\n")
    assert f"--log-config: {bad_yaml}: while parsing" in _one_error_line(
        "--log-config", str(bad_yaml)
    )
    bad_handler = tmp_path / "handler.toml"
    bad_handler.write_text('[handlers.x]\nclass = "no.such.Handler"\n[root]\nhandlers = ["x"]\n')
    line = _one_error_line("--log-config", str(bad_handler))
    assert f"--log-config: {bad_handler}: Unable to configure handler 'x'" in line
    bad_ini = tmp_path / "bad.ini"
    bad_ini.write_text("[loggers]\nkeys = root\n")
    assert f"--log-config: {bad_ini}: " in _one_error_line("--log-config", str(bad_ini))
    not_a_dict = tmp_path / "list.json"
    not_a_dict.write_text("[1, 2]")
    assert "must hold a mapping" in _one_error_line("--log-config", str(not_a_dict))


def test_yaml_without_pyyaml_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    (blocker / "yaml").mkdir(parents=True)
    (blocker / "yaml" / "__init__.py").write_text("raise ImportError('PyYAML is not installed')\n")
    path = _write(tmp_path, "yaml")
    env = {"PYTHONPATH": f"{blocker}:{ROOT}"}
    assert _one_error_line("--log-config", str(path), env=env) == (
        f"mypkg-supervise: error: --log-config: {path} is YAML, which needs PyYAML:"
        " pip install pyyaml"
    )


@pytest.mark.parametrize(
    ("flag", "colored"), [("--use-colors", True), ("--no-use-colors", False), (None, False)]
)
def test_use_colors(flag: str | None, colored: bool) -> None:
    output = _served_output(*([flag] if flag else []))
    serving = next(line for line in output.splitlines() if "Serving on" in line)
    assert ("[\x1b[32mINFO\x1b[0m]" in serving) is colored  # stderr is a pipe here: off by default
    assert ("[INFO]" in serving) is not colored
