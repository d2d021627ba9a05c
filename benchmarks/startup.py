"""Start-up and process-change latency, side by side: how long until a server answers.

Why this exists: a server restarted on every deploy, container start and ``--reload`` is only as
fast to come back as its slowest step, and a master that sleeps before forking (issue 21) hides
behind a good request rate. For each server this launches the command and measures

* **first 200**: launch to the first ``200`` on ``GET /``. The harness polls with a raw socket
  (a refused connect is retried after 2 ms); a connection queued in a master's backlog just waits
  for the first worker to accept it;
* **all ready**: launch to the moment the last of the N workers logs that it serves. Each server
  says so in its own words (see ``LOGS``): mypkg's master logs "Worker N ready" when the worker
  told it so, right after its listen (the master's "Ready:" line and sd_notify READY=1 follow in
  the same turn); mypkg alone and under Gunicorn logs "Serving on" after its listen; uvicorn's
  "Application startup complete." is followed by its listen in the same coroutine; granian logs
  "Started worker-N". Lines are time-stamped as they arrive through a pipe (servers run
  unbuffered, at log level info, access logs off);
* **SIGKILL -> ready** (N >= 2): kill one worker, time to the next worker's "serving" line;
* **SIGHUP -> serving** (N >= 2): time until N new workers log that they serve.

Before the rounds it writes the bytecode caches of this checkout (``compile_tree``) and launches
each server once unrecorded. Servers are interleaved (the order reverses every other round) and
every figure is a median with its min and max over the rounds.

    python benchmarks/startup.py --rounds 7
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.procs import (
    EXPECTED_BODY,
    HOST,
    REPO_ROOT,
    StartFailure,
    free_port,
    server_env,
    stop_server,
)
from benchmarks.run import round_order
from benchmarks.servers import SERVERS, ensure_peers

APP = "benchmarks.apps.plain:app"
POLL = 0.002  # seconds between refused connects while waiting for the first answer
TIMEOUT = 30.0  # for any one step; a loaded 2-core machine can be slow, never this slow
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class ServerLog:
    """How a server's log says that a worker serves, and which pid a new worker has."""

    serving: str
    worker_pid: str


LOGS: dict[str, ServerLog] = {
    "mypkg": ServerLog(r"Serving on http://", r"Booting worker (\d+)"),  # (alone: no workers)
    # The master's view: a worker is ready when the master has heard so (then sd_notify READY).
    "supervise": ServerLog(r"Worker \d+ ready", r"Booting worker (\d+)"),
    "gunicorn-mypkg": ServerLog(r"Serving on http://", r"Booting worker with pid: (\d+)"),
    "uvicorn": ServerLog(r"Application startup complete\.", r"Started server process \[(\d+)\]"),
    "granian": ServerLog(r"Started worker-\d+$", r"Spawning worker-\d+ with PID: (\d+)"),
}


@dataclass(frozen=True)
class Scenario:
    """One command under test: ``server`` (a key of ``servers.SERVERS``) with ``workers``."""

    name: str
    server: str
    workers: int
    master: bool = False  # mypkg-supervise: its master, even for one worker
    extra: tuple[str, ...] = ()

    @property
    def log(self) -> ServerLog:
        return LOGS["supervise" if self.master else self.server]

    def argv(self, port: int) -> list[str]:
        argv = SERVERS[self.server].build(APP, port, self.workers)
        argv[argv.index("--log-level") + 1] = "info"  # the "serving" lines are info
        if self.master and self.workers == 1:
            # One worker alone is one process; a master-only setting (its default value here)
            # asks for the master.
            argv += ["--workers", "1", "--worker-timeout", "30"]
        return [*argv, *self.extra]


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("mypkg", "mypkg", 1),
        Scenario("supervise-w1", "mypkg", 1, master=True),
        Scenario("supervise-w2", "mypkg", 2, master=True),
        Scenario("supervise-w4", "mypkg", 4, master=True),
        Scenario("gunicorn-mypkg", "gunicorn-mypkg", 1),
        Scenario("gunicorn-mypkg-w4", "gunicorn-mypkg", 4),
        Scenario("uvicorn", "uvicorn", 1),
        Scenario("uvicorn-w4", "uvicorn", 4),
        Scenario("granian", "granian", 1),
        # Granian replaces a worker that died only when asked to (off by default).
        Scenario("granian-w4", "granian", 4, extra=("--respawn-failed-workers",)),
    )
}
METRICS = ("first", "ready", "respawn", "reload")
HEADINGS = ("first 200", "all ready", "SIGKILL -> ready", "SIGHUP -> serving")


