"""The compiled request path (mypkg/compiled.py): used when it matches the sources, never when
it does not, and off with MYPKG_PURE=1."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mypkg
from mypkg import compiled

PROBE = "import mypkg, mypkg.compiled as c; print(c.running())"


def probe(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import mypkg from ``root`` in a fresh interpreter: does it run compiled?"""
    environ = {k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}
    environ.update(env, PYTHONPATH=str(root))
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_this_install_runs_the_request_path_compiled() -> None:
    """scripts/setup and nox compile it: the suite tests what users run (unless told not to)."""
    if os.environ.get(compiled.PURE_ENV, "") not in ("", "0"):
        assert not compiled.running()
        return
    assert compiled.stale_modules() == [], "sources changed since the build: run scripts/setup"
    assert compiled.running()
    for name in compiled.MODULES:
        module = importlib.import_module(name)
        assert module.__file__ is not None and module.__file__.endswith(compiled.SUFFIX), name


@pytest.fixture
def copy_of_the_build(tmp_path: Path) -> Path:
    if not compiled.has_extensions():
        pytest.fail("no compiled build for this interpreter: run scripts/setup")
    package = Path(mypkg.__file__).parent
    shutil.copytree(package, tmp_path / "mypkg", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_a_matching_build_is_used_and_mypkg_pure_turns_it_off(copy_of_the_build: Path) -> None:
    used = probe(copy_of_the_build)
    assert used.stdout.strip() == "True"
    assert used.stderr == ""
    pure = probe(copy_of_the_build, MYPKG_PURE="1")
    assert pure.stdout.strip() == "False"
    assert pure.stderr == ""


def test_an_edited_source_runs_every_compiled_module_from_source(copy_of_the_build: Path) -> None:
    source = copy_of_the_build / "mypkg" / "http" / "framing.py"
    source.write_text(source.read_text() + "\n# edited\n")
    result = probe(copy_of_the_build)
    assert result.stdout.strip() == "False"
    assert "mypkg/http/framing.py changed since mypkg was compiled" in result.stderr
    assert "scripts/setup" in result.stderr


def test_a_missing_record_counts_as_stale(copy_of_the_build: Path) -> None:
    (copy_of_the_build / "mypkg" / compiled.RECORD.name).unlink()
    result = probe(copy_of_the_build)
    assert result.stdout.strip() == "False"
    assert "changed since mypkg was compiled" in result.stderr


def test_every_subclass_of_a_compiled_class_is_compiled() -> None:
    """An interpreted class cannot inherit from a compiled one (TypeError at import), so the
    list must hold both ends of every such pair; checked here on whatever runs (pure too)."""
    wrong = []
    for info in pkgutil.walk_packages(mypkg.__path__, "mypkg."):
        if info.name in compiled.MODULES or info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency that is not installed
            continue
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != info.name:
                continue
            for base in cls.__mro__[1:]:
                if base.__module__ in compiled.MODULES:
                    wrong.append(f"{info.name}.{name} inherits {base.__module__}.{base.__name__}")
    assert wrong == []
