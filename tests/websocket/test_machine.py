"""The WebSocket ASGI state machine, sans I/O: events in, states and errors out, no sockets.

The expected table is written out here on its own (not read from the module), so a row changed
in ``machine.py`` fails a test that says which one.
"""

from __future__ import annotations

import itertools

import pytest

from mypkg.errors import ClientDisconnected
from mypkg.websocket.machine import (
    APP_EVENTS,
    TRANSITIONS,
    AsgiMachine,
    Event,
    IllegalEvent,
    IllegalMessage,
    State,
)

S, E = State, Event
# Over for the app: only the transport's loss still changes anything.
_ENDED: dict[Event, State | None] = {
    E.CLOSE: None,
    E.PEER_DATA: None,
    E.PEER_CLOSE: None,
    E.SHUTDOWN: None,
    E.APP_ENDED: None,
    E.LOST: S.GONE,
}

# state -> event -> next state (None: the state stays).
EXPECTED: dict[State, dict[Event, State | None]] = {
    S.CONNECTING: {
        E.ACCEPT: S.OPEN,
        E.CLOSE: S.REFUSED,
        E.RESPONSE_START: S.DENYING,
        E.PEER_DATA: None,
        E.PEER_CLOSE: S.DISCONNECTED,
        E.REFUSE: S.REFUSED,
        E.SHUTDOWN: S.REFUSED,
        E.APP_ENDED: S.REFUSED,
        E.LOST: S.GONE,
    },
    S.DENYING: {
        E.RESPONSE_BODY: None,
        E.RESPONSE_END: S.REFUSED,
        E.PEER_DATA: None,
        E.PEER_CLOSE: S.DISCONNECTED,
        E.SHUTDOWN: None,
        E.APP_ENDED: S.REFUSED,
        E.LOST: S.GONE,
    },
    S.OPEN: {
        E.SEND: None,
        E.CLOSE: S.CLOSED,
        E.PEER_DATA: None,
        E.PEER_CLOSE: S.DISCONNECTED,
        E.SHUTDOWN: S.CLOSING,
        E.APP_ENDED: S.CLOSING,
        E.LOST: S.GONE,
    },
    S.CLOSING: {
        E.CLOSE: S.CLOSED,
        E.PEER_DATA: None,
        E.PEER_CLOSE: S.DISCONNECTED,
        E.SHUTDOWN: None,
        E.APP_ENDED: None,
        E.LOST: S.GONE,
    },
    S.DISCONNECTED: {**_ENDED, E.CLOSE: S.CLOSED},
    S.CLOSED: dict(_ENDED),
    S.REFUSED: dict(_ENDED),
    S.GONE: dict(_ENDED),
}

APP = {E.ACCEPT, E.SEND, E.CLOSE, E.RESPONSE_START, E.RESPONSE_BODY, E.RESPONSE_END, E.UNKNOWN}
ROWS = [(s, e, n) for s, row in EXPECTED.items() for e, n in row.items()]
ILLEGAL = [(s, e) for s, e in itertools.product(State, Event) if e not in EXPECTED[s]]


def machine_in(state: State) -> AsgiMachine:
    machine = AsgiMachine()
    machine.state = state
    return machine


def test_the_table_is_the_expected_one() -> None:
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("state", "event", "following"), ROWS, ids=str)
def test_every_row(state: State, event: Event, following: State | None) -> None:
    machine = machine_in(state)
    assert machine.expect(event) is (following or state)
    assert machine.state is state, "expect() must not move the machine"
    assert machine.handle(event) is (following or state)
    assert machine.state is (following or state)


@pytest.mark.parametrize(("state", "event"), ILLEGAL, ids=str)
def test_every_illegal_event(state: State, event: Event) -> None:
    machine = machine_in(state)
    if event not in APP:
        expected: type[Exception] = IllegalEvent  # the server's or the peer's: a bug of ours
    elif state in (S.DISCONNECTED, S.CLOSED, S.REFUSED, S.GONE):
        expected = ClientDisconnected  # the connection is over for the app
    elif state is S.CLOSING and event is E.SEND:
        expected = ClientDisconnected
    else:
        expected = IllegalMessage  # the app is wrong: the adapter answers 500 or closes 1011
    with pytest.raises(expected):
        machine.handle(event, "x.y")
    assert machine.state is state, "an illegal event must change nothing"


def test_illegal_app_messages_say_what_was_expected() -> None:
    with pytest.raises(IllegalMessage, match=r"expected 'websocket\.accept', 'websocket\.close'"):
        AsgiMachine().handle(E.SEND, "websocket.send")
    with pytest.raises(
        IllegalMessage, match=r"expected 'websocket\.http\.response\.body', got 'x'"
    ):
        machine_in(S.DENYING).handle(E.UNKNOWN, "x")
    with pytest.raises(IllegalMessage, match=r"unexpected ASGI message 'websocket\.accept'"):
        machine_in(S.OPEN).handle(E.ACCEPT, "websocket.accept")
    assert isinstance(IllegalMessage("x"), RuntimeError)  # what apps and frameworks expect


def test_app_message_types_map_to_events() -> None:
    assert {name: event.name for name, event in APP_EVENTS.items()} == {
        "websocket.accept": "ACCEPT",
        "websocket.send": "SEND",
        "websocket.close": "CLOSE",
        "websocket.http.response.start": "RESPONSE_START",
        "websocket.http.response.body": "RESPONSE_BODY",
    }


def drive(*events: Event) -> list[State]:
    machine = AsgiMachine()
    return [machine.handle(event) for event in events]


def test_a_whole_session_the_peer_closes() -> None:
    assert drive(E.PEER_DATA, E.ACCEPT, E.PEER_DATA, E.SEND, E.PEER_CLOSE, E.CLOSE, E.LOST) == [
        S.CONNECTING,
        S.OPEN,
        S.OPEN,
        S.OPEN,
        S.DISCONNECTED,
        S.CLOSED,
        S.GONE,
    ]


def test_a_denial_then_the_app_returns() -> None:
    states = drive(E.RESPONSE_START, E.RESPONSE_BODY, E.RESPONSE_END, E.APP_ENDED, E.LOST)
    assert states == [S.DENYING, S.DENYING, S.REFUSED, S.REFUSED, S.GONE]


def test_shutdown_closes_and_the_app_hears_of_it_when_the_peer_answers() -> None:
    states = drive(E.ACCEPT, E.SHUTDOWN, E.PEER_DATA, E.PEER_CLOSE)
    assert states == [S.OPEN, S.CLOSING, S.CLOSING, S.DISCONNECTED]


def test_sending_after_the_server_closed_is_a_disconnect() -> None:
    machine = AsgiMachine()
    machine.handle(E.ACCEPT)
    machine.handle(E.APP_ENDED)
    with pytest.raises(ClientDisconnected):
        machine.handle(E.SEND, "websocket.send")
    assert machine.handle(E.CLOSE) is S.CLOSED
