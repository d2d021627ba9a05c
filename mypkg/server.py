"""Server(config).serve(sockets): the only way anything serves.

The single-process CLI, the supervisor's workers and the Gunicorn worker all end here. Startup:
load the app, run lifespan startup, serve on the given sockets. Shutdown always flows the same
way: stop accepting, let in-flight requests finish, close idle keep-alive connections, run
lifespan shutdown, all within the graceful timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from mypkg.asgi import ASGI3App
from mypkg.backends import protocol_class, run_loop
from mypkg.banner import listen_line, press_ctrl_c, runtime_line
from mypkg.config import Config
from mypkg.errors import ConfigError
from mypkg.faults import (
    describe_open_file_limit,
    guard_log_handlers,
    is_accept_resource_error,
    raise_open_file_limit,
)
from mypkg.lifespan import Lifespan
from mypkg.logging import configure_logging, logging_configured
from mypkg.procinfo import resident_memory
from mypkg.sockets import bind_sockets, describe, remove_socket_files
from mypkg.state import DRAIN_IDLE_GRACE, ServerState, settle
from mypkg.tls import TlsInfo, quiet_tls_errors

logger = logging.getLogger("mypkg.error")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# From 3.13 asyncio and uvloop unlink a UNIX socket's file when its server closes; the file belongs
# to whoever bound it (the master), and the next workers still serve on it.
KEEP_UNIX_FILE: dict[str, Any] = {"cleanup_socket": False} if sys.version_info >= (3, 13) else {}


def websocket_upgrade(config: Config, state: ServerState) -> Callable[..., None] | None:
    """The --ws setting: what takes over a connection after an accepted upgrade request."""
    if config.ws == "none":
        return None
    try:
        from mypkg.websocket.upgrade import Upgrader
    except ImportError as exc:
        if not (exc.name or "").startswith("websockets"):
            raise
        if config.ws != "auto":
            raise ConfigError(
                f"--ws {config.ws}: the websockets package is not installed"
            ) from None
        return None  # auto: upgrade requests are answered as plain HTTP
    return Upgrader(config, state)


def setup_logging(config: Config) -> None:
    """The Python API's logging rule (``mypkg.run``, ``Server.run``, ``Server.serve``).

    Set up as the CLI does (stderr, timestamps, levels, access lines, or the --log-config file)
    unless the caller passed ``log_config=None`` explicitly, or logging is configured already
    (the root logger or a mypkg logger has a handler): then records go where the application
    sends them. A ``log_config`` file given explicitly is always applied.
    """
    if config.log_config is None and ("log_config" in vars(config) or logging_configured()):
        return
    configure_logging(
        config.log_level, config.access_log, config.log_config, config.use_colors, config.log_format
    )


class Server:
    """One event loop serving one app on a set of listening sockets."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.app: ASGI3App | None = None
        self.state: ServerState | None = None
        self.sockets: list[socket.socket] = []
        self.started = threading.Event()  # set once serving; usable from other threads
        self.force_exit = False
        self._exit: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[asyncio.base_events.Server] = []
        self._factory: Callable[[], asyncio.Protocol] = asyncio.Protocol
        # --metrics-bind is served here unless a master serves it for all its workers.
        self.own_endpoint = True
        self.endpoint: Any = None
        self.delaying = False  # --shutdown-delay running: /readyz says 503, serving goes on
        self._delay: asyncio.TimerHandle | None = None
        self._switching: asyncio.Task[None] | None = None  # --backpressure
        self._closing: asyncio.Task[None] | None = None
        self.shared_figures: Any = None  # metrics.SharedFigures, under Gunicorn
        self._stopping_since = 0.0
        self._bound_here = False  # we bound the sockets (not handed them): we remove UNIX files

    # ------------------------------------------------------------------ entry points
    def run(self, sockets: list[socket.socket] | None = None) -> None:
        """Serve until told to stop (SIGINT/SIGTERM), in a new event loop (logging: see
        ``setup_logging``)."""
        setup_logging(self.config)
        run_loop(self.serve(sockets), self.config.loop)

    async def serve(
        self,
        sockets: list[socket.socket] | None = None,
        *,
        install_signal_handlers: bool = True,
        on_tick: Callable[[], None] | None = None,
        on_max_requests: Callable[[], None] | None = None,
        announce: bool = True,
    ) -> None:
        """Start, serve until ``request_exit``, shut down gracefully.

        ``on_tick`` runs on every tick of the server's clock, from the event loop (a heartbeat
        written there proves the loop runs). ``on_max_requests``, if given, replaces exiting at
        --limit-max-requests: a supervisor starts the replacement first, then asks us to exit.
        ``announce``: this call is the whole server, not a worker that a process manager (mypkg's
        master, Gunicorn) has set logging up for and announces itself: set logging up as
        ``setup_logging`` says, and log the start-up banner.
        """
        config = self.config
        if announce:
            setup_logging(config)
        config.check()
        guard_log_handlers()
        fd_limits = raise_open_file_limit()  # before the app opens anything; said with the banner
        loop = self._loop = asyncio.get_running_loop()
        self._exit = asyncio.Event()
        app = self.app = self.app or config.load_app()
        if announce:  # once the app is known good: a bad one gets only its error
            logger.info("%s", runtime_line(config, "1 worker (this process)"))
        state = self.state = ServerState(config, app, loop)
        state.on_max_requests = on_max_requests or self._max_requests_reached
        state.on_tick = on_tick
        state.upgrade = websocket_upgrade(config, state)
        if config.ssl_context is not None and config.ssl_certfile is not None:
            state.tls = TlsInfo(config.ssl_context, config.ssl_certfile)
        lifespan = Lifespan(app, config.lifespan, state.lifespan_state)
        if install_signal_handlers:  # first: a SIGTERM right after startup must not kill us
            self._install_signal_handlers()
        try:
            started = await lifespan.startup(self._exit)
            if started and not self._exit.is_set():  # else a signal came during startup
                logger.info("%s", lifespan.outcome())
                logger.info(describe_open_file_limit(*fd_limits))
                if config.metrics_bind is not None and self.own_endpoint:
                    self._open_endpoint()  # first: it answers once "Serving on" is logged
                await self._listen(sockets if sockets is not None else self._bind())
                state.start()
                self.started.set()
                if announce:
                    press_ctrl_c()
                await self._exit.wait()
            await self._shutdown()
        finally:
            state.stop()
            if self.endpoint is not None:
                self.endpoint.close()
                self.endpoint = None
            await lifespan.shutdown()
            self._restore_signal_handlers(install_signal_handlers)
            if self._bound_here:
                remove_socket_files()
            if self._stopping_since:
                logger.info("Stopped in %.2fs", time.monotonic() - self._stopping_since)
            if loop.get_exception_handler() is self._handle_loop_error:
                loop.set_exception_handler(None)

    def request_exit_after_delay(self) -> None:
        """SIGTERM: serve on for --shutdown-delay seconds with /readyz at 503, then stop
        gracefully. A second call stops at once (gracefully). Loop thread only."""
        delay = self.config.shutdown_delay
        if delay <= 0 or self.delaying or self.stopping or self._loop is None:
            self.request_exit()
            return
        self.delaying = True
        logger.info("Shutting down in %gs (--shutdown-delay); /readyz now answers 503", delay)
        self._delay = self._loop.call_later(delay, self.request_exit)

    def request_exit(self, force: bool = False) -> None:
        """Begin a graceful shutdown (or, with ``force``, cut connections now). Loop thread only."""
        if self._delay is not None:
            self._delay.cancel()
            self._delay = None
        if force or (self._exit is not None and self._exit.is_set()):
            self.force_exit = True
            if self.state is not None:
                self.state.abort_all()
        if self._exit is not None:
            self._exit.set()

    @property
    def stopping(self) -> bool:
        """True once a shutdown has begun (a signal, request_exit, or the request limit)."""
        return self._exit is not None and self._exit.is_set()

    def request_exit_threadsafe(self, force: bool = False) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():  # a stopped server has nothing to stop
            loop.call_soon_threadsafe(self.request_exit, force)

    # ------------------------------------------------------------------ internals
    def _bind(self) -> list[socket.socket]:
        self._bound_here = True
        return bind_sockets(self.config)

    async def _listen(self, sockets: list[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        assert self.state is not None
        state = self.state
        cls = protocol_class(self.config.http)
        ssl = self.config.ssl_context
        if loop.get_exception_handler() is None:
            loop.set_exception_handler(self._handle_loop_error)

        make: Callable[[ServerState], asyncio.Protocol] = cls
        if self.config.http2:  # each connection chooses HTTP/1 or HTTP/2 first
            from mypkg.http.h2_negotiate import negotiating

            make = negotiating(cls)

        def factory() -> asyncio.Protocol:
            return make(state)

        self._factory = factory
        self.sockets = sockets
        backpressure = self.config.backpressure and self.config.limit_concurrency is not None
        await self._open_listeners(duplicate=backpressure)
        for sock in sockets:
            logger.info("%s", listen_line(sock, tls=ssl is not None))
        if backpressure:
            state.on_full = self._on_full

    async def _open_listeners(self, duplicate: bool) -> None:
        """Listen on every socket (on duplicates with --backpressure: closing a listener then
        leaves the socket, and its backlog, open)."""
        loop = asyncio.get_running_loop()
        backlog = self.config.backlog
        tls = self._tls_options()
        for original in self.sockets:
            sock = original.dup() if duplicate else original
            if sock.family == socket.AF_UNIX:
                listener = await loop.create_unix_server(
                    self._factory, sock=sock, backlog=backlog, **tls, **KEEP_UNIX_FILE
                )
            else:
                listener = await loop.create_server(
                    self._factory, sock=sock, backlog=backlog, **tls
                )
            self._listeners.append(listener)

    def _on_full(self, full: bool) -> None:
        """--backpressure: the state says the limit is reached (or left); switch accepting."""
        if full:
            self._pause_accepting()
        elif self._switching is None or self._switching.done():
            self._switching = asyncio.get_running_loop().create_task(self._resume_accepting())

    def _pause_accepting(self) -> None:
        """At once: a connection accepted one loop iteration later would overshoot the limit.

        asyncio's loops stop accepting at the remove_reader and close the listener a few
        iterations later (see _stop_accepting); uvloop ignores remove_reader, but has set up
        every connection it accepted already, so its listener closes now."""
        loop = asyncio.get_running_loop()
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            for sock in listener.sockets:
                loop.remove_reader(sock.fileno())
        if type(loop).__module__.startswith("uvloop"):
            for listener in listeners:
                listener.close()
        elif listeners:
            self._closing = loop.create_task(self._close_listeners(listeners))

    async def _resume_accepting(self) -> None:
        """Below the limit again: listen on fresh duplicates of the sockets."""
        state = self.state
        while state is not None and not (self._not_accepting(state) or self._listeners):
            await self._open_listeners(duplicate=True)
            if self._not_accepting(state):  # it changed while they were being made
                listeners, self._listeners = self._listeners, []
                await self._close_listeners(listeners)

    def _not_accepting(self, state: ServerState) -> bool:
        return self.stopping or state.accept_paused

    async def _close_listeners(self, listeners: list[asyncio.base_events.Server]) -> None:
        """Stop accepting without dropping a connection already on its way in (see below)."""
        loop = asyncio.get_running_loop()
        for listener in listeners:
            for sock in listener.sockets:
                loop.remove_reader(sock.fileno())
        await settle()  # the connections asyncio accepted reach connection_made first
        for listener in listeners:
            listener.close()

    def _handle_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """asyncio's accept() failing for lack of descriptors is counted and reported once per
        interval (asyncio would log it with a traceback per backlog slot, every second); a TLS
        failure a client causes is a debug line; the rest goes to the loop's default handler."""
        if is_accept_resource_error(context) and self.state is not None:
            self.state.fd_exhausted.report(context["exception"])
        else:
            quiet_tls_errors(loop, context)

    async def _shutdown(self) -> None:
        assert self.state is not None
        state = self.state
        self._stopping_since = time.monotonic()
        await self._stop_accepting()
        logger.info("Stopped accepting connections")
        timeout = self.config.timeout_graceful_shutdown
        if state.connections and not self.force_exit:
            logger.info(
                "Finishing in-flight requests: draining %d connection(s) (up to %ss)",
                len(state.connections),
                timeout,
            )
        if not await state.drain(0 if self.force_exit else timeout):
            logger.warning(
                "Graceful shutdown timed out after %ss; closing %d connection(s)",
                timeout,
                len(state.connections),
            )
            cancelled = state.abort_all()
            if cancelled:  # let cancelled app tasks unwind before lifespan shutdown runs
                await asyncio.wait(cancelled, timeout=1.0)

    async def _stop_accepting(self) -> None:
        """Close the listeners without dropping a connection that was already on its way in.

        asyncio sets each accepted connection up in a task one loop iteration later; if the
        listener is closed first, that task fails silently and the client is reset (CPython
        3.11's ``Server._attach`` asserts the server is open). So: stop accepting, let those
        tasks run, then close. Other loops (uvloop) ignore the remove_reader.

        Then the kernel's accept queue: when the last process holding a listening socket closes
        it, the connections still queued there are reset, though their clients may have sent a
        request already. A duplicate keeps each socket open while the listeners close; what the
        queue holds is then accepted and served (with ``Connection: close``) before it closes.
        """
        loop = asyncio.get_running_loop()
        for listener in self._listeners:
            for sock in listener.sockets:
                loop.remove_reader(sock.fileno())
        await settle()
        held = [sock.dup() for sock in self.sockets]
        for listener in self._listeners:
            listener.close()
        arriving = [self._serve_accepted(conn) for sock in held for conn in _accept_queued(sock)]
        if arriving:
            await asyncio.wait(arriving, timeout=DRAIN_IDLE_GRACE)

    def _serve_accepted(self, conn: socket.socket) -> asyncio.Task[Any]:
        loop = asyncio.get_running_loop()
        coro = loop.connect_accepted_socket(self._factory, conn, **self._tls_options())
        return loop.create_task(coro)

    def _tls_options(self) -> dict[str, Any]:
        """``ssl`` for the loop, and a handshake deadline: the request-head deadline covers the
        handshake too, so a client that never sends (or trickles) its ClientHello is cut off
        then, not at the loops' 60 s default."""
        ssl = self.config.ssl_context
        timeout = self.config.timeout_request_head
        if ssl is None or timeout <= 0:
            return {"ssl": ssl}
        return {"ssl": ssl, "ssl_handshake_timeout": timeout}

    def _max_requests_reached(self) -> None:
        if self._exit is not None and not self._exit.is_set():
            logger.info(
                "Served %d requests (--limit-max-requests); finishing in-flight work and exiting",
                self.state.total_requests if self.state else 0,
            )
            self._exit.set()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in HANDLED_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        logger.info("Received %s; shutting down", signal.Signals(sig).name)
        if sig == signal.SIGTERM:
            self.request_exit_after_delay()
        else:
            self.request_exit()

    def _open_endpoint(self) -> None:
        """Serve --metrics-bind from this loop (one process, or each Gunicorn worker)."""
        from mypkg.endpoint import Endpoint, bind_endpoint, loop_watch

        assert self._loop is not None
        sock = bind_endpoint(self.config.metrics_bind, reuse_port=True)
        self.endpoint = Endpoint(sock, self._answer, *loop_watch(self._loop))
        logger.info("Metrics and health on %s", describe(sock))

    def _answer(self, path: str) -> tuple[int, str, bytes]:
        from mypkg.endpoint import health_answer
        from mypkg.metrics import Aggregate, render

        def metrics() -> str:
            shared = self.shared_figures
            if shared is not None:  # Gunicorn's workers: the sum of every worker's file
                self.publish_figures()
                aggregate, live = shared.aggregate()
                return render(aggregate, {pid: resident_memory(pid) for pid in live}, len(live))
            aggregate = Aggregate()
            if self.state is not None and self.state.metrics is not None:
                aggregate.update(os.getpid(), self.state.metrics_snapshot())
            return render(aggregate, {os.getpid(): resident_memory(os.getpid())}, 1)

        ready = self.started.is_set() and not self.delaying and not self.stopping
        return health_answer(path, ready, metrics)

    def publish_figures(self) -> None:
        """Write this server's /metrics figures where its sibling workers read them."""
        state = self.state
        if self.shared_figures is not None and state is not None and state.metrics is not None:
            try:
                self.shared_figures.write(os.getpid(), state.metrics_snapshot())
            except OSError as exc:
                logger.debug("Cannot write the /metrics figures: %s", exc)

    def _restore_signal_handlers(self, installed: bool) -> None:
        if not installed or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in HANDLED_SIGNALS:
            loop.remove_signal_handler(sig)


def _accept_queued(sock: socket.socket, limit: int = 4096) -> list[socket.socket]:
    """Take what the kernel has queued on a duplicate of a listening socket, then close it (the
    last process to do so leaves later clients refused, not reset after sending a request)."""
    accepted = []
    with sock:
        sock.setblocking(False)
        for _ in range(limit):
            try:
                conn, _ = sock.accept()
            except OSError:  # BlockingIOError: the queue is empty
                break
            accepted.append(conn)
    return accepted
