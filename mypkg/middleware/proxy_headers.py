"""Proxy headers: the real client address and scheme, told by proxies we trust and nobody else.

Behind nginx or a load balancer the peer of every connection is the proxy. A trusted proxy says
who its client was in ``X-Forwarded-For`` / ``X-Forwarded-Proto`` or in RFC 7239 ``Forwarded``.
Exactly one of the two families is read (``--proxy-headers-mode``, X-Forwarded by default, as
uvicorn reads them): a proxy that sets one family usually passes the other on from the client
untouched, so reading both would let a client name itself. Each proxy appends the address it
received the request from, so the list is read right to left: the right-most address that is
*not* a trusted proxy is the client; everything left of it could have been written by the client
itself and is ignored. Headers from an untrusted peer are ignored entirely, and a malformed
header (a port that is not 0-65535 in ASCII digits, a broken ``Forwarded`` element) is ignored
as a whole: it never fails the request.

The trust list is parsed once. The server does not wrap the app in the middleware: the peer of a
connection never changes, so the HTTP protocol decides once per connection whether it is trusted
and calls ``apply_proxy_headers`` only for those requests (an untrusted peer costs nothing per
request). ``ProxyHeadersMiddleware`` applies the same logic for use from code, with any server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from mypkg.asgi import ASGI3App, Receive, Scope, Send
from mypkg.config.values import FORWARDED, XFORWARDED, parse_peers
from mypkg.config.values import PROXY_MODES as MODES

_SCHEMES = {
    "http": ("http", "ws"),
    "https": ("https", "wss"),
    "ws": ("http", "ws"),
    "wss": ("https", "wss"),
}
# One ``name=value`` pair of a Forwarded element, then the separator that follows it.
_PAIR = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)=("(?:[^"\\]|\\.)*"|[^;,\s"]*)\s*([;,]|$)')
_QUOTED = re.compile(r"\\(.)")
_X_FORWARDED = frozenset((b"x-forwarded-for", b"x-forwarded-proto"))
_CACHE_LIMIT = 1024


class TrustedPeers:
    """Addresses allowed to speak for the client: IPs, CIDR networks, ``*`` and ``unix:``."""

    __slots__ = ("_cache", "always", "hosts", "networks", "unix")

    def __init__(self, entries: str | Iterable[str]) -> None:
        if isinstance(entries, str):
            entries = [part.strip() for part in entries.split(",")]
        self.always, self.unix, self.hosts, self.networks = parse_peers(entries)
        self._cache: dict[str, bool] = {}

    def __contains__(self, host: object) -> bool:
        """Is ``host`` (an address string, or None for a UNIX-socket peer) trusted?"""
        if host is None:
            return self.unix
        if self.always or host in self.hosts:
            return True
        if not isinstance(host, str):
            return False
        cached = self._cache.get(host)
        if cached is None:
            cached = self._match(host)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[host] = cached
        return cached

    def _match(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # "unknown", an obfuscated node name, garbage: never trusted
        mapped = getattr(address, "ipv4_mapped", None)  # a dual-stack socket's IPv4 peer
        if mapped is not None:
            address = mapped
            if str(mapped) in self.hosts:
                return True
        return any(address in network for network in self.networks)


class ProxyHeadersMiddleware:
    """Rewrite ``client`` and ``scheme`` in HTTP and WebSocket scopes from trusted proxies."""

    __slots__ = ("app", "mode", "trusted")

    def __init__(
        self,
        app: ASGI3App,
        trusted_hosts: str | Iterable[str] | TrustedPeers = "127.0.0.1",
        mode: str = XFORWARDED,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.app = app
        self.mode = mode
        self.trusted = (
            trusted_hosts
            if isinstance(trusted_hosts, TrustedPeers)
            else TrustedPeers(trusted_hosts)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            client = scope.get("client")
            if (client[0] if client else None) in self.trusted:
                apply_proxy_headers(scope, self.trusted, self.mode)
        await self.app(scope, receive, send)


def apply_proxy_headers(scope: Scope, trusted: TrustedPeers, mode: str = XFORWARDED) -> None:
    """Set scope client/scheme from the proxy headers of a request that came from a trusted peer;
    ``mode`` says which family is read (the other is ignored)."""
    if mode == FORWARDED:
        _apply_forwarded(scope, trusted)
    else:
        _apply_x_forwarded(scope, trusted)


def _apply_forwarded(scope: Scope, trusted: TrustedPeers) -> None:
    forwarded = None
    for name, value in scope["headers"]:
        if name == b"forwarded":
            forwarded = _join(forwarded, value)
    if forwarded is None:
        return
    hops = parse_forwarded(forwarded.decode("latin-1"))
    if hops is None:
        return  # malformed: believe none of it
    nodes = [_split_node(hop.get("for", "unknown")) for hop in hops]
    if None in nodes:
        return
    index = _client_index([node[0] for node in nodes if node is not None], trusted)
    scope["client"] = nodes[index]
    _set_scheme(scope, hops[index].get("proto"))


def _apply_x_forwarded(scope: Scope, trusted: TrustedPeers) -> None:
    forwarded_for = forwarded_proto = None
    for name, value in scope["headers"]:
        if name not in _X_FORWARDED:  # one set lookup for the headers that are not ours
            continue
        if name == b"x-forwarded-for":
            forwarded_for = _join(forwarded_for, value)
        else:
            forwarded_proto = _join(forwarded_proto, value)
    index = -1
    hosts: list[str] = []
    if forwarded_for is not None:
        nodes = [_split_node(part) for part in forwarded_for.decode("latin-1").split(",")]
        if None in nodes:
            return  # malformed: believe none of it, the scheme included
        hosts = [node[0] for node in nodes if node is not None]
        index = _client_index(hosts, trusted)
        scope["client"] = (hosts[index], 0)
    if forwarded_proto is not None:
        protos = forwarded_proto.decode("latin-1").split(",")
        # Each proxy appends both headers, so entry i of one matches entry i of the other.
        _set_scheme(scope, protos[index] if len(protos) == len(hosts) else protos[-1])


def _join(previous: bytes | None, value: bytes) -> bytes:
    return value if previous is None else previous + b"," + value


def _client_index(hosts: list[str], trusted: TrustedPeers) -> int:
    """The right-most host that is not a trusted proxy; the left-most if all of them are."""
    for index in range(len(hosts) - 1, 0, -1):
        if hosts[index] not in trusted:
            return index
    return 0


def _set_scheme(scope: Scope, proto: str | None) -> None:
    if proto is None:
        return
    schemes = _SCHEMES.get(proto.strip().lower())
    if schemes is not None:
        scope["scheme"] = schemes[scope["type"] == "websocket"]


def parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """RFC 7239 ``Forwarded``: one dict per hop (lowercased names), or None if malformed."""
    hops: list[dict[str, str]] = [{}]
    position, end = 0, len(value)
    while position < end:
        match = _PAIR.match(value, position)
        if match is None or match.end() == position:
            return None
        name, raw, separator = match.groups()
        if raw.startswith('"'):
            raw = _QUOTED.sub(r"\1", raw[1:-1])
        hops[-1][name.lower()] = raw
        position = match.end()
        if separator == ",":
            hops.append({})
    return hops if hops[-1] else None


def _split_node(node: str) -> tuple[str, int] | None:
    """``1.2.3.4``, ``1.2.3.4:80``, ``[2001:db8::1]:443`` or ``::1`` -> (host, port or 0);
    None when a port is given that is not 0-65535 in ASCII digits ("²".isdigit() is true)."""
    node = node.strip()
    if node.startswith("["):
        host, _, rest = node[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif node.count(":") == 1:
        host, _, port = node.partition(":")
    else:
        host, port = node, ""
    if not port:
        return host, 0
    if not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        return None
    return host, int(port)
