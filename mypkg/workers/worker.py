"""``gunicorn -k mypkg.workers.AsgiWorker``: mypkg's server inside Gunicorn's pre-fork master.

Gunicorn's master binds the sockets, forks, watches heartbeats and replaces workers; this class
only turns Gunicorn's settings into a mypkg ``Config`` (through the one table in ``mapping.py``)
and runs ``Server(config).serve(sockets)`` on an event loop it owns. The heartbeat comes from the
server's own ticker, so a blocked loop stops it and Gunicorn notices.

Signals, as Gunicorn defines them for a worker: TERM drains gracefully (in-flight requests finish,
keep-alive connections close, lifespan shutdown runs) within graceful_timeout; INT and QUIT cut
connections and exit within a second; USR1 reopens log files; ABRT (Gunicorn's timeout) logs the
stack where the loop was stuck. TERM/INT/QUIT/USR1 are loop signal handlers that only set flags
and ask the server to stop; ABRT must interrupt a blocked loop, so it is a plain signal handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any, ClassVar

from gunicorn.errors import AppImportError
from gunicorn.workers.base import Worker

from mypkg.config import Config
from mypkg.config.descriptor import SETTINGS
from mypkg.config.sources import from_environ
from mypkg.errors import AppLoadError, ConfigError, StartupError
from mypkg.server import Server, loop_factory, protocol_class
from mypkg.workers import hooks, logs, mapping

WORKER_BOOT_ERROR = 3  # Gunicorn's Arbiter.WORKER_BOOT_ERROR: the master stops instead of looping
QUICK_EXIT_BUDGET = 0.7  # seconds a QUIT/INT gives lifespan shutdown before the loop is cut short
CLEANUP_BUDGET = 1.0  # seconds for leftover tasks and the default executor after serving
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
# mypkg settings that mean nothing under Gunicorn (it binds and forks): their MYPKG_* variables
# are ignored with a warning, as are those of settings the table maps from Gunicorn's.
_GUNICORN_OWNED_SECTIONS = ("Sockets", "Processes", "Supervisor", "Server hooks")


class AsgiWorker(Worker):  # type: ignore[misc]  # gunicorn is untyped
    """Gunicorn worker running mypkg (uvloop and httptools when installed)."""

    FORCED: ClassVar[dict[str, object]] = {}  # mypkg settings a subclass always uses

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server: Server | None = None
        self.new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
        self.quick = False
        self.aborting = False
        self._early_signals: list[int] = []
        self._main_task: asyncio.Task[None] | None = None

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
        signal.signal(signal.SIGABRT, self._on_abort)

    def _remember_signal(self, sig: int, frame: FrameType | None) -> None:
        self._early_signals.append(sig)
        if sig in STOP_SIGNALS:
            self.alive = False

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
        self.server = Server(config)
        self.server.app = self.wsgi
        if config.metrics_bind is not None:  # the workers sum their figures through files
            from mypkg.metrics import SharedFigures

            directory = self.cfg.worker_tmp_dir or tempfile.gettempdir()
            self.server.shared_figures = SharedFigures(f"{directory}/mypkg-metrics-{self.ppid}")

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
        loop = self.new_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        except StartupError as exc:  # lifespan startup failed: stop Gunicorn rather than respawn
            self.log.error("%s", exc)
            sys.exit(WORKER_BOOT_ERROR)
        finally:
            self._close_loop(loop)

    async def _main(self) -> None:
        assert self.server is not None
        loop = asyncio.get_running_loop()
        self._main_task = asyncio.current_task()
        loop.add_signal_handler(signal.SIGTERM, self._on_term)
        loop.add_signal_handler(signal.SIGINT, self._on_quit)
        loop.add_signal_handler(signal.SIGQUIT, self._on_quit)
        loop.add_signal_handler(signal.SIGUSR1, self._on_usr1)
        early, self._early_signals = self._early_signals, []
        if signal.SIGUSR1 in early:
            self._on_usr1()
        if any(sig in STOP_SIGNALS for sig in early):
            if signal.SIGTERM not in early:
                self._call_hook(self.cfg.worker_int, "worker_int")
            self.log.info("Stop signal received while booting; exiting without serving")
            return
        sockets = [listener.sock for listener in self.sockets]
        try:
            await self.server.serve(
                sockets, install_signal_handlers=False, on_tick=self._tick, announce=False
            )
            self.server.publish_figures()  # the last ones: nothing served is lost from the sum
        except asyncio.CancelledError:
            if not self.quick:
                raise
            self.log.warning("Quick exit: lifespan shutdown cut short")

    def _tick(self) -> None:
        """Called by the server's ticker on the event loop: the heartbeat, plus exit checks."""
        self.notify()
        assert self.server is not None
        self.server.publish_figures()
        state = self.server.state
        if state is not None and self.timeout and state.tick_interval > self.timeout / 2:
            # Gunicorn gives a worker self.timeout (half its --timeout) between heartbeats.
            state.tick_interval = max(0.05, self.timeout / 2)
        if self.alive and self.ppid == os.getppid():
            return
        if not self.server.stopping and not self.server.delaying:
            if self.alive:
                self.log.info("Parent changed, shutting down: %s", self)
            self.alive = False
            self.server.request_exit()  # the reloader (or a lost parent) asked us to go

    def _close_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel what the app left running and stop the executor, briefly; then close."""
        try:
            loop.run_until_complete(_finish_leftovers(fast=self.quick or self.aborting))
        except Exception:
            self.log.debug("Error while cancelling leftover tasks", exc_info=True)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    # ------------------------------------------------------------------ signals
    def _on_term(self) -> None:
        assert self.server is not None
        self.alive = False
        if not self.server.stopping:  # a second TERM must not turn a drain into a cut
            self.log.info("Worker received SIGTERM: finishing in-flight requests")
            self.server.request_exit_after_delay()

    def _on_quit(self) -> None:
        assert self.server is not None
        if self.quick:
            return
        self.quick = True
        self.alive = False
        self._call_hook(self.cfg.worker_int, "worker_int")
        self.server.request_exit(force=True)
        asyncio.get_running_loop().call_later(QUICK_EXIT_BUDGET, self._cut_short)

    def _call_hook(self, hook: Callable[[Any], object], name: str) -> None:
        try:
            hook(self)
        except Exception:
            self.log.exception("Exception in %s hook", name)

    def _cut_short(self) -> None:
        task = self._main_task
        if task is not None and not task.done():
            task.cancel()

    def _on_usr1(self) -> None:
        self.log.reopen_files()

    def _on_abort(self, sig: int, frame: FrameType | None) -> None:
        """Gunicorn's timeout: the loop stopped ticking. Say where it is stuck, then exit."""
        self.alive = False
        self.aborting = True
        stack = "".join(traceback.format_stack(frame)) if frame else "(no frame)\n"
        self.log.critical(
            "WORKER TIMEOUT (pid:%s): the event loop was blocked; the main thread was at:\n%s",
            os.getpid(),
            stack.rstrip(),
        )
        self.cfg.worker_abort(self)
        sys.exit(1)


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


async def _finish_leftovers(fast: bool) -> None:
    """Cancel tasks the app left behind and shut the default executor down, within a budget."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    budget = 0.1 if fast else CLEANUP_BUDGET
    if tasks:
        await asyncio.wait(tasks, timeout=budget)
    if fast:
        return
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.shutdown_asyncgens(), budget)
    with contextlib.suppress(asyncio.TimeoutError):  # a busy thread is left to Gunicorn's SIGKILL
        await asyncio.wait_for(loop.shutdown_default_executor(), budget)
