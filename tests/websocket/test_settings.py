"""The WebSocket settings reach the CLI and are validated with clear messages."""

from __future__ import annotations

import pytest

from mypkg import Config
from mypkg.config.argv import parse_config
from mypkg.errors import ConfigError
from tests.support.processes import run_cli


def test_flags_parse() -> None:
    config = parse_config(
        [
            "app:app",
            "--ws", "none",
            "--ws-max-size", "1024",
            "--ws-max-queue", "8",
            "--ws-ping-interval", "5",
            "--ws-ping-timeout", "0",
            "--no-ws-per-message-deflate",
        ]
    )  # fmt: skip
    assert config.ws == "none"
    assert config.ws_max_size == 1024
    assert config.ws_max_queue == 8
    assert config.ws_ping_interval == 5.0
    assert config.ws_ping_timeout == 0.0
    assert config.ws_per_message_deflate is False
    defaults = Config("app:app")
    assert (defaults.ws, defaults.ws_max_size, defaults.ws_max_queue) == ("auto", 1 << 20, 16)
    assert (defaults.ws_ping_interval, defaults.ws_ping_timeout) == (20.0, 20.0)
    assert defaults.ws_per_message_deflate is True


def test_bad_values_name_the_setting() -> None:
    with pytest.raises(ConfigError, match="ws_max_queue="):
        Config("app:app", ws_max_queue=0)
    result = run_cli("tests.support.apps:hello", "--ws", "wsproto")
    assert result.returncode == 2
    assert (
        "--ws: expected one of auto, websockets, websockets-sansio, none; got 'wsproto'"
        in result.stderr
    )
