"""Which implementations serve: the HTTP parser backend for --http and the event loop for --loop.

Below ``server`` and ``banner`` (both ask it), so that saying what runs never imports what serves.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from mypkg.errors import ConfigError


def protocol_class(http: str) -> type[asyncio.Protocol]:
    """The HTTP backend class for the --http setting."""
    if http in ("auto", "httptools"):
        try:
            from mypkg.http.httptools_impl import HttptoolsProtocol
        except ImportError:
            if http == "httptools":
                raise ConfigError(
                    "--http httptools: the httptools package is not installed"
                ) from None
        else:
            return HttptoolsProtocol
    from mypkg.http.h11_impl import H11Protocol

    return H11Protocol


def loop_factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's or asyncio's event loop constructor, as the --loop setting says."""
    if loop in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                raise ConfigError("--loop uvloop: the uvloop package is not installed") from None
        else:
            factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
            return factory
    return asyncio.new_event_loop


def run_loop(main: Coroutine[Any, Any, None], loop: str) -> None:
    """Run ``main`` on uvloop or asyncio's own loop, as the --loop setting says."""
    try:
        factory = loop_factory(loop)
    except ConfigError:
        main.close()
        raise
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main)
    else:  # pragma: no cover - Python 3.10
        event_loop = factory()
        asyncio.set_event_loop(event_loop)
        try:
            event_loop.run_until_complete(main)
        finally:
            event_loop.close()
