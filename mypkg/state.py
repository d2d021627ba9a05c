"""What every connection of one server shares: constants computed once, counters, the clock.

Connections never read ``Config`` on the request path; they read the plain attributes here. One
ticker per server refreshes the cached ``Date`` header and a coarse clock, and enforces every
connection's deadline (request head, keep-alive idle), so no request starts or cancels a timer.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from mypkg.accesslog import AccessLog
from mypkg.asgi import ASGI3App
from mypkg.faults import connection_budget
from mypkg.jsonlog import RequestIds
from mypkg.metrics import WorkerMetrics, connection_counts
from mypkg.middleware.proxy_headers import TrustedPeers
from mypkg.ratelimit import Throttle, Throttled

if TYPE_CHECKING:
    from mypkg.config import Config
    from mypkg.tls import TlsInfo

logger = logging.getLogger("mypkg.error")

# While draining, how long an idle keep-alive connection (or one still waiting for its request
# head) is kept open for a request its client may already be sending (see ServerState.drain).
DRAIN_IDLE_GRACE = 1.0


# Loop iterations from accept() to connection_made: asyncio sets a connection up in a task that
# schedules connection_made (two iterations); uvloop schedules it (one). One more to spare.
ACCEPT_SETTLE_ITERATIONS = 3
METRICS_TICK = 0.25  # seconds: how often a worker reports to the master with --metrics-bind


async def settle() -> None:
    """Let connections the loop has accepted reach connection_made."""
    for _ in range(ACCEPT_SETTLE_ITERATIONS):
        await asyncio.sleep(0)


class Connection(Protocol):
    """What the server needs from any connection (HTTP or WebSocket)."""

    deadline: float

    def on_deadline(self) -> None: ...
    def shutdown(self) -> None: ...
    def abort(self) -> asyncio.Task[None] | None: ...


def task_starter(
    loop: asyncio.AbstractEventLoop, fresh_context: bool, eager: bool = False
) -> Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]:
    """``loop.create_task``, or with ``fresh_context`` one that runs each task in a new empty
    contextvars.Context (uvicorn's --reset-contextvars): nothing set during lifespan startup,
    or by an earlier request on the connection, is visible to the app.

    ``eager`` (Python 3.12+): the task runs its first step at once, inside the caller, and is
    scheduled on the loop only if it really suspends. An app that answers without waiting
    (most requests) then costs no loop iteration and no scheduled callback; it still runs as the
    current task, in its own copy of the context, as a scheduled one would."""
    if eager and sys.version_info >= (3, 12):
        if fresh_context:

            def eager_in_fresh_context(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
                context = contextvars.Context()
                return asyncio.Task(coro, loop=loop, eager_start=True, context=context)

            return eager_in_fresh_context

        def eager_task(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
            return asyncio.Task(coro, loop=loop, eager_start=True)

        return eager_task
    if not fresh_context:
        return loop.create_task

    def create_in_fresh_context(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return contextvars.Context().run(loop.create_task, coro)

    return create_in_fresh_context


# Settings the connections read as they are, on the request path: copied once, by name, into
# slots (a slot is what the hot path can afford; a Config attribute is a Python-level descriptor
# call). Everything else a connection needs is derived from the config in ServerState._derive.
COPIED_SETTINGS = (
    "date_header",
    "h2_max_concurrent_streams",
    "limit_concurrency",
    "limit_max_requests",
    "limit_request_body",
    "limit_request_fields",
    "min_request_body_rate",
    "root_path",
    "server_header",
    "timeout_keep_alive",
    "timeout_request",
    "timeout_request_body",
    "timeout_request_head",
)


class ServerState:
    """Per-server constants and counters shared by all its connections."""

    __slots__ = (
        *COPIED_SETTINGS,
        "_all_closed",
        "_last_second",
        "_ticker",
        "accept_paused",
        "access_log",
        "access_logger",
        "app",
        "config",
        "connections",
        "context",
        "create_task",
        "default_header_list",
        "default_headers",
        "extra_headers",
        "fd_exhausted",
        "fd_warn_at",
        "inflight",
        "lifespan_state",
        "limit_request_field_size",
        "limit_request_line",
        "limit_request_target",
        "log_connections",
        "loop",
        "max_head_size",
        "metrics",
        "now",
        "on_full",
        "on_max_requests",
        "on_tick",
        "proxy_mode",
        "proxy_peers",
        "request_id_header",
        "request_ids",
        "root_path_bytes",
        "shutting_down",
        "start_task",
        "throttle",
        "tick_interval",
        "timed",
        "tls",
        "total_requests",
        "upgrade",
    )
    # The types of COPIED_SETTINGS: the settings' own (tests/config/test_settings.py checks it).
    date_header: bool
    h2_max_concurrent_streams: int
    limit_concurrency: int | None
    limit_max_requests: int | None
    limit_request_body: int | None
    limit_request_fields: int
    min_request_body_rate: float
    root_path: str
    server_header: bool
    timeout_keep_alive: float
    timeout_request: float | None
    timeout_request_body: float
    timeout_request_head: float

    def __init__(self, config: Config, app: ASGI3App, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config  # for what is read once (server, protocols' setup), not per request
        self.app = app
        self.loop = loop
        # The server's context, never entered by an app: requests started from inside another
        # request's task (pipelined) start from a copy of it, as a request read from the socket.
        self.context = contextvars.copy_context()
        self.connections: set[Connection] = set()
        # Running out of descriptors: counted, and reported once per interval. uvloop refuses
        # the surplus connections silently, so nearing the limit is what we can see there.
        self.fd_exhausted = Throttled("Out of file descriptors; new connections are refused")
        self.fd_warn_at = connection_budget()
        # --log-level debug: a line per connection opened and closed (decided once, here).
        self.log_connections = logger.isEnabledFor(logging.DEBUG)
        self.lifespan_state: dict[str, Any] = {}
        self.throttle = Throttle()  # malformed-request log lines
        self._derive(config)
        self.default_headers = b""
        self.default_header_list: list[tuple[bytes, bytes]] = []
        self.total_requests = 0
        self.inflight = 0
        self.shutting_down = False
        # Set by a WebSocket-capable server: called with (protocol, scope, bytes already read).
        self.upgrade: Callable[..., None] | None = None
        self.on_max_requests: Callable[[], None] | None = None
        # --backpressure: the server's switch for accepting, called at and below the limit.
        self.on_full: Callable[[bool], None] | None = None
        self.accept_paused = False
        self.on_tick: Callable[[], None] | None = None
        self.tls: TlsInfo | None = None  # set by a server that serves HTTPS
        self.tick_interval = self._tick_interval()
        self.now = loop.time()
        self._last_second = -1
        self._ticker: asyncio.TimerHandle | None = None
        self._all_closed: asyncio.Event | None = None
        self._refresh_date()

    def _derive(self, config: Config) -> None:
        """The one place the request path's constants come from the config."""
        for name in COPIED_SETTINGS:
            setattr(self, name, getattr(config, name))
        # Starts an app task (a request's, a WebSocket's): chosen once, so the hot path pays
        # nothing for --reset-contextvars when it is off.
        self.create_task = task_starter(self.loop, config.reset_contextvars)
        # The HTTP request's app, started once the read that completed its head is parsed.
        self.start_task = task_starter(self.loop, config.reset_contextvars, eager=True)
        self.access_log = config.access_log and logging.getLogger("mypkg.access").isEnabledFor(
            logging.INFO
        )
        self.access_logger = AccessLog(
            config.access_log_format,
            headers=config.access_log_header,
            request_id=config.request_id_header is not None,
        )
        request_id = config.request_id_header
        self.request_id_header = request_id.lower().encode("latin-1") if request_id else None
        self.request_ids = RequestIds() if request_id else None
        # Plain counters for /metrics, only when it is served; a request is timed for either.
        self.metrics = WorkerMetrics() if config.metrics_bind is not None else None
        self.timed = self.access_log or self.metrics is not None
        self.root_path_bytes = config.root_path.encode("latin-1")
        self.limit_request_line = config.limit_request_line or 65536
        self.limit_request_field_size = config.limit_request_field_size or 65536
        # The whole head, counted as it arrives (h11 gets it as its incomplete-event limit too):
        # never more than a full request line plus the maximum number of maximal fields.
        self.max_head_size = min(
            config.limit_request_head_size,
            self.limit_request_line
            + 4
            + self.limit_request_fields * (self.limit_request_field_size + 2),
        )
        # llhttp hands over the target alone: a target this long or shorter fits in the request
        # line whatever the method (at most 13 bytes), two spaces and "HTTP/1.1"; past it the
        # parser measures the whole line.
        self.limit_request_target = self.limit_request_line - 23
        self.extra_headers = [
            (field.lower().encode("latin-1"), value.encode("latin-1"))
            for field, value in config.headers
        ]
        # Peers whose proxy headers are believed; None when --no-proxy-headers.
        self.proxy_peers = (
            TrustedPeers(config.forwarded_allow_ips) if config.proxy_headers else None
        )
        self.proxy_mode = config.proxy_headers_mode  # which header family they are read from

    def _tick_interval(self) -> float:
        """A quarter of the shortest deadline (within 0.05-1 s), finer while /metrics is served."""
        timeouts = [
            t
            for t in (
                self.timeout_keep_alive,
                self.timeout_request_head,
                self.timeout_request_body,
                self.timeout_request or 0,
            )
            if t > 0
        ]
        interval = max(0.05, min([1.0, *(t / 4 for t in timeouts)]))
        if self.metrics is not None:  # /metrics lags the workers by at most a report interval
            interval = min(interval, METRICS_TICK)
        return interval

    # ------------------------------------------------------------------ clock and deadlines
    def start(self) -> None:
        self._tick()

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None

    def _retick(self, interval: float) -> None:
        """Tick at ``interval`` from now on (draining wants finer deadlines)."""
        self.tick_interval = interval
        self.now = self.loop.time()
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = self.loop.call_later(interval, self._tick)

    def _tick(self) -> None:
        now = self.loop.time()
        # A tick far later than planned means the process did not run (CPU starvation, a stop):
        # deadlines passed meanwhile, but so did the requests waiting unread in socket buffers.
        # Judge no connection before the loop has polled its sockets once: skip to the next tick.
        stalled = now - self.now > 2 * self.tick_interval
        if self.metrics is not None:
            lag = now - self.now - self.tick_interval
            if lag > self.metrics.loop_lag:
                self.metrics.loop_lag = lag
        self.now = now
        self._refresh_date()
        if not stalled:
            for conn in [c for c in self.connections if 0 < c.deadline <= now]:
                conn.on_deadline()
        if self.on_tick is not None:
            self.on_tick()
        self._ticker = self.loop.call_later(self.tick_interval, self._tick)

    def _refresh_date(self) -> None:
        second = int(time.time())
        if second == self._last_second:
            return
        self._last_second = second
        headers = []
        if self.server_header:
            headers.append((b"server", b"mypkg"))
        if self.date_header:
            headers.append((b"date", email.utils.formatdate(second, usegmt=True).encode()))
        headers.extend(self.extra_headers)
        self.default_header_list = headers
        self.default_headers = b"".join(name + b": " + value + b"\r\n" for name, value in headers)

    # ------------------------------------------------------------------ connection registry
    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        full = self.on_full is not None and len(self.connections) >= (self.limit_concurrency or 0)
        if full and not self.accept_paused:
            self.accept_paused = True
            self.on_full(True)  # type: ignore[misc]
        if len(self.connections) >= self.fd_warn_at:
            self.fd_exhausted.report(f"{len(self.connections)} connections open")

    def discard(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()
        if self.accept_paused and len(self.connections) < (self.limit_concurrency or 0):
            self.accept_paused = False
            if self.on_full is not None:
                self.on_full(False)

    def request_finished(self) -> None:
        """Count a finished request; ask the server to stop once the request limit is reached."""
        self.total_requests += 1
        limit = self.limit_max_requests
        if limit is not None and self.total_requests >= limit and self.on_max_requests:
            self.on_max_requests()

    def metrics_snapshot(self) -> str:
        """This server's /metrics figures as one line (see mypkg.metrics)."""
        assert self.metrics is not None
        http, websocket = connection_counts(self.connections)
        return self.metrics.snapshot(self.inflight, http, websocket)

    def too_busy(self) -> bool:
        limit = self.limit_concurrency
        return limit is not None and (len(self.connections) > limit or self.inflight >= limit)

    async def drain(self, timeout: float) -> bool:
        """Ask every connection to finish; wait until all are closed. False if time ran out.

        Idle connections are not closed at once: their client may be sending its next request
        right now, and closing would make that request fail (the classic loss during restarts
        and recycling). They get DRAIN_IDLE_GRACE seconds, as a short keep-alive timeout, for
        that request, which is answered with ``Connection: close``.
        """
        self.shutting_down = True
        self.timeout_keep_alive = min(DRAIN_IDLE_GRACE, timeout)
        self._retick(max(0.05, min(self.tick_interval, DRAIN_IDLE_GRACE / 4)))
        for conn in list(self.connections):
            conn.shutdown()
        deadline = self.loop.time() + timeout
        while True:
            if self.connections:
                self._all_closed = asyncio.Event()
                try:
                    await asyncio.wait_for(self._all_closed.wait(), deadline - self.loop.time())
                except asyncio.TimeoutError:
                    return False
            # A connection accepted just before the listeners closed may reach connection_made
            # (and this registry) a few iterations later: wait for stragglers, then check.
            await settle()
            if not self.connections:
                return True

    def abort_all(self) -> list[asyncio.Task[None]]:
        """Cut every connection; the app tasks that were cancelled, to wait for."""
        tasks = [conn.abort() for conn in list(self.connections)]
        return [task for task in tasks if task is not None]
