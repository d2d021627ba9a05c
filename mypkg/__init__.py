"""mypkg: a production ASGI server (HTTP/1.1 and WebSockets on asyncio)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def run(app: Any, **kwargs: Any) -> None:
    """Serve ``app`` ("module:attr" or the callable itself) with settings given as keywords."""
    from mypkg.cli import serve
    from mypkg.logging import configure_logging

    config = Config(app, **kwargs)
    configure_logging(config.log_level, config.access_log, config.log_config, config.use_colors)
    serve(config)


from mypkg.config import Config  # noqa: E402
from mypkg.server import Server  # noqa: E402

__all__ = ["Config", "Server", "__version__", "run"]
