"""TLS and mutual TLS over real handshakes, the ASGI ``tls`` extension, and startup errors."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect as ws_connect

from mypkg import Config
from mypkg.errors import ConfigError
from mypkg.tls import quiet_tls_errors, rfc4514_name
from tests.support import apps
from tests.support.apps import extensions
from tests.support.clients import json_body, tls_get
from tests.support.logs import capture_logs
from tests.support.pki import Pki
from tests.support.processes import run_cli
from tests.support.servers import serve


def test_https_scope_and_tls_extension(http: str, pki: Pki) -> None:
    settings = {"ssl_certfile": pki.server_cert, "ssl_keyfile": pki.server_key}
    with serve(apps.scope_json, http=http, **settings) as running:
        context = pki.client_context(with_cert=False)
        response, client_cipher = tls_get(running.port, context)
        scope = json_body(response)
        via_httpx = httpx.get(f"https://127.0.0.1:{running.port}/", verify=context, timeout=5)
    assert scope["scheme"] == "https"
    tls = scope["extensions"]["tls"]
    assert tls["server_cert"] == pki.server.cert_chain_pems[0].bytes().decode()
    assert tls["client_cert_chain"] == []
    assert tls["client_cert_name"] is None
    assert tls["client_cert_error"] is None
    assert tls["tls_version"] == 0x0304  # both sides default to TLS 1.3
    ids = {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}
    assert tls["cipher_suite"] == ids[client_cipher]
    assert via_httpx.status_code == 200
    assert via_httpx.json()["scheme"] == "https"


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_mutual_tls_required(http: str, loop: str, pki: Pki) -> None:
    settings = {
        "ssl_certfile": pki.server_combined,
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": pki.ca_file,
        "loop": loop,
    }
    with (
        capture_logs("mypkg.error", "asyncio") as logs,
        serve(apps.scope_json, http=http, **settings) as running,
    ):
        try:  # with TLS 1.3 the client learns only when reading that it was refused
            refused, _ = tls_get(running.port, pki.client_context(with_cert=False))
        except (ssl.SSLError, ConnectionError):
            refused = b""
        response, _ = tls_get(running.port, pki.client_context(with_cert=True))
    assert refused == b"", "a client without a certificate got an answer"
    tls = json_body(response)["extensions"]["tls"]
    assert tls["client_cert_chain"][0] == pki.client.cert_chain_pems[0].bytes().decode()
    assert tls["client_cert_name"].startswith("CN=client-1,")
    assert any("TLS handshake failed" in m for m in logs.messages(logging.DEBUG))
    assert logs.messages(logging.WARNING) == []
    assert not [r for r in logs.records if r.exc_info], "a handshake failure logged a traceback"


def test_mutual_tls_optional_accepts_a_client_without_certificate(http: str, pki: Pki) -> None:
    settings = {
        "ssl_certfile": pki.server_combined,
        "ssl_cert_reqs": "optional",
        "ssl_ca_certs": pki.ca_file,
    }
    with serve(apps.scope_json, http=http, **settings) as running:
        without, _ = tls_get(running.port, pki.client_context(with_cert=False))
        with_cert, _ = tls_get(running.port, pki.client_context(with_cert=True))
    assert json_body(without)["extensions"]["tls"]["client_cert_chain"] == []
    assert len(json_body(with_cert)["extensions"]["tls"]["client_cert_chain"]) >= 1


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_plain_http_to_tls_port_is_a_debug_line(http: str, loop: str, pki: Pki) -> None:
    settings = {"ssl_certfile": pki.server_combined, "loop": loop}
    with (
        capture_logs("mypkg.error", "asyncio") as logs,
        serve(apps.hello, http=http, **settings) as running,
    ):
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{running.port}/", timeout=5)
        context = pki.client_context(with_cert=False)
        response, _ = tls_get(running.port, context)  # still serving
    assert response.startswith(b"HTTP/1.1 200")
    assert "TLS handshake failed: HTTP_REQUEST" in logs.messages(logging.DEBUG)
    assert logs.messages(logging.WARNING) == []


def test_minimum_version_and_ciphers(http: str, pki: Pki) -> None:
    settings = {"ssl_certfile": pki.server_combined, "ssl_ciphers": "ECDHE+AESGCM"}
    tls12 = {"maximum_version": ssl.TLSVersion.TLSv1_2}
    with serve(apps.scope_json, http=http, **settings) as running:
        response, cipher = tls_get(running.port, pki.client_context(with_cert=False, **tls12))
    tls = json_body(response)["extensions"]["tls"]
    assert tls["tls_version"] == 0x0303
    assert cipher.startswith("ECDHE-") and "GCM" in cipher
    assert tls["cipher_suite"] in (0xC02B, 0xC02C, 0xC02F, 0xC030)  # the ECDHE AES-GCM suites

    tls13_only = {"ssl_certfile": pki.server_combined, "ssl_version": "TLSv1.3"}
    with serve(apps.scope_json, http=http, **tls13_only) as running:
        with pytest.raises(ssl.SSLError):
            tls_get(running.port, pki.client_context(with_cert=False, **tls12))
        response, _ = tls_get(running.port, pki.client_context(with_cert=False))
    assert json_body(response)["extensions"]["tls"]["tls_version"] == 0x0304


def test_encrypted_key_with_password(pki: Pki) -> None:
    config = Config(
        ssl_certfile=pki.server_cert,
        ssl_keyfile=pki.encrypted_key,
        ssl_keyfile_password="secret",
    )
    config.check()
    assert isinstance(config.ssl_context, ssl.SSLContext)


def test_plain_server_has_no_tls_extension(http: str) -> None:
    with serve(apps.scope_json, http=http) as running:
        scope = httpx.get(running.url("/"), timeout=5).json()
    assert scope["scheme"] == "http"
    assert "tls" not in scope["extensions"]


# --------------------------------------------------------------------------- startup errors


def _error(**settings: Any) -> str:
    with pytest.raises(ConfigError) as info:
        Config(**settings).check()
    return str(info.value)


def test_config_errors_name_the_setting(pki: Pki, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    other_key = tmp_path / "other.key"
    other_key.write_bytes(pki.ca.issue_cert("other").private_key_pem.bytes())
    cert, key = pki.server_cert, pki.server_key
    assert (
        _error(ssl_certfile=missing)
        == f"--ssl-certfile: cannot read {missing}: No such file or directory"
    )
    assert _error(ssl_certfile=cert, ssl_keyfile=missing).startswith("--ssl-keyfile: cannot read")
    assert _error(ssl_certfile=str(garbage), ssl_keyfile=key) == (
        f"--ssl-certfile: {garbage} holds no PEM certificate"
    )
    assert _error(ssl_certfile=cert) == (
        f"--ssl-certfile: {cert} holds no private key; give it with --ssl-keyfile"
    )
    assert _error(ssl_certfile=cert, ssl_keyfile=str(garbage)) == (
        f"--ssl-keyfile: {garbage} holds no usable PEM private key"
    )
    assert _error(ssl_certfile=cert, ssl_keyfile=str(other_key)) == (
        f"--ssl-keyfile: the key in {other_key} does not match the certificate in {cert}"
    )
    encrypted = {"ssl_certfile": cert, "ssl_keyfile": pki.encrypted_key}
    assert _error(**encrypted, ssl_keyfile_password="wrong") == (
        f"--ssl-keyfile-password: wrong password for the key in {pki.encrypted_key}"
    )
    assert _error(**encrypted).startswith(f"--ssl-keyfile: the key in {pki.encrypted_key} is enc")
    assert _error(ssl_certfile=cert, ssl_keyfile=key, ssl_cert_reqs="required") == (
        "--ssl-cert-reqs required needs --ssl-ca-certs"
        " (the CA certificates that sign client certificates)"
    )
    assert _error(ssl_certfile=cert, ssl_keyfile=key, ssl_ca_certs=str(garbage)) == (
        f"--ssl-ca-certs: {garbage} holds no PEM certificate"
    )
    assert _error(ssl_certfile=cert, ssl_keyfile=key, ssl_ciphers="NOPE") == (
        "--ssl-ciphers: no cipher matches 'NOPE'"
    )
    assert _error(ssl_keyfile=key) == "--ssl-keyfile needs --ssl-certfile (TLS is off)"


def test_setting_values_from_uvicorn_and_gunicorn_habits() -> None:
    assert Config(ssl_cert_reqs="2").ssl_cert_reqs == "required"
    assert Config(ssl_cert_reqs=1).ssl_cert_reqs == "optional"
    assert Config(ssl_version="17").ssl_version == "TLSv1.2"
    with pytest.raises(ConfigError, match=r"ssl\.PROTOCOL_\* number 3 is not supported"):
        Config(ssl_version=3)


@pytest.mark.parametrize("case", ["missing-cert", "wrong-password"])
def test_cli_refuses_bad_tls_before_serving(case: str, pki: Pki, tmp_path: Path) -> None:
    if case == "missing-cert":
        args = ["--ssl-certfile", str(tmp_path / "missing.pem")]
        expected = "--ssl-certfile: cannot read"
    else:
        args = ["--ssl-certfile", pki.server_cert, "--ssl-keyfile", pki.encrypted_key]
        args += ["--ssl-keyfile-password", "wrong"]
        expected = "--ssl-keyfile-password: wrong password"
    result = run_cli("tests.support.apps:hello", "--port", "0", *args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]


def test_cli_password_from_environment(pki: Pki) -> None:
    """The password can stay out of the process list; a wrong one is named by its variable."""
    env = {"MYPKG_SSL_KEYFILE_PASSWORD": "wrong"}
    args = ["--ssl-certfile", pki.server_cert, "--ssl-keyfile", pki.encrypted_key]
    result = run_cli("tests.support.apps:hello", "--port", "0", *args, env=env)
    assert result.returncode == 2
    assert "wrong password" in result.stderr


def test_exception_handler_downgrades_tls_errors() -> None:
    """What reaches the loop's exception handler from a TLS failure is one debug line."""

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(quiet_tls_errors)
        with capture_logs("mypkg.error", "asyncio") as logs:
            error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
            loop.call_exception_handler({"message": "SSL handshake failed", "exception": error})
            loop.call_exception_handler({"message": "something else", "exception": KeyError("x")})
        return [f"{r.name}:{r.levelname}:{bool(r.exc_info)}" for r in logs.records]

    assert asyncio.run(main()) == ["mypkg.error:DEBUG:False", "asyncio:ERROR:True"]


