"""The ASGI side of one WebSocket connection as a sans-I/O state machine: one enum, one table.

websockets' ``ServerProtocol`` keeps the wire's state (frames, the closing handshake). This keeps
what the wire cannot tell: what the app has said and may still say, and whether it has been told
the connection ended. Like h11's ``_state.py``, the rules are data (``TRANSITIONS``); ``handle``
applies one event or raises, and the adapter (``connection.py``) does the I/O each transition
calls for. An app message illegal in the current state raises ``IllegalMessage`` (a
``RuntimeError``: the app is wrong, so the adapter answers 500 or closes with 1011), or
``ClientDisconnected`` when the connection is over for the app (ASGI spec 2.4).
"""

from __future__ import annotations

import enum

from mypkg.errors import ClientDisconnected


class State(enum.Enum):
    """Where the ASGI conversation is."""

    CONNECTING = "connecting"  # the handshake waits for the app's answer
    DENYING = "denying"  # the app's HTTP denial response is under way
    OPEN = "open"  # accepted: messages flow both ways
    CLOSING = "closing"  # the server sent its close frame (shutdown, the app ended); app not told
    DISCONNECTED = "disconnected"  # the peer closed or the protocol failed: the app was told
    CLOSED = "closed"  # the app closed (websocket.close after the handshake)
    REFUSED = "refused"  # the handshake was answered with an HTTP error response
    GONE = "gone"  # the transport is lost


class Event(enum.Enum):
    """What can happen to a connection: the app's messages, the peer, the server."""

    ACCEPT = "websocket.accept"
    SEND = "websocket.send"
    CLOSE = "websocket.close"
    RESPONSE_START = "websocket.http.response.start"
    RESPONSE_BODY = "websocket.http.response.body"  # with more_body
    RESPONSE_END = "websocket.http.response.body (last)"
    UNKNOWN = "an unknown message type"  # never legal: only for the error it raises
    PEER_DATA = "peer data"  # frames (or, before the 101, bytes held back) arrived
    PEER_CLOSE = "peer close"  # the peer's close frame or EOF, or a protocol failure
    REFUSE = "server refusal"  # the server answered the handshake itself (busy, invalid, ...)
    SHUTDOWN = "server shutdown"
    APP_ENDED = "app ended"  # the app returned or raised
    LOST = "transport lost"


CONNECTING, DENYING, OPEN = State.CONNECTING, State.DENYING, State.OPEN
CLOSING, DISCONNECTED, CLOSED = State.CLOSING, State.DISCONNECTED, State.CLOSED
REFUSED, GONE = State.REFUSED, State.GONE

# The app's message types as events; RESPONSE_END is told apart by the adapter (more_body).
APP_EVENTS: dict[str, Event] = {
    event.value: event
    for event in (
        Event.ACCEPT,
        Event.SEND,
        Event.CLOSE,
        Event.RESPONSE_START,
        Event.RESPONSE_BODY,
    )
}
_APP = frozenset((*APP_EVENTS.values(), Event.RESPONSE_END, Event.UNKNOWN))

# Events that change nothing wherever the connection is already over for the app.
_AFTER = {
    Event.CLOSE: None,  # None: the state stays as it is
    Event.PEER_DATA: None,
    Event.PEER_CLOSE: None,
    Event.SHUTDOWN: None,
    Event.APP_ENDED: None,
    Event.LOST: GONE,
}


def _live(**rows: State | None) -> dict[Event, State | None]:
    """A state in which the connection still lives: the peer's data is kept (for the app, or
    held back until it answers the handshake), the peer's close or a protocol failure ends it
    for the app, a lost transport ends it for everyone."""
    table: dict[Event, State | None] = {
        Event.PEER_DATA: None,
        Event.PEER_CLOSE: DISCONNECTED,
        Event.LOST: GONE,
    }
    table.update((Event[name], state) for name, state in rows.items())
    return table


# state -> event -> next state (None: unchanged). A missing event is illegal in that state.
TRANSITIONS: dict[State, dict[Event, State | None]] = {
    CONNECTING: _live(
        ACCEPT=OPEN,
        CLOSE=REFUSED,  # 403
        RESPONSE_START=DENYING,
        REFUSE=REFUSED,
        SHUTDOWN=REFUSED,  # 503
        APP_ENDED=REFUSED,  # 500
    ),
    DENYING: _live(
        RESPONSE_BODY=None,
        RESPONSE_END=REFUSED,
        SHUTDOWN=None,  # the app is answering: let it finish
        APP_ENDED=REFUSED,  # 500 (a denial is only sent when complete)
    ),
    OPEN: _live(
        SEND=None,
        CLOSE=CLOSED,
        SHUTDOWN=CLOSING,  # 1012
        APP_ENDED=CLOSING,  # 1000, or 1011 when it raised
    ),
    CLOSING: _live(  # peer data is still delivered until the peer answers our close
        CLOSE=CLOSED,
        SHUTDOWN=None,
        APP_ENDED=None,
    ),
    DISCONNECTED: {**_AFTER, Event.CLOSE: CLOSED},
    CLOSED: dict(_AFTER),
    REFUSED: dict(_AFTER),
    GONE: dict(_AFTER),
}

# States in which an illegal app message means "the connection is over" (ClientDisconnected)
# rather than "the app is wrong"; CLOSING is over for websocket.send only.
_OVER = frozenset((DISCONNECTED, CLOSED, REFUSED, GONE))
# Data for the app is delivered in these states only.
DELIVERING = frozenset((OPEN, CLOSING))
# Bytes from the peer are not frames yet (before the 101) or are for nobody (after a refusal).
BEFORE_OPEN = frozenset((CONNECTING, DENYING, REFUSED))

_EXPECTED = {
    CONNECTING: "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'",
    DENYING: "'websocket.http.response.body'",
}


class IllegalMessage(RuntimeError):
    """The app sent a message its connection's state does not allow."""


class IllegalEvent(RuntimeError):
    """An event from the peer or the server that cannot happen in this state (a bug)."""


class AsgiMachine:
    """The state of one connection's ASGI conversation; ``handle`` moves it on."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = CONNECTING

    def expect(self, event: Event, kind: str = "") -> State:
        """The state ``event`` would lead to, or raise if it is illegal here (``kind``: the app's
        message type, for the error). Nothing changes: the adapter validates the message first."""
        state = self.state
        row = TRANSITIONS[state]
        if event in row:
            following = row[event]
            return state if following is None else following
        raise _illegal(state, event, kind or event.value)

    def handle(self, event: Event, kind: str = "") -> State:
        """Apply ``event`` and return the new state, or raise if it is illegal here."""
        self.state = following = self.expect(event, kind)
        return following


def _illegal(state: State, event: Event, kind: str) -> Exception:
    if event not in _APP:
        return IllegalEvent(f"{event.value} cannot happen while the WebSocket is {state.value}")
    if state in _OVER or (state is CLOSING and event is Event.SEND):
        return ClientDisconnected("the WebSocket connection is closed")
    if state in _EXPECTED:
        return IllegalMessage(f"expected {_EXPECTED[state]}, got {kind!r}")
    return IllegalMessage(f"unexpected ASGI message {kind!r} on an open WebSocket")
