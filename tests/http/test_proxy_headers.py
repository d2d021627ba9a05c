"""Proxy headers: trusted and untrusted peers over TCP and a UNIX socket; the middleware alone."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from mypkg.middleware import ProxyHeadersMiddleware, TrustedPeers
from mypkg.sockets import bind_unix
from tests.support import apps
from tests.support.apps import extensions
from tests.support.clients import RawClient
from tests.support.processes import run_cli
from tests.support.servers import serve

CHAIN = {"x-forwarded-for": "203.0.113.7, 10.1.2.3", "x-forwarded-proto": "https, http"}


def _scope(url: str, headers: dict[str, str], **client: Any) -> Any:
    return httpx.get(url, headers=headers, timeout=5, **client).json()


def test_trusted_peer_names_the_client(http: str) -> None:
    with serve(apps.scope_json, http=http) as running:  # default: 127.0.0.1 is trusted
        only_local = _scope(running.url("/"), CHAIN)
    with serve(apps.scope_json, http=http, forwarded_allow_ips="127.0.0.1,10.0.0.0/8") as running:
        both = _scope(running.url("/"), CHAIN)
        single = _scope(running.url("/"), {"x-forwarded-for": "198.51.100.1"})
    # 10.1.2.3 is not a trusted proxy: it is the right-most untrusted address, so the client.
    assert only_local["client"] == ["10.1.2.3", 0]
    assert only_local["scheme"] == "http"  # the proto its proxy recorded for it
    assert both["client"] == ["203.0.113.7", 0]
    assert both["scheme"] == "https"
    assert single["client"] == ["198.51.100.1", 0]
    assert single["scheme"] == "http"


def test_untrusted_peer_and_disabled_setting_change_nothing(http: str) -> None:
    for settings in ({"forwarded_allow_ips": "10.9.9.9"}, {"proxy_headers": False}):
        with serve(apps.scope_json, http=http, **settings) as running:
            scope = _scope(running.url("/"), CHAIN)
        assert scope["client"][0] == "127.0.0.1" and scope["client"][1] > 0
        assert scope["scheme"] == "http"


SPOOF = {  # a client's own Forwarded, passed through by a proxy that appends X-Forwarded-For
    "forwarded": "for=6.6.6.6;proto=https",
    "x-forwarded-for": "203.0.113.7",
}


def test_x_forwarded_mode_ignores_forwarded(http: str) -> None:
    """The default: a client's Forwarded header passed through by its proxy names nobody."""
    with serve(apps.scope_json, http=http, forwarded_allow_ips="127.0.0.1,10.0.0.0/8") as running:
        scope = _scope(running.url("/"), SPOOF)
        alone = _scope(running.url("/"), {"forwarded": "for=6.6.6.6;proto=https"})
    assert scope["client"] == ["203.0.113.7", 0]
    assert scope["scheme"] == "http"
    assert alone["client"][0] == "127.0.0.1" and alone["scheme"] == "http"


