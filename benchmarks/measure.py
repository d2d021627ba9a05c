"""One measurement of the HTTP harness: one server, one app, one round, one `RunRecord`.

Why this exists: the round loop in run.py and the report in report.py both depend on what a
measurement takes and what it yields, so the settings (`Options`), the record of a run
(`RunRecord`) and the apps under test live here, next to `measure`, the one place that turns a
server and an app into numbers: start the server, warm it up with wrk, run wrk once while
reading the server's CPU time, read its memory, stop it, and when anything fails say why, with
the most relevant line of the server's log. With several workers the app is wrapped by
apps/counted.py, and the record also says how many requests of the measured run each worker
served.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.procs import (
    StartFailure,
    free_port,
    log_lines,
    log_reason,
    running_server,
    tree_cpu_seconds,
    tree_rss_mib,
)
from benchmarks.servers import ServerSpec
from benchmarks.wrk import WrkResult, run_wrk

EPOCH_FILE = "epoch"  # apps/counted.py's: a new content makes each worker forget its clients

APPS: dict[str, str] = {
    "plain": "benchmarks.apps.plain:app",
    "starlette": "benchmarks.apps.starlette_app:app",
    "fastapi": "benchmarks.apps.fastapi_app:app",
    "echo": "benchmarks.apps.shapes:app",
    "large": "benchmarks.apps.shapes:app",
    "stream": "benchmarks.apps.shapes:app",
    "sleep": "benchmarks.apps.shapes:app",
}
DEFAULT_APPS = ("plain", "starlette", "fastapi")


@dataclass(frozen=True)
class Workload:
    """What wrk asks of an app: the path, a POST body, and a fixed connection count if any."""

    path: str = "/"
    method: str = "GET"
    body: bytes | None = None
    connections: int | None = None  # overrides --connections (not in the sweep)


WORKLOADS: dict[str, Workload] = {
    "fastapi": Workload("/items/42"),
    "echo": Workload("/echo", "POST", b"z" * 16384),
    "large": Workload("/large"),
    "stream": Workload("/stream"),
    "sleep": Workload("/sleep", connections=256),  # I/O-bound: 10 ms each, many in flight
}
WARMUP_SECONDS = 2
COUNTED_APP = "benchmarks.apps.counted:app"  # wraps the app named by $BENCH_APP
COUNTS_SETTLE = 0.35  # seconds: longer than apps/counted.py's FLUSH_SECONDS, with margin


@dataclass
class Options:
    """Command-line settings, after validation."""

    duration: int
    connections: int
    rounds: int
    servers: list[str]
    apps: list[str]
    workers: int
    wrk_threads: int
    server_cpus: str
    wrk_cpus: str
    prime: int
    json_path: Path | None
    install: bool
    python: str | None = None  # the servers' interpreter; None: the one running the harness
    plot_path: Path | None = None
    sweep: list[int] = field(default_factory=list)  # connection counts; empty: no sweep


@dataclass
class RunRecord:
    """One server, one app, one round: either measurements or the reason there are none."""

    server: str
    app: str
    round: int
    command: list[str]
    error: str | None = None
    requests: int = 0
    seconds: float = 0.0
    requests_per_second: float = 0.0
    cpu_seconds: float = 0.0
    p99_ms: float | None = None
    rss_mib: float = 0.0
    non_2xx: int = 0
    socket_errors: int = 0
    timeouts: int = 0
    p50_ms: float | None = None
    p999_ms: float | None = None
    max_ms: float | None = None
    connections: int = 0
    # With several workers: requests each worker served during the measured run, busiest first
    # (a worker that served none is a 0), and the connections (new client addresses) each had,
    # in the same order. Empty with one worker.
    worker_requests: list[int] = field(default_factory=list)
    worker_connections: list[int] = field(default_factory=list)

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else 0.0

    @property
    def cpu_percent(self) -> float:
        return self.cpu_seconds / self.seconds * 100 if self.seconds else 0.0


def connections_for(app: str, opts: Options) -> int:
    """wrk's -c for this app: its own (the I/O-bound app) or --connections."""
    return WORKLOADS.get(app, Workload()).connections or opts.connections


