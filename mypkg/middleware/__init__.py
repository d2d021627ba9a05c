"""ASGI middleware that mypkg applies itself and that is usable from code with any server."""

from mypkg.middleware.debug import DebugMiddleware
from mypkg.middleware.proxy_headers import ProxyHeadersMiddleware, TrustedPeers

__all__ = ["DebugMiddleware", "ProxyHeadersMiddleware", "TrustedPeers"]
