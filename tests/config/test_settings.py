"""Every setting reaches every surface; precedence; one-line errors; the generated reference.

The checks walk ``SETTINGS`` (mypkg/config/descriptor.py), so a setting added anywhere is covered
without a new test: its value comes from ``Setting.example``, or is derived from its type and
default. A setting whose value cannot be derived must declare ``example=``; the test says so.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import json
import os
import signal
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import mypkg
from mypkg import compiled
from mypkg.cli import main
from mypkg.config import Config
from mypkg.config.argv import build_parser
from mypkg.config.descriptor import SETTINGS, Setting
from mypkg.config.reference import reference_markdown
from mypkg.errors import EXIT_CONFIG, ConfigError
from mypkg.state import COPIED_SETTINGS, ServerState
from tests.support.processes import ROOT, ServerProcess, run_cli

# These two name files that are read as the settings are loaded; they get tests of their own.
READS_A_FILE = {"config", "env_file"}
PLAIN = sorted(name for name in SETTINGS if name not in READS_A_FILE)


@dataclass
class Sample:
    """A non-default value of one setting, in the form each surface takes it."""

    value: Any  # native: TOML and keyword arguments
    cli: list[str]
    env: str
    expected: Any


def sample(setting: Setting[Any]) -> Sample:
    value: Any
    if setting.kind in ("toggle", "switch"):
        value = not setting.default
        flag = setting.flag if value else "--no-" + setting.flag[2:]
        return Sample(value, [flag], str(value).lower(), value)
    if setting.options:
        value = next(option for option in setting.options if option != setting.default)
    elif setting.example is not None:
        value = setting.example
    else:
        value = _derive(setting)
    if isinstance(value, list):
        cli = [part for item in value for part in (setting.flag, str(item))]
        env = ",".join(str(item) for item in value)
    else:
        env = str(value)
        cli = [env] if setting.kind == "positional" else [setting.flag, env]
    return Sample(value, cli, env, setting.parse(value))


def _derive(setting: Setting[Any]) -> Any:
    default = setting.default
    candidates: list[Any] = []
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        candidates = [default + 1, default - 1] if isinstance(default, int) else [default + 0.5]
    elif isinstance(default, str):
        candidates = [default + "-sample"]
    candidates += ["7", "sample", "127.0.0.1"]
    for candidate in candidates:
        try:
            value = setting.parse(candidate)
        except ValueError:
            continue
        if value is not None and value != default:
            return value
    raise AssertionError(f"cannot derive a value for {setting.name}: give it example=...")


def bad_value(setting: Setting[Any]) -> str | None:
    """A string the setting refuses, or None if it accepts any string."""
    for candidate in ("not-a-value", "-5", "99999999"):
        try:
            setting.parse(candidate)
        except ValueError:
            return candidate
    return None


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(item) for item in value) + "]"
    return json.dumps(str(value))


def from_cli(argv: list[str], environ: dict[str, str] | None = None) -> Config:
    return Config.from_sources(
        vars(build_parser().parse_args(argv)), {} if environ is None else environ
    )


# --------------------------------------------------------------------------- surfaces


@pytest.mark.parametrize("name", PLAIN)
def test_every_setting_reaches_every_surface(name: str, tmp_path: Path) -> None:
    setting = SETTINGS[name]
    example = sample(setting)
    assert example.expected != setting.default

    assert getattr(from_cli(example.cli), name) == example.expected, "command-line flag"
    assert getattr(from_cli([], {setting.env: example.env}), name) == example.expected, "env"

    path = tmp_path / "mypkg.toml"
    path.write_text(f"{name} = {toml(example.value)}\n")
    assert getattr(from_cli(["--config", str(path)]), name) == example.expected, "TOML key"
    assert getattr(Config(config=str(path)), name) == example.expected, "TOML via Config"

    assert getattr(Config(**{name: example.value}), name) == example.expected, "keyword"
    assert getattr(Config(), name) == setting.default

    flag = name.upper() if setting.kind == "positional" else setting.flag
    rows = [line for line in reference_markdown().splitlines() if f"`{setting.env}`" in line]
    assert len(rows) == 1, "docs row"
    assert flag in rows[0] and f"`{name}`" in rows[0] and setting.help in rows[0]


def test_config_setting(tmp_path: Path) -> None:
    """``config`` names the file itself: every surface but the file reads it."""
    path = tmp_path / "mypkg.toml"
    path.write_text("port = 8123\n")
    assert from_cli(["--config", str(path)]).port == 8123
    assert from_cli([], {"MYPKG_CONFIG": str(path)}).port == 8123
    assert Config(config=str(path)).port == 8123
    assert Config(config=str(path)).config == str(path)
    nested = tmp_path / "nested.toml"
    nested.write_text(f"config = {toml(str(path))}\n")
    with pytest.raises(ConfigError, match="unknown setting 'config'"):
        Config(config=str(nested))
    assert "| `--config` | `MYPKG_CONFIG` | — |" in reference_markdown()


ENV_FILE = "MYPKG_ROOT_PATH=/from-env-file\nMYPKG_TEST_SECRET=s3cret\n"


def test_env_file_setting(tmp_path: Path) -> None:
    """The file's variables reach the environment (existing ones win); its MYPKG_* apply."""
    path = tmp_path / "app.env"
    path.write_text(ENV_FILE)
    config_file = tmp_path / "mypkg.toml"
    config_file.write_text(f"env_file = {toml(str(path))}\n")
    for argv, environ in (
        (["--env-file", str(path)], {}),
        ([], {"MYPKG_ENV_FILE": str(path)}),
        (["--config", str(config_file)], {}),
    ):
        config = from_cli(argv, environ)
        assert config.env_file == str(path)
        assert config.root_path == "/from-env-file"
        assert environ["MYPKG_TEST_SECRET"] == "s3cret"
    kept = {"MYPKG_ROOT_PATH": "/already-set"}
    assert from_cli(["--env-file", str(path)], kept).root_path == "/already-set"


