"""The benchmark harness's own logic, without running servers: wrk output parsing, round order,
the process-change schedule, the report's arithmetic (medians, spread, ratios, CPU per request,
rounds left out for errors) and the start-up benchmark's log matching and statistics. The
benchmarks themselves are run by hand (benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from benchmarks import startup
from benchmarks.measure import Options, RunRecord, per_worker, read_counts
from benchmarks.process_changes import _signals
from benchmarks.report import (
    _columns,
    _ratio_line,
    _row,
    _share_lines,
    _sweep_row,
    shares,
    summarize,
    summarize_sweep,
)
from benchmarks.run import parse_args, round_order
from benchmarks.servers import MULTI_WORKER_SERVERS, SERVERS
from benchmarks.wrk import lua_script, parse_wrk

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


# --------------------------------------------------------------------------- the report


def _record(server: str, rps: float, **fields: Any) -> RunRecord:
    """A round of 10 s in which ``rps`` requests per second were answered."""
    values: dict[str, Any] = {"requests": int(rps * 10), "seconds": 10.0, "cpu_seconds": 5.0}
    values.update(fields)
    return RunRecord(server, "plain", 1, ["cmd", server], requests_per_second=rps, **values)


def _options(servers: list[str]) -> Options:
    return Options(
        duration=10, connections=64, rounds=3, servers=servers, apps=["plain"], workers=1,
        wrk_threads=1, server_cpus="0", wrk_cpus="1", prime=0, json_path=None, install=False,
    )  # fmt: skip


def test_cpu_per_request_and_cpu_percent() -> None:
    record = _record("mypkg", 1000.0, cpu_seconds=2.5)  # 10,000 requests in 10 s
    assert record.cpu_us_per_request == pytest.approx(250.0)  # 2.5 s / 10,000 requests
    assert record.cpu_percent == pytest.approx(25.0)  # 2.5 s of CPU in 10 s
    assert RunRecord("x", "plain", 1, []).cpu_us_per_request == 0.0  # no request: no division


def test_summary_medians_spread_and_ratios() -> None:
    records = [
        _record("mypkg", 900.0, p99_ms=2.0, rss_mib=30.0),
        _record("mypkg", 1000.0, p99_ms=1.0, rss_mib=31.0),
        _record("mypkg", 1300.0, p99_ms=3.0, rss_mib=29.0, cpu_seconds=10.0),
        _record("uvicorn", 400.0),
        _record("uvicorn", 500.0),
    ]
    mypkg, uvicorn = summarize(records, _options(["mypkg", "uvicorn"]))
    assert (mypkg.rounds_ok, mypkg.rounds) == (3, 3)
    assert mypkg.requests_per_second == 1000.0  # the median, not the mean (1066.7)
    assert mypkg.best_requests_per_second == 1300.0
    assert mypkg.spread_percent == pytest.approx(40.0)  # (1300 - 900) / 1000
    assert (mypkg.p99_ms, mypkg.rss_mib) == (2.0, 30.0)
    # CPU per request: 5 s / 9,000, 5 s / 10,000, 10 s / 13,000 requests -> the median
    assert mypkg.cpu_us_per_request == pytest.approx(5.0 / 9000 * 1e6)
    assert mypkg.ratio_to_mypkg == 1.0
    assert uvicorn.requests_per_second == 450.0
    assert uvicorn.ratio_to_mypkg == pytest.approx(0.45)
    assert (
        _ratio_line([mypkg, uvicorn], "uvicorn") == "mypkg / uvicorn = 2.22\N{MULTIPLICATION SIGN}"
    )
    assert mypkg.error is None and uvicorn.spread_percent == pytest.approx(100 / 4.5)


def test_rounds_with_errors_are_left_out_and_flagged() -> None:
    """A server answering 5xx (or resetting sockets) fast must not score as fast."""
    records = [
        _record("mypkg", 1000.0),
        _record("uvicorn", 500.0),
        _record("uvicorn", 9000.0, non_2xx=90000),  # errors, answered very fast
        _record("uvicorn", 8000.0, socket_errors=3),
        _record("uvicorn", 0.0, error="failed to start: boom"),
    ]
    _, uvicorn = summarize(records, _options(["mypkg", "uvicorn"]))
    assert (uvicorn.rounds_ok, uvicorn.rounds) == (1, 4)
    assert uvicorn.requests_per_second == uvicorn.best_requests_per_second == 500.0
    assert (uvicorn.non_2xx, uvicorn.socket_errors) == (90000, 3)  # still reported
    assert uvicorn.error == (
        "1 round(s) failed; 2 round(s) left out: non-2xx answers or socket errors"
    )
    assert uvicorn.ratio_to_mypkg == 0.5


def test_a_server_with_only_erroring_rounds_has_no_result() -> None:
    records = [_record("mypkg", 1000.0), _record("uvicorn", 9000.0, non_2xx=5)]
    mypkg, uvicorn = summarize(records, _options(["mypkg", "uvicorn"]))
    assert uvicorn.requests_per_second is None and uvicorn.ratio_to_mypkg is None
    assert uvicorn.error == "every round had non-2xx answers or socket errors (1)"
    assert (
        _ratio_line([mypkg, uvicorn], "uvicorn") == "mypkg / uvicorn = n/a (uvicorn has no result)"
    )
    assert _row(uvicorn)[12] == "5"  # the table still shows the errors


def test_percentiles_from_the_done_hook_and_timeouts() -> None:
    """wrk's own table stops at 99 %: p50, p99.9 and the max come from the Lua hook's line."""
    result = parse_wrk(FAILING + "latency-us p50 350 p999 1900000 max 2000500\n")
    assert (result.p50_ms, result.p999_ms, result.max_ms) == (0.35, 1900.0, 2000.5)
    assert result.timeouts == 3
    plain = parse_wrk(CLEAN)  # no hook line: p50 from wrk's table, no p99.9
    assert plain.p50_ms == pytest.approx(0.102)
    assert (plain.p999_ms, plain.timeouts) == (None, 0)


def test_lua_script_for_a_post_body() -> None:
    script = lua_script("POST", b"z" * 16384)
    assert 'wrk.method = "POST"' in script and 'string.rep("z", 16384)' in script
    assert "done = function" in lua_script()  # every run gets the percentile hook
    assert "wrk.method" not in lua_script()
    with pytest.raises(ValueError):
        lua_script("POST", b"ab")


def test_min_max_and_coefficient_of_variation() -> None:
    records = [_record("mypkg", rps, p50_ms=p, p999_ms=p * 10) for rps, p in ((900.0, 1.0),
        (1000.0, 2.0), (1100.0, 3.0))]  # fmt: skip
    (mypkg,) = summarize(records, _options(["mypkg"]))
    assert (mypkg.min_requests_per_second, mypkg.best_requests_per_second) == (900.0, 1100.0)
    assert mypkg.cv_percent == pytest.approx(10.0)  # stdev 100 / mean 1000
    assert (mypkg.p50_ms, mypkg.p999_ms) == (2.0, 20.0)
    assert _row(mypkg)[1:5] == ["1,000", "900", "1,100", "10.0%"]


def test_sweep_keeps_rounds_with_timeouts_and_counts_them() -> None:
    """Timeouts are what the sweep looks for: such a round stays and its timeouts are shown;
    any other socket error still leaves the round out."""
    opts = _options(["mypkg", "granian"])
    opts.sweep = [16, 2048]
    records = [
        _record("mypkg", 1000.0, connections=16),
        _record("granian", 800.0, connections=16),
        _record("mypkg", 900.0, connections=2048, socket_errors=120, timeouts=120, max_ms=2000.0),
        _record("granian", 950.0, connections=2048),
        _record("granian", 5000.0, connections=2048, socket_errors=4),  # resets: left out
    ]
    rows = summarize_sweep(records, opts)
    assert [(s.connections, s.server) for s in rows] == [
        (16, "mypkg"), (16, "granian"), (2048, "mypkg"), (2048, "granian"),
    ]  # fmt: skip
    assert (rows[2].requests_per_second, rows[2].timeouts, rows[2].error) == (
        900.0,
        120,
        "timeouts",
    )
    assert rows[3].requests_per_second == 950.0 and rows[3].rounds_ok == 1
    assert rows[3].ratio_to_mypkg == pytest.approx(950 / 900)
    assert _sweep_row(rows[2])[:2] == ["2048", "mypkg"] and _sweep_row(rows[2])[9] == "120"


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
    log = startup.LOGS[server]
    first, second = SERVING_LINES[server]
    found = [startup.nth_match(lines, log.serving, n) for n in (1, 2)]
    assert found == [first, second]
    assert startup.nth_match(lines, log.serving, 3) == -1.0  # not (yet) in the log
    assert startup.nth_match(lines, log.serving, 1, start=first + 1) == second
    pids = [m.group(1) for _, line in lines if (m := re.search(log.worker_pid, line))]
    assert pids == ["11", "12"]


def test_startup_statistics() -> None:
    summary = startup.summarize([0.3, None, 0.1, 0.2, 0.5])
    assert summary is not None
    assert (summary.median, summary.low, summary.high, summary.count) == (0.25, 0.1, 0.5, 4)
    assert summary.cell() == "250 (100-500)"
    assert startup.summarize([None, None]) is None
    diff = startup.paired_difference([1.0, None, 0.5], [0.9, 0.2, None])
    assert diff is not None and diff.count == 1 and diff.median == pytest.approx(0.1)


def test_startup_commands() -> None:
    argv = startup.SCENARIOS["supervise-w1"].argv(8123)
    assert argv[argv.index("--worker-timeout") + 1] == "30"  # the master even for one worker
    assert argv[argv.index("--log-level") + 1] == "info"
    assert "--workers" not in startup.SCENARIOS["mypkg"].argv(8123)
    shown = startup.shown_command(startup.SCENARIOS["gunicorn-mypkg"].argv(0))
    assert shown.startswith("PY -m gunicorn --bind 127.0.0.1:PORT ")


H2LOAD_OUTPUT = """finished in 5.00s, 4115.20 req/s, 110.31KB/s
requests: 20576 total, 20576 started, 20576 done, 20570 succeeded, 6 failed, 6 errored, 0 timeout
status codes: 20570 2xx, 0 3xx, 0 4xx, 0 5xx
"""


def test_h2load_report_is_parsed() -> None:
    from benchmarks.h2load_bench import parse_h2load

    assert parse_h2load(H2LOAD_OUTPUT) == (4115.2, 20570, 6)
    with pytest.raises(RuntimeError, match="unexpected h2load output"):
        parse_h2load("h2load: connection refused")


def test_per_worker_counts_between_two_readings() -> None:
    """Warm-up requests (the first reading) are not counted; a worker that never served is 0."""
    before = {11: (500, 0), 12: (20, 0)}
    after = {11: (4500, 32), 12: (1020, 8), 13: (3000, 16)}  # connections since the epoch
    assert per_worker(before, after, workers=4) == ([4000, 3000, 1000, 0], [32, 16, 8, 0])
    assert shares([3000, 1000]) == [75.0, 25.0]
    assert shares([0, 0]) == []


def test_worker_shares_in_the_summary_and_the_table() -> None:
    records = [
        _record("mypkg", 1000.0, worker_requests=[6000, 4000], worker_connections=[40, 24]),
        _record("mypkg", 1100.0, worker_requests=[5500, 5500], worker_connections=[32, 32]),
        _record("mypkg", 900.0, worker_requests=[9000, 0], worker_connections=[64, 0]),
    ]
    opts = _options(["mypkg"])
    opts.workers = 2
    (mypkg,) = summarize(records, opts)
    assert mypkg.worker_shares == [[60.0, 40.0], [50.0, 50.0], [100.0, 0.0]]
    assert mypkg.busiest_percent == 60.0  # the median round's busiest worker
    row = _row(mypkg, workers=2)
    assert row[-2] == "60.0" and len(row) == len(_columns(2)) == len(_columns(1)) + 1
    assert _share_lines([mypkg]) == ["  mypkg  60/40 (40/24)  50/50 (32/32)  100/0 (64/0)"]
    assert _sweep_row(mypkg, workers=2)[-2] == "60.0"  # the sweep shows it too
    assert len(_sweep_row(mypkg, workers=2)) == len(_sweep_row(mypkg)) + 1


def test_counted_app_writes_each_process_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app answers as the wrapped one does and its file says requests and connections."""
    monkeypatch.setenv("BENCH_APP", "benchmarks.apps.plain:app")
    monkeypatch.setenv("BENCH_COUNTS_DIR", str(tmp_path))
    counted = importlib.reload(importlib.import_module("benchmarks.apps.counted"))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def requests(*ports: int) -> None:
        for port in ports:
            scope = {"type": "http", "path": "/", "client": ("127.0.0.1", port)}
            await counted.app(scope, receive, send)
        await asyncio.sleep(counted.FLUSH_SECONDS * 3)

    async def serve() -> None:
        await requests(5000, 5000, 5001)
        assert read_counts(tmp_path) == {os.getpid(): (3, 2)}
        (tmp_path / counted.EPOCH_FILE).write_text("measured run")  # as measure() does
        for _ in range(50):  # the flusher notices within a flush (measure() waits for it too)
            if read_counts(tmp_path) == {os.getpid(): (3, 0)}:
                break
            await asyncio.sleep(counted.FLUSH_SECONDS)
        assert read_counts(tmp_path) == {os.getpid(): (3, 0)}
        await requests(5001, 5002)  # 5001 again: a warm-up port reused by the measured run
        assert read_counts(tmp_path) == {os.getpid(): (5, 2)}

    asyncio.run(serve())
    assert sent[-1]["body"] == b"Hello, world!"


def test_multi_worker_defaults_use_every_cpu_and_the_multi_worker_servers() -> None:
    one = parse_args(["--no-install"])
    assert (one.server_cpus, one.wrk_cpus, one.wrk_threads) == ("0", "1", 1)
    two = parse_args(["--workers", "2", "--wrk-cpus", "1"])
    every = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    assert (two.server_cpus, two.wrk_cpus, two.wrk_threads) == (every, "1", 2)
    assert two.servers == list(MULTI_WORKER_SERVERS)
    argv = SERVERS["gunicorn-mypkg-reuseport"].build("m:app", 8000, 2)
    assert argv[1:4] == ["-m", "gunicorn", "--reuse-port"] and argv[-1] == "m:app"
    assert "--reuse-port" in SERVERS["mypkg-reuseport"].build("m:app", 8000, 2)
