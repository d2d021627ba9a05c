"""The benchmark harness's own logic, without running servers: wrk output parsing, round order,
the process-change schedule, and the start-up benchmark's log matching and statistics. The
benchmarks themselves are run by hand (benchmarks/README.md).
"""

from __future__ import annotations

import re
import signal

import pytest

from benchmarks.process_changes import _signals
from benchmarks.run import round_order
from benchmarks.startup import (
    LOGS,
    SCENARIOS,
    nth_match,
    paired_difference,
    shown_command,
    summarize,
)
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


# Lines as each server logs them at --log-level info (2 workers, then a SIGHUP), trimmed.
SERVER_LOGS = {
    "supervise": """[1] [INFO] Master 1: starting 2 worker(s) for benchmarks.apps.plain:app
[1] [INFO] Booting worker 11
[1] [INFO] Booting worker 12
[11] [INFO] Serving on http://127.0.0.1:8000
[1] [INFO] Worker 11 ready
[12] [INFO] Serving on http://127.0.0.1:8000
[1] [INFO] Worker 12 ready
[1] [INFO] Ready: 2 worker(s) serving on http://127.0.0.1:8000""",
    "gunicorn-mypkg": """[1] [INFO] Listening at: http://127.0.0.1:8000 (1)
[11] [INFO] Booting worker with pid: 11
[11] [INFO] Serving on http://127.0.0.1:8000
[12] [INFO] Booting worker with pid: 12
[12] [INFO] Serving on http://127.0.0.1:8000""",
    "uvicorn": """INFO:     Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)
INFO:     Started server process [11]
INFO:     Waiting for application startup.
INFO:     Application startup complete.
INFO:     Started server process [12]
INFO:     Waiting for application startup.
INFO:     Application startup complete.""",
    "granian": """[INFO] Listening at: http://127.0.0.1:8000
[INFO] Spawning worker-1 with PID: 11
[INFO] Spawning worker-2 with PID: 12
[INFO] Started worker-2
[INFO] Started worker-2 runtime-1
[INFO] Started worker-1""",
}


SERVING_LINES = {
    "supervise": (4, 6),
    "gunicorn-mypkg": (2, 4),
    "uvicorn": (3, 6),
    "granian": (3, 5),
}


@pytest.mark.parametrize("server", sorted(SERVER_LOGS))
def test_startup_reads_each_servers_worker_lines(server: str) -> None:
    """Each worker counts once (not the master's "serving on" summary, not granian's runtimes)."""
    lines = [(float(i), line) for i, line in enumerate(SERVER_LOGS[server].splitlines())]
    log = LOGS[server]
    first, second = SERVING_LINES[server]
    assert (nth_match(lines, log.serving, 1), nth_match(lines, log.serving, 2)) == (first, second)
    assert nth_match(lines, log.serving, 3) == -1.0  # not (yet) in the log
    assert nth_match(lines, log.serving, 1, start=first + 1) == second
    pids = [m.group(1) for _, line in lines if (m := re.search(log.worker_pid, line))]
    assert pids == ["11", "12"]


def test_startup_statistics() -> None:
    summary = summarize([0.3, None, 0.1, 0.2, 0.5])
    assert summary is not None
    assert (summary.median, summary.low, summary.high, summary.count) == (0.25, 0.1, 0.5, 4)
    assert summary.cell() == "250 (100-500)"
    assert summarize([None, None]) is None
    diff = paired_difference([1.0, None, 0.5], [0.9, 0.2, None])
    assert diff is not None and diff.count == 1 and diff.median == pytest.approx(0.1)


def test_startup_commands() -> None:
    argv = SCENARIOS["supervise-w1"].argv(8123)
    assert argv[argv.index("--workers") + 1] == "1"  # the master even for one worker
    assert argv[argv.index("--log-level") + 1] == "info"
    assert "--workers" not in SCENARIOS["mypkg"].argv(8123)
    shown = shown_command(SCENARIOS["gunicorn-mypkg"].argv(0))
    assert shown.startswith("PY -m gunicorn --bind 127.0.0.1:PORT ")
