"""mypkg: a production ASGI server (HTTP/1.1 and WebSockets on asyncio)."""

from __future__ import annotations

from typing import Any

from mypkg import compiled

compiled.use_source_if_stale()  # before any compiled module is imported: see compiled.py

from mypkg.version import __version__  # noqa: E402


def run(app: Any, **kwargs: Any) -> None:
    """Serve ``app`` ("module:attr" or the callable itself) with settings given as keywords.

    Behaves as the CLI does: logging is set up as ``mypkg.server.setup_logging`` says, and a
    failure (bad setting 2, app not importable 3, startup or bind 4, a worker that cannot boot)
    raises ``SystemExit`` with the CLI's exit code after one message, as ``uvicorn.run`` does.
    """
    from mypkg.cli import execute
    from mypkg.server import setup_logging

    def load() -> Config:
        config = Config(app, **kwargs)
        setup_logging(config)
        return config

    code = execute(load, reread=lambda: Config(app, **kwargs))
    if code:
        raise SystemExit(code)


from mypkg.config import Config  # noqa: E402
from mypkg.server import Server  # noqa: E402

__all__ = ["Config", "Server", "__version__", "run"]
