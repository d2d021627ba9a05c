"""Run one server process under measurement: start it, know when it is ready, account, stop it.

Why this exists: every benchmark here (the HTTP harness in run.py, and others such as a
WebSocket echo benchmark) needs the same careful process handling, and none of it depends on
which server or which load generator is used. This module pins a server command to CPUs with
taskset in its own process group with its output in a log file, polls it until `GET /` answers
200 with the expected body, reads the CPU time and RSS of its whole process tree from /proc, and
stops it with SIGTERM then SIGKILL (`running_server` does all of that as a context manager). It
also checks that the requested CPUs exist and picks the most telling line of a failed server's
log.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
EXPECTED_BODY = b"Hello, world!"
READY_TIMEOUT = 15.0  # seconds for a server to accept a connection and answer 200
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------------------------
# CPU pinning
# --------------------------------------------------------------------------------------------


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


def server_env() -> dict[str, str]:
    """The environment a server runs in: this checkout first on PYTHONPATH, unbuffered output."""
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


def log_lines(path: Path) -> list[str]:
    """The non-blank lines of a server log, or none if it cannot be read."""
    try:
        return [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return []


def log_reason(lines: Sequence[str], width: int = 90) -> str:
    """The line of a server log most likely to say why it failed: the last error, if any."""
    errors = [line for line in lines if re.search(r"Error|Exception|error:", line)]
    reason = (errors or lines or [""])[-1].strip()
    return reason if len(reason) <= width else reason[: width - 3] + "..."


@contextlib.contextmanager
def running_server(
    argv: list[str], port: int, cpus: str, log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start argv pinned to cpus, yield it once it answers, always stop it afterwards.
    ``env``: variables added to ``server_env()`` (e.g. what apps/counted.py reads)."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["taskset", "-c", cpus, *argv],
            cwd=REPO_ROOT,
            env={**server_env(), **(env or {})},
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
