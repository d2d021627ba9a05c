"""Compiles the request path with mypyc (mypkg/compiled.py says which modules, and why).

Everything else about the package is in pyproject.toml. ``MYPKG_PURE=1`` at install time builds
a pure-Python install instead. So does a machine without a C compiler: the extensions are
optional (setuptools reports each one it could not build and goes on), and mypkg runs every
compiled module from source when any of them is missing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup

ROOT = Path(__file__).resolve().parent
# Loaded by path: importing the package would import its dependencies, absent at build time.
_spec = importlib.util.spec_from_file_location("_mypkg_compiled", ROOT / "mypkg" / "compiled.py")
assert _spec is not None and _spec.loader is not None
compiled = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compiled)
MODULES, PURE_ENV, RECORD = compiled.MODULES, compiled.PURE_ENV, compiled.RECORD


# Commands that only describe the package: nothing to compile (an install runs setup.py for
# these first, then again to build).
DESCRIBE = {"egg_info", "dist_info", "sdist"}


def extensions() -> list[Any]:  # setuptools' or distutils' Extension, as mypyc makes them
    """The mypyc extensions, and the record of what they were built from."""
    if DESCRIBE.issuperset(arg for arg in sys.argv[1:] if not arg.startswith("-")):
        return []
    RECORD.unlink(missing_ok=True)
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("setup.py: mypyc is not installed: building pure Python", file=sys.stderr)
        return []
    sources = [str(Path(*name.split(".")).with_suffix(".py")) for name in MODULES]
    built = mypycify(
        # Not the project's mypy settings: the real check is `mypy --strict` in CI, while here
        # the optional and untyped imports (h2, httptools) may be missing.
        ["--config-file", os.devnull, "--ignore-missing-imports", *sources],
        opt_level="3",
        group_name="mypkg._mypyc",
    )
    for extension in built:
        extension.optional = True
    record = {name: compiled.source_hash(name) for name in MODULES}
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return built


setup(ext_modules=extensions())
