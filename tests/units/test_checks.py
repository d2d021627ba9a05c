"""Unit tests of a decision that the process tests reach only indirectly: the respawn backoff
schedule of mypkg's master (``supervisor.pool.Backoff``). A process test sees only a few deaths;
here every step of the schedule, its cap and its reset are pinned. (The request-head scan that
refuses smuggling vectors is tested as a table in test_http_headcheck.py.)
"""

from __future__ import annotations

from mypkg.supervisor.pool import Backoff

Headers = list[tuple[bytes, bytes]]
HOST = (b"host", b"x")


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