# --------------------------------------------------------------------------------------------
# Statistics and lines (pure: tests/deploy/test_benchmarks.py checks them)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float
    count: int

    def cell(self) -> str:
        """``median (min-max)`` in milliseconds."""
        return f"{self.median * 1000:.0f} ({self.low * 1000:.0f}-{self.high * 1000:.0f})"


def summarize(values: Sequence[float | None]) -> Summary | None:
    """Median, min and max of the runs that produced a value; None if none did."""
    kept = [v for v in values if v is not None]
    if not kept:
        return None
    return Summary(statistics.median(kept), min(kept), max(kept), len(kept))


def paired_difference(a: Sequence[float | None], b: Sequence[float | None]) -> Summary | None:
    """``a - b`` round by round (both ran in the same round, minutes apart at most)."""
    return summarize([x - y for x, y in zip(a, b, strict=True) if x is not None and y is not None])


def nth_match(lines: Sequence[tuple[float, str]], pattern: str, n: int, start: int = 0) -> float:
    """When the ``n``-th line matching ``pattern`` from index ``start`` came; -1: not yet."""
    regex = re.compile(pattern)
    for stamp, line in lines[start:]:
        if regex.search(line):
            n -= 1
            if n == 0:
                return stamp
    return -1.0


# --------------------------------------------------------------------------------------------
# One server process
# --------------------------------------------------------------------------------------------


