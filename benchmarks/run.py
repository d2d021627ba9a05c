"""Side-by-side HTTP benchmark of mypkg against its peer ASGI servers.

Why this exists: a claim like "mypkg is as fast as uvicorn" is only worth something if it is
measured the same way for every server, on the same app, on the same machine, in the same run.
This harness starts each server as a subprocess on 127.0.0.1 (one worker, access log off, log
level warning), pins it to one CPU and the load generator (wrk) to another, waits until the
server really answers, warms it up, measures, and stops it again. Servers are alternated across
rounds so that slow drift of the machine (thermal, noisy neighbours) does not favour whoever
runs first, and the per-server median across rounds is reported.

Besides requests/s it reports the server's CPU time per request (the whole process tree, read
from /proc), which stays meaningful even when the load generator and not the server is the
bottleneck, plus p99 latency, memory and error counts. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "benchmarks" / "requirements.txt"
HOST = "127.0.0.1"
EXPECTED_BODY = b"Hello, world!"
APPS: dict[str, str] = {
    "plain": "benchmarks.apps.plain:app",
    "starlette": "benchmarks.apps.starlette_app:app",
}
READY_TIMEOUT = 15.0  # seconds for a server to accept a connection and answer 200
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
WARMUP_SECONDS = 2
INSTALL_TIMEOUT = 600.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
BASELINE = "mypkg"
TIMES = "\N{MULTIPLICATION SIGN}"
VERSIONED_PACKAGES = (
    "mypkg",
    "uvicorn",
    "granian",
    "gunicorn",
    "uvicorn-worker",
    "starlette",
    "uvloop",
    "httptools",
    "gunicorn-h1c",
)


# --------------------------------------------------------------------------------------------
# Servers under test
# --------------------------------------------------------------------------------------------

CommandBuilder = Callable[[str, int, int], list[str]]


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server, and how to tell up front that it cannot be run here."""

    name: str
    build: CommandBuilder  # (app target, port, workers) -> argv
    unavailable: Callable[[], str | None] = lambda: None  # reason, or None when usable


def _workers_flag(workers: int) -> list[str]:
    """Pass --workers only when asked for more than one, so the single-process path is used."""
    return ["--workers", str(workers)] if workers > 1 else []


def _mypkg(target: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "mypkg", target,
        "--host", HOST, "--port", str(port),
        "--http", "httptools", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning",
        *_workers_flag(workers),
    ]  # fmt: skip


def _uvicorn(target: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", target,
        "--host", HOST, "--port", str(port),
        "--http", "httptools", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning",
        *_workers_flag(workers),
    ]  # fmt: skip


def _granian(target: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "granian",
        "--interface", "asgi", "--host", HOST, "--port", str(port),
        "--workers", str(workers), "--runtime-threads", "1",
        "--loop", "uvloop", "--no-ws",
        "--no-access-log", "--log-level", "warning",
        target,
    ]  # fmt: skip


def _gunicorn_common(port: int, workers: int, worker_class: str) -> list[str]:
    """Gunicorn's access log is off unless --access-logfile is given, so nothing to turn off."""
    argv = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{HOST}:{port}", "--workers", str(workers),
        "--worker-class", worker_class,
        "--log-level", "warning", "--graceful-timeout", "3",
    ]  # fmt: skip
    if _gunicorn_has_setting("ControlSocketDisable"):
        # Otherwise every instance shares ~/.gunicorn/gunicorn.ctl with any other gunicorn.
        argv.append("--no-control-socket")
    return argv


def _gunicorn_asgi(target: str, port: int, workers: int) -> list[str]:
    argv = _gunicorn_common(port, workers, "asgi")
    if _gunicorn_has_setting("ASGILoop"):
        argv += ["--asgi-loop", "uvloop"]
    return [*argv, target]


def _gunicorn_uvicorn(target: str, port: int, workers: int) -> list[str]:
    # UvicornWorker picks uvloop and httptools by itself when they are installed.
    return [*_gunicorn_common(port, workers, "uvicorn_worker.UvicornWorker"), target]


def _gunicorn_mypkg(target: str, port: int, workers: int) -> list[str]:
    return [*_gunicorn_common(port, workers, "mypkg.workers.AsgiWorker"), target]


def _gunicorn_has_setting(class_name: str) -> bool:
    try:
        import gunicorn.config
    except ImportError:
        return False
    return hasattr(gunicorn.config, class_name)


