"""The test suite on every CPython from 3.10 to 3.13 that this machine has.

pyproject.toml claims 3.10+, and its classifiers name exactly ``PYTHONS``: this file is what makes
that claim tested. ``nox`` with no arguments runs CI's plan (what ``scripts/test`` runs): the whole
suite on the oldest and the newest interpreter found, the quick subset on the ones between. An
interpreter that is missing is skipped with a message, never a failure.

Interpreters are looked up by hand (``pythonX.Y`` on PATH, then ``~/.pyenv/versions/X.Y.*``) and
each candidate is run once: a pyenv shim for a version that is not enabled is on PATH but fails.
Nox never downloads an interpreter (only package registries are reachable).

Each session's virtualenv is reused; mypkg[dev] is installed again only when what it is built from
changes (pyproject.toml, setup.py, the compiled modules' sources: a stamp in the venv, like
scripts/setup's), so a repeated run starts testing at once. The quick subset runs twice: compiled,
then with MYPKG_PURE=1 (the pure-Python modules a stale or compiler-less install runs).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]  # keep the classifiers in pyproject.toml in step
# Fast files that still cross every layer and the version-sensitive parts (settings and TOML, app
# loading, both HTTP parsers, limits, TLS, WebSockets, lifespan, the CLI): ~500 tests in ~20 s,
# a tenth of the suite's time. Names that no longer exist are reported and dropped.
QUICK = [
    "tests/units/test_http_pieces.py",
    "tests/config/test_settings.py",
    "tests/http/test_smoke.py",
    "tests/config/test_app_loading.py",
    "tests/http/test_protocol.py",
    "tests/http/test_scope.py",
    "tests/http/test_limits.py",
    "tests/tls/test_tls.py",
    "tests/lifecycle/test_lifespan.py",
    "tests/websocket/test_asgi.py",
    "tests/websocket/test_protocol.py",
    "tests/logs/test_accesslog.py",
]

PURE = "MYPKG_PURE"  # mypkg/compiled.py: run the compiled modules from source

nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = False  # nox's default is True when $CI is set
nox.options.reuse_venv = "yes"


# The version and the base interpreter behind a shim or a venv (a session's venv is built on it).
PROBE = (
    "import os, sys; base = getattr(sys, '_base_executable', sys.executable); "
    "print('%d.%d' % sys.version_info[:2], os.path.realpath(base))"
)


def find_python(version: str) -> str | None:
    """Return the path of a working CPython ``version`` (e.g. "3.12"), or None."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += [str(p) for p in sorted(pyenv.glob(f"{version}.*/bin/python{version}"))]
    for path in filter(None, candidates):
        probe = subprocess.run([path, "-c", PROBE], capture_output=True, text=True, check=False)
        found, _, executable = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and found == version:
            return executable
    return None


FOUND = {version: path for version in PYTHONS if (path := find_python(version))}


def install_digest() -> str:
    """mypkg/compiled.py's digest of what an install is built from (loaded by path: importing
    mypkg would need its dependencies in nox's interpreter)."""
    spec = importlib.util.spec_from_file_location("_compiled", ROOT / "mypkg" / "compiled.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.install_digest())


def install(session: nox.Session) -> None:
    """Install mypkg[dev] editable (compiling the request path for this interpreter), unless
    this venv already has it for these sources."""
    venv = Path(str(session.virtualenv.location))
    stamp = venv / ".mypkg-installed"
    want = install_digest()
    if stamp.exists() and stamp.read_text() == want:
        return
    session.install("-q", "--upgrade", "pip")
    session.install("-q", "-e", ".[dev]")
    stamp.write_text(want)


def keep_tmpdir(session: nox.Session) -> None:
    """Keep the system's short TMPDIR, not nox's .nox/<session>/tmp inside the checkout.

    Tests make UNIX sockets under tmp, and a socket path has a 108-byte limit.
    """
    session.env["TMPDIR"] = os.environ.get("TMPDIR", "/tmp")


def quick_files(session: nox.Session) -> list[str]:
    """The quick subset's files that exist (a renamed file is reported, not silently lost)."""
    present = [name for name in QUICK if (ROOT / name).exists()]
    for name in sorted(set(QUICK) - set(present)):
        session.warn(f"quick subset: {name} no longer exists; update QUICK in noxfile.py")
    if not present:
        session.error("quick subset: none of QUICK exists")
    return present


def define(version: str) -> None:
    """Declare tests-X.Y (whole suite) and quick-X.Y (subset), or skipping stand-ins."""
    path = FOUND.get(version)
    if path is None:
        message = f"no working python{version} on PATH or under ~/.pyenv/versions"

        def missing(session: nox.Session) -> None:
            session.skip(message)

        missing.__doc__ = f"Skipped: {message}."

        for kind in ("tests", "quick"):
            nox.session(name=f"{kind}-{version}", python=False)(missing)
        return

    def tests(session: nox.Session) -> None:
        install(session)
        keep_tmpdir(session)
        session.run("python", "-m", "pytest", "-q", *session.posargs)

    def quick(session: nox.Session) -> None:
        install(session)
        keep_tmpdir(session)
        files = quick_files(session)
        session.run("python", "-m", "pytest", "-q", *files, *session.posargs)
        session.run("python", "-m", "pytest", "-q", *files, *session.posargs, env={PURE: "1"})

    tests.__doc__ = f"The whole suite on CPython {version} ({path}); extra args go to pytest."
    quick.__doc__ = f"The quick subset on CPython {version} ({path}), compiled then pure."
    nox.session(name=f"tests-{version}", python=path)(tests)
    nox.session(name=f"quick-{version}", python=path)(quick)


for _version in PYTHONS:
    define(_version)


def ci_plan() -> list[str]:
    """Whole suite on the oldest and newest interpreter found, quick subset on the others."""
    found = [v for v in PYTHONS if v in FOUND]
    ends = {found[0], found[-1]} if found else set()
    return [f"tests-{v}" if v in ends else f"quick-{v}" for v in PYTHONS]


nox.options.sessions = ci_plan()
