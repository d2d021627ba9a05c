"""A worker process: what a forked child does, from fork to ``os._exit``.

It becomes a worker (title, signals, identity), loads the app unless the master preloaded it,
and hands over to the worker runtime (``mypkg.runtime``), which serves on the sockets inherited
from the master. What is this manager's own stays here: the heartbeat in shared memory, and the
channel through which the master hears of readiness, figures, recycling and boot failures.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import NoReturn

from setproctitle import setproctitle

from mypkg.asgi import ASGI3App
from mypkg.backends import loop_factory, protocol_class
from mypkg.config import Config
from mypkg.errors import EXIT_STARTUP, AppLoadError, ConfigError, StartupError
from mypkg.runtime import WorkerRuntime, install_abort_handler
from mypkg.server import Server
from mypkg.supervisor.channel import Channel
from mypkg.supervisor.heartbeat import Heartbeat
from mypkg.supervisor.hooks import Hooks, HookWorker
from mypkg.supervisor.privileges import Identity

logger = logging.getLogger("mypkg.error")

EXIT_CRASHED = 1  # an unexpected exception after the worker was serving
EXIT_ABORTED = 6  # the master's SIGABRT: the event loop was blocked too long
REPORT_INTERVAL = 0.25  # seconds between a worker's /metrics reports to the master

# Until it serves, a worker dies of TERM/QUIT (it has nothing to drain) and ignores the rest:
# SIGINT from a terminal's Ctrl-C reaches every process of the group, but only the master acts.
_IGNORED = (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGTTIN, signal.SIGTTOU)
_DEFAULT = (signal.SIGTERM, signal.SIGQUIT, signal.SIGCHLD, signal.SIGWINCH)


@dataclass
class WorkerSpec:
    """Everything the master hands a child at fork."""

    config: Config
    sockets: list[socket.socket]
    channel: Channel
    heartbeat: Heartbeat
    identity: Identity
    title: str
    master_pid: int
    app: ASGI3App | None = None  # preloaded by the master (--preload)
    max_requests: int | None = None  # --limit-max-requests plus this worker's jitter
    close_fds: list[int] = field(default_factory=list)  # the master's own descriptors
    hooks: Hooks | None = None  # server hooks from the config (post_fork, worker_exit, ...)
    # The signal mask to restore once the child's own dispositions are set (pool.py blocks
    # signals across the fork); None: the mask is left as it is.
    signal_mask: set[int | signal.Signals] | None = None


def run_worker(spec: WorkerSpec) -> NoReturn:
    """Run in the child right after fork; never returns into the master's code."""
    code = EXIT_CRASHED
    hook_worker = HookWorker(spec.config)
    try:
        code = _run(spec, hook_worker)
    except BaseException:
        logger.exception("Worker %d crashed", os.getpid())
    finally:
        if spec.hooks is not None:
            spec.hooks.call("worker_exit", spec.hooks.server, hook_worker)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


def _run(spec: WorkerSpec, hook_worker: HookWorker) -> int:
    _become_worker(spec)
    hooks = spec.hooks
    if hooks is not None:
        hooks.call("post_fork", hooks.server, hook_worker)
    try:
        spec.identity.apply()
        spec.config.limit_max_requests = spec.max_requests
        app = spec.app if spec.app is not None else load_app(spec.config)
        new_loop = loop_factory(spec.config.loop)
    except ConfigError as exc:
        return _boot_failed(spec, exc.exit_code, str(exc))
    if hooks is not None:
        hook_worker.app = app
        hooks.call("post_worker_init", hook_worker)
        app = hooks.wrap(app, hook_worker)
    worker = SupervisedRuntime(spec, app)
    try:
        worker.run(worker.serve(spec.sockets), new_loop)
    except (ConfigError, StartupError) as exc:
        if not worker.ready:
            return _boot_failed(spec, exc.exit_code, str(exc))
        logger.error("%s", exc)
        return EXIT_CRASHED
    except Exception as exc:
        logger.exception("Worker %d failed", os.getpid())
        if not worker.ready:
            return _boot_failed(spec, EXIT_STARTUP, f"{type(exc).__name__}: {exc}")
        return EXIT_CRASHED
    return 0


