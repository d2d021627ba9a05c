"""One measurement of the HTTP harness: one server, one app, one round, one `RunRecord`.

Why this exists: the round loop in run.py and the report in report.py both depend on what a
measurement takes and what it yields, so the settings (`Options`), the record of a run
(`RunRecord`) and the apps under test live here, next to `measure`, the one place that turns a
server and an app into numbers: start the server, warm it up with wrk, run wrk once while
reading the server's CPU time, read its memory, stop it, and when anything fails say why, with
the most relevant line of the server's log.
"""

from __future__ import annotations

import subprocess
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
from benchmarks.wrk import run_wrk

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
    argv = spec.build(APPS[app], port, opts.workers)
    conns = connections or connections_for(app, opts)
    work = WORKLOADS.get(app, Workload())
    record = RunRecord(spec.name, app, round_no, argv, connections=conns)
    reason = spec.unavailable()
    if reason:
        record.error = reason
        print(f"    {reason}", flush=True)
        return record
    log_path = logs / f"{spec.name}-{app}-c{conns}-r{round_no}.log"
    try:
        with running_server(argv, port, opts.server_cpus, log_path) as proc:
            load = (conns, opts.wrk_threads, opts.wrk_cpus, work.path, work.method, work.body)
            run_wrk(port, WARMUP_SECONDS, *load)
            cpu_before = tree_cpu_seconds(proc.pid)
            result = run_wrk(port, opts.duration, *load)
            cpu_after = tree_cpu_seconds(proc.pid)
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with code {proc.returncode} during the run")
            record.rss_mib = tree_rss_mib(proc.pid)
    except StartFailure as exc:
        record.error = f"failed to start: {exc}"
    except (RuntimeError, ValueError, OSError, subprocess.TimeoutExpired) as exc:
        record.error = f"run failed: {exc}"
    else:
        record.requests = result.requests
        record.seconds = result.seconds
        record.requests_per_second = result.requests_per_second
        record.cpu_seconds = max(0.0, cpu_after - cpu_before)
        record.p99_ms = result.p99_ms
        record.non_2xx = result.non_2xx
        record.socket_errors = result.socket_errors
        record.timeouts = result.timeouts
        record.p50_ms, record.p999_ms, record.max_ms = result.p50_ms, result.p999_ms, result.max_ms
    if record.error:
        lines = log_lines(log_path)
        if lines:
            record.error += f" ({log_reason(lines)})"
        print(f"    {record.error}", flush=True)
        for line in lines[-8:]:
            print(f"    | {line}", flush=True)
    return record