def _missing_module(module: str, hint: str) -> Callable[[], str | None]:
    def check() -> str | None:
        return None if _module_available(module) else f"unavailable: {hint}"

    return check


def _gunicorn_asgi_unavailable() -> str | None:
    try:
        from gunicorn.workers import SUPPORTED_WORKERS
    except ImportError:
        return "unavailable: gunicorn is not installed"
    if "asgi" not in SUPPORTED_WORKERS:
        version = _version("gunicorn") or "?"
        return f"unavailable: gunicorn {version} has no 'asgi' worker"
    return None


SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec("mypkg", _mypkg),
        ServerSpec("uvicorn", _uvicorn, _missing_module("uvicorn", "uvicorn not installed")),
        ServerSpec("granian", _granian, _missing_module("granian", "granian not installed")),
        ServerSpec("gunicorn-asgi", _gunicorn_asgi, _gunicorn_asgi_unavailable),
        ServerSpec(
            "gunicorn-uvicorn",
            _gunicorn_uvicorn,
            _missing_module("uvicorn_worker", "uvicorn-worker not installed"),
        ),
        ServerSpec("gunicorn-mypkg", _gunicorn_mypkg),
    )
}
DEFAULT_SERVERS = ("mypkg", "uvicorn", "granian", "gunicorn-asgi")


# --------------------------------------------------------------------------------------------
# Tooling: peers from PyPI, wrk from apt
# --------------------------------------------------------------------------------------------


def _module_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _requirement_names(path: Path) -> list[str]:
    """Project names from a requirements file (version specifiers and extras dropped)."""
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0])
    return names


def ensure_peers() -> None:
    """pip-install benchmarks/requirements.txt into this interpreter if any peer is missing."""
    missing = [
        name
        for name in _requirement_names(REQUIREMENTS)
        if not _module_available(name.lower().replace("-", "_"))
    ]
    if not missing:
        return
    argv = [sys.executable, "-m", "pip", "install", "-r", str(REQUIREMENTS)]
    print(f"[setup] missing peer packages {', '.join(missing)}: running {' '.join(argv)}")
    result = subprocess.run(argv, timeout=INSTALL_TIMEOUT, check=False)
    if result.returncode != 0:
        print(f"[setup] pip exited with {result.returncode}; servers that need it will fail")
    importlib.invalidate_caches()


def ensure_wrk() -> None:
    """Install wrk with apt-get when it is not on PATH; exit if that is impossible."""
    if shutil.which("wrk"):
        return
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    for argv in (
        [*prefix, "apt-get", "install", "-y", "wrk"],
        [*prefix, "apt-get", "update"],
        [*prefix, "apt-get", "install", "-y", "wrk"],
    ):
        print(f"[setup] wrk not found: running {' '.join(argv)}")
        try:
            subprocess.run(argv, timeout=INSTALL_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"[setup] {argv[0]} failed: {exc}")
        if shutil.which("wrk"):
            return
    sys.exit("wrk is required and could not be installed (apt-get install wrk)")


def check_cpus(cpu_lists: Sequence[str]) -> None:
    """Fail early, with a readable message, when a requested CPU is not available."""
    if not shutil.which("taskset"):
        sys.exit("taskset (util-linux) is required to pin the server and wrk to CPUs")
    allowed = os.sched_getaffinity(0)
    for cpus in cpu_lists:
        wanted = _parse_cpu_list(cpus)
        if not wanted <= allowed:
            sys.exit(f"CPU list {cpus!r} is not within the CPUs available here {sorted(allowed)}")


def _parse_cpu_list(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


# --------------------------------------------------------------------------------------------
# /proc: CPU time and memory of a process tree
# --------------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (which may contain spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rpartition(")")[2].split()


def process_tree(root: int) -> list[int]:
    """The root pid and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """User+system CPU of the tree, including reaped children (cutime/cstime), in seconds."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # After the command: state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / CLOCK_TICKS


def tree_rss_mib(root: int) -> float:
    """Sum of resident set sizes over the tree (shared pages are counted once per process)."""
    pages = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, IndexError, ValueError):
            pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_SIZE / (1024 * 1024)


# --------------------------------------------------------------------------------------------
# Server lifecycle
# --------------------------------------------------------------------------------------------