@pytest.mark.parametrize("how", ["keyword", "config file"])
def test_env_file_loaded_by_config(how: str, tmp_path: Path) -> None:
    """``Config(env_file=...)`` / ``mypkg.run(..., env_file=...)`` load the file too."""
    path = tmp_path / "app.env"
    path.write_text(ENV_FILE)
    assert "MYPKG_TEST_SECRET" not in os.environ
    try:
        if how == "keyword":
            Config(env_file=str(path))
        else:
            config_file = tmp_path / "mypkg.toml"
            config_file.write_text(f"env_file = {toml(str(path))}\n")
            Config(config=str(config_file))
        assert os.environ.get("MYPKG_TEST_SECRET") == "s3cret"
    finally:
        os.environ.pop("MYPKG_TEST_SECRET", None)
        os.environ.pop("MYPKG_ROOT_PATH", None)


def test_env_file_reaches_the_app_in_a_real_process(tmp_path: Path) -> None:
    events = tmp_path / "events"
    env_file = tmp_path / "app.env"
    env_file.write_text(f"MYPKG_TEST_EVENTS={events}\n")
    with ServerProcess("tests.support.apps:held", "--env-file", str(env_file)) as proc:
        proc.wait_serving()
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0
    assert events.read_text() == "startup\nshutdown\n"


def test_pyproject_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "app"\n\n[tool.mypkg]\nport = 8124\nhttp = "h11"\n')
    config = from_cli(["--config", str(path)])
    assert (config.port, config.http) == (8124, "h11")


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    path = tmp_path / "mypkg.toml"
    path.write_text("port = 8001\n")
    env = {"MYPKG_PORT": "8002"}
    assert from_cli(["--config", str(path), "--port", "8003"], dict(env)).port == 8003
    assert from_cli(["--config", str(path)], dict(env)).port == 8002
    assert from_cli(["--config", str(path)]).port == 8001
    assert from_cli([]).port == 8000
    assert from_cli([], {"MYPKG_CONFIG": str(path), "MYPKG_PORT": "8002"}).port == 8002
    assert Config(config=str(path), port=8005).port == 8005  # keywords over the file


# --------------------------------------------------------------------------- errors


def one_error_line(capsys: pytest.CaptureFixture[str], code: int) -> str:
    out, err = capsys.readouterr()
    assert code == EXIT_CONFIG == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mypkg-supervise: error: ")
    return lines[0]


