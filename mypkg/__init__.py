"""mypkg: a production ASGI server (HTTP/1.1 and WebSockets on asyncio)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def run(app: Any, **kwargs: Any) -> None:
    """Serve ``app`` ("module:attr" or the callable itself) with settings given as keywords."""
    from mypkg.cli import serve

    serve(Config(app, **kwargs))


from mypkg.config import Config  # noqa: E402
from mypkg.server import Server  # noqa: E402

__all__ = ["Config", "Server", "__version__", "run"]
