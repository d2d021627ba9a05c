"""The soak test, short: ~50,000 requests of mixed traffic against ``mypkg-supervise -w 2``.

The full run (a million requests, Gunicorn too) is ``python -m benchmarks.soak``; its figures
are in docs/reliability.md. This one fails on a failed request, on RSS growth after warm-up, and
on descriptors left open once the clients are gone.
"""

from __future__ import annotations

from benchmarks.soak import soak, summary


def test_short_soak_stays_flat() -> None:
    result = soak("supervise", 50_000, users=8, warmup=0.3, max_growth=1.0, interval=0.1)
    report = summary(result)
    assert result.tally["done"] >= 50_000, report
    assert result.tally["aborted"] > 0, report  # the aborting clients ran
    assert set(result.tally["by_kind"]) >= {"keep-alive", "pipelined", "WebSocket echo"}, report
    assert result.verdict == [], report
