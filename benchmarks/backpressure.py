"""--backpressure against the 503 default at --limit-concurrency, side by side under wrk.

    python -m benchmarks.backpressure [--seconds 5] [--connections 64] [--limit 8]

A slow app (``tests.support.apps.operator:sleepy``, /slow?0.05: 50 ms per request) under one
mypkg worker with --limit-concurrency LIMIT and far more wrk connections than that. With the
default the overflow is answered 503 at once (failed requests, short latencies); with
--backpressure the worker stops accepting and the overflow waits in the listen backlog (no
failures, latency is queueing). Prints one line per mode: requests, failures (non-2xx, socket
errors), p99.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.wrk import parse_wrk

ROOT = Path(__file__).resolve().parent.parent


def measure(backpressure: bool, seconds: int, connections: int, limit: int) -> str:
    command = [
        sys.executable, "-m", "mypkg", "tests.support.apps.operator:sleepy", "--port", "0",
        "--workers", "1", "--limit-concurrency", str(limit), "--no-access-log",
        *(["--backpressure"] if backpressure else []),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        port = 0
        for line in proc.stderr:
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        url = f"http://127.0.0.1:{port}/slow?0.05"
        wrk = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url]
        result = parse_wrk(subprocess.run(wrk, capture_output=True, text=True, check=True).stdout)
    finally:
        proc.terminate()
        proc.wait(30)
    mode = "--backpressure" if backpressure else "503 (default)"
    p99 = f"{result.p99_ms:.0f} ms" if result.p99_ms is not None else "-"
    return (
        f"{mode:15} requests {result.requests:6}  non-2xx {result.non_2xx:6}"
        f"  socket errors {result.socket_errors:4}  p99 {p99}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--limit", type=int, default=8)
    opts = parser.parse_args()
    print(f"slow app 50 ms, 1 worker, --limit-concurrency {opts.limit}, wrk -c {opts.connections}")
    for backpressure in (False, True):
        print(measure(backpressure, opts.seconds, opts.connections, opts.limit), flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
