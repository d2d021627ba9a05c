"""The layers point one way: no import cycle among mypkg's modules.

The check is scripts/import_cycles.py's (every import counts: module level, inside functions and
under ``if TYPE_CHECKING:``), so CI and ``python scripts/import_cycles.py`` agree. The checker
itself is tested on a tiny package with deliberate cycles, so this file can fail.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts.import_cycles import cycles, graph_of
from tests.support.processes import ROOT

MYPKG = ROOT / "mypkg"

# Modules whose cycles this branch removed (asgi -> wsgi -> accesslog -> asgi; the two rate
# limiters); a cycle through any of them is a regression.
UNTANGLED = frozenset(
    {
        "mypkg.accesslog",
        "mypkg.asgi",
        "mypkg.wsgi",
        "mypkg.loader",
        "mypkg.jsonlog",
        "mypkg.faults",
        "mypkg.ratelimit",
    }
)


def test_mypkg_has_no_import_cycle() -> None:
    assert cycles(graph_of(MYPKG)) == []


def test_untangled_modules_stay_out_of_cycles() -> None:
    graph = graph_of(MYPKG)
    assert graph.keys() >= UNTANGLED  # a rename must update this test, not silently pass it
    assert [group for group in cycles(graph) if UNTANGLED & set(group)] == []


def test_leaves_import_nothing_from_mypkg() -> None:
    """ASGI types and the rate limiter sit at the bottom: everything may import them."""
    graph = graph_of(MYPKG)
    assert graph["mypkg.asgi"] == set()
    assert graph["mypkg.ratelimit"] == set()


# --------------------------------------------------------------------------- the checker itself


def _package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    package.mkdir(parents=True)
    for name, text in files.items():
        (package / name).write_text(textwrap.dedent(text))
    return package


DEFERRED = {
    "__init__.py": "from pkg.a import A\n",
    "a.py": "from pkg import b\n\nA = 1\n",
    "b.py": """
        def f() -> int:
            from pkg.a import A  # deferred: still an edge

            return A
        """,
}
TYPE_ONLY = {
    "__init__.py": "",
    "c.py": """
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from .d import D
        """,
    "d.py": "from . import c\n\nD = int\n",
}
FACADE = {  # a module reading a name from its package's __init__, which imports that module
    "__init__.py": "from pkg.a import A\n\nVERSION = 1\n",
    "a.py": "from pkg import VERSION\n\nA = VERSION\n",
}
ACYCLIC = {
    "__init__.py": "from pkg.a import A\n",  # a package importing its own module is no cycle
    "a.py": "from pkg import b\n\nA = 1\n",
    "b.py": "def f() -> int:\n    return 1\n",
    "c.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from .b import f\n",
}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (DEFERRED, [["pkg.a", "pkg.b"]]),
        (TYPE_ONLY, [["pkg.c", "pkg.d"]]),
        (FACADE, [["pkg", "pkg.a"]]),
        (ACYCLIC, []),
    ],
    ids=["function-level import", "TYPE_CHECKING import", "through the package facade", "no cycle"],
)
def test_checker_finds_hidden_cycles(
    tmp_path: Path, files: dict[str, str], expected: list[list[str]]
) -> None:
    assert cycles(graph_of(_package(tmp_path, files))) == expected


def test_checker_script_fails_on_a_cycle(tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "import_cycles.py")
    cyclic = _package(tmp_path / "one", DEFERRED)
    clean = _package(tmp_path / "two", ACYCLIC)
    found = subprocess.run(
        [sys.executable, script, str(cyclic)], capture_output=True, text=True, timeout=30
    )
    assert found.returncode == 1
    assert "cycle: pkg.a, pkg.b" in found.stdout and "pkg.b -> pkg.a" in found.stdout
    none = subprocess.run(
        [sys.executable, script, str(clean)], capture_output=True, text=True, timeout=30
    )
    assert none.returncode == 0
    assert none.stdout.splitlines()[-1] == "4 modules, 3 imports, 0 cycle(s)"
