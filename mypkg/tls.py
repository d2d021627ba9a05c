"""TLS at run time: quiet handshake failures and the ASGI ``tls`` scope extension.

The SSLContext itself is built from the settings while the config is checked
(mypkg/config/tlscontext.py), so a bad certificate stops startup. Per-server constants for the
scope extension (the server's own certificate as PEM, cipher ids) are computed once; per
connection we only read the handshake.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from typing import Any

logger = logging.getLogger("mypkg.error")

_WIRE_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", re.DOTALL)


# --------------------------------------------------------------------------- handshake failures


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
