"""--log-format json, --request-id-header, --access-log-header, and throttled junk logging."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

import pytest

from mypkg.ratelimit import Throttle
from tests.support import apps
from tests.support.clients import RawClient, request
from tests.support.gunicorn import gunicorn
from tests.support.processes import ServerProcess
from tests.support.servers import serve
from tests.support.waiting import wait_until

APP = "tests.support.apps.operator:sleepy"


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line must be one JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_access_and_error_lines_are_json_with_escaped_fields() -> None:
    args = ("--log-format", "json", "--request-id-header", "X-Request-ID")
    with ServerProcess(APP, *args, "--access-log-header", "X-Forwarded-For") as proc:
        port = proc.wait_serving()
        raw = (  # a path that decodes to CR LF ESC, a user agent with a C1 control (CSI)
            "GET /p%0d%0a%1b[31mfake?q=1 HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc-123\r\n"
            "User-Agent: agent\x9b31m\r\nReferer: /from\r\n"
            "X-Forwarded-For: 203.0.113.7\r\n\r\n"
        )
        response = request(port, raw.encode("latin-1"))
        assert response.header("x-request-id") == "abc-123"
        generated = request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").header("x-request-id")
        assert generated and generated != "abc-123"
        proc.wait_for_line('"request_id": "' + generated)
        proc.signal(signal.SIGINT)
        proc.wait()
        lines = json_lines(proc.output)
    for line in lines:
        assert {"timestamp", "level", "logger", "message", "pid"} <= set(line)
    [access] = [line for line in lines if line.get("request_id") == "abc-123"]
    assert access["logger"] == "mypkg.access" and access["level"] == "INFO"
    assert (access["method"], access["query"]) == ("GET", "q=1")
    assert access["path"] == "/p\r\n\x1b[31mfake"  # the JSON string escaped it; loads restores
    assert (access["status"], access["bytes"], access["referer"]) == (200, 2, "/from")
    assert isinstance(access["duration_us"], int)
    assert access["headers"] == {"x-forwarded-for": "203.0.113.7"}
    assert access["user_agent"] == "agent\x9b31m"
    assert any(line["logger"] == "mypkg.error" for line in lines)
    # No raw control character reached the stream: json.dumps wrote \u001b.
    assert not any(ch in proc.output for ch in "\x1b\x9b\r")


def test_request_id_in_scope_state_and_log_record_extras(
    http: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = apps.Recorder(apps.hello)
    with (
        caplog.at_level(logging.INFO, logger="mypkg.access"),
        serve(app, http=http, request_id_header="X-Request-ID") as running,
    ):
        sent = request(running.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: r1\r\n\r\n")
        bad = b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: has space\r\n\r\n"
        fresh = request(running.port, bad)
    assert sent.header("x-request-id") == "r1"
    assert fresh.header("x-request-id") not in (None, "has space")
    assert [s["state"]["request_id"] for s in app.scopes] == ["r1", fresh.header("x-request-id")]
    records = [r for r in caplog.records if r.name == "mypkg.access"]
    assert [r.__dict__["request_id"] for r in records] == ["r1", fresh.header("x-request-id")]
    assert records[0].__dict__["status"] == 200


def test_a_junk_flood_writes_a_bounded_number_of_lines() -> None:
    with ServerProcess(APP) as proc:
        port = proc.wait_serving()
        for _ in range(60):
            with RawClient(port) as client:
                client.send(b"\x16\x03\x01junk\r\n\r\n")
                assert client.response().status == 400
        assert request(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        proc.signal(signal.SIGINT)
        proc.wait()
        refused = [line for line in proc.lines if "Refused a request" in line]
    assert 1 <= len(refused) <= 10


def test_throttle_reports_what_it_suppressed(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("mypkg.error")
    throttle = Throttle(limit=3, window=10.0)
    with caplog.at_level(logging.INFO, logger="mypkg.error"):
        allowed = [throttle.allow(logger, now) for now in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)]
        assert allowed == [True, True, True, False, False, False]
        assert throttle.allow(logger, 10.5)  # a new window
    assert "3 more malformed-request line(s) were not logged" in caplog.text


def test_gunicorn_worker_writes_json_lines(tmp_path: Path) -> None:
    env = {"MYPKG_LOG_FORMAT": "json", "MYPKG_REQUEST_ID_HEADER": "X-Request-ID"}
    with gunicorn("--access-logfile", "-", app=APP, env=env) as master:
        response = request(master.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: g1\r\n\r\n")
        assert response.header("x-request-id") == "g1"
        wait_until(lambda: '"request_id": "g1"' in master.output, 10, "the JSON access line")
        [line] = [json.loads(x) for x in master.output.splitlines() if '"g1"' in x]
        assert (line["status"], line["path"]) == (200, "/")
