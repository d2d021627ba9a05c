"""Record what a benchmark ran on: Python, platform, CPUs, load, and the versions under test.

Why this exists: numbers are only comparable with other numbers from the same software on the
same machine, so every report names the versions it measured and the JSON output keeps the
whole environment next to the results. mypkg itself is run from this checkout, so its version
is read from the working tree (its `__version__` and the git commit, marked +dirty when mypkg/
has local changes) rather than from whatever distribution happens to be installed.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from typing import Any

from benchmarks.procs import REPO_ROOT
from benchmarks.servers import PYTHON, module_available

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


def _working_tree_version() -> str | None:
    """mypkg is run from this checkout: its __version__ plus the git commit, without importing."""
    init = REPO_ROOT / "mypkg" / "version.py"
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


_PROBE = """
import importlib.metadata, json, platform, sys
versions = {}
for name in sys.argv[1:]:
    try:
        versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
print(json.dumps({"python": platform.python_version(), "versions": versions}))
"""


def _interpreter() -> dict[str, Any]:
    """Version of the servers' interpreter (run.py --python) and of the packages it has."""
    try:
        out = subprocess.run(
            [PYTHON[0], "-c", _PROBE, *VERSIONED_PACKAGES],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        found: dict[str, Any] = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {"python": "?", "versions": {}}
    return found


def _mypkg_build() -> str:
    """Whether the servers' interpreter runs this checkout's request path compiled (a build for
    that interpreter, matching the sources) or pure Python: mypkg/compiled.py."""
    probe = "import mypkg.compiled as c; print(c.flavour())"
    try:
        return subprocess.run(
            [PYTHON[0], "-W", "ignore", "-c", probe],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=REPO_ROOT,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def environment() -> dict[str, Any]:
    target = _interpreter()
    versions = dict(target["versions"])
    tree = _working_tree_version()
    versions["mypkg"] = f"{tree}, {_mypkg_build()}" if tree else versions.get("mypkg")
    return {
        "python": target["python"],
        "python_executable": PYTHON[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "versions": {name: v for name, v in versions.items() if v},
        "gunicorn_http_parser": "gunicorn_h1c" if module_available("gunicorn_h1c") else "python",
    }
