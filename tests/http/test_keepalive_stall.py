"""A loop that did not run for a while must not cut keep-alive connections whose next request is
already waiting in the socket: deadlines are judged only after the sockets were polled.

On uvloop (libuv) the timers of a loop iteration run before its socket poll, so after a stall the
server's ticker sees deadlines that passed while it was not running before it sees the requests
that arrived meanwhile. The stall here is a reader callback that sleeps, so it happens in the poll
phase, as a process descheduled under CPU starvation would."""

from __future__ import annotations

import socket
import threading
import time

from tests import apps
from tests.conftest import RawClient, serve

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_requests_waiting_during_a_stall_are_served(http: str) -> None:
    blocked = threading.Event()
    stall_r, stall_w = socket.socketpair()

    def stall() -> None:
        stall_r.recv(1)
        blocked.set()
        time.sleep(2.0)  # the whole event loop stalls

    with (
        stall_r,
        stall_w,
        serve(apps.hello, http=http, timeout_keep_alive=0.5) as running,
        RawClient(running.port) as idle,
    ):
        state = running.server.state
        assert state is not None
        state.loop.call_soon_threadsafe(state.loop.add_reader, stall_r.fileno(), stall)
        idle.send(GET)
        assert idle.response().status == 200  # now idle, with a 0.5 s keep-alive deadline
        stall_w.send(b"x")
        assert blocked.wait(5)
        idle.send(GET)  # waits in the socket buffer while the deadline passes
        assert idle.response().status == 200
        state.loop.call_soon_threadsafe(state.loop.remove_reader, stall_r.fileno())
