"""``gunicorn -k mypkg.workers.AsgiWorker``: mypkg's server inside Gunicorn's pre-fork master.

Gunicorn's master binds the sockets, forks, watches heartbeats and replaces workers; this class
only turns Gunicorn's settings into a mypkg ``Config`` (through the one table in ``mapping.py``)
and hands over to the worker runtime (``mypkg.runtime``, as mypkg's own master does), which runs
``Server(config).serve(sockets)`` on an event loop it owns. ``GunicornRuntime`` fills in what is
Gunicorn's own: the heartbeat (``notify``, so a blocked loop stops it and Gunicorn notices), the
figures shared through files, the worker_int / worker_abort hooks and the reloader's exit request.

Signals, as Gunicorn defines them for a worker: TERM drains gracefully (in-flight requests finish,
keep-alive connections close, lifespan shutdown runs) within graceful_timeout; INT and QUIT cut
connections and exit within a second; USR1 reopens log files; ABRT (Gunicorn's timeout) logs the
stack where the loop was stuck. TERM/INT/QUIT/USR1 are loop signal handlers that only set flags
and ask the server to stop; ABRT must interrupt a blocked loop, so it is a plain signal handler.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any, ClassVar, NoReturn

from gunicorn.errors import AppImportError
from gunicorn.workers import base

from mypkg.backends import loop_factory, protocol_class
from mypkg.config import Config
from mypkg.config.descriptor import SETTINGS
from mypkg.config.sources import from_environ
from mypkg.errors import AppLoadError, ConfigError, StartupError
from mypkg.runtime import WorkerRuntime, install_abort_handler
from mypkg.server import Server
from mypkg.workers import hooks, logs, mapping

WORKER_BOOT_ERROR = 3  # Gunicorn's Arbiter.WORKER_BOOT_ERROR: the master stops instead of looping
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
# mypkg settings that mean nothing under Gunicorn (it binds and forks): their MYPKG_* variables
# are ignored with a warning, as are those of settings the table maps from Gunicorn's.
_GUNICORN_OWNED_SECTIONS = ("Sockets", "Processes", "Supervisor", "Server hooks")


class AsgiWorker(base.Worker):  # type: ignore[misc]  # gunicorn is untyped
    """Gunicorn worker running mypkg (uvloop and httptools when installed)."""

    FORCED: ClassVar[dict[str, object]] = {}  # mypkg settings a subclass always uses

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runtime: GunicornRuntime | None = None
        self.new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        self._early_signals: list[int] = []

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Called once in the master: warn about Gunicorn settings this worker ignores."""
        for line in mapping.warnings(cfg):
            log.warning("%s", line)

    # ------------------------------------------------------------------ boot (in the child)
    def init_signals(self) -> None:
        """Before the loop exists: remember stop signals rather than die mid-import."""
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        for sig in (*STOP_SIGNALS, signal.SIGUSR1):
            signal.signal(sig, self._remember_signal)
        signal.signal(signal.SIGWINCH, signal.SIG_IGN)
        install_abort_handler("Gunicorn's timeout", self._abort)

    def _remember_signal(self, sig: int, frame: FrameType | None) -> None:
        self._early_signals.append(sig)
        if sig in STOP_SIGNALS:
            self.alive = False

    def _abort(self) -> NoReturn:
        """After the stack dump: Gunicorn's worker_abort hook, then exit as its workers do."""
        self.alive = False
        self.cfg.worker_abort(self)
        sys.exit(1)

    def load_wsgi(self) -> None:
        """Import the app with Gunicorn's loader and build the Config; failures are boot errors."""
        logs.route(self.log, self.cfg)
        try:
            config = build_config(self)
            if config.log_format == "json":
                logs.json_lines(self.log)
            config.app_object = self._import_app()
            app = config.load_app()
            self.new_loop = loop_factory(config.loop)
            parser = protocol_class(config.http).__name__
        except AppLoadError as exc:
            raise AppImportError(str(exc)) from None  # Gunicorn stops with "App failed to load"
        except ConfigError as exc:
            self.log.error("%s", exc)
            sys.exit(WORKER_BOOT_ERROR)
        loop = "uvloop" if self.new_loop.__module__.startswith("uvloop") else "asyncio"
        self.log.info("mypkg worker: %s on %s", parser, loop)
        self.wsgi = hooks.wrap(app, self, mapping.is_default)
        server = Server(config)
        server.app = self.wsgi
        if config.metrics_bind is not None:  # the workers sum their figures through files
            from mypkg.metrics import SharedFigures

            directory = self.cfg.worker_tmp_dir or tempfile.gettempdir()
            server.shared_figures = SharedFigures(f"{directory}/mypkg-metrics-{self.ppid}")
        self.runtime = GunicornRuntime(self, server)

    def _import_app(self) -> Any:
        """Gunicorn's loader (wsgi_app, preload_app, ``module:factory()``). Under --reload, a
        SyntaxError is served as a 500 until the file is fixed, as Gunicorn's workers do."""
        try:
            return self.app.wsgi()
        except SyntaxError as exc:
            if not self.cfg.reload:
                raise
            self.log.exception("SyntaxError while importing the app; serving it as a 500")
            if self.reloader is not None and exc.filename:
                self.reloader.add_extra_file(exc.filename)
            return syntax_error_app("".join(traceback.format_exception_only(exc)))

    # ------------------------------------------------------------------ serving
    def run(self) -> None:
        assert self.runtime is not None
        try:
            self.runtime.run(self._main(self.runtime), self.new_loop)
        except StartupError as exc:  # lifespan startup failed: stop Gunicorn rather than respawn
            self.log.error("%s", exc)
            sys.exit(WORKER_BOOT_ERROR)

    async def _main(self, runtime: GunicornRuntime) -> None:
        runtime.install_signal_handlers()
        early, self._early_signals = self._early_signals, []
        if signal.SIGUSR1 in early:
            runtime.reopen_logs()
        if any(sig in STOP_SIGNALS for sig in early):
            if signal.SIGTERM not in early:
                self.call_hook(self.cfg.worker_int, "worker_int")
            self.log.info("Stop signal received while booting; exiting without serving")
            return
        await runtime.serve([listener.sock for listener in self.sockets])

    def call_hook(self, hook: Callable[[Any], object], name: str) -> None:
        try:
            hook(self)
        except Exception:
            self.log.exception("Exception in %s hook", name)


