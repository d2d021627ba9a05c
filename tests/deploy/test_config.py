"""deploy/mypkg.toml: every key a real setting, and the file serves as shipped (bind aside)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import httpx

from mypkg.config import Config
from mypkg.config.sources import read_config_file
from tests.support.processes import ROOT, Master, run_cli

MYPKG_TOML = ROOT / "deploy" / "mypkg.toml"


def test_every_key_is_a_setting_mypkg_applies() -> None:
    values = read_config_file(str(MYPKG_TOML))
    config = Config(config=str(MYPKG_TOML))  # mypkg's own loading: an unknown key raises
    assert values, "no settings in the file"
    assert set(values) <= set(vars(config)), "a key was read but not applied"
    assert config.uds_mode == 0o660 and config.forwarded_allow_ips == ["unix:"]


def test_an_unknown_key_stops_startup_naming_it(tmp_path: Path) -> None:
    misspelt = tmp_path / "mypkg.toml"
    misspelt.write_text(MYPKG_TOML.read_text() + "timeout_keepalive = 75\n")
    result = run_cli("--config", str(misspelt), "examples.demo:app")
    assert result.returncode == 2
    assert f"unknown setting 'timeout_keepalive' in {misspelt}" in result.stderr


def test_the_file_serves_with_only_the_bind_overridden(tmp_path: Path) -> None:
    socket_path = str(tmp_path / "mypkg.sock")
    settings = read_config_file(str(MYPKG_TOML))
    with Master(
        "--config", str(MYPKG_TOML), "--bind", f"unix:{socket_path}", "examples.demo:app"
    ) as mypkg:
        mypkg.wait_for(rf"Ready: {settings['workers']} worker\(s\) serving on unix:{socket_path}")
        assert stat.S_IMODE(Path(socket_path).stat().st_mode) == int(settings["uds_mode"], 8)
        transport = httpx.HTTPTransport(uds=socket_path)
        with httpx.Client(transport=transport, base_url="http://mypkg", timeout=5) as client:
            # The peer on the UNIX socket (nginx) is trusted to name the client and scheme.
            headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
            response = client.get("/api/info", headers=headers)
        assert response.status_code == 200
        assert (response.json()["client"], response.json()["scheme"]) == (
            ["203.0.113.9", 0],
            "https",
        )
        line = f'203.0.113.9 - "GET /api/info HTTP/1.1" 200 {len(response.content)} "-" '
        mypkg.wait_for(re.escape(line) + r'"python-httpx/[^"]+" \d+ms')
