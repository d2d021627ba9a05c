"""A small HTTP/2 load generator that honours GOAWAY the way RFC 9113 §6.8 asks, and counts
every stream that fails.

Why not h2load: nghttp2's h2load (1.52) opens no new connection after a GOAWAY; the requests it
still meant to send on that connection count as failed, however cleanly the server drained. This
client, like browsers and gRPC, stops opening streams on a connection once it has a GOAWAY,
lets the streams in flight finish and goes on over a new connection. A failure is a stream reset
or refused by the server, a connection closed or silent with streams in flight, or a non-2xx.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import h2.events

from tests.support.h2client import H2Client, request_headers
from tests.support.load import LoadThreads

ALL_STREAMS = 2**31 - 1  # the last stream id of a GOAWAY that announces a graceful stop


class H2Load(LoadThreads):
    """``connections`` threads, each keeping ``streams`` requests in flight on one connection;
    the API of ``Load`` (load.py): ``wait_for``, ``stop`` and a ``Tally`` (``closes``: GOAWAYs)."""

    def __init__(
        self, port: int, *, connections: int = 4, streams: int = 8, limit: float = 30.0
    ) -> None:
        super().__init__(limit)
        self.port, self.streams, self.connections = port, streams, connections

    def __enter__(self) -> H2Load:
        self.start(
            *(threading.Thread(target=self._run, daemon=True) for _ in range(self.connections))
        )
        return self

    def _run(self) -> None:
        try:
            self._client()
        except BaseException as exc:  # surfaced by stop() and the waits
            self.died(exc)

    def _client(self) -> None:
        deadline = time.monotonic() + self.limit
        while (
            not self.stopping.is_set() and not self.tally.failures and time.monotonic() < deadline
        ):
            try:
                with H2Client(self.port, timeout=10) as client:
                    self._connection(client)
            except Exception as exc:  # counted, so the test shows what went wrong
                self.tally.fail(f"{type(exc).__name__}: {exc}")

    def _connection(self, client: H2Client) -> None:
        inflight: set[int] = set()
        going_away = False
        while True:
            while not going_away and not self.stopping.is_set() and len(inflight) < self.streams:
                inflight.add(client.request(request_headers(), None))
            if not inflight:
                return
            events = client.read()
            if client.closed:
                self.tally.fail(f"closed with {len(inflight)} streams in flight")
                return
            for event in events:
                going_away = self._event(client, event, inflight) or going_away

    def _event(self, client: H2Client, event: Any, inflight: set[int]) -> bool:
        """Handle one event; True once the server has said GOAWAY."""
        if isinstance(event, h2.events.ResponseReceived):
            if dict(event.headers).get(b":status", b"")[:1] != b"2":
                self.tally.fail(f"status {dict(event.headers)[b':status']!r}")
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id in inflight:
            inflight.discard(event.stream_id)
            self.tally.count_ok()
        elif isinstance(event, h2.events.StreamReset):
            self.tally.fail(f"stream {event.stream_id} reset ({event.error_code})")
            inflight.discard(event.stream_id)
        elif isinstance(event, h2.events.PingReceived) and client.after_goaway:
            client.ack_ping(event.ping_data)  # h2 acks pings itself, but not after a GOAWAY
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.tally.closes += 1
            last = event.last_stream_id or 0
            if last != ALL_STREAMS:
                refused = {stream for stream in inflight if stream > last}
                if refused:
                    self.tally.fail(f"streams {sorted(refused)} refused by GOAWAY")
                inflight -= refused
            return True
        return False