def _become_worker(spec: WorkerSpec) -> None:
    signal.set_wakeup_fd(-1)  # the master's; asyncio installs the worker's own
    for sig in _IGNORED:
        signal.signal(sig, signal.SIG_IGN)
    for sig in _DEFAULT:
        signal.signal(sig, signal.SIG_DFL)
    install_abort_handler("--worker-timeout", _exit_aborted)
    if spec.signal_mask is not None:  # a stop sent since the fork is acted on now: TERM kills
        signal.pthread_sigmask(signal.SIG_SETMASK, spec.signal_mask)
    for fd in spec.close_fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    spec.channel.close_reader()
    if spec.config.umask is not None:
        os.umask(spec.config.umask)
    setproctitle(spec.title)


def load_app(config: Config) -> ASGI3App:
    """Import the app; any failure is an app-load error (exit 3) with its traceback logged."""
    try:
        return config.load_app()
    except ConfigError:
        raise
    except Exception as exc:
        logger.exception("Cannot load the app %r", config.app)
        raise AppLoadError(f"cannot load {config.app!r}: {type(exc).__name__}: {exc}") from None


def import_serving_stack(config: Config) -> None:
    """In the master, before forking: import the HTTP backend, the event loop and the WebSocket
    layer once, so that every worker starts with them (~20 ms of imports each otherwise, paid N
    times at once on a start or a reload). After the fork a worker then only imports the app
    (unless --preload) and runs lifespan startup before it serves. Best effort: what cannot be
    imported here is reported by the worker that needs it, as a boot failure."""
    with contextlib.suppress(ConfigError):
        protocol_class(config.http)
    with contextlib.suppress(ConfigError):
        loop_factory(config.loop)
    if config.ws != "none":
        with contextlib.suppress(ImportError):  # --ws auto without websockets: plain HTTP
            importlib.import_module("mypkg.websocket.upgrade")
    if config.http2:  # h2 and its hpack/hyperframe (config.check has made sure they exist)
        importlib.import_module("mypkg.http.h2_negotiate")


def _exit_aborted() -> NoReturn:
    os._exit(EXIT_ABORTED)


def _boot_failed(spec: WorkerSpec, code: int, reason: str) -> int:
    logger.error("%s", reason)
    spec.channel.send("failed", f"{code} {reason}")
    return code


class SupervisedRuntime(WorkerRuntime):
    """The worker runtime under mypkg's master: heartbeat in shared memory, messages through the
    channel (ready, stats, recycle), signals handled once serving."""

    QUICK_SIGNALS = (signal.SIGQUIT,)  # SIGINT (a terminal's Ctrl-C) is the master's alone
    DELAYS_SHUTDOWN = False  # the master waits out --shutdown-delay before its SIGTERM

    def __init__(self, spec: WorkerSpec, app: ASGI3App) -> None:
        server = Server(spec.config)
        server.app = app
        server.own_endpoint = False  # the master serves --metrics-bind for every worker
        super().__init__(server, spec.master_pid)
        self.spec = spec
        self.next_report = 0.0

    def report(self) -> None:
        """Send the master this worker's /metrics figures (cumulative since it started)."""
        state = self.server.state
        if state is not None and state.metrics is not None:
            self.spec.channel.send("stats", state.metrics_snapshot())

    def beat(self) -> None:
        self.spec.heartbeat.beat()
        state = self.server.state
        if state is not None and state.metrics is not None and state.now >= self.next_report:
            self.next_report = state.now + REPORT_INTERVAL
            self.report()

    def on_ready(self) -> None:
        self.install_signal_handlers()  # until now TERM/QUIT kill: there is nothing to drain
        self.spec.channel.send("ready")

    def replace_me(self, reason: str) -> bool:
        return self.spec.channel.send("recycle", reason)  # False: no master to start one
