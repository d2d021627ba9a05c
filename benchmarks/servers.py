"""The servers under test: how to start each one, whether it can run here, how to get it.

Why this exists: a fair comparison needs every server started with equivalent settings (one
worker, access log off, log level warning, uvloop and httptools where the server offers them),
and that knowledge should live in one place that any benchmark can use rather than be repeated
in each. This module holds a `ServerSpec` per server with the function that builds its command
line, the checks that tell up front why a server cannot run in this environment, and the setup
that installs what is missing: the peer servers from benchmarks/requirements.txt with pip, and
wrk with apt-get.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.procs import HOST, REPO_ROOT

REQUIREMENTS = REPO_ROOT / "benchmarks" / "requirements.txt"
INSTALL_TIMEOUT = 600.0
# Listen backlog given to every server: the concurrency sweep opens up to 4,096 connections at
# once, and a short queue would measure the kernel's SYN handling rather than the server.
BACKLOG = "4096"
# The interpreter every server runs on (run.py --python); this one unless told otherwise.
PYTHON = [sys.executable]


def use_python(path: str) -> None:
    """Run the servers (and install the peers) with this interpreter."""
    PYTHON[0] = path


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
        PYTHON[0], "-m", "mypkg", target,
        "--host", HOST, "--port", str(port), "--backlog", BACKLOG,
        "--http", "httptools", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning",
        *_workers_flag(workers),
    ]  # fmt: skip


def _uvicorn(target: str, port: int, workers: int) -> list[str]:
    return [
        PYTHON[0], "-m", "uvicorn", target,
        "--host", HOST, "--port", str(port), "--backlog", BACKLOG,
        "--http", "httptools", "--loop", "uvloop",
        "--no-access-log", "--log-level", "warning",
        *_workers_flag(workers),
    ]  # fmt: skip


def _granian(target: str, port: int, workers: int) -> list[str]:
    return [
        PYTHON[0], "-m", "granian",
        "--interface", "asgi", "--host", HOST, "--port", str(port), "--backlog", BACKLOG,
        "--workers", str(workers), "--runtime-threads", "1",
        "--loop", "uvloop", "--no-ws",
        "--no-access-log", "--log-level", "warning",
        target,
    ]  # fmt: skip


def _h11(build: CommandBuilder) -> CommandBuilder:
    """The same server on its pure-Python h11 parser (uvloop kept): the fallback path's figure."""

    def command(target: str, port: int, workers: int) -> list[str]:
        argv = build(target, port, workers)
        argv[argv.index("--http") + 1] = "h11"
        return argv

    return command


def _gunicorn_common(port: int, workers: int, worker_class: str) -> list[str]:
    """Gunicorn's access log is off unless --access-logfile is given, so nothing to turn off."""
    argv = [
        PYTHON[0], "-m", "gunicorn",
        "--bind", f"{HOST}:{port}", "--workers", str(workers), "--backlog", BACKLOG,
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


def _reuse_port(build: CommandBuilder) -> CommandBuilder:
    """The same server with --reuse-port: one SO_REUSEPORT listening socket per worker (mypkg's
    master and Gunicorn's both take the flag), so the kernel spreads the connections."""

    def with_reuse_port(target: str, port: int, workers: int) -> list[str]:
        argv = build(target, port, workers)
        return [*argv[:3], "--reuse-port", *argv[3:]]  # right after PY -m NAME

    return with_reuse_port


def _pure(build: CommandBuilder) -> CommandBuilder:
    """The same server running its compiled modules from source (mypkg/compiled.py): what the
    compiled build gains, in the same run."""

    def pure(target: str, port: int, workers: int) -> list[str]:
        return ["env", "MYPKG_PURE=1", *build(target, port, workers)]  # env execs: same pid

    return pure


def _gunicorn_has_setting(class_name: str) -> bool:
    try:
        import gunicorn.config
    except ImportError:
        return False
    return hasattr(gunicorn.config, class_name)


def _missing_module(module: str, hint: str) -> Callable[[], str | None]:
    def check() -> str | None:
        return None if module_available(module) else f"unavailable: {hint}"

    return check


def _gunicorn_asgi_unavailable() -> str | None:
    try:
        from gunicorn.workers import SUPPORTED_WORKERS
    except ImportError:
        return "unavailable: gunicorn is not installed"
    if "asgi" not in SUPPORTED_WORKERS:
        version = distribution_version("gunicorn") or "?"
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
        ServerSpec("mypkg-reuseport", _reuse_port(_mypkg)),
        ServerSpec("mypkg-h11", _h11(_mypkg)),
        ServerSpec("mypkg-pure", _pure(_mypkg)),
        ServerSpec("mypkg-h11-pure", _pure(_h11(_mypkg))),
        ServerSpec(
            "uvicorn-h11", _h11(_uvicorn), _missing_module("uvicorn", "uvicorn not installed")
        ),
        ServerSpec("gunicorn-mypkg-reuseport", _reuse_port(_gunicorn_mypkg)),
    )
}
DEFAULT_SERVERS = ("mypkg", "uvicorn", "granian", "gunicorn-asgi")
# --workers N (N > 1): mypkg's master and the Gunicorn worker class, each with a shared socket and
# with --reuse-port, beside uvicorn's and granian's own process managers.
MULTI_WORKER_SERVERS = (
    "mypkg", "mypkg-reuseport", "gunicorn-mypkg", "gunicorn-mypkg-reuseport", "uvicorn", "granian",
)  # fmt: skip


# --------------------------------------------------------------------------------------------
# Tooling: peers from PyPI, wrk from apt
# --------------------------------------------------------------------------------------------


def module_available(module: str) -> bool:
    """Whether the servers' interpreter (PYTHON) can import ``module``."""
    if PYTHON[0] != sys.executable:
        probe = (
            f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
        )
        return (
            subprocess.run([PYTHON[0], "-c", probe], capture_output=True, check=False).returncode
            == 0
        )
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def distribution_version(distribution: str) -> str | None:
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
        if not module_available(name.lower().replace("-", "_"))
    ]
    if not missing:
        return
    argv = [PYTHON[0], "-m", "pip", "install", "-r", str(REQUIREMENTS)]
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
