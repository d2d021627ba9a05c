"""Gunicorn's TLS and proxy settings, through a real Gunicorn master and mypkg's worker."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from tests.support.clients import json_body, tls_get
from tests.support.gunicorn import WORKER_CLASSES, gunicorn
from tests.support.pki import Pki


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_certfile_and_keyfile_serve_https(tmp_path: Path, pki: Pki, worker: str) -> None:
    args = ("--certfile", pki.server_cert, "--keyfile", pki.server_key)
    with gunicorn(*args, worker=worker) as master:
        response, _ = tls_get(master.port, pki.client_context(with_cert=False), "/scope")
        with pytest.raises(ConnectionError):  # plain HTTP on a TLS port: closed, no answer
            master.request("/")
        again, _ = tls_get(master.port, pki.client_context(with_cert=False), "/scope")
    assert json_body(response)["scheme"] == "https"
    assert json_body(again)["scheme"] == "https"


def test_cert_reqs_and_ca_certs_require_a_client_certificate(tmp_path: Path, pki: Pki) -> None:
    args = (
        "--certfile", pki.server_cert, "--keyfile", pki.server_key,
        "--ca-certs", pki.ca_file, "--cert-reqs", str(int(ssl.CERT_REQUIRED)),
        "--ssl-version", str(int(ssl.PROTOCOL_TLS_SERVER)), "--ciphers", "ECDHE+AESGCM",
    )  # fmt: skip
    with gunicorn(*args) as master:
        try:  # with TLS 1.3 the client learns only when reading that it was refused
            refused, _ = tls_get(master.port, pki.client_context(with_cert=False))
        except (ssl.SSLError, ConnectionError):
            refused = b""
        response, _ = tls_get(master.port, pki.client_context(with_cert=True), "/scope")
        tls12 = pki.client_context(with_cert=True, maximum_version=ssl.TLSVersion.TLSv1_2)
        _, cipher = tls_get(master.port, tls12, "/")
    assert refused == b"", "a client without a certificate got an answer"
    assert json_body(response)["client_cert_name"].startswith("CN=client-1,")
    assert cipher.startswith("ECDHE-") and "GCM" in cipher  # --ciphers reached the context


def test_bad_certfile_stops_gunicorn_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    with gunicorn("--certfile", missing, "--keyfile", missing, ready=False) as master:
        assert master.wait() != 0
        log = master.output
    assert "nope.pem" in log
    assert "Serving on" not in log


@pytest.mark.parametrize("worker", WORKER_CLASSES)
def test_forwarded_allow_ips_trusts_only_listed_proxies(tmp_path: Path, worker: str) -> None:
    forwarded = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
    rfc7239 = 'Forwarded: for="[2001:db8::5]:4711";proto=https\r\n'
    with gunicorn(worker=worker) as master:  # Gunicorn's default trusts 127.0.0.1
        trusted = json.loads(master.request("/scope", headers=forwarded).body)
        ignored = json.loads(master.request("/scope", headers=rfc7239).body)
    # RFC 7239 Forwarded only in proxy_headers_mode "forwarded" (never both families).
    env = {"MYPKG_PROXY_HEADERS_MODE": "forwarded"}
    with gunicorn(worker=worker, env=env) as master:
        by_forwarded = json.loads(master.request("/scope", headers=forwarded + rfc7239).body)
    with gunicorn("--forwarded-allow-ips", "10.0.0.1", worker=worker) as master:
        untrusted = json.loads(master.request("/scope", headers=forwarded).body)
    assert trusted["client"] == ["203.0.113.7", 0]
    assert trusted["scheme"] == "https"
    assert ignored["client"][0] == "127.0.0.1" and ignored["scheme"] == "http"
    assert by_forwarded["client"] == ["2001:db8::5", 4711]
    assert by_forwarded["scheme"] == "https"
    assert untrusted["client"][0] == "127.0.0.1"
    assert untrusted["scheme"] == "http"


def test_empty_secure_scheme_headers_turn_proxy_headers_off(tmp_path: Path) -> None:
    config = tmp_path / "conf.py"
    config.write_text("secure_scheme_headers = {}\n")
    forwarded = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
    with gunicorn("-c", str(config)) as master:
        scope = json.loads(master.request("/scope", headers=forwarded).body)
    assert scope["client"][0] == "127.0.0.1"
    assert scope["scheme"] == "http"


def test_scheme_headers_mypkg_does_not_read_are_warned_about(tmp_path: Path) -> None:
    config = tmp_path / "conf.py"
    config.write_text("secure_scheme_headers = {'X-FORWARDED-SSL': 'on'}\n")
    with gunicorn("-c", str(config)) as master:
        assert master.request("/").status == 200
        log = master.output
    assert "X-FORWARDED-SSL will not be read" in log