def test_rfc4514_name() -> None:
    subject = ((("countryName", "DE"),), (("organizationName", "A, B"),), (("commonName", " x"),))
    assert rfc4514_name({"subject": subject}) == "CN=\\ x,O=A\\, B,C=DE"
    assert rfc4514_name({}) is None


async def wss_first_message(url: str, context: ssl.SSLContext) -> Any:
    """Open ``url`` and return its first message, JSON-decoded.

    websockets' asyncio client, not its threaded one: that one reads the TLS socket in a
    background thread while the caller writes to it, and OpenSSL's SSL object is not safe for
    that. When TLS 1.3's session tickets arrive just as the upgrade request is written, the
    request can be lost (the server has read only the handshake) and the open times out.
    """
    async with ws_connect(url, ssl=context, open_timeout=10) as ws:
        return json.loads(await asyncio.wait_for(ws.recv(), 10))


def test_wss_scope(http: str, pki: Pki) -> None:
    settings = {"ssl_certfile": pki.server_combined, "lifespan": "off"}
    with serve(extensions.websocket_scope, http=http, **settings) as running:
        url = f"wss://127.0.0.1:{running.port}/ws"
        report = asyncio.run(wss_first_message(url, pki.client_context(with_cert=False)))
    assert report["scheme"] == "wss"
    assert report["extensions"] == ["tls", "websocket.http.response"]  # no http.response.*
    assert report["tls_version"] == 0x0304