def measure(
    spec: ServerSpec,
    app: str,
    round_no: int,
    opts: Options,
    logs: Path,
    connections: int | None = None,
) -> RunRecord:
    """Start the server, warm it up, run wrk once while reading its CPU time, stop it."""
    port = free_port()
    counted = opts.workers > 1
    argv = spec.build(COUNTED_APP if counted else APPS[app], port, opts.workers)
    conns = connections or connections_for(app, opts)
    record = RunRecord(spec.name, app, round_no, argv, connections=conns)
    reason = spec.unavailable()
    if reason:
        record.error = reason
        print(f"    {reason}", flush=True)
        return record
    log_path = logs / f"{spec.name}-{app}-c{conns}-r{round_no}.log"
    counts = Path(tempfile.mkdtemp(prefix=f"counts-{spec.name}-{app}-", dir=logs))
    env = {"BENCH_APP": APPS[app], "BENCH_COUNTS_DIR": str(counts)} if counted else {}
    try:
        with running_server(argv, port, opts.server_cpus, log_path, env) as proc:
            _measured_run(proc, port, app, opts, record, counts if counted else None)
    except StartFailure as exc:
        record.error = f"failed to start: {exc}"
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        record.error = f"run failed: {exc}"
    if record.error:
        lines = log_lines(log_path)
        if lines:
            record.error += f" ({log_reason(lines)})"
        print(f"    {record.error}", flush=True)
        for line in lines[-8:]:
            print(f"    | {line}", flush=True)
    return record


def _measured_run(
    proc: subprocess.Popen[bytes],
    port: int,
    app: str,
    opts: Options,
    record: RunRecord,
    counts: Path | None,
) -> None:
    """Warm up, then the recorded wrk run with the server's CPU time (and per-worker counts)."""
    work = WORKLOADS.get(app, Workload())
    load = (record.connections, opts.wrk_threads, opts.wrk_cpus, work.path, work.method, work.body)
    run_wrk(port, WARMUP_SECONDS, *load)
    if counts:
        (counts / EPOCH_FILE).write_text("measured run")  # each worker forgets its clients
    before = settled_counts(counts) if counts else {}
    cpu_before = tree_cpu_seconds(proc.pid)
    result = run_wrk(port, opts.duration, *load)
    cpu_after = tree_cpu_seconds(proc.pid)
    if proc.poll() is not None:
        raise RuntimeError(f"server exited with code {proc.returncode} during the run")
    record.rss_mib = tree_rss_mib(proc.pid)
    if counts:
        after = settled_counts(counts)
        record.worker_requests, record.worker_connections = per_worker(before, after, opts.workers)
    _record_wrk(record, result, max(0.0, cpu_after - cpu_before))


def _record_wrk(record: RunRecord, result: WrkResult, cpu_seconds: float) -> None:
    record.requests = result.requests
    record.seconds = result.seconds
    record.requests_per_second = result.requests_per_second
    record.cpu_seconds = cpu_seconds
    record.p99_ms = result.p99_ms
    record.non_2xx = result.non_2xx
    record.socket_errors = result.socket_errors
    record.timeouts = result.timeouts
    record.p50_ms, record.p999_ms, record.max_ms = result.p50_ms, result.p999_ms, result.max_ms


Counts = dict[int, tuple[int, int]]  # pid -> (requests, connections) so far


def read_counts(directory: Path) -> Counts:
    """What apps/counted.py last wrote for each process (one file per pid)."""
    counts = {}
    for path in directory.iterdir():
        if path.name.isdigit():
            try:
                requests, connections = path.read_text().split()
                counts[int(path.name)] = (int(requests), int(connections))
            except (OSError, ValueError):
                continue
    return counts


def settled_counts(directory: Path) -> Counts:
    """The counts once every worker has written its latest (no load runs meanwhile)."""
    time.sleep(COUNTS_SETTLE)
    return read_counts(directory)


def per_worker(before: Counts, after: Counts, workers: int) -> tuple[list[int], list[int]]:
    """Requests per worker between the two readings and connections since the epoch (the
    second reading's), busiest first, padded with 0 to ``workers`` (a worker that never served
    wrote no file)."""
    deltas = sorted(
        (
            (requests - before.get(pid, (0, 0))[0], connections)
            for pid, (requests, connections) in after.items()
        ),
        reverse=True,
    )
    deltas += [(0, 0)] * (workers - len(deltas))
    return [r for r, _ in deltas], [c for _, c in deltas]