@pytest.mark.parametrize("name", [n for n in PLAIN if bad_value(SETTINGS[n]) is not None])
def test_bad_value_names_its_source(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    setting = SETTINGS[name]
    bad = bad_value(setting)
    assert bad is not None
    if setting.kind not in ("toggle", "switch", "positional"):
        line = one_error_line(capsys, main([setting.flag, bad]))
        assert f"error: {setting.flag}: " in line and bad in line

    path = tmp_path / "mypkg.toml"
    path.write_text(f"{name} = {toml(bad)}\n")
    line = one_error_line(capsys, main(["--config", str(path)]))
    assert f"error: {name} (in {path}): " in line

    monkeypatch.setenv(setting.env, bad)
    line = one_error_line(capsys, main([]))
    assert f"error: {setting.env}: " in line


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "99999"], {}, "error: --port: expected an integer from 0 to 65535, got 99999"),
        (["--http", "fast"], {}, "error: --http: expected one of auto, httptools, h11; got 'fast'"),
        (["--header", "no-colon"], {}, "error: --header: expected NAME:VALUE"),
        (["--head", "a:b"], {}, "error: unrecognized arguments: --head "),
        ([], {"MYPKG_ACCESS_LOG": "maybe"}, "error: MYPKG_ACCESS_LOG: expected true or false"),
        ([], {"MYPKG_TIMEOUT_KEEP_ALIVE": "-1"}, "error: MYPKG_TIMEOUT_KEEP_ALIVE: expected a"),
        (["--nope"], {}, "error: unrecognized arguments: --nope"),
        (["--port"], {}, "error: argument --port: expected one argument"),
        (["--env-file", "/nonexistent.env"], {}, "error: --env-file: no such file"),
        (["--config", "/nonexistent.toml"], {}, "error: --config: cannot read /nonexistent.toml"),
        ([], {}, "error: no application given"),
    ],
)
def test_bad_command_line_in_a_real_process(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("nope = 1\n", "error: unknown setting 'nope' in {path}"),
        ('port = "eighty"\n', "error: port (in {path}): expected an integer, got 'eighty'"),
        ("port = \n", "error: --config: {path} is not valid TOML"),
    ],
)
def test_bad_config_file_in_a_real_process(content: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "mypkg.toml"
    path.write_text(content)
    result = run_cli("tests.support.apps:hello", "--config", str(path))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message.format(path=path) in result.stderr


def test_bad_value_in_env_file_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "app.env"
    path.write_text("MYPKG_LOG_LEVEL=loud\n")
    result = run_cli("tests.support.apps:hello", "--env-file", str(path))
    assert result.returncode == 2
    assert "error: MYPKG_LOG_LEVEL: expected one of critical" in result.stderr


# --------------------------------------------------------------------------- the rest


def test_docs_reference_is_current() -> None:
    doc = (ROOT / "docs" / "settings.md").read_text()
    assert doc == reference_markdown(), "docs/settings.md is stale: run python -m mypkg.docgen"


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith(f"mypkg {mypkg.__version__} (Python ")


def test_help_lists_every_flag() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for setting in SETTINGS.values():
        if setting.kind != "positional":
            assert setting.flag in result.stdout
            assert setting.env in result.stdout


@functools.cache
def declared_server_state() -> type:
    """ServerState as its source declares it (a compiled class keeps no annotations)."""
    source = compiled.source_path("mypkg.state")
    spec = importlib.util.spec_from_file_location("_state_source", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ServerState  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", COPIED_SETTINGS)
def test_server_state_copies_a_setting_with_its_type(name: str) -> None:
    """ServerState declares the types of the settings it copies; they must be the settings'."""
    setting = SETTINGS[name]
    hint = typing.get_type_hints(declared_server_state())[name]
    takes_none = False
    with contextlib.suppress(ValueError):
        takes_none = setting.parse(None) is None
    assert isinstance(setting.default, hint), f"{name}: default {setting.default!r} is not {hint}"
    assert isinstance(None, hint) == takes_none, f"{name}: {hint} vs None accepted: {takes_none}"
    # a slot (or, compiled, a native attribute): what the request path can afford to read
    assert getattr(ServerState, name).__class__.__name__ in (
        "member_descriptor",
        "getset_descriptor",
    )


def test_config_imports_nothing_from_the_runtime() -> None:
    """The config layer sits under the runtime (docs: design.md §1): of mypkg it may import only
    itself, mypkg.version, errors, asgi (ASGI types), loader (app loading: the app by name,
    adapted to ASGI 3) and compiled (which build runs, for --version: standard library only);
    deferred and type-checking imports count too."""
    allowed = (
        "mypkg.config",
        "mypkg.errors",
        "mypkg.asgi",
        "mypkg.loader",
        "mypkg.version",
        "mypkg.compiled",
    )
    found = []
    for path in sorted((ROOT / "mypkg" / "config").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.startswith("mypkg.") and not name.startswith(allowed)
            ]
    assert not found
