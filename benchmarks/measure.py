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
from dataclasses import dataclass
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

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds / self.requests * 1e6 if self.requests else 0.0

    @property
    def cpu_percent(self) -> float:
        return self.cpu_seconds / self.seconds * 100 if self.seconds else 0.0


def measure(spec: ServerSpec, app: str, round_no: int, opts: Options, logs: Path) -> RunRecord:
    """Start the server, warm it up, run wrk once while reading its CPU time, stop it."""
    port = free_port()
    argv = spec.build(APPS[app], port, opts.workers)
    record = RunRecord(spec.name, app, round_no, argv)
    reason = spec.unavailable()
    if reason:
        record.error = reason
        print(f"    {reason}", flush=True)
        return record
    log_path = logs / f"{spec.name}-{app}-r{round_no}.log"
    try:
        with running_server(argv, port, opts.server_cpus, log_path) as proc:
            run_wrk(port, WARMUP_SECONDS, opts.connections, opts.wrk_threads, opts.wrk_cpus)
            cpu_before = tree_cpu_seconds(proc.pid)
            result = run_wrk(port, opts.duration, opts.connections, opts.wrk_threads, opts.wrk_cpus)
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
    if record.error:
        lines = log_lines(log_path)
        if lines:
            record.error += f" ({log_reason(lines)})"
        print(f"    {record.error}", flush=True)
        for line in lines[-8:]:
            print(f"    | {line}", flush=True)
    return record
