"""The test helpers fail when the server misbehaves in a way they cannot parse.

A load generator whose thread dies (here: on a status line ``HTTP/1.1 2OO``) must fail the test
that uses it instead of reporting "no failures"; the helpers' own guarantees are listed in
docs/testing.md.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.load import Load

BAD_ANSWER = b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok"


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b""):
            pass  # the request head
        self.wfile.write(BAD_ANSWER)


@contextmanager
def bad_server() -> Iterator[int]:
    """A server on port 0 answering every request with an unparsable status line."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            thread.join(5)


@pytest.mark.parametrize("keep_alive", [True, False], ids=["keep-alive", "close"])
def test_load_generator_death_fails_the_test(keep_alive: bool) -> None:
    with bad_server() as port:
        generator = Load(port, connections=2, keep_alive=keep_alive, limit=5).__enter__()
        with pytest.raises(AssertionError, match="load thread died"):
            generator.wait_for(1, timeout=5)
        with pytest.raises(AssertionError, match="load thread died"):
            generator.stop()
    assert not generator.tally.failures  # what the old check looked at: it saw nothing wrong
