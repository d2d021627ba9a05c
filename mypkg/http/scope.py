"""The ASGI HTTP scope, built in one place for every wire protocol (HTTP/1 and HTTP/2).

Per request it is one dict display of values computed once per connection (server, client,
scheme, extensions) or per server (root path, lifespan state), the decoded path, and then the
two optional steps: the request id (--request-id-header) and the client a trusted proxy speaks
for (--proxy-headers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

from mypkg.middleware.proxy_headers import apply_proxy_headers

if TYPE_CHECKING:
    from mypkg.jsonlog import RequestIds
    from mypkg.state import ServerState

Headers = list[tuple[bytes, bytes]]


class ScopeSource(Protocol):
    """What the scope takes from a connection."""

    @property
    def state(self) -> ServerState: ...
    @property
    def server(self) -> tuple[str, int] | None: ...
    @property
    def client(self) -> tuple[str, int] | None: ...
    @property
    def scheme(self) -> str: ...
    @property
    def proxy_trusted(self) -> bool: ...


def build_scope(
    conn: ScopeSource,
    version: str,
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: Headers,
    extensions: dict[str, Any],
) -> dict[str, Any]:
    """The scope of one request; ``extensions`` is the request's own copy."""
    state = conn.state
    path = raw_path.decode("latin-1")
    if "%" in path:
        path = unquote(path)
    root_path = state.root_path
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": version,
        "server": conn.server,
        "client": conn.client,
        "scheme": conn.scheme,
        "method": method,
        "root_path": root_path,
        "path": root_path + path,
        "raw_path": state.root_path_bytes + raw_path if root_path else raw_path,
        "query_string": query,
        "headers": headers,
        "state": state.lifespan_state.copy(),
        "extensions": extensions,
    }
    if state.request_ids is not None:
        request_id(scope, headers, state.request_id_header, state.request_ids)
    if conn.proxy_trusted and state.proxy_peers is not None:
        apply_proxy_headers(scope, state.proxy_peers, state.proxy_mode)
    return scope


def request_id(
    scope: dict[str, Any],
    headers: Headers,
    name: bytes | None,
    ids: RequestIds,
) -> None:
    """--request-id-header: the client's id (or a new one) in scope["state"]["request_id"]."""
    incoming = next((value for key, value in headers if key == name), None)
    scope["state"]["request_id"] = ids.take(incoming).decode("ascii")