class StartFailure(Exception):
    """The server did not come up; the message says why."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def probe(port: int, timeout: float = 1.0) -> str | None:
    """GET / once; None when it answers 200 with the expected body, else what went wrong."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        conn.close()
    if response.status != 200:
        return f"HTTP {response.status}"
    if body != EXPECTED_BODY:
        return f"unexpected body {body[:40]!r}"
    return None


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    """Poll until the server answers 200 on /, it exits, or the deadline passes."""
    deadline = time.monotonic() + timeout
    problem = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartFailure(f"exited with code {proc.returncode}")
        problem = probe(port) or ""
        if not problem:
            return
        time.sleep(0.05)
    raise StartFailure(f"not ready after {timeout:.0f}s ({problem})")


def _alive_members(members: Sequence[int], pgid: int) -> list[int]:
    """Which of our recorded processes still exist (and are not zombies) in our group."""
    alive = []
    for pid in members:
        fields = _stat_fields(pid)
        with contextlib.suppress(ProcessLookupError):
            if fields is not None and fields[0] != "Z" and os.getpgid(pid) == pgid:
                alive.append(pid)
    return alive


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL whatever is left after STOP_TIMEOUT."""
    pgid = proc.pid  # started with start_new_session=True, so it leads its own group
    members: list[int] = []
    if proc.poll() is None:
        members = process_tree(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _alive_members(members, pgid):
            return
        time.sleep(0.05)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    for pid in _alive_members(members, pgid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)


def _log_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []


def _log_reason(lines: Sequence[str], width: int = 90) -> str:
    """The line of a server log most likely to say why it failed: the last error, if any."""
    errors = [line for line in lines if re.search(r"Error|Exception|error:", line)]
    reason = (errors or lines or [""])[-1].strip()
    return reason if len(reason) <= width else reason[: width - 3] + "..."


@contextlib.contextmanager
def running_server(
    argv: list[str], port: int, cpus: str, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start argv pinned to cpus, yield it once it answers, always stop it afterwards."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["taskset", "-c", cpus, *argv],
            cwd=REPO_ROOT,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own group: Ctrl-C on the terminal does not reach it
        )
    try:
        wait_ready(proc, port, READY_TIMEOUT)
        yield proc
    finally:
        stop_server(proc)


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------------------------


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
        lines = _log_lines(log_path)
        if lines:
            record.error += f" ({_log_reason(lines)})"
        print(f"    {record.error}", flush=True)
        for line in lines[-8:]:
            print(f"    | {line}", flush=True)
    return record


def round_order(servers: Sequence[str], round_no: int) -> list[str]:
    """Odd rounds in the given order, even rounds reversed, so nobody always goes first."""
    return list(servers) if round_no % 2 == 1 else list(reversed(servers))


def prime_machine(opts: Options, logs: Path) -> None:
    """Load the machine for a while before round 1, and throw the numbers away.

    On shared (virtualised) hosts the first seconds of load after an idle period run
    measurably slower, which would penalise whichever server happens to go first.
    """
    if opts.prime < 1:
        return
    target = APPS[opts.apps[0]]
    for name in opts.servers:
        spec = SERVERS[name]
        if spec.unavailable():
            continue
        port = free_port()
        argv = spec.build(target, port, opts.workers)
        print(f"[prime] {opts.prime}s of load on {name}, not recorded ...", flush=True)
        try:
            with running_server(argv, port, opts.server_cpus, logs / "prime.log"):
                run_wrk(port, opts.prime, opts.connections, opts.wrk_threads, opts.wrk_cpus)
        except (StartFailure, RuntimeError, ValueError, OSError, subprocess.TimeoutExpired):
            continue
        return


def run_all(opts: Options, logs: Path) -> list[RunRecord]:
    prime_machine(opts, logs)
    records = []
    for round_no in range(1, opts.rounds + 1):
        for app in opts.apps:
            for name in round_order(opts.servers, round_no):
                print(f"[round {round_no}/{opts.rounds}] {app:<9} {name} ...", flush=True)
                record = measure(SERVERS[name], app, round_no, opts, logs)
                if not record.error:
                    print(
                        f"    {record.requests_per_second:,.0f} req/s, "
                        f"{record.cpu_us_per_request:.1f} us CPU/req",
                        flush=True,
                    )
                records.append(record)
    return records


# --------------------------------------------------------------------------------------------
# Summary and report
# --------------------------------------------------------------------------------------------


@dataclass
class Summary:
    """Per server and app: medians over the rounds that succeeded."""

    server: str
    app: str
    rounds_ok: int
    rounds: int
    requests_per_second: float | None = None
    best_requests_per_second: float | None = None
    ratio_to_mypkg: float | None = None
    cpu_us_per_request: float | None = None
    cpu_percent: float | None = None
    p99_ms: float | None = None
    rss_mib: float | None = None
    non_2xx: int = 0
    socket_errors: int = 0
    spread_percent: float | None = None  # (max - min) / median of requests/s across rounds
    error: str | None = None
    command: list[str] = field(default_factory=list)  # of the first round; the port varies


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(records: Sequence[RunRecord], opts: Options) -> list[Summary]:
    summaries = []
    for app in opts.apps:
        for server in opts.servers:
            runs = [r for r in records if r.app == app and r.server == server]
            summaries.append(_summarize_one(server, app, runs))
        _fill_ratios([s for s in summaries if s.app == app])
    return summaries


def _summarize_one(server: str, app: str, runs: Sequence[RunRecord]) -> Summary:
    ok = [r for r in runs if not r.error]
    summary = Summary(server, app, len(ok), len(runs), command=runs[0].command if runs else [])
    if not ok:
        summary.error = runs[0].error if runs else "not run"
        return summary
    rates = [r.requests_per_second for r in ok]
    summary.requests_per_second = statistics.median(rates)
    summary.best_requests_per_second = max(rates)
    summary.cpu_us_per_request = _median([r.cpu_us_per_request for r in ok])
    summary.cpu_percent = _median([r.cpu_percent for r in ok])
    summary.p99_ms = _median([r.p99_ms for r in ok])
    summary.rss_mib = _median([r.rss_mib for r in ok])
    summary.non_2xx = sum(r.non_2xx for r in ok)
    summary.socket_errors = sum(r.socket_errors for r in ok)
    if len(ok) > 1 and summary.requests_per_second:
        summary.spread_percent = (max(rates) - min(rates)) / summary.requests_per_second * 100
    if len(ok) < len(runs):
        summary.error = f"{len(runs) - len(ok)} round(s) failed"
    return summary


def _fill_ratios(app_summaries: Sequence[Summary]) -> None:
    base = next((s for s in app_summaries if s.server == BASELINE), None)
    if base is None or not base.requests_per_second:
        return
    for summary in app_summaries:
        if summary.requests_per_second is not None:
            summary.ratio_to_mypkg = summary.requests_per_second / base.requests_per_second


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


COLUMNS = (
    "server", "req/s", "best", "vs mypkg", "CPU us/req", "CPU %", "p99 ms",
    "RSS MiB", "non-2xx", "sock err", "spread", "notes",
)  # fmt: skip


def _row(s: Summary) -> list[str]:
    return [
        s.server,
        _fmt(s.requests_per_second, ",.0f"),
        _fmt(s.best_requests_per_second, ",.0f"),
        _fmt(s.ratio_to_mypkg, ".2f"),
        _fmt(s.cpu_us_per_request, ".1f"),
        _fmt(s.cpu_percent, ".0f"),
        _fmt(s.p99_ms, ".2f"),
        _fmt(s.rss_mib, ".1f"),
        str(s.non_2xx) if s.rounds_ok else "-",
        str(s.socket_errors) if s.rounds_ok else "-",
        _fmt(s.spread_percent, ".1f", "%"),
        s.error or "",
    ]


def render_table(rows: Sequence[Sequence[str]]) -> str:
    """Left-align the first and last columns, right-align the numbers in between."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    last = len(widths) - 1
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i in (0, last) else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ratio_line(app_summaries: Sequence[Summary], other: str) -> str | None:
    by_name = {s.server: s for s in app_summaries}
    if other not in by_name:
        return None
    base, peer = by_name.get(BASELINE), by_name[other]
    if base and base.requests_per_second and peer.requests_per_second:
        ratio = base.requests_per_second / peer.requests_per_second
        return f"mypkg / {other} = {ratio:.2f}{TIMES}"
    if base is None:
        return f"mypkg / {other} = n/a (mypkg was not in --servers)"
    missing = BASELINE if not base.requests_per_second else other
    return f"mypkg / {other} = n/a ({missing} has no result)"


