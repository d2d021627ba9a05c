"""The HTTP/1 connection's state machine (mypkg/http/connection.py), fed bytes without sockets.

Each test drives the real protocol class of each parser read by read (tests/support/feed.py)
and checks the phase the connection's table put it in: keep-alive, pipelining, upgrade, a bad
request behind a good one, deadlines and draining. The table itself is checked as data.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from mypkg.http import connection
from mypkg.http.connection import (
    BUSY,
    CLOSED,
    HEAD,
    IDLE,
    REFUSING,
    SWITCHED,
    TERMINAL,
    TRANSITIONS,
    UPGRADING,
    Event,
    IllegalTransition,
    Phase,
    after,
)
from mypkg.metrics import connection_counts
from tests.support.feed import Feed

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
SLOW = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


class Gate:
    """An app whose ``/slow`` requests wait until the test opens the gate."""

    def __init__(self) -> None:
        self.gate: asyncio.Future[None] | None = None

    def open(self) -> None:
        assert self.gate is not None
        self.gate.set_result(None)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            self.gate = asyncio.get_running_loop().create_future()
            await self.gate
        body = scope["path"].encode()
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def statuses(written: bytes) -> list[bytes]:
    """The status of each response in ``written`` (a body may run into the next status line)."""
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", written)


def test_keep_alive_goes_head_busy_idle_and_round_again(http: str) -> None:
    with Feed(http, Gate(), timeout_request_head=7, timeout_keep_alive=3) as feed:
        conn, state = feed.protocol, feed.state
        assert conn.phase is HEAD and conn.deadline == pytest.approx(state.now + 7)
        assert feed.send(GET[:10]) == b"" and conn.phase is HEAD
        assert statuses(feed.send(GET[10:])) == [b"200"]
        assert conn.phase is IDLE and conn.deadline == pytest.approx(state.now + 3)
        feed.send(GET[:5])  # the next request's first bytes: its head deadline starts
        assert conn.phase is HEAD and conn.deadline == pytest.approx(state.now + 7)
        assert statuses(feed.send(GET[5:])) == [b"200"] and conn.phase is IDLE
        assert not feed.transport.closed


def test_connection_close_ends_in_closed(http: str) -> None:
    with Feed(http, Gate()) as feed:
        written = feed.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert statuses(written) == [b"200"] and b"connection: close" in written
        assert feed.protocol.phase is CLOSED and feed.transport.closed


def test_pipelined_requests_stay_busy_until_the_last_response(http: str) -> None:
    app = Gate()
    with Feed(http, app) as feed:
        assert feed.send(SLOW + GET + GET) == b""
        assert feed.protocol.phase is BUSY
        app.open()
        written = feed.send(b"")
        assert written.count(b"HTTP/1.1 200") == 3
        assert written.index(b"/slow") < written.rindex(b"\r\n\r\n/")  # in order
        assert feed.protocol.phase is IDLE and not feed.transport.closed


def test_upgrade_is_handed_over_after_the_responses_ahead(http: str) -> None:
    app = Gate()
    handed: list[tuple[str, bytes]] = []
    with Feed(http, app) as feed:
        feed.state.upgrade = lambda transport, scope, rest: handed.append((scope["path"], rest))
        feed.send(SLOW + UPGRADE + b"\x81\x80frame")
        # httptools has parsed the upgrade request and waits; h11 holds its bytes unparsed.
        assert feed.protocol.phase is {"httptools": UPGRADING, "h11": BUSY}[http]
        assert (feed.protocol.upgrade_scope is not None) is (feed.protocol.phase is UPGRADING)
        assert handed == []
        app.open()
        assert statuses(feed.send(b"")) == [b"200"]
        assert handed == [("/ws", b"\x81\x80frame")]
        assert feed.protocol.phase is SWITCHED


def test_upgrade_alone_switches_at_once(http: str) -> None:
    handed: list[bytes] = []
    with Feed(http, Gate()) as feed:
        feed.state.upgrade = lambda transport, scope, rest: handed.append(rest)
        assert feed.send(UPGRADE) == b""
        assert handed == [b""] and feed.protocol.phase is SWITCHED


def test_a_bad_request_behind_a_good_one_is_answered_after_it(http: str) -> None:
    app = Gate()
    with Feed(http, app) as feed:
        feed.send(SLOW + b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n")
        # httptools has refused it already and waits; h11 reads it once the response is done.
        assert feed.protocol.phase is {"httptools": REFUSING, "h11": BUSY}[http]
        assert (feed.protocol.pending_error is not None) is (feed.protocol.phase is REFUSING)
        app.open()
        assert statuses(feed.send(b"")) == [b"200", b"400"]
        assert feed.protocol.phase is CLOSED and feed.transport.closed


def test_deadline_in_head_answers_408_and_in_idle_closes_quietly(http: str) -> None:
    with Feed(http, Gate()) as feed:
        feed.send(GET[:10])
        feed.protocol.on_deadline()
        assert statuses(bytes(feed.transport.written)) == [b"408"]
        assert feed.protocol.phase is CLOSED
    with Feed(http, Gate()) as feed:
        feed.send(GET)
        before = bytes(feed.transport.written)
        feed.protocol.on_deadline()
        assert feed.protocol.phase is CLOSED and feed.transport.written == before


def test_drain_keeps_an_idle_connection_for_one_last_request(http: str) -> None:
    with Feed(http, Gate(), timeout_keep_alive=30) as feed:
        conn, state = feed.protocol, feed.state
        feed.send(GET)
        state.shutting_down, state.timeout_keep_alive = True, 1.0  # as ServerState.drain does
        conn.shutdown()
        assert conn.phase is IDLE and conn.deadline == pytest.approx(state.now + 1.0)
        written = feed.send(GET)
        assert statuses(written) == [b"200"] and b"connection: close" in written
        assert conn.phase is CLOSED and feed.transport.closed


def test_drain_lets_a_busy_connection_finish_with_connection_close(http: str) -> None:
    app = Gate()
    with Feed(http, app) as feed:
        feed.send(SLOW)
        feed.state.shutting_down = True
        feed.protocol.shutdown()
        assert feed.protocol.phase is BUSY
        app.open()
        written = feed.send(b"")
        assert statuses(written) == [b"200"] and b"connection: close" in written
        assert feed.protocol.phase is CLOSED


# --------------------------------------------------------------------------- the table as data


def test_every_phase_is_reachable_from_head() -> None:
    seen, frontier = {Phase.HEAD}, [Phase.HEAD]
    while frontier:
        phase = frontier.pop()
        for row in TRANSITIONS.values():
            target = row.get(phase)
            if target is not None and target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(Phase)


@pytest.mark.parametrize("event", list(Event))
def test_terminal_phases_absorb_every_event(event: Event) -> None:
    for phase in TERMINAL:
        assert after(phase, event) is phase


@pytest.mark.parametrize(
    ("phase", "event"),
    [(HEAD, Event.SWITCH), (IDLE, Event.NEXT), (HEAD, Event.KEEP_ALIVE), (REFUSING, Event.BYTES)],
)
def test_an_event_that_cannot_happen_is_a_named_error(phase: Phase, event: Event) -> None:
    with pytest.raises(IllegalTransition, match=f"{event.name} cannot happen in {phase.name}"):
        after(phase, event)


def test_metrics_count_http1_and_http2_connections_as_http(http: str) -> None:
    """The state counts connections by the class's SERVES_HTTP (it imports no protocol): an
    HTTP/2 connection is HTTP, anything else (a WebSocket) is not."""
    from mypkg.http.h2_impl import H2Protocol

    with Feed(http, Gate()) as feed:
        other = object()  # as a WebSocket connection: no SERVES_HTTP
        assert connection_counts({feed.protocol, H2Protocol(feed.protocol), other}) == (2, 1)


def test_the_table_in_the_docstring_is_the_table_in_the_code() -> None:
    """connection.py's docstring is where a reader looks: it lists exactly the code's entries."""
    doc = (connection.__doc__ or "").splitlines()
    rules = [number for number, line in enumerate(doc) if line.startswith("=====")]
    documented: set[tuple[Event, Phase]] = set()
    event = Event.BYTES
    for line in doc[rules[1] + 1 : rules[2]]:  # columns: event [0:12], from [12:32], to
        if line[:12].strip():
            event = Event[line[:12].strip()]
        sources = line[12:32].replace(",", " ").split()
        documented |= {(event, phase) for phase in Phase if sources in (["any"], [phase.name])}
        documented |= {(event, Phase[name]) for name in sources if name != "any"}
    in_code = {
        (event, phase)
        for event, row in TRANSITIONS.items()
        for phase in row
        if phase not in TERMINAL or row[phase] is not phase  # (terminal phases absorb all)
    }
    assert documented - {(Event.CLOSE, phase) for phase in TERMINAL} == in_code
