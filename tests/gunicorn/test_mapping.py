"""The Gunicorn settings table: complete, current in the docs, and translating as documented."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from gunicorn.config import KNOWN_SETTINGS
from gunicorn.config import Config as GunicornConfig

from mypkg.config.descriptor import SETTINGS
from mypkg.docgen import GUNICORN_DOC, gunicorn_markdown
from mypkg.errors import ConfigError
from mypkg.workers import mapping
from mypkg.workers.worker import AsgiH11Worker, AsgiWorker, build_config, ignored_variables
from tests.support.gunicorn import fake_worker


def test_every_gunicorn_setting_has_a_row() -> None:
    missing = [s.name for s in KNOWN_SETTINGS if s.name not in mapping.TABLE]
    assert missing == [], f"add these Gunicorn settings to mypkg/workers/mapping.py: {missing}"


def test_no_row_for_a_setting_gunicorn_does_not_have() -> None:
    known = {s.name for s in KNOWN_SETTINGS}
    assert [name for name in mapping.TABLE if name not in known] == []


def test_rows_say_something() -> None:
    for name, row in mapping.TABLE.items():
        assert row.kind in ("mapped", "gunicorn", "worker", "refused", "ignored", "n/a"), name
        if row.kind != "mapped":
            assert len(row.note) > 10, f"{name}: say what happens to it"


def test_mapped_rows_name_real_mypkg_settings() -> None:
    targets = mapping.mapped_targets()
    assert targets <= set(SETTINGS), f"not mypkg settings: {targets - set(SETTINGS)}"


def test_settings_that_matter_are_mapped() -> None:
    must_map = {
        "backlog": "backlog",
        "worker_connections": "limit_concurrency",
        "keepalive": "timeout_keep_alive",
        "graceful_timeout": "timeout_graceful_shutdown",
        "max_requests": "limit_max_requests",
        "limit_request_line": "limit_request_line",
        "limit_request_fields": "limit_request_fields",
        "limit_request_field_size": "limit_request_field_size",
        "forwarded_allow_ips": "forwarded_allow_ips",
        "root_path": "root_path",
        "certfile": "ssl_certfile",
        "keyfile": "ssl_keyfile",
        "ca_certs": "ssl_ca_certs",
        "cert_reqs": "ssl_cert_reqs",
        "ciphers": "ssl_ciphers",
        "ssl_version": "ssl_version",
        "accesslog": "access_log",
        "access_log_format": "access_log_format",
        "loglevel": "log_level",
        "websocket_max_message_size": "ws_max_size",
    }
    assert {name: mapping.TABLE[name].target for name in must_map} == must_map
    for name in ("timeout", "worker_int", "worker_abort", "pre_request", "post_request"):
        assert mapping.TABLE[name].kind == "worker"


def test_docs_table_is_current() -> None:
    current = GUNICORN_DOC.read_text()
    assert current == gunicorn_markdown(current), "run: python -m mypkg.docgen"
    for setting in KNOWN_SETTINGS:
        assert f"| `{setting.name}`" in current


def test_translate_defaults() -> None:
    values = mapping.translate(fake_worker())
    assert values["timeout_keep_alive"] == 2.0
    assert values["limit_concurrency"] == 1000
    assert values["limit_max_requests"] is None
    assert values["timeout_graceful_shutdown"] == 29.0
    assert values["limit_request_line"] == 4094
    assert values["access_log"] is False
    assert values["log_level"] == "info"
    assert values["http"] == "auto"


def test_translate_values() -> None:
    worker = fake_worker(
        keepalive=0,
        worker_connections=7,
        max_requests=100,
        max_requests_jitter=20,
        graceful_timeout=5,
        limit_request_fields=0,
        loglevel="DEBUG",
        http_parser="python",
        asgi_loop="asyncio",
        root_path="/api",
        accesslog="-",
        access_log_format="%(h)s %(D)s",
    )
    values = mapping.translate(worker)
    assert values["timeout_keep_alive"] == 0.0
    assert values["limit_concurrency"] == 7
    assert values["limit_max_requests"] == 120
    assert values["timeout_graceful_shutdown"] == 4.5
    assert values["limit_request_fields"] == 32768
    assert values["log_level"] == "debug"
    assert (values["http"], values["loop"], values["root_path"]) == ("h11", "asyncio", "/api")
    assert values["access_log"] is True
    assert values["access_log_format"] == "%(h)s %(D)s"


def test_bad_value_names_the_gunicorn_setting() -> None:
    with pytest.raises(ConfigError) as info:
        mapping.translate(fake_worker(limit_request_field_size=70000))
    assert str(info.value) == (
        "Gunicorn setting limit_request_field_size (--limit-request-field_size):"
        " expected an integer from 0 to 65536, got 70000"
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("proxy_protocol", "v1", "proxy_protocol (--proxy-protocol): PROXY protocol is not"),
        ("protocol", "uwsgi", "protocol (--protocol): Only `http` is served"),
    ],
)
def test_refused_settings(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"Gunicorn setting {message}")):
        mapping.translate(fake_worker(**{name: value}))


def test_ignored_settings_are_warned_about_when_set() -> None:
    assert mapping.warnings(GunicornConfig()) == []
    cfg = GunicornConfig()
    cfg.set("threads", 4)
    cfg.set("permit_obsolete_folding", True)
    lines = mapping.warnings(cfg)
    assert len(lines) == 2
    assert lines[0].startswith("Gunicorn setting threads (--threads) is ignored by mypkg's worker:")


def test_scheme_headers_mypkg_does_not_read_are_warned_about() -> None:
    cfg = GunicornConfig()
    cfg.set("secure_scheme_headers", {"X-FORWARDED-PROTO": "https"})
    assert mapping.warnings(cfg) == []
    cfg.set("secure_scheme_headers", {"X-Forwarded-Ssl": "on", "X-FORWARDED-PROTO": "https"})
    [line] = mapping.warnings(cfg)
    assert line.startswith("Gunicorn setting secure_scheme_headers: ")
    assert line.endswith("X-Forwarded-Ssl will not be read")


def test_forced_settings_of_the_h11_worker() -> None:
    assert AsgiWorker.FORCED == {}
    assert AsgiH11Worker.FORCED == {"http": "h11", "loop": "asyncio"}


def test_mypkg_variables_fill_in_what_gunicorn_does_not_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MYPKG_TIMEOUT_REQUEST_HEAD", "3")
    monkeypatch.setenv("MYPKG_TIMEOUT_KEEP_ALIVE", "30")
    monkeypatch.setenv("MYPKG_PORT", "9000")
    worker = fake_worker(keepalive=4)
    warnings: list[str] = []
    worker.log.warning = lambda fmt, line: warnings.append(line)
    config = build_config(worker)
    assert config.timeout_request_head == 3.0
    assert config.timeout_keep_alive == 4.0  # Gunicorn's keepalive wins
    assert warnings == [
        "MYPKG_PORT is ignored under Gunicorn, which binds and forks",
        "MYPKG_TIMEOUT_KEEP_ALIVE is ignored under Gunicorn: keepalive sets timeout_keep_alive",
    ]


def test_bad_mypkg_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYPKG_TIMEOUT_REQUEST_HEAD", "soon")
    worker = fake_worker()
    worker.log.warning = logging.getLogger("test").warning
    with pytest.raises(ConfigError, match="MYPKG_TIMEOUT_REQUEST_HEAD: expected a number"):
        build_config(worker)


def test_ignored_variables_lists_only_mypkg_names() -> None:
    environ = {"MYPKG_HTTP": "h11", "MYPKG_SERVER_HEADER": "0", "OTHER": "1"}
    assert ignored_variables(environ, {"http": "auto"}) == [
        "MYPKG_HTTP is ignored under Gunicorn: http_parser sets http"
    ]


def test_mypkg_config_file_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    toml = tmp_path / "mypkg.toml"
    toml.write_text("timeout_request_head = 4.5\nserver_header = false\n")
    monkeypatch.setenv("MYPKG_CONFIG", str(toml))
    config = build_config(fake_worker())
    assert config.timeout_request_head == 4.5
    assert config.server_header is False


def test_websocket_message_limit_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"websocket_max_message_size .*expected an integer >= 1"):
        mapping.translate(fake_worker(websocket_max_message_size=0))


def test_websocket_message_limit_keeps_mypkgs_safer_default() -> None:
    """Gunicorn's 16 MiB default is not forced on the worker: mypkg's 1 MiB (issue 18) applies
    unless the Gunicorn setting is changed."""
    assert "ws_max_size" not in mapping.translate(fake_worker())
    assert mapping.translate(fake_worker(websocket_max_message_size=2048))["ws_max_size"] == 2048


def test_mypkg_only_rows_name_real_settings_a_worker_reads() -> None:
    from mypkg.workers.worker import _GUNICORN_OWNED_SECTIONS

    for name in mapping.MYPKG_ONLY:
        assert SETTINGS[name].section not in _GUNICORN_OWNED_SECTIONS, name
        assert name not in mapping.mapped_targets(), f"{name} is mapped from Gunicorn already"
