"""The life of an HTTP/1 connection as data: one ``Phase``, and the one table of its transitions.

``HttpProtocol`` (protocol.py) is the asyncio side: it feeds the parser, runs the cycles and
decides which event happened; this table says where each event leads. Read it as the answer to
"what happens to keep-alive, pipelining, an upgrade, a bad request, a drain":

==========  ==================  ================================================================
event       from                to
==========  ==================  ================================================================
BYTES       IDLE                HEAD: the next request's first bytes (its head deadline starts)
REQUEST     HEAD, IDLE          BUSY: a head is accepted, its app starts (IDLE: h11's held bytes)
REQUEST     BUSY                BUSY: pipelining, the request is queued behind the one in flight
UPGRADE     HEAD, IDLE, BUSY    UPGRADING: handed over once the responses ahead are done
KEEP_ALIVE  BUSY                IDLE: the response is done and the connection stays open
KEEP_ALIVE  UPGRADING           UPGRADING: the response ahead is done, the upgrade's body is not
NEXT        BUSY, UPGRADING,    the same: a response is done, the next queued request starts
            REFUSING
SWITCH      UPGRADING           SWITCHED: the WebSocket layer owns the transport from here
REFUSE      HEAD, IDLE, BUSY,   REFUSING: a bad request's error waits for the responses ahead
            UPGRADING
REFUSE      REFUSING            REFUSING: a later error (a body deadline) replaces the first
CLOSE       any                 CLOSED: Connection: close, an error answered, a deadline, EOF
==========  ==================  ================================================================

Draining (shutdown) changes no phase: a BUSY connection's response says ``Connection: close``
and CLOSE follows it; HEAD and IDLE keep their phase with the short drain deadline, which ends
in CLOSE (IDLE) or a 408 (HEAD, the head never came). The terminal phases, SWITCHED and
CLOSED, absorb every event: a callback already on its way changes nothing.

The hot path (one read, one request, one response) takes three transitions, each one lookup in
a row of the table (``ON_BYTES`` and so on) with phases compared by identity.
"""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    """Where a connection is. Its one deadline means: HEAD, the request head is due (408);
    IDLE, keep-alive is over (close); otherwise the body and app limits of timelimits.py."""

    HEAD = "waiting for or reading a request head"
    BUSY = "a request in flight, perhaps more queued behind it"
    IDLE = "between requests, kept alive"
    UPGRADING = "an upgrade request accepted, waiting for the responses ahead"
    REFUSING = "an error answer waiting for the responses ahead; nothing more is read"
    SWITCHED = "handed over to the WebSocket layer"
    CLOSED = "closed or closing"

    # Members are singletons: identity hashing makes a table lookup a C-level dict probe
    # (Enum's own __hash__ is a Python function hashing the name).
    __hash__ = object.__hash__


class Event(enum.Enum):
    """What happened to the connection, as HttpProtocol decides it."""

    BYTES = "bytes arrived"
    REQUEST = "a request head was accepted"
    UPGRADE = "a WebSocket upgrade request was accepted"
    KEEP_ALIVE = "a response is done; nothing is queued; the connection stays open"
    NEXT = "a response is done; a queued request starts"
    SWITCH = "the connection is handed over"
    REFUSE = "a bad request is answered once the responses ahead are done"
    CLOSE = "the connection closes"

    __hash__ = object.__hash__


HEAD, BUSY, IDLE = Phase.HEAD, Phase.BUSY, Phase.IDLE
UPGRADING, REFUSING, SWITCHED, CLOSED = (
    Phase.UPGRADING,
    Phase.REFUSING,
    Phase.SWITCHED,
    Phase.CLOSED,
)
TERMINAL = (SWITCHED, CLOSED)

_TABLE: dict[Event, dict[Phase, Phase]] = {
    Event.BYTES: {IDLE: HEAD},
    Event.REQUEST: {HEAD: BUSY, IDLE: BUSY, BUSY: BUSY},
    Event.UPGRADE: {HEAD: UPGRADING, IDLE: UPGRADING, BUSY: UPGRADING},
    Event.KEEP_ALIVE: {BUSY: IDLE, UPGRADING: UPGRADING},
    Event.NEXT: {BUSY: BUSY, UPGRADING: UPGRADING, REFUSING: REFUSING},
    Event.SWITCH: {UPGRADING: SWITCHED},
    Event.REFUSE: {phase: REFUSING for phase in (HEAD, IDLE, BUSY, UPGRADING, REFUSING)},
    Event.CLOSE: {phase: CLOSED for phase in Phase if phase is not SWITCHED},
}


class IllegalTransition(RuntimeError):
    """An event the table has no entry for in the current phase: a bug in HttpProtocol."""


# Plain dicts (a dict subclass would make each lookup three times slower): a phase missing
# from a row raises KeyError on the request path, IllegalTransition through ``after``.
TRANSITIONS: dict[Event, dict[Phase, Phase]] = {
    event: {**{phase: phase for phase in TERMINAL}, **row} for event, row in _TABLE.items()
}

# The rows the request path consults, named once.
ON_BYTES = TRANSITIONS[Event.BYTES]
ON_REQUEST = TRANSITIONS[Event.REQUEST]
ON_UPGRADE = TRANSITIONS[Event.UPGRADE]
ON_KEEP_ALIVE = TRANSITIONS[Event.KEEP_ALIVE]
ON_NEXT = TRANSITIONS[Event.NEXT]
ON_SWITCH = TRANSITIONS[Event.SWITCH]
ON_REFUSE = TRANSITIONS[Event.REFUSE]
ON_CLOSE = TRANSITIONS[Event.CLOSE]


def after(phase: Phase, event: Event) -> Phase:
    """The phase ``event`` leads to from ``phase`` (IllegalTransition if it cannot happen)."""
    row = TRANSITIONS[event]
    if phase not in row:
        raise IllegalTransition(f"{event.name} cannot happen in {phase.name}")
    return row[phase]
