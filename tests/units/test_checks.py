"""Unit tests of two decisions that the process and wire tests reach only indirectly.

* The request-head scan that refuses smuggling vectors (``HttpProtocol.on_request_head``): over
  the wire, llhttp refuses most of these heads before mypkg's own check runs, so without a direct
  test the check could rot unnoticed while httptools covers for it.
* The respawn backoff schedule of mypkg's master (``supervisor.pool.Backoff``): a process test
  sees only a few deaths; here every step of the schedule, its cap and its reset are pinned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mypkg import Config
from mypkg.errors import ProtocolError
from mypkg.http.protocol import HttpProtocol
from mypkg.state import ServerState
from mypkg.supervisor.pool import Backoff
from tests.support import apps

Headers = list[tuple[bytes, bytes]]
HOST = (b"host", b"x")


@pytest.fixture
def protocol() -> Iterator[HttpProtocol]:
    """A connection's shared lifecycle over a real server state; no parser, no transport: the
    head scan runs before either is needed."""
    loop = asyncio.new_event_loop()
    try:
        yield HttpProtocol(ServerState(Config(apps.hello), apps.hello, loop))
    finally:
        loop.close()


CL, TE = b"content-length", b"transfer-encoding"
# name -> (HTTP version, headers, a word of the reason: each case has exactly one defect)
REFUSED: dict[str, tuple[str, Headers, str]] = {
    "cl-and-te": ("1.1", [HOST, (CL, b"5"), (TE, b"chunked")], "Transfer-Encoding"),
    "te-and-cl": ("1.1", [HOST, (TE, b"chunked"), (CL, b"5")], "Transfer-Encoding"),
    "te-twice": ("1.1", [HOST, (TE, b"chunked"), (TE, b"chunked")], "Transfer-Encoding"),
    "te-gzip": ("1.1", [HOST, (TE, b"gzip")], "Transfer-Encoding"),
    "te-gzip-chunked": ("1.1", [HOST, (TE, b"gzip, chunked")], "Transfer-Encoding"),
    "te-identity": ("1.0", [(TE, b"identity")], "Transfer-Encoding"),
    "cl-twice-same": ("1.1", [HOST, (CL, b"5"), (CL, b"5")], "Content-Length"),
    "cl-list": ("1.1", [HOST, (CL, b"5, 5")], "Content-Length"),
    "cl-plus": ("1.1", [HOST, (CL, b"+5")], "Content-Length"),
    "cl-negative": ("1.1", [HOST, (CL, b"-1")], "Content-Length"),
    "cl-space": ("1.1", [HOST, (CL, b"5 5")], "Content-Length"),
    "cl-empty": ("1.1", [HOST, (CL, b"")], "Content-Length"),
    "no-host-1.1": ("1.1", [], "Host"),
    "two-hosts-1.1": ("1.1", [HOST, HOST], "Host"),
    "two-hosts-1.0": ("1.0", [HOST, HOST], "Host"),
}


@pytest.mark.parametrize(("version", "headers", "word"), REFUSED.values(), ids=REFUSED.keys())
def test_head_scan_refuses_smuggling_vectors(
    protocol: HttpProtocol, version: str, headers: Headers, word: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.on_request_head("POST", b"/", version, headers)
    assert info.value.status == 400
    assert word in info.value.reason, info.value.reason
    assert protocol.cycle is None and protocol.parsing is None  # nothing was started


@pytest.mark.parametrize(("version", "status"), [("2.0", 505), ("1.2", 505), ("0.9", 400)])
def test_head_scan_refuses_other_versions(
    protocol: HttpProtocol, version: str, status: int
) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.on_request_head("GET", b"/", version, [HOST])
    assert info.value.status == status


# --------------------------------------------------------------------------- respawn backoff


def test_backoff_schedule_doubles_up_to_its_cap() -> None:
    backoff = Backoff()
    now = 1000.0
    delays = []
    for _ in range(9):
        now += 1.0  # deaths a second apart: well within the calm period
        delays.append(backoff.died(now))
    assert delays == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_allows_a_respawn_only_once_the_delay_has_passed() -> None:
    backoff = Backoff()
    assert backoff.allows(0.0)  # nothing died yet
    assert backoff.died(100.0) == 0.0
    assert backoff.allows(100.0)  # the first death is replaced at once
    assert backoff.died(101.0) == 0.5
    assert not backoff.allows(101.0)
    assert not backoff.allows(101.49)
    assert backoff.allows(101.5)
    assert backoff.not_before == 101.5


def test_backoff_is_forgotten_after_a_calm_minute() -> None:
    backoff = Backoff()
    for second in range(4):
        backoff.died(100.0 + second)
    assert backoff.died(103.0 + Backoff.CALM) == 4.0  # exactly a minute: still counting
    assert backoff.died(103.0 + 2 * Backoff.CALM + 0.01) == 0.0  # over a minute: forgotten
    assert backoff.died(104.0 + 2 * Backoff.CALM) == 0.5
