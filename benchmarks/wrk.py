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
import tempfile
from dataclasses import dataclass
from pathlib import Path

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
    timeouts: int = 0  # of those, requests that got no answer within wrk's timeout (2 s)
    p50_ms: float | None = None
    p999_ms: float | None = None  # from the Lua done() hook (wrk prints no 99.9 %)
    max_ms: float | None = None


# wrk's own table stops at 99 %: a done() hook prints the rest from the same histogram (in us).
_DONE_HOOK = """
done = function(summary, latency, requests)
  io.write(string.format("latency-us p50 %d p999 %d max %d\\n",
    latency:percentile(50), latency:percentile(99.9), latency.max))
end
"""
_HOOK_LINE = re.compile(r"^latency-us p50 (\d+) p999 (\d+) max (\d+)$", re.MULTILINE)


def lua_script(method: str = "GET", body: bytes | None = None) -> str:
    """The wrk script: the request to send (when not a plain GET) and the percentile hook."""
    lines = []
    if method != "GET" or body is not None:
        lines.append(f'wrk.method = "{method}"')
    if body is not None:
        # A body of one repeated byte keeps the script short whatever its size.
        if body != body[:1] * len(body):
            raise ValueError("only bodies of one repeated byte are supported")
        lines.append(f'wrk.body = string.rep("{body[:1].decode("ascii")}", {len(body)})')
        lines.append('wrk.headers["Content-Type"] = "application/octet-stream"')
    return "\n".join(lines) + _DONE_HOOK


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
    hook = _HOOK_LINE.search(output)
    p50, p999, longest = (int(n) / 1000 for n in hook.groups()) if hook else (None, None, None)
    p50_line = re.search(r"^\s*50(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\b", output, re.MULTILINE)
    if p50 is None and p50_line:
        p50 = _to_ms(p50_line.group(1), p50_line.group(2))
    return WrkResult(
        requests=int(totals.group(1)),
        seconds=_to_ms(totals.group(2), totals.group(3)) / 1000,
        requests_per_second=float(rate.group(1)),
        p99_ms=_to_ms(p99.group(1), p99.group(2)) if p99 else None,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        timeouts=int(errors.group(4)) if errors else 0,
        p50_ms=p50,
        p999_ms=p999,
        max_ms=longest,
    )


def run_wrk(
    port: int,
    seconds: int,
    connections: int,
    threads: int,
    cpus: str,
    path: str = "/",
    method: str = "GET",
    body: bytes | None = None,
) -> WrkResult:
    with tempfile.TemporaryDirectory(prefix="mypkg-wrk-") as tmp:
        script = Path(tmp) / "request.lua"
        script.write_text(lua_script(method, body))
        argv = [
            "taskset", "-c", cpus, "wrk",
            f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
            f"http://{HOST}:{port}{path}",
        ]  # fmt: skip
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
    if result.returncode != 0:
        raise RuntimeError(f"wrk exited with {result.returncode}: {result.stderr.strip()}")
    return parse_wrk(result.stdout)
