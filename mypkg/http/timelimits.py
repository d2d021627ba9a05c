"""Time limits past the request head: a slow request body, and a request that runs too long.

Both ride on the connection's one ``deadline``, which the server's ticker already checks: no
request starts or cancels a timer. While a connection is busy its deadline is the nearer of two:

* ``body_deadline`` (``--timeout-request-body`` / ``--min-request-body-rate``): armed when a body
  is expected (after the 100 Continue, if the client waits for one). Each piece of body received
  buys ``size / rate`` seconds, but never more than ``timeout_request_body`` seconds ahead: the
  body may stall that long at most, and must average the rate. A client sending one byte every
  few seconds is answered 408 and closed; one whose reading the server paused (the app is not
  reading) is not blamed for it.
* ``app_deadline`` (``--timeout-request``): armed when the app's task starts; when it passes
  before the response is complete, the task is cancelled and the client gets 504 (or, if the
  response had started, the connection closes). The worker serves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mypkg.state import ServerState

logger = logging.getLogger("mypkg.error")


class TimedCycle(Protocol):
    """What the limits need from a request (cycle.RequestCycle)."""

    body_timer: int
    keep_alive: bool

    @property
    def task(self) -> asyncio.Task[None] | None: ...
    @property
    def complete(self) -> bool: ...
    @property
    def head_written(self) -> bool: ...
    @property
    def scope(self) -> MutableMapping[str, Any]: ...
    def on_disconnect(self) -> None: ...
    def respond_error(self, status: int) -> None: ...


class TimedConnection(Protocol):
    """What the limits need from an HTTP/1 connection (protocol.HttpProtocol). A protocol type
    here, so that this module imports neither the connection nor the cycle (both import it)."""

    deadline: float
    body_deadline: float
    app_deadline: float

    @property
    def state(self) -> ServerState: ...
    @property
    def client(self) -> tuple[str, int] | None: ...
    @property
    def reading_paused(self) -> bool: ...
    @property
    def cycle(self) -> TimedCycle | None: ...
    def reject(self, status: int, reason: str) -> None: ...
    def close(self) -> None: ...


# RequestCycle.body_timer: not timed (the default, and any connection but HTTP/1's); to be armed
# once the 100 Continue goes out; armed (body pieces credit the connection's deadline).
AFTER_CONTINUE, ARMED = 1, 2


def arm(conn: TimedConnection) -> None:
    """Set the connection's deadline to the nearer of its body and app deadlines (0: none)."""
    body, app = conn.body_deadline, conn.app_deadline
    conn.deadline = min(body, app) if body and app else body or app


def expect_body(conn: TimedConnection, cycle: TimedCycle) -> None:
    """``cycle``'s request body is due from now on."""
    state = conn.state
    cycle.body_timer = ARMED
    conn.body_deadline = state.now + state.timeout_request_body
    arm(conn)


def body_received(conn: TimedConnection, size: int) -> None:
    """Credit ``size`` bytes: ``size / rate`` seconds more, capped at the stall timeout."""
    state = conn.state
    ceiling = state.now + state.timeout_request_body
    rate = state.min_request_body_rate
    credited = conn.body_deadline + size / rate if rate > 0 else ceiling
    conn.body_deadline = min(credited, ceiling)
    arm(conn)


def body_done(conn: TimedConnection, cycle: TimedCycle) -> None:
    cycle.body_timer = 0
    conn.body_deadline = 0.0
    arm(conn)


def reading_resumed(conn: TimedConnection) -> None:
    """The server paused reading (the app was not consuming): the client gets a fresh budget."""
    state = conn.state
    conn.body_deadline = max(conn.body_deadline, state.now + state.timeout_request_body)
    arm(conn)


def app_started(conn: TimedConnection) -> None:
    state = conn.state
    conn.app_deadline = state.now + state.timeout_request  # type: ignore[operator]
    arm(conn)


def on_busy_deadline(conn: TimedConnection) -> None:
    """The ticker found a busy connection's deadline passed: which one, and what to do."""
    state = conn.state
    now = state.now
    if conn.body_deadline and conn.body_deadline <= now:  # first: then the client is at fault
        if conn.reading_paused:  # the server, not the client, is holding the body back
            conn.body_deadline = now + state.timeout_request_body
        else:
            conn.body_deadline = 0.0
            arm(conn)
            conn.reject(408, "request body not received in time")
            return
    if conn.app_deadline and conn.app_deadline <= now:
        conn.app_deadline = 0.0
        if conn.cycle is not None:
            _cancel(conn, conn.cycle)
    arm(conn)


def _cancel(conn: TimedConnection, cycle: TimedCycle) -> None:
    """--timeout-request ran out: answer 504 if nothing is on the wire, else cut; cancel the app."""
    task = cycle.task
    if cycle.complete or task is None or task.done():
        return
    scope = cycle.scope
    logger.warning(
        "Request %s %s from %s ran over --timeout-request (%ss): cancelled",
        scope["method"],
        scope["path"],
        conn.client,
        conn.state.timeout_request,
    )
    if cycle.head_written:
        cycle.on_disconnect()
        conn.close()
    else:
        cycle.keep_alive = False
        cycle.respond_error(504)
        cycle.on_disconnect()  # whatever the app does while it unwinds goes nowhere
    task.cancel()
