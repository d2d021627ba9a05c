"""HTTP/2 while the process tree changes: a rolling restart (HUP) under load loses no stream.

The drain sends each connection a GOAWAY in two steps (see H2Protocol.shutdown), so streams the
client opened before it saw the GOAWAY are served, not refused. The load is tests/h2load_client
(it says why not h2load).
"""

from __future__ import annotations

import json
from pathlib import Path

import h2.events
import h2.settings

from tests.support.gunicorn import gunicorn
from tests.support.h2client import H2Client, request_headers
from tests.support.h2load import H2Load
from tests.support.pki import Pki
from tests.support.processes import Master


def test_hup_under_http2_load_loses_nothing(http: str) -> None:
    args = ("tests.support.apps.workers:app", "--port", "0", "--http", http, "--no-access-log")
    with Master("-w", "2", *args, "--http2") as master:
        port = master.ready()
        old = master.workers()
        with H2Load(port) as load:
            load.wait_for(200)
            master.reload(old)
            load.wait_for(load.tally.ok + 200)  # the new workers serve too
            tally = load.stop()
    assert not tally.failures, tally.failures[:5]
    assert tally.closes >= 1, "no connection was drained: the test proved nothing"


def test_max_requests_recycling_under_http2_load_loses_nothing() -> None:
    """Each worker drains at its request limit (streams count as requests). Run once: HTTP/2
    streams never reach the HTTP/1 parser, which the HUP test above covers both of."""
    limits = ("--limit-max-requests", "300", "--max-requests-jitter", "50")
    args = ("tests.support.apps.workers:app", "--port", "0", "--no-access-log", *limits)
    with Master("-w", "2", *args, "--http2") as master:
        port = master.ready()
        with H2Load(port) as load:
            mark = master.mark()
            for _ in range(2):  # two recycles, each fully done: replacement up, old one gone
                pid = master.wait_for(r"Worker (\d+) served \d+ requests", after=mark).group(1)
                master.wait_for(rf"Worker {pid} exited \(exit code 0\)", after=mark)
                mark = master.mark()
            load.wait_for(load.tally.ok + 100)
            tally = load.stop()
    assert not tally.failures, tally.failures[:5]
    assert tally.closes >= 2


def test_gunicorn_http_protocols_h2_turns_http2_on(tmp_path: Path) -> None:
    args = ("--http-protocols", "h2,h1", "--http2-max-concurrent-streams", "7")
    app = "tests.support.apps:scope_json"
    with gunicorn(*args, app=app) as master, H2Client(master.port) as client:
        status, _, body = client.response(client.request(request_headers(path=b"/scope"), None))
        settings = client.wait_for(h2.events.RemoteSettingsChanged).changed_settings
        http1 = json.loads(master.request("/scope").body)
    assert (status, json.loads(body)["http_version"], http1["http_version"]) == (200, "2", "1.1")
    assert settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS].new_value == 7


def test_gunicorn_tls_offers_h2_by_alpn(tmp_path: Path, pki: Pki) -> None:
    tls = ("--certfile", pki.server_cert, "--keyfile", pki.server_key)
    context = pki.client_context(with_cert=False)
    context.set_alpn_protocols(["h2", "http/1.1"])
    app = "tests.support.apps:scope_json"
    with (
        gunicorn("--http-protocols", "h2,h1", *tls, app=app) as master,
        H2Client(master.port, context=context) as client,
    ):
        assert client.sock.selected_alpn_protocol() == "h2"  # type: ignore[attr-defined]
        status, _, body = client.response(client.request(request_headers(), None))
    assert (status, json.loads(body)["scheme"], json.loads(body)["http_version"]) == (
        200,
        "https",
        "2",
    )