class LogWatch:
    """The server's merged output, each line with the monotonic time it arrived."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[tuple[float, str]] = []
        self.condition = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            stamp = time.monotonic()
            with self.condition:
                self.lines.append((stamp, raw.decode(errors="replace").rstrip()))
                self.condition.notify_all()

    def mark(self) -> int:
        with self.condition:
            return len(self.lines)

    def wait(self, pattern: str, n: int = 1, start: int = 0) -> float:
        """When the ``n``-th line matching from ``start`` arrived (waiting for it)."""
        with self.condition:
            ok = self.condition.wait_for(
                lambda: nth_match(self.lines, pattern, n, start) >= 0, TIMEOUT
            )
            if not ok:
                tail = "\n".join(line for _, line in self.lines[-5:])
                raise StartFailure(f"no {n} line(s) matching {pattern!r}; log ends:\n{tail}")
            return nth_match(self.lines, pattern, n, start)

    def pids(self, pattern: str) -> list[int]:
        regex = re.compile(pattern)
        with self.condition:
            return [int(m.group(1)) for _, line in self.lines if (m := regex.search(line))]


def first_answer(proc: subprocess.Popen[bytes], port: int) -> float:
    """When ``GET /`` first got 200 with the expected body."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartFailure(f"exited with code {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                sock.sendall(REQUEST)
                data = b"".join(iter(lambda: sock.recv(65536), b""))
            if data.startswith(b"HTTP/1.1 200") and data.endswith(EXPECTED_BODY):
                return time.monotonic()
        except OSError:
            pass
        time.sleep(POLL)
    raise StartFailure(f"no 200 on GET / within {TIMEOUT:.0f}s")


@dataclass
class Sample:
    values: dict[str, float | None] = field(default_factory=dict)
    error: str = ""


def measure(scenario: Scenario, cpus: str, events: bool = True) -> Sample:
    """Launch, time the first answer and readiness, then (N >= 2) a SIGKILL and a SIGHUP."""
    port = free_port()
    argv = scenario.argv(port)
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    logs = scenario.log
    sample = Sample()
    launched = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=server_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert proc.stdout is not None
    watch = LogWatch(proc.stdout)
    try:
        sample.values["first"] = first_answer(proc, port) - launched
        sample.values["ready"] = watch.wait(logs.serving, scenario.workers) - launched
        if events and scenario.workers >= 2:
            sample.values["respawn"] = _respawn(watch, logs)
            sample.values["reload"] = _reload(proc, watch, logs, scenario.workers)
    except StartFailure as exc:
        sample.error = str(exc)
    finally:
        stop_server(proc)
        proc.stdout.close()
    return sample


def _respawn(watch: LogWatch, logs: ServerLog) -> float:
    """SIGKILL the newest worker; seconds until a worker logs that it serves."""
    victim = watch.pids(logs.worker_pid)[-1]
    return _after(watch, logs.serving, 1, lambda: os.kill(victim, signal.SIGKILL))


def _reload(proc: subprocess.Popen[bytes], watch: LogWatch, logs: ServerLog, n: int) -> float:
    """SIGHUP the master; seconds until ``n`` new workers log that they serve."""
    return _after(watch, logs.serving, n, lambda: proc.send_signal(signal.SIGHUP))


def _after(watch: LogWatch, pattern: str, n: int, action: Callable[[], None]) -> float:
    mark = watch.mark()
    sent = time.monotonic()
    action()
    return watch.wait(pattern, n, mark) - sent


def compile_tree() -> None:
    """Write the bytecode caches of what the servers import from this checkout, as installing a
    package does. Without them (a fresh checkout, PYTHONDONTWRITEBYTECODE) every launch of mypkg
    compiles its modules from source, while the peers, installed by pip, start from bytecode."""
    for name in ("mypkg", "benchmarks"):
        compileall.compile_dir(REPO_ROOT / name, quiet=1)


# --------------------------------------------------------------------------------------------
# Rounds and the report
# --------------------------------------------------------------------------------------------


def report(names: Sequence[str], results: dict[str, list[Sample]], cpus: str) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rounds = max(len(samples) for samples in results.values())
    lines = [
        f"{now}; Python {platform.python_version()} ({sys.executable}); {os.cpu_count()} CPUs,"
        f" load average {os.getloadavg()[0]:.1f}; {rounds} rounds; servers pinned to"
        f" {cpus or 'nothing (not pinned)'}. Milliseconds: median (min-max).",
        "",
        "| server | " + " | ".join(HEADINGS) + " | failed runs |",
        "| --- |" + " ---: |" * len(HEADINGS) + " ---: |",
    ]
    for name in names:
        samples = results[name]
        cells = []
        for metric in METRICS:
            summary = summarize([s.values.get(metric) for s in samples])
            cells.append(summary.cell() if summary else "-")
        failed = sum(1 for s in samples if s.error)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {failed} |")
    if "supervise-w2" in results and "mypkg" in results:
        diff = paired_difference(*(_series(results[n], "first") for n in ("supervise-w2", "mypkg")))
        if diff is not None:
            lines += ["", f"supervise-w2 minus mypkg, first 200, paired by round: {diff.cell()}"]
    lines += ["", "Commands (PORT is a free port):", ""]
    for name in names:
        lines.append(f"* {name}: `{shown_command(SCENARIOS[name].argv(0))}`")
    errors = [f"* {n}: {s.error}" for n in names for s in results[n] if s.error]
    if errors:
        lines += ["", "Failures:", "", *errors]
    return "\n".join(lines)


def shown_command(argv: Sequence[str]) -> str:
    """The command as a reader would type it: PY for this interpreter, PORT for port 0."""
    words = []
    for arg in argv:
        if arg == sys.executable:
            arg = "PY"
        elif arg == "0" or arg.endswith(":0"):
            arg = arg[:-1] + "PORT"
        words.append(arg)
    return " ".join(words)


def _series(samples: Sequence[Sample], metric: str) -> list[float | None]:
    return [s.values.get(metric) for s in samples]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--servers", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--cpus", default="", help="taskset -c CPUs for the servers")
    parser.add_argument("--no-install", action="store_true", help="do not pip-install the peers")
    opts = parser.parse_args(argv)
    if not opts.no_install:
        ensure_peers()
    names = []
    for name in opts.servers.split(","):
        reason = SERVERS[SCENARIOS[name].server].unavailable()
        if reason:
            print(f"{name}: {reason}", file=sys.stderr)
        else:
            names.append(name)
    compile_tree()
    for name in names:  # unrecorded: page cache and bytecode caches warm for everyone
        measure(SCENARIOS[name], opts.cpus, events=False)
    results: dict[str, list[Sample]] = {name: [] for name in names}
    for round_no in range(1, opts.rounds + 1):
        for name in round_order(names, round_no):
            sample = measure(SCENARIOS[name], opts.cpus)
            results[name].append(sample)
            shown = {k: f"{v * 1000:.0f}" for k, v in sample.values.items() if v is not None}
            print(f"round {round_no} {name}: {shown} {sample.error}", file=sys.stderr, flush=True)
    print(report(names, results, opts.cpus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