def print_report(summaries: Sequence[Summary], opts: Options, env: dict[str, Any]) -> None:
    print()
    print(
        f"wrk -t{opts.wrk_threads} -c{opts.connections} -d{opts.duration}s --latency "
        f"(cpu {opts.wrk_cpus}); servers on cpu {opts.server_cpus}, {opts.workers} worker(s); "
        f"median of {opts.rounds} round(s); gunicorn parser: {env['gunicorn_http_parser']}"
    )
    for app in opts.apps:
        app_summaries = [s for s in summaries if s.app == app]
        print(f"\napp: {app} ({APPS[app]})\n")
        print(render_table([list(COLUMNS), *(_row(s) for s in app_summaries)]))
        ratio = _ratio_line(app_summaries, "uvicorn")
        if ratio:
            print(f"\n{ratio}")
    print("\ncommands (each prefixed with taskset -c SERVER_CPUS; the port differs per run):")
    for summary in summaries:
        if summary.app == opts.apps[0] and summary.command:
            print(f"  {summary.server}: {shlex.join(summary.command)}")


def _working_tree_version() -> str | None:
    """mypkg is run from this checkout: its __version__ plus the git commit, without importing."""
    init = REPO_ROOT / "mypkg" / "__init__.py"
    try:
        found = re.search(r"^__version__\s*=\s*[\"']([^\"']+)", init.read_text(), re.MULTILINE)
    except OSError:
        return None
    version = found.group(1) if found else "?"
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "mypkg"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"{version} (working tree)"
    return f"{version} (working tree @ {head}{'+dirty' if dirty else ''})"


