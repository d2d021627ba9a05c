"""The release check: mypkg as `pip install mypkg` users get it, built and installed as they would.

The ``release`` tests build the sdist and the wheel with ``python -m build`` in a temporary
directory, run ``twine check --strict`` on them, look inside both, install the wheel into a fresh
venv and use it from there: ``mypkg-supervise --version``, one real request, and mypy --strict on
a user's program (which only passes if the wheel carries ``py.typed``). They take ~40 s, so plain
``pytest`` and the per-interpreter nox sessions leave them out (pyproject's addopts) and
scripts/test runs them once: ``python -m pytest -m release tests/deploy/test_release.py``. The
unmarked tests are instant consistency checks (changelog vs version, classifiers vs noxfile, URLs).
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from subprocess import Popen
from typing import Any, TypeVar

import httpx
import pytest

import mypkg
from mypkg import compiled
from tests.support.processes import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAME = f"mypkg-{mypkg.__version__}"
SDIST_DIRS = ("tests/", "docs/", "deploy/", "systemd/")
F = TypeVar("F", bound=Callable[..., Any])
# Nothing of these may reach the sdist: a developer's venvs, build output, caches.
JUNK = re.compile(r"(^|/)(\.venv|\.nox|build|dist|__pycache__|\.\w+_cache)(/|$)|\.py[co]$")


@dataclass
class Dists:
    sdist: Path
    wheel: Path
    log: str  # what the build printed (setuptools' warnings land here)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """Build the sdist, then the wheel from it, as ``python -m build`` does for a release."""
    out = tmp_path_factory.mktemp("dist")
    build = run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], timeout=240)
    (wheel,) = out.glob(f"{NAME}-*.whl")  # this interpreter's: the request path is compiled
    return Dists(out / f"{NAME}.tar.gz", wheel, build)


@pytest.fixture(scope="module")
def venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the wheel and its dependencies (pip's cache keeps this quick)."""
    where = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", str(where)])
    python = where / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(dists.wheel)])
    return where


def release(test: F) -> F:
    """A release-check test (-m release): building and installing may be slow on a cold cache."""
    return pytest.mark.timeout(300)(pytest.mark.release(test))  # type: ignore[no-any-return]