class GunicornRuntime(WorkerRuntime):
    """The worker runtime under Gunicorn: its heartbeat (``notify``, the worker tmp file), the
    figures shared through files, its hooks and its reloader's exit request."""

    def __init__(self, worker: AsgiWorker, server: Server) -> None:
        super().__init__(server, worker.ppid)
        self.worker = worker

    def beat(self) -> None:
        self.worker.notify()
        self.server.publish_figures()
        state = self.server.state
        timeout = self.worker.timeout
        if state is not None and timeout and state.tick_interval > timeout / 2:
            # Gunicorn gives a worker self.timeout (half its --timeout) between heartbeats.
            state.tick_interval = max(0.05, timeout / 2)

    def report(self) -> None:
        self.server.publish_figures()

    def on_stop(self, quick: bool) -> None:
        self.worker.alive = False
        if quick:
            self.worker.call_hook(self.worker.cfg.worker_int, "worker_int")

    def reopen_logs(self) -> None:
        self.worker.log.reopen_files()

    def reason_to_leave(self) -> str:
        if not self.worker.alive:  # set by Gunicorn's reloader thread
            return "Gunicorn asked the worker to exit"
        return super().reason_to_leave()


class AsgiH11Worker(AsgiWorker):
    """Gunicorn worker running mypkg on pure Python: the h11 parser and asyncio's own loop."""

    FORCED: ClassVar[dict[str, object]] = {"http": "h11", "loop": "asyncio"}


def syntax_error_app(message: str) -> Callable[..., Any]:
    """An ASGI app answering every HTTP request with 500 and the error (development only)."""
    body = f"The application could not be imported:\n\n{message}".encode()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [(b"content-type", b"text/plain; charset=utf-8")]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})

    return app


def build_config(worker: Any) -> Config:
    """Gunicorn's settings through the table, over MYPKG_* variables (and MYPKG_CONFIG's file)."""
    values = mapping.translate(worker)
    values.update(getattr(worker, "FORCED", {}))
    for line in ignored_variables(os.environ, values):
        worker.log.warning("%s", line)
    config = Config.from_sources(values, os.environ)
    delay = config.shutdown_delay
    if delay > 0:  # Gunicorn's SIGKILL comes graceful_timeout after SIGTERM: delay + drain fit
        drain = config.timeout_graceful_shutdown
        if delay >= drain:
            worker.log.warning(
                "MYPKG_SHUTDOWN_DELAY=%g leaves no time to drain within graceful_timeout", delay
            )
        config.timeout_graceful_shutdown = max(0.0, drain - delay)
    return config


def ignored_variables(environ: Any, values: dict[str, object]) -> list[str]:
    """A line for each MYPKG_* variable that Gunicorn's settings override or make meaningless."""
    sources = {row.target: name for name, row in mapping.TABLE.items() if row.target}
    lines = []
    for name in from_environ(environ):
        setting = SETTINGS[name]
        if name in values:
            origin = sources.get(name, "the worker class")
            lines.append(f"{setting.env} is ignored under Gunicorn: {origin} sets {name}")
        elif setting.section in _GUNICORN_OWNED_SECTIONS or name in ("app", "app_dir"):
            lines.append(f"{setting.env} is ignored under Gunicorn, which binds and forks")
    return lines
