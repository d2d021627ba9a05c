"""Importing the app by name and adapting it to ASGI 3 (from ASGI 2 or WSGI).

Above the adapters (``asgi``, ``wsgi``), below the config that names the app: nothing in the
serving path imports it.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

from mypkg.asgi import ASGI2Adapter, ASGI3App
from mypkg.errors import AppLoadError


def import_from_string(target: str) -> Any:
    """Import ``module:attr.attr``; every failure becomes a one-line AppLoadError."""
    module_name, sep, attrs = target.partition(":")
    if not sep or not module_name or not attrs:
        raise AppLoadError(f"app {target!r} must be given as 'module:attribute', e.g. 'main:app'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise AppLoadError(
                f"could not import module {module_name!r} (from {target!r})"
            ) from None
        # Something the app imports is missing: its traceback (the cause) is the useful part.
        raise AppLoadError(f"error while importing {module_name!r}: {exc}") from exc
    except Exception as exc:
        raise AppLoadError(
            f"error while importing {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    instance: Any = module
    try:
        for attr in attrs.split("."):
            instance = getattr(instance, attr)
    except AttributeError:
        raise AppLoadError(f"module {module_name!r} has no attribute {attrs!r}") from None
    return instance


def load_app(
    target: str | Any, *, factory: bool, app_dir: str, interface: str, wsgi_threads: int = 10
) -> ASGI3App:
    """The app as an ASGI 3 callable, whatever it was given as."""
    if isinstance(target, str):
        if app_dir not in sys.path:
            sys.path.insert(0, app_dir)
        app = import_from_string(target)
        name = target
    else:
        app, name = target, repr(target)
    if factory:
        if not callable(app):
            raise AppLoadError(f"app factory {name} is not callable")
        try:
            app = app()
        except Exception as exc:
            raise AppLoadError(f"app factory {name} raised {type(exc).__name__}: {exc}") from exc
    if interface == "auto":
        interface = detect_interface(app, name)
    if interface == "asgi2":
        return ASGI2Adapter(app)
    if interface == "wsgi":
        from mypkg.wsgi import WSGIAdapter  # its thread pool machinery only for WSGI apps

        return WSGIAdapter(app, wsgi_threads)
    result: ASGI3App = app
    return result


def detect_interface(app: Any, name: str) -> str:
    """ASGI 3 is ``async def app(scope, receive, send)``; ASGI 2 is ``app(scope) -> instance``."""
    if inspect.isclass(app):
        return "asgi3" if hasattr(app, "__await__") else "asgi2"
    if not callable(app):
        raise AppLoadError(f"{name} is not an ASGI application: it is not callable")
    is_plain = inspect.isfunction(app) or inspect.ismethod(app)
    call = app if is_plain else app.__call__
    if inspect.iscoroutinefunction(call):
        return "asgi3"
    try:
        params = inspect.signature(call).parameters
    except (TypeError, ValueError):
        return "asgi3"
    positional = [
        p for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) == 1:
        return "asgi2"
    if len(positional) == 2:
        raise AppLoadError(
            f"{name} looks like a WSGI application (it takes environ, start_response):"
            " serve it with --interface wsgi"
        )
    raise AppLoadError(
        f"{name} is not an ASGI application: expected 'async def app(scope, receive, send)'"
    )