def test_forwarded_mode_reads_rfc7239_only(http: str) -> None:
    headers = {
        "forwarded": 'for="[2001:db8::17]:4711";proto=https, for=10.0.0.5;proto=http',
        "x-forwarded-for": "192.0.2.99",
        "x-forwarded-proto": "http",
    }
    settings = {"forwarded_allow_ips": "127.0.0.1,10.0.0.0/8", "proxy_headers_mode": "forwarded"}
    with serve(apps.scope_json, http=http, **settings) as running:
        scope = _scope(running.url("/"), headers)
        broken = _scope(running.url("/"), {"forwarded": "for=1.2.3.4;;"})
        spoofed = _scope(
            running.url("/"), {"x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "https"}
        )
    assert scope["client"] == ["2001:db8::17", 4711]
    assert scope["scheme"] == "https"
    assert broken["client"][0] == "127.0.0.1"  # malformed: none of it believed
    assert spoofed["client"][0] == "127.0.0.1" and spoofed["scheme"] == "http"


@pytest.mark.parametrize("mode", ["xforwarded", "forwarded"])
def test_non_ascii_port_is_ignored_not_fatal(
    http: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """``"²".isdigit()`` is true but int() refuses it: the header is ignored, both pipelined
    requests are answered, and nothing is logged as an error."""
    header = (
        b"X-Forwarded-For: 1.2.3.4:\xb2"
        if mode == "xforwarded"
        else b'Forwarded: for="1.2.3.4:\xb2"'
    )
    bad = b"GET /a HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n"
    good = b"GET /b HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4:80\r\n"
    good += b'Forwarded: for="1.2.3.4:80"\r\n\r\n'
    with (
        serve(apps.scope_json, http=http, proxy_headers_mode=mode) as running,
        RawClient(running.port) as client,
    ):
        client.send(bad + good)
        first, second = client.response(), client.response()
    assert (first.status, second.status) == (200, 200)
    assert json.loads(first.body)["client"][0] == "127.0.0.1"
    assert json.loads(second.body)["client"] == ["1.2.3.4", 80 if mode == "forwarded" else 0]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("allow", ["unix:", "*", "127.0.0.1"])
def test_unix_socket_peer(http: str, allow: str, tmp_path: Path) -> None:
    path = str(tmp_path / "app.sock")
    sockets = [bind_unix(path, 16)]
    with serve(apps.scope_json, http=http, sockets=sockets, forwarded_allow_ips=allow):
        transport = httpx.HTTPTransport(uds=path)
        with httpx.Client(transport=transport) as client:
            scope = client.get("http://app/", headers=CHAIN, timeout=5).json()
    if allow == "127.0.0.1":  # a UNIX-socket peer has no address: only unix: or * trust it
        assert scope["client"] is None
        assert scope["scheme"] == "http"
    else:
        assert scope["client"] == (["203.0.113.7", 0] if allow == "*" else ["10.1.2.3", 0])


def test_cli_refuses_a_bad_trust_list() -> None:
    result = run_cli("tests.support.apps:hello", "--forwarded-allow-ips", "127.0.0.1,10.0.0.0/33")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "mypkg-supervise: error: --forwarded-allow-ips: not an IP address, network, '*' or"
        " 'unix:': '10.0.0.0/33'"
    ]
    env = {"MYPKG_FORWARDED_ALLOW_IPS": "proxy.internal"}
    result = run_cli("tests.support.apps:hello", env=env)
    assert result.returncode == 2
    assert "MYPKG_FORWARDED_ALLOW_IPS: not an IP address" in result.stderr


# --------------------------------------------------------------------------- the middleware alone


def _through_middleware(
    scope: dict[str, Any], trusted: str | list[str] = "127.0.0.1", mode: str = "xforwarded"
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    async def nothing() -> Any:
        return {}

    async def ignore(message: Any) -> None:
        return None

    asyncio.run(ProxyHeadersMiddleware(app, trusted, mode)(scope, nothing, ignore))
    return seen


def _http_scope(client: Any, *headers: tuple[bytes, bytes], kind: str = "http") -> dict[str, Any]:
    scheme = "ws" if kind == "websocket" else "http"
    return {"type": kind, "client": client, "scheme": scheme, "headers": list(headers)}


def test_middleware_websocket_scheme_and_ipv6() -> None:
    scope = _http_scope(
        ("::1", 5000),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-for", b"2001:db8::1"),
        kind="websocket",
    )
    seen = _through_middleware(scope, ["::1"])
    assert seen["scheme"] == "wss"
    assert seen["client"] == ("2001:db8::1", 0)


def test_middleware_repeated_headers_join_in_order() -> None:
    scope = _http_scope(
        ("10.0.0.1", 1),
        (b"x-forwarded-for", b"198.51.100.4"),
        (b"x-forwarded-for", b"10.0.0.9"),
    )
    assert _through_middleware(scope, "10.0.0.0/8")["client"] == ("198.51.100.4", 0)


def test_middleware_all_trusted_takes_left_most_and_ignores_junk_proto() -> None:
    scope = _http_scope(
        ("127.0.0.1", 1),
        (b"x-forwarded-for", b"127.0.0.2, 127.0.0.3"),
        (b"x-forwarded-proto", b"gopher"),
    )
    seen = _through_middleware(scope, "127.0.0.0/8")
    assert seen["client"] == ("127.0.0.2", 0)
    assert seen["scheme"] == "http"


def test_middleware_passes_lifespan_through() -> None:
    assert _through_middleware({"type": "lifespan"}) == {"type": "lifespan"}


def test_trusted_peers() -> None:
    peers = TrustedPeers("127.0.0.1, 10.0.0.0/8, 2001:db8::/32")
    assert "127.0.0.1" in peers
    assert "10.200.0.1" in peers
    assert "::ffff:10.0.0.1" in peers  # an IPv4 client seen through a dual-stack socket
    assert "::ffff:127.0.0.1" in peers
    assert "2001:db8:1::5" in peers
    assert "11.0.0.1" not in peers
    assert None not in peers
    assert "unknown" not in peers
    assert None in TrustedPeers("unix:")
    assert "8.8.8.8" in TrustedPeers("*") and None in TrustedPeers("*")
    with pytest.raises(ValueError, match="'bogus'"):
        TrustedPeers(["127.0.0.1", "bogus"])


def test_websocket_scope_from_a_trusted_proxy(http: str) -> None:
    headers = {"x-forwarded-for": "198.51.100.9", "x-forwarded-proto": "https"}
    with serve(extensions.websocket_scope, http=http, lifespan="off") as running:
        url = f"ws://127.0.0.1:{running.port}/ws"
        with connect(url, additional_headers=headers, open_timeout=5) as ws:
            report = json.loads(ws.recv(timeout=5))
    assert report["scheme"] == "wss"
    assert report["client"] == ["198.51.100.9", 0]


def test_middleware_reads_one_family_by_mode() -> None:
    headers = ((b"forwarded", b"for=6.6.6.6;proto=https"), (b"x-forwarded-for", b"203.0.113.7"))
    x_forwarded = _through_middleware(_http_scope(("127.0.0.1", 1), *headers))
    forwarded = _through_middleware(_http_scope(("127.0.0.1", 1), *headers), mode="forwarded")
    assert (x_forwarded["client"], x_forwarded["scheme"]) == (("203.0.113.7", 0), "http")
    assert (forwarded["client"], forwarded["scheme"]) == (("6.6.6.6", 0), "https")
    with pytest.raises(ValueError, match="mode must be one of xforwarded, forwarded"):
        ProxyHeadersMiddleware(apps.scope_json, "127.0.0.1", "both")
