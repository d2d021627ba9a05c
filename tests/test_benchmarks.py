"""The benchmark harness's own logic, without running servers: wrk output parsing, round order
and the process-change schedule. The benchmarks themselves are run by hand (benchmarks/README.md).
"""

from __future__ import annotations

import signal

import pytest

from benchmarks.process_changes import _signals
from benchmarks.run import round_order
from benchmarks.wrk import parse_wrk

# Captured from `wrk -t1 -c4 -d1s --latency` against mypkg; the error lines from a run during
# a graceful stop (wrk prints them only when something went wrong).
CLEAN = """Running 1s test @ http://127.0.0.1:8792/nope
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   142.15us   83.65us   1.68ms   97.41%
    Req/Sec    28.77k   327.05    29.20k    81.82%
  Latency Distribution
     50%  102.00us
     75%  199.00us
     90%  211.00us
     99%  253.00us
  31451 requests in 1.10s, 3.60MB read
Requests/sec:  28606.77
Transfer/sec:      3.27MB
"""
FAILING = CLEAN.replace(
    "Requests/sec:",
    "  Socket errors: connect 0, read 12, write 116950, timeout 3\n"
    "  Non-2xx or 3xx responses: 7\nRequests/sec:",
).replace("     99%  253.00us", "     99%    1.25s")


def test_parse_clean_run() -> None:
    result = parse_wrk(CLEAN)
    assert result.requests == 31451
    assert result.seconds == pytest.approx(1.10)
    assert result.requests_per_second == pytest.approx(28606.77)
    assert result.p99_ms == pytest.approx(0.253)
    assert (result.non_2xx, result.socket_errors) == (0, 0)


def test_parse_errors_and_units() -> None:
    result = parse_wrk(FAILING)
    assert result.non_2xx == 7
    assert result.socket_errors == 12 + 116950 + 3
    assert result.p99_ms == pytest.approx(1250.0)


def test_unrecognised_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="unrecognised wrk output"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_rounds_alternate_the_server_order() -> None:
    servers = ["mypkg", "uvicorn", "granian"]
    assert round_order(servers, 1) == servers
    assert round_order(servers, 2) == servers[::-1]
    assert round_order(servers, 3) == servers


def test_process_change_schedule() -> None:
    assert _signals("hup", 12) == [(3.0, signal.SIGHUP), (6.0, signal.SIGHUP), (9.0, signal.SIGHUP)]
    assert _signals("ttou", 10) == [(4.0, signal.SIGTTOU)]
    assert _signals("term", 12) == [(6.0, signal.SIGTERM)]
    assert _signals("max-requests", 12) == []  # recycling comes from the server's own flags
