"""Which modules run compiled, and the guard that keeps a stale build from running.

The request path (MODULES) is compiled by mypyc when mypkg is installed (setup.py): each module
becomes a C extension beside its ``.py`` file, from the same typed source, and Python imports the
extension first. Nothing else changes: no second implementation, the same tests.

An extension does not change when its source does. So that an edited checkout never runs old
code, setup.py records each source's SHA-256 beside the build (``compiled.<abi>.json``: one
checkout holds a build per interpreter) and ``use_source_if_stale``
(called by ``mypkg/__init__`` before anything below it is imported) compares them: if any
source changed, or ``MYPKG_PURE=1`` is set, *every* compiled module is imported from its source
(the compiled classes inherit from one another, so a mix is never used), with a warning naming
the changed files. ``scripts/setup`` (pip install -e) compiles again.

This module imports only the standard library: it runs before the rest of mypkg.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

# Every module a compiled class inherits from or is inherited by must be here: an interpreted
# class cannot subclass a compiled one. tests/units/test_compiled.py checks that.
MODULES = (
    "mypkg.flow",
    "mypkg.http.cycle",
    "mypkg.http.extensions",
    "mypkg.http.framing",
    "mypkg.http.h11_impl",
    "mypkg.http.h2_stream",
    "mypkg.http.headcheck",
    "mypkg.http.httptools_impl",
    "mypkg.http.protocol",
    "mypkg.http.scope",
    "mypkg.http.timelimits",
    "mypkg.state",
    "mypkg.websocket.connection",
    "mypkg.websocket.session",
)
PACKAGE = Path(__file__).resolve().parent
PURE_ENV = "MYPKG_PURE"
# This interpreter's extension suffix, e.g. ".cpython-313-x86_64-linux-gnu.so".
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
# {module: sha256 of its source}, written by setup.py for the interpreter it builds for.
RECORD = PACKAGE / ("compiled" + SUFFIX.removesuffix(".so") + ".json")


def source_path(module: str) -> Path:
    return PACKAGE.parent.joinpath(*module.split(".")).with_suffix(".py")


def install_inputs() -> list[Path]:
    """The files an install is built from: scripts/setup and noxfile.py install again when
    their digest changes, so that the tests never run a build older than the code."""
    root = PACKAGE.parent
    return [root / "pyproject.toml", root / "setup.py", Path(__file__).resolve()] + [
        source_path(m) for m in MODULES
    ]


def install_digest() -> str:
    digest = hashlib.sha256()
    for path in install_inputs():
        digest.update(path.read_bytes())
    return digest.hexdigest()


def source_hash(module: str) -> str:
    return hashlib.sha256(source_path(module).read_bytes()).hexdigest()


def _is_extension(spec: importlib.machinery.ModuleSpec | None) -> bool:
    return spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Imports the compiled modules from their ``.py`` files."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


_FINDER = _SourceFinder()


def extension_path(module: str) -> Path:
    return source_path(module).with_name(module.rpartition(".")[2] + SUFFIX)


def stale_modules() -> list[str]:
    """The compiled modules whose source differs from what was compiled, or that did not
    compile (all, if there is no record)."""
    try:
        recorded = json.loads(RECORD.read_text())
    except (OSError, ValueError):
        return list(MODULES)
    return [
        m for m in MODULES if recorded.get(m) != source_hash(m) or not extension_path(m).exists()
    ]


def has_extensions() -> bool:
    """Is there a build for this interpreter beside the sources at all?"""
    return any(extension_path(m).exists() for m in MODULES)


def use_source_if_stale() -> None:
    """Run from source unless a compiled build matching every source is there to use."""
    if _FINDER in sys.meta_path:
        return
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        sys.meta_path.insert(0, _FINDER)
        return
    if not has_extensions():
        return
    stale = stale_modules()
    if stale:
        sys.meta_path.insert(0, _FINDER)
        names = ", ".join(str(source_path(m).relative_to(PACKAGE.parent)) for m in stale[:4])
        more = f" and {len(stale) - 4} more" if len(stale) > 4 else ""
        warnings.warn(
            f"mypkg: {names}{more} changed since mypkg was compiled (or did not compile): "
            "running every compiled module from its source (slower). Install mypkg again "
            "(scripts/setup) to compile.",
            RuntimeWarning,
            stacklevel=2,
        )


def running() -> bool:
    """Does this process import the request path compiled?"""
    return _is_extension(importlib.util.find_spec("mypkg.http.cycle"))


def flavour() -> str:
    """What --version says of the build."""
    return "compiled" if running() else "pure Python"
