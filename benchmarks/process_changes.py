"""Failed requests while worker processes come and go, counted side by side under wrk.

Why this exists: a pre-fork server earns trust by losing nothing when it reloads, shrinks or
recycles its workers under traffic. This script starts each process manager with several
workers, keeps wrk's keep-alive load on it, causes one kind of process change in the middle of
the run, and prints what wrk saw go wrong: socket errors (by kind) and non-2xx responses.

Events: ``hup`` (rolling restart, sent three times), ``ttou`` (3 workers down to 2),
``max-requests`` (every worker recycled after ~3000 requests, with jitter, all run long) and
``term`` (graceful stop half-way; wrk keeps trying to reconnect to the closed port for the rest
of the run and counts each refused attempt as a write error, so for ``term`` only read/timeout
errors and non-2xx responses are failures of the server).

    python benchmarks/process_changes.py --managers supervise,gunicorn-mypkg,gunicorn-uvicorn
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import APPS
from benchmarks.procs import HOST, StartFailure, check_cpus, free_port, running_server
from benchmarks.servers import SERVERS, ensure_peers, ensure_wrk
from benchmarks.wrk import parse_wrk

MAX_REQUESTS, JITTER = 3000, 300
_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")

# Which server spec runs each manager, and its flags for max-requests recycling.
MANAGERS: dict[str, tuple[str, list[str]]] = {
    "supervise": (
        "mypkg",
        ["--limit-max-requests", str(MAX_REQUESTS), "--max-requests-jitter", str(JITTER)],
    ),
    "gunicorn-mypkg": (
        "gunicorn-mypkg",
        ["--max-requests", str(MAX_REQUESTS), "--max-requests-jitter", str(JITTER)],
    ),
    "gunicorn-uvicorn": (
        "gunicorn-uvicorn",
        ["--max-requests", str(MAX_REQUESTS), "--max-requests-jitter", str(JITTER)],
    ),
    "uvicorn": ("uvicorn", ["--limit-max-requests", str(MAX_REQUESTS)]),
}
# The same managers with a SO_REUSEPORT socket per worker (--reuse-port).
MANAGERS["supervise-reuseport"] = ("mypkg-reuseport", MANAGERS["supervise"][1])
MANAGERS["gunicorn-mypkg-reuseport"] = ("gunicorn-mypkg-reuseport", MANAGERS["gunicorn-mypkg"][1])
EVENTS = ("hup", "ttou", "max-requests", "term")


@dataclass
class Outcome:
    manager: str
    event: str
    requests: int
    non_2xx: int
    connect: int
    read: int
    write: int
    timeout: int
    note: str = ""


def _signals(event: str, duration: float) -> list[tuple[float, int]]:
    """(seconds into the run, signal for the master) for one event."""
    if event == "hup":
        return [(duration * f, signal.SIGHUP) for f in (0.25, 0.5, 0.75)]
    if event == "ttou":
        return [(duration * 0.4, signal.SIGTTOU)]
    if event == "term":
        return [(duration * 0.5, signal.SIGTERM)]
    return []


def run_one(manager: str, event: str, opts: argparse.Namespace, logs: Path) -> Outcome:
    spec_name, recycle_flags = MANAGERS[manager]
    workers = 3 if event == "ttou" else 2
    port = free_port()
    argv = SERVERS[spec_name].build(APPS["plain"], port, workers)
    if spec_name.startswith("mypkg") and "--workers" not in argv:
        argv += ["--workers", str(workers)]
    if event == "max-requests":
        argv += recycle_flags
    log_path = logs / f"{manager}-{event}.log"
    with running_server(argv, port, opts.server_cpus, log_path) as proc:
        wrk = subprocess.Popen(
            ["taskset", "-c", opts.wrk_cpus, "wrk", "-t1", f"-c{opts.connections}",
             f"-d{opts.duration}s", "--latency", f"http://{HOST}:{port}/"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started = time.monotonic()
        for at, sig in _signals(event, opts.duration):
            time.sleep(max(0.0, started + at - time.monotonic()))
            os.kill(proc.pid, sig)  # taskset execs the server: this is its master
        out, err = wrk.communicate(timeout=opts.duration + 60)
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk exited with {wrk.returncode}: {err.strip()}")
    result = parse_wrk(out)
    kinds = _ERRORS.search(out)
    connect, read, write, timeout = (int(n) for n in kinds.groups()) if kinds else (0, 0, 0, 0)
    return Outcome(manager, event, result.requests, result.non_2xx, connect, read, write, timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--managers", default="supervise,gunicorn-mypkg,gunicorn-uvicorn")
    parser.add_argument("--events", default=",".join(EVENTS))
    parser.add_argument("--duration", type=int, default=12, help="seconds of load per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--wrk-cpus", default="1")
    parser.add_argument("--no-install", action="store_true")
    opts = parser.parse_args(argv)
    managers = opts.managers.split(",")
    events = opts.events.split(",")
    for name in [*managers, *events]:
        if name not in MANAGERS and name not in EVENTS:
            parser.error(f"unknown manager or event {name!r}")
    check_cpus([opts.server_cpus, opts.wrk_cpus])
    if not opts.no_install:
        ensure_wrk()
        ensure_peers()
    with tempfile.TemporaryDirectory(prefix="mypkg-churn-") as tmp:
        outcomes = []
        for event in events:
            for manager in managers:
                try:
                    outcomes.append(run_one(manager, event, opts, Path(tmp)))
                except (StartFailure, RuntimeError) as exc:
                    outcomes.append(Outcome(manager, event, 0, 0, 0, 0, 0, 0, f"failed: {exc}"))
                _print(outcomes[-1])
    return 0


def _print(o: Outcome) -> None:
    line = (
        f"{o.event:<13} {o.manager:<17} requests {o.requests:>8}  non-2xx {o.non_2xx:>5}  "
        f"errors connect {o.connect:>6} read {o.read:>5} write {o.write:>6} timeout {o.timeout:>4}"
    )
    print(line + (f"  {o.note}" if o.note else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
