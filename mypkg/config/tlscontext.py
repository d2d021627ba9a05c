"""The TLS settings made into one SSLContext, checked before anything binds or forks.

The context is built (and every file in it read) while the config is checked, so a missing
certificate or a wrong key password stops startup with one line naming the setting instead of
failing on the first connection.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

from mypkg.config.values import CERT_REQS, MIN_VERSIONS
from mypkg.errors import ConfigError

if TYPE_CHECKING:
    from mypkg.config.settings import Settings

logger = logging.getLogger("mypkg.error")


def build_context(config: Settings) -> ssl.SSLContext | None:
    """The server's SSLContext, or None without --ssl-certfile; ConfigError names the setting."""
    certfile = config.ssl_certfile
    if certfile is None:
        _refuse_orphans(config)
        return None
    keyfile, ca_certs = config.ssl_keyfile, config.ssl_ca_certs
    _check_readable("--ssl-certfile", certfile)
    if keyfile is not None:
        _check_readable("--ssl-keyfile", keyfile)
    if ca_certs is not None:
        _check_readable("--ssl-ca-certs", ca_certs)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSIONS[config.ssl_version]
    password = config.ssl_keyfile_password
    try:
        # A callable, so that OpenSSL never prompts on the terminal for an encrypted key.
        context.load_cert_chain(certfile, keyfile, password=lambda: password or "")
    except ssl.SSLError as exc:
        raise ConfigError(_explain_chain_error(exc, certfile, keyfile, password)) from None
    verify = CERT_REQS[config.ssl_cert_reqs]
    if verify != ssl.CERT_NONE and ca_certs is None:
        raise ConfigError(
            f"--ssl-cert-reqs {config.ssl_cert_reqs} needs --ssl-ca-certs"
            " (the CA certificates that sign client certificates)"
        )
    if ca_certs is not None:
        try:
            context.load_verify_locations(cafile=ca_certs)
        except ssl.SSLError:
            raise ConfigError(f"--ssl-ca-certs: {ca_certs} holds no PEM certificate") from None
    context.verify_mode = verify
    if config.ssl_ciphers:
        try:
            context.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise ConfigError(f"--ssl-ciphers: no cipher matches {config.ssl_ciphers!r}") from None
    context.set_alpn_protocols(["http/1.1"])
    context.sslobject_class = HandshakeLoggingSSLObject
    return context


def _refuse_orphans(config: Settings) -> None:
    """A TLS option without a certificate would silently serve plain HTTP: say so instead."""
    for name in ("ssl_keyfile", "ssl_keyfile_password", "ssl_ca_certs", "ssl_ciphers"):
        if getattr(config, name):
            raise ConfigError(f"--{name.replace('_', '-')} needs --ssl-certfile (TLS is off)")
    if config.ssl_cert_reqs != "none":
        raise ConfigError("--ssl-cert-reqs needs --ssl-certfile (TLS is off)")


def _check_readable(flag: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag}: cannot read {path}: {exc.strerror or exc}") from None


def _explain_chain_error(
    exc: ssl.SSLError, certfile: str, keyfile: str | None, password: str | None
) -> str:
    """OpenSSL says 'PEM lib' for every failure here; find out which file is wrong."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=certfile)
    except ssl.SSLError:
        return f"--ssl-certfile: {certfile} holds no PEM certificate"
    key_path = keyfile or certfile
    with open(key_path, "rb") as file:
        pem = file.read()
    if keyfile is None and b"PRIVATE KEY" not in pem:
        return f"--ssl-certfile: {certfile} holds no private key; give it with --ssl-keyfile"
    if b"ENCRYPTED" in pem:
        if password is None:
            return (
                f"--ssl-keyfile: the key in {key_path} is encrypted;"
                " give its password with --ssl-keyfile-password"
            )
        return f"--ssl-keyfile-password: wrong password for the key in {key_path}"
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"--ssl-keyfile: the key in {key_path} does not match the certificate in {certfile}"
    flag = "--ssl-keyfile" if keyfile else "--ssl-certfile"
    return f"{flag}: {key_path} holds no usable PEM private key"


# --------------------------------------------------------------------------- handshake failures


class HandshakeLoggingSSLObject(ssl.SSLObject):
    """Logs a failed handshake at debug: asyncio and uvloop drop it silently (or, in debug mode,
    with a traceback), and a port scanner or a plain-HTTP client is not worth more than that."""

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            logger.debug("TLS handshake failed: %s", exc.reason or exc)
            raise