def run(
    cmd: list[str],
    *,
    timeout: float = 180,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run ``cmd`` away from the checkout's import path; return its output, fail with it."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    environ.update(env or {})
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environ, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{output}"
    return output


# ------------------------------------------------------------------ instant consistency checks


def test_changelog_has_unreleased_then_this_version() -> None:
    """The newest release heading names mypkg.__version__ (a release bumps both together)."""
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[:2] == ["Unreleased", mypkg.__version__], headings


def test_classifiers_name_exactly_the_nox_pythons() -> None:
    """The Python versions claimed are the ones noxfile.py tests."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    pythons = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "PYTHONS" for t in node.targets)
    )
    prefix = "Programming Language :: Python :: 3."
    claimed = [c.removeprefix("Programming Language :: Python :: ") for c in classifiers()]
    assert [c for c in claimed if c.startswith("3.")] == pythons
    assert all(c.startswith(prefix) or prefix not in c for c in classifiers())
    assert PYPROJECT["project"]["requires-python"] == f">={pythons[0]}"


def test_project_urls_point_at_files_in_the_repository() -> None:
    """Every URL is the placeholder root plus a path that exists here (see pyproject.toml)."""
    root = "https://mypkg.invalid/"
    urls = PYPROJECT["project"]["urls"]
    assert {"Homepage", "Documentation", "Changelog"} <= set(urls)
    for label, url in urls.items():
        assert url.startswith(root), (label, url)
        assert (ROOT / url.removeprefix(root)).exists(), (label, url)


def classifiers() -> list[str]:
    return list(PYPROJECT["project"]["classifiers"])


# ------------------------------------------------------------------------------ the release


@release
def test_twine_check_strict(dists: Dists) -> None:
    output = run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists.sdist), str(dists.wheel)]
    )
    print(output)
    assert output.count("PASSED") == 2, output
    assert "WARNING" not in output, output


@release
def test_build_warns_of_nothing_deprecated(dists: Dists) -> None:
    """setuptools warns of a TOML-table licence and licence classifiers; none may be left."""
    assert not re.search("deprecat", dists.log, re.I), dists.log


@release
def test_wheel_has_licence_types_marker_and_metadata(dists: Dists) -> None:
    names = zipfile.ZipFile(dists.wheel).namelist()
    print("\n".join(names))
    info = f"{NAME}.dist-info"
    assert f"{info}/licenses/LICENSE" in names
    assert "mypkg/py.typed" in names
    # The request path compiled for this interpreter, the sources beside it, and their record.
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for module in compiled.MODULES:
        path = module.replace(".", "/")
        assert f"{path}{suffix}" in names and f"{path}.py" in names, module
    assert f"mypkg/{compiled.RECORD.name}" in names
    assert all(n.startswith(("mypkg/", info)) for n in names), names  # no tests/, no examples/
    assert not [n for n in names if JUNK.search(n)]
    meta = Parser().parsestr(zipfile.ZipFile(dists.wheel).read(f"{info}/METADATA").decode())
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta.get_all("Classifier") == sorted(classifiers())
    assert not [c for c in classifiers() if c.startswith("License ::")]  # PEP 639: SPDX only
    assert meta["Version"] == mypkg.__version__
    assert "Typing :: Typed" in classifiers()


@release
def test_sdist_has_tests_docs_examples_and_licence_but_no_junk(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as sdist:
        names = [n.removeprefix(f"{NAME}/") for n in sdist.getnames()]
    for top in SDIST_DIRS:
        assert any(n.startswith(top) for n in names), top
    assert {"LICENSE", "CHANGELOG.md", "README.md", "noxfile.py", "mypkg/py.typed"} <= set(names)
    assert not [n for n in names if JUNK.search(n)]
    tracked = tracked_files(*SDIST_DIRS)
    assert not tracked - set(names), "tracked files missing from the sdist"


def tracked_files(*dirs: str) -> set[str]:
    """Files git tracks under ``dirs`` (empty when the tree is not a git checkout)."""
    done = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", *dirs], capture_output=True, text=True, check=False
    )
    return set(done.stdout.split()) if done.returncode == 0 else set()


@release
def test_installed_command_reports_the_version_and_runs_compiled(venv: Path) -> None:
    output = run([str(venv / "bin" / "mypkg-supervise"), "--version"], cwd=venv)
    assert output.startswith(f"mypkg {mypkg.__version__} "), output
    assert output.rstrip().endswith(", compiled)"), output


@release
def test_a_machine_without_a_c_compiler_gets_a_pure_python_install(
    dists: Dists, tmp_path: Path
) -> None:
    """The extensions are optional: with no compiler the wheel builds without them (setuptools
    says which failed) and mypkg runs from source, quietly."""
    env = {"CC": "false", "LDSHARED": "false"}
    log = run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
         str(dists.sdist)],
        timeout=240,
        env=env,
    )  # fmt: skip
    (wheel,) = tmp_path.glob(f"{NAME}-*.whl")
    assert not [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".so")], log
    where = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(where)])
    run([sys.executable, "-m", "pip", "--python", str(where / "bin" / "python"), "install",
         "-q", str(wheel)])  # fmt: skip
    done = subprocess.run(
        [str(where / "bin" / "mypkg-supervise"), "--version"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(", pure Python)"), done.stdout
    assert done.stderr == "", done.stderr


APP = """
import mypkg
from mypkg import compiled


async def app(scope, receive, send):
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": mypkg.__file__.encode()})
"""


@release
def test_installed_server_answers_a_request(venv: Path, tmp_path: Path) -> None:
    """The wheel's own mypkg (not the checkout's) serves one request and stops on SIGTERM."""
    (tmp_path / "smoke_app.py").write_text(APP)
    with listening() as sock:
        cmd = [str(venv / "bin" / "mypkg-supervise"), "smoke_app:app", "--fd", str(sock.fileno())]
        with server_process(cmd, tmp_path, sock) as proc:
            port = sock.getsockname()[1]
            response = httpx.get(f"http://127.0.0.1:{port}/", timeout=20)
            assert response.status_code == 200
            assert response.text.startswith(str(venv)), response.text
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0


def listening() -> socket.socket:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


@contextmanager
def server_process(cmd: list[str], cwd: Path, sock: socket.socket) -> Iterator[Popen[bytes]]:
    """Start ``cmd`` in ``cwd`` with the listening socket inherited; kill it if still running."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = Popen(cmd, cwd=cwd, env=env, pass_fds=[sock.fileno()])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


USER_PROGRAM = '''
"""What a user writes: typed against mypkg's public API."""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import mypkg
from mypkg import compiled
from mypkg.middleware import ProxyHeadersMiddleware

Message = MutableMapping[str, Any]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


wrapped = ProxyHeadersMiddleware(app, trusted_hosts=["127.0.0.1", "10.0.0.0/8"])
config = mypkg.Config(wrapped, host="127.0.0.1", port=8000)
port: int = config.port
server: mypkg.Server = mypkg.Server(config)
version: str = mypkg.__version__


def main() -> None:
    mypkg.run("main:app", port=port)
'''


@release
def test_users_program_type_checks_against_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    """mypy --strict reads the wheel's annotations: a correct program passes, a wrong one fails.

    Without py.typed mypy refuses to analyse mypkg ("missing library stubs or py.typed marker").
    """
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\n")
    (tmp_path / "user.py").write_text(textwrap.dedent(USER_PROGRAM))
    mypy = [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--no-incremental"]
    mypy += ["--python-executable", str(venv / "bin" / "python")]
    output = run([*mypy, "user.py"], cwd=tmp_path)
    assert "Success: no issues found" in output, output
    # Proof the types come from mypkg (not Any): a wrong use is caught.
    (tmp_path / "wrong.py").write_text("import mypkg\n\nport: str = mypkg.Config('m:a').port\n")
    wrong = subprocess.run([*mypy, "wrong.py"], cwd=tmp_path, capture_output=True, text=True)
    assert 'expression has type "int", variable has type "str"' in wrong.stdout, wrong.stdout