def environment() -> dict[str, Any]:
    versions = {name: _version(name) for name in VERSIONED_PACKAGES}
    versions["mypkg"] = _working_tree_version() or versions["mypkg"]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "versions": {name: v for name, v in versions.items() if v},
        "gunicorn_http_parser": "gunicorn_h1c" if _module_available("gunicorn_h1c") else "python",
    }


def write_json(
    path: Path,
    opts: Options,
    env: dict[str, Any],
    records: Sequence[RunRecord],
    summaries: Sequence[Summary],
) -> None:
    config = {k: v for k, v in asdict(opts).items() if k != "json_path"}
    payload = {
        "config": config,
        "environment": env,
        "summary": [asdict(s) for s in summaries],
        "runs": [
            {**asdict(r), "cpu_us_per_request": r.cpu_us_per_request, "cpu_percent": r.cpu_percent}
            for r in records
        ],
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nJSON written to {path}")


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _name_list(choices: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(choices)}"
            )
        return list(dict.fromkeys(names))

    return parse


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, server order alternating")
    parser.add_argument(
        "--servers",
        type=_name_list(list(SERVERS)),
        default=list(DEFAULT_SERVERS),
        help=f"comma-separated, from: {', '.join(SERVERS)} (default: {','.join(DEFAULT_SERVERS)})",
    )
    parser.add_argument(
        "--apps", type=_name_list(list(APPS)), default=list(APPS), help="plain,starlette"
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list for the servers")
    parser.add_argument("--wrk-cpus", default="1", help="taskset CPU list for wrk")
    parser.add_argument(
        "--prime", type=int, default=10, help="seconds of unrecorded load before round 1 (0: off)"
    )
    parser.add_argument("--json", dest="json_path", type=Path, help="also write results here")
    parser.add_argument(
        "--no-install", dest="install", action="store_false", help="do not pip/apt install"
    )
    args = parser.parse_args(argv)
    for name in ("duration", "connections", "rounds", "workers", "wrk_threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return Options(**vars(args))


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    # SIGINT (even if inherited as ignored), SIGTERM and SIGHUP unwind like Ctrl-C, so every
    # started server is stopped in its finally.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    if opts.install:
        ensure_peers()
        ensure_wrk()
    elif not shutil.which("wrk"):
        sys.exit("wrk is not on PATH (run without --no-install to apt-get it)")
    check_cpus([opts.server_cpus, opts.wrk_cpus])
    env = environment()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()))
    logs = Path(tempfile.mkdtemp(prefix="mypkg-bench-logs-"))
    try:
        records = run_all(opts, logs)
    except KeyboardInterrupt:
        print("\ninterrupted: every started server has been stopped", file=sys.stderr)
        shutil.rmtree(logs, ignore_errors=True)
        return 130
    summaries = summarize(records, opts)
    print_report(summaries, opts, env)
    if opts.json_path:
        write_json(opts.json_path, opts, env, records, summaries)
    if any(r.error for r in records):
        print(f"\nserver logs kept in {logs}")
    else:
        shutil.rmtree(logs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
