"""Soak: a million requests of mixed traffic; do the workers' memory and descriptors stay flat?

Why: a leak of a few hundred bytes per request, or a descriptor per aborted connection, is
invisible in every short test and takes a production box down in a week. This starts
``mypkg-supervise -w 2`` or Gunicorn with ``mypkg.workers.AsgiWorker`` (2 workers) serving
benchmarks/apps/soak_app.py, drives the traffic of benchmarks/soak_load.py at it, and samples
each worker's RSS and open descriptors once a second. The verdict: no failed request (aborted
ones are deliberate), RSS growth after warm-up under ``--max-growth`` MiB per worker, and each
worker's descriptors back to their idle count once the clients are gone.

    python -m benchmarks.soak --server supervise --requests 1000000 --json soak-supervise.json
    python -m benchmarks.soak --plot docs/soak.png soak-supervise.json soak-gunicorn.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.procs import free_port, server_env
from benchmarks.soak_load import Tally, run_load

PAGE = os.sysconf("SC_PAGE_SIZE")
APP = "benchmarks.apps.soak_app:app"


def server_command(server: str, port: int, workers: int) -> list[str]:
    if server == "supervise":
        return [sys.executable, "-m", "mypkg", APP, "-w", str(workers), "--port", str(port),
                "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return [sys.executable, "-m", "gunicorn", APP, "-w", str(workers), "-b", f"127.0.0.1:{port}",
            "-k", "mypkg.workers.AsgiWorker", "--log-level", "warning"]  # fmt: skip


def workers_of(master: int) -> list[int]:
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return []
    return sorted(int(pid) for pid in text.split())


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Sample:
    t: float
    pid: int
    rss: float
    fds: int
    done: int  # requests the clients had completed at that moment


@dataclass
class Result:
    server: str
    requests: int
    seconds: float = 0.0
    tally: dict[str, Any] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    idle_fds: dict[int, int] = field(default_factory=dict)  # per worker, before the load
    after_fds: dict[int, int] = field(default_factory=dict)  # per worker, after it
    growth: dict[int, float] = field(default_factory=dict)  # MiB per worker after warm-up
    verdict: list[str] = field(default_factory=list)  # what failed; empty when flat


class Sampler(threading.Thread):
    """Every ``interval`` seconds: RSS and descriptors of every worker of ``master``."""

    def __init__(self, master: int, tally: Tally, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.master, self.tally, self.interval = master, tally, interval
        self.samples: list[Sample] = []
        self.stop = threading.Event()
        self.start_time = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        now = time.monotonic() - self.start_time
        for pid in workers_of(self.master):
            with contextlib.suppress(OSError):  # the worker just exited
                self.samples.append(Sample(now, pid, rss_mib(pid), open_fds(pid), self.tally.done))


def wait_ready(proc: subprocess.Popen[bytes], port: int, workers: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        if len(workers_of(proc.pid)) >= workers:
            try:
                import http.client

                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/")
                if conn.getresponse().read() == b"ok":
                    return
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def settle_fds(pids: list[int], target: dict[int, int], timeout: float = 10.0) -> dict[int, int]:
    """Descriptors per worker once they are back to ``target`` (or when time runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        now = {pid: open_fds(pid) for pid in pids}
        settled = all(now[pid] <= target.get(pid, 0) for pid in pids)
        if settled or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


def soak(server: str, requests: int, workers: int = 2, users: int = 16, warmup: float = 0.2,
         max_growth: float = 5.0, interval: float = 1.0) -> Result:  # fmt: skip
    """Run one soak; the result with its verdict (empty when everything stayed flat)."""
    port = free_port()
    log = open(f"/tmp/soak-{server}-{os.getpid()}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(server_command(server, port, workers), stdout=log, stderr=log,
                            env=server_env(), start_new_session=True)  # fmt: skip
    result = Result(server, requests)
    try:
        wait_ready(proc, port, workers)
        pids = workers_of(proc.pid)
        # A first pass opens what a worker opens lazily once; idle after it is the baseline.
        asyncio.run(run_load(port, Tally(2000), users))
        result.idle_fds = settle_fds(pids, {}, timeout=1.0)
        tally = Tally(requests)
        sampler = Sampler(proc.pid, tally, interval)
        sampler.start()
        started = time.monotonic()
        asyncio.run(run_load(port, tally, users))
        result.seconds = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        result.after_fds = settle_fds(pids, result.idle_fds)
        sampler.sample()
        result.samples = sampler.samples
        result.tally = {"done": tally.done, "aborted": tally.aborted,
                        "by_kind": dict(tally.by_kind), "failures": dict(tally.failures),
                        "examples": tally.examples}  # fmt: skip
        judge(result, pids, tally, warmup, max_growth)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    return result


def judge(result: Result, pids: list[int], tally: Tally, warmup: float, max_growth: float) -> None:
    """RSS after warm-up vs at the end (medians of a few samples), descriptors, failures."""
    verdict = result.verdict
    if tally.failures:
        verdict.append(f"failed requests: {dict(tally.failures)} e.g. {tally.examples[:3]}")
    alive = set(workers_of_samples(result.samples, -1))
    if alive != set(pids):
        verdict.append(f"workers changed during the soak: {sorted(pids)} -> {sorted(alive)}")
    for pid in pids:
        series = [s for s in result.samples if s.pid == pid]
        warm = [s.rss for s in series if s.done >= warmup * result.requests][:5]
        last = [s.rss for s in series][-5:]
        if not warm or not last:
            verdict.append(f"worker {pid}: too few samples")
            continue
        growth = statistics.median(last) - statistics.median(warm)
        result.growth[pid] = round(growth, 2)
        if growth >= max_growth:
            verdict.append(f"worker {pid}: RSS grew {growth:.1f} MiB after warm-up")
        if result.after_fds.get(pid, 0) > result.idle_fds.get(pid, 0):
            verdict.append(
                f"worker {pid}: {result.after_fds[pid]} descriptors open after the load,"
                f" {result.idle_fds[pid]} before"
            )


def workers_of_samples(samples: list[Sample], index: int) -> list[int]:
    """The pids in the last (index -1) round of samples."""
    if not samples:
        return []
    t = samples[index].t
    return [s.pid for s in samples if s.t == t]


def summary(result: Result) -> str:
    tally = result.tally
    lines = [
        f"{result.server}: {tally['done']} requests in {result.seconds:.0f} s"
        f" ({tally['done'] / max(result.seconds, 1e-9):.0f}/s), {tally['aborted']} aborted"
        f" on purpose, failures: {dict(tally['failures']) or 'none'}",
        f"  by kind: {dict(tally['by_kind'])}",
    ]
    for pid, growth in result.growth.items():
        rss = [s.rss for s in result.samples if s.pid == pid]
        lines.append(
            f"  worker {pid}: RSS {rss[0]:.1f} -> {rss[-1]:.1f} MiB (max {max(rss):.1f}),"
            f" growth after warm-up {growth:+.2f} MiB; descriptors idle"
            f" {result.idle_fds[pid]}, after {result.after_fds[pid]}"
        )
    lines.append("  verdict: " + ("flat" if not result.verdict else "; ".join(result.verdict)))
    return "\n".join(lines)


def plot(paths: list[str], output: str) -> None:
    """RSS and descriptors per worker over time, one column per soak result file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [json.loads(Path(path).read_text()) for path in paths]
    figure, axes = plt.subplots(2, len(results), figsize=(6 * len(results), 6), squeeze=False)
    for column, result in enumerate(results):
        by_pid: dict[int, list[dict[str, Any]]] = {}
        for sample in result["samples"]:
            by_pid.setdefault(sample["pid"], []).append(sample)
        for index, (_pid, series) in enumerate(sorted(by_pid.items())):
            times = [s["t"] for s in series]
            axes[0][column].plot(times, [s["rss"] for s in series], label=f"worker {index + 1}")
            axes[1][column].plot(times, [s["fds"] for s in series], label=f"worker {index + 1}")
        done = result["tally"]["done"]
        axes[0][column].set_title(f"{result['server']}: {done:,} requests")
        axes[0][column].set_ylabel("RSS (MiB)")
        axes[0][column].set_ylim(0, max(s["rss"] for s in result["samples"]) * 1.2)
        axes[1][column].set_ylim(0, max(s["fds"] for s in result["samples"]) * 1.3)
        axes[1][column].set_ylabel("open descriptors")
        axes[1][column].set_xlabel("seconds")
        for row in (0, 1):
            axes[row][column].legend(loc="upper left")
            axes[row][column].grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(output, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["supervise", "gunicorn"], default="supervise")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--max-growth", type=float, default=5.0, help="MiB per worker")
    parser.add_argument("--json", help="write the samples and the verdict here")
    parser.add_argument("--plot", help="draw the result files given as arguments into this PNG")
    parser.add_argument("results", nargs="*")
    args = parser.parse_args()
    if args.plot:
        plot(args.results, args.plot)
        return
    result = soak(args.server, args.requests, users=args.users, max_growth=args.max_growth)
    print(summary(result))
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(result), default=dict))
    sys.exit(1 if result.verdict else 0)


if __name__ == "__main__":
    main()
