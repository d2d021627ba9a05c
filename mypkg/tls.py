"""TLS: one SSLContext per server built from the settings, and the ASGI ``tls`` scope extension.

The context is built (and every file in it read) while the config is checked, so a missing
certificate or a wrong key password stops startup with one line naming the setting instead of
failing on the first connection. Per-server constants for the scope extension (the server's own
certificate as PEM, cipher ids) are computed once; per connection we only read the handshake.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from typing import TYPE_CHECKING, Any

from mypkg.errors import ConfigError

if TYPE_CHECKING:
    from mypkg.config import Config

logger = logging.getLogger("mypkg.error")

MIN_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# uvicorn and Gunicorn take an ssl.PROTOCOL_* number; those that negotiate the best version
# mean our default. PROTOCOL_TLSv1 (3) and PROTOCOL_TLSv1_1 (4) are refused, not weakened to.
_PROTOCOL_NUMBERS = {2: "TLSv1.2", 5: "TLSv1.2", 16: "TLSv1.2", 17: "TLSv1.2"}
CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_WIRE_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", re.DOTALL)


# --------------------------------------------------------------------------- setting parsers


def tls_version(value: object) -> str:
    """``TLSv1.2`` or ``TLSv1.3`` (the minimum), or an ssl.PROTOCOL_* number as uvicorn takes."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value in _PROTOCOL_NUMBERS:
            return _PROTOCOL_NUMBERS[value]
        raise ValueError(f"ssl.PROTOCOL_* number {value} is not supported: use TLSv1.2 or TLSv1.3")
    if value in MIN_VERSIONS:
        return str(value)
    raise ValueError(f"expected TLSv1.2 or TLSv1.3, got {value!r}")


tls_version.options = tuple(MIN_VERSIONS)  # type: ignore[attr-defined]


def cert_reqs(value: object) -> str:
    """``none``, ``optional`` or ``required``; uvicorn's and Gunicorn's 0, 1, 2 mean the same."""
    names = list(CERT_REQS)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if value in CERT_REQS:
        return str(value)
    raise ValueError(f"expected none, optional or required (or 0, 1, 2), got {value!r}")


cert_reqs.options = tuple(CERT_REQS)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the context


def build_context(config: Config) -> ssl.SSLContext | None:
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


def _refuse_orphans(config: Config) -> None:
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


def quiet_tls_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Loop exception handler: TLS failures a client causes become one debug line, no traceback.

    Everything else goes to the loop's default handler unchanged.
    """
    exc = context.get("exception")
    message = str(context.get("message", ""))
    if isinstance(exc, ssl.SSLError) or (isinstance(exc, OSError) and "SSL" in message):
        logger.debug("TLS error: %s: %s", message, exc)
        return
    loop.default_exception_handler(context)


# --------------------------------------------------------------------------- the scope extension


class TlsInfo:
    """Per-server constants of the ASGI ``tls`` extension, computed once from the context."""

    __slots__ = ("cipher_ids", "server_cert")

    def __init__(self, context: ssl.SSLContext, certfile: str) -> None:
        with open(certfile, encoding="ascii", errors="replace") as file:
            match = _PEM_CERT.search(file.read())
        self.server_cert = match.group(0) if match else None
        # IANA cipher suite numbers are the low 16 bits of OpenSSL's ids.
        self.cipher_ids = {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}

    def extension(self, ssl_object: ssl.SSLObject) -> dict[str, Any]:
        """The ``tls`` extension for one connection, read once after its handshake."""
        chain = client_chain(ssl_object)
        cipher = ssl_object.cipher()
        version = ssl_object.version()
        return {
            "server_cert": self.server_cert,
            "client_cert_chain": chain,
            "client_cert_name": rfc4514_name(ssl_object.getpeercert()) if chain else None,
            "client_cert_error": None,  # a certificate that fails verification fails the handshake
            "tls_version": _WIRE_VERSIONS.get(version) if version else None,
            "cipher_suite": self.cipher_ids.get(cipher[0]) if cipher else None,
        }


def client_chain(ssl_object: ssl.SSLObject) -> list[str]:
    """The client's certificates as PEM, its own first. Before Python 3.13 only that one."""
    der = ssl_object.getpeercert(binary_form=True)
    if not der:  # asked first: 3.13.0's get_unverified_chain raises when the client sent none
        return []
    get_chain = getattr(ssl_object, "get_unverified_chain", None)
    if get_chain is not None:  # Python 3.13+
        return [ssl.DER_cert_to_PEM_cert(cert) for cert in get_chain() or ()]
    return [ssl.DER_cert_to_PEM_cert(der)]


_SHORT_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def rfc4514_name(cert: Any) -> str | None:
    """The subject as an RFC 4514 string (most specific RDN first, specials escaped)."""
    if not cert or "subject" not in cert:
        return None
    rdns = []
    for rdn in reversed(cert["subject"]):
        rdns.append("+".join(f"{_SHORT_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn))
    return ",".join(rdns)


def _escape(value: str) -> str:
    escaped = re.sub(r'([,+"\\<>;])', r"\\\1", value)
    if escaped.startswith(("#", " ")):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped
