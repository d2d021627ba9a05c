"""Run the wrk load generator against a local port and parse what it prints.

Why this exists: wrk's output is text meant for people, with units that change with the
magnitude (us, ms, s), optional lines that only appear when something went wrong (non-2xx
responses, socket errors) and a latency distribution only with --latency. Turning that into
numbers is a job of its own, kept apart from the servers and the rounds so that it can be
tested against captured output and reused by any HTTP benchmark here.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from benchmarks.procs import HOST

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}  # to milliseconds


@dataclass
class WrkResult:
    """What one wrk run reported."""

    requests: int
    seconds: float
    requests_per_second: float
    p99_ms: float | None
    non_2xx: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: int  # connect + read + write + timeout


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS[unit]


def parse_wrk(output: str) -> WrkResult:
    """Parse the text wrk prints with --latency."""
    totals = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)\b", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not totals or not rate:
        raise ValueError(f"unrecognised wrk output:\n{output}")
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\b", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests=int(totals.group(1)),
        seconds=_to_ms(totals.group(2), totals.group(3)) / 1000,
        requests_per_second=float(rate.group(1)),
        p99_ms=_to_ms(p99.group(1), p99.group(2)) if p99 else None,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def run_wrk(port: int, seconds: int, connections: int, threads: int, cpus: str) -> WrkResult:
    argv = [
        "taskset", "-c", cpus, "wrk",
        f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
        f"http://{HOST}:{port}/",
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"wrk exited with {result.returncode}: {result.stderr.strip()}")
    return parse_wrk(result.stdout)
