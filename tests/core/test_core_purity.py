"""The core imports only the standard library and itself, and nothing that does I/O or reads
the clock (architecture "Rules of the house"). Checked on the source's AST, so an import
hidden inside a function is caught too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import vigil

PACKAGE_DIR = Path(vigil.__file__).parent
TESTS_CORE_DIR = Path(__file__).parent

CORE_MODULES = [
    "_durations",
    "_results",
    "_state",
    "_state_types",
    "_events",
    "_config",
    "exceptions",
    "_compose",
    "_dockerfile",
    "_render",
    "_shellwords",  # command splitting for _compose
    "_goquote",  # Go's strconv.Quote for error texts
    "_compose_values",
    "_compose_lifecycle",
    "_restart",  # restart policies, parsed by _compose_lifecycle
    "_deps",  # the dependency graph check, called by _compose
]
CORE_NAMES = {f"vigil.{name}" for name in CORE_MODULES}
PRESENT = [name for name in CORE_MODULES if (PACKAGE_DIR / f"{name}.py").is_file()]

# Standard-library modules that do I/O, read the time, or run an event loop.
FORBIDDEN = {
    "asyncio",
    "time",
    "logging",
    "socket",
    "os",
    "subprocess",
    "selectors",
    "signal",
    "threading",
    "multiprocessing",
    "sqlite3",
    "shutil",
    "tempfile",
    "importlib",
    "random",
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every imported module of a file as (line, absolute dotted name)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:
                # core modules sit at the top of the package, so "." is vigil itself
                base = f"vigil.{node.module}" if node.module else "vigil"
            else:
                base = "." * node.level + (node.module or "")
            if base == "vigil":
                # ``from vigil import _durations`` names submodules
                found.extend((node.lineno, f"vigil.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, base))
    return found


def _dynamic_imports(path: Path) -> list[int]:
    """Lines calling ``__import__`` (a way around the static import check)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "__import__"
    ]


def test_core_modules_exist() -> None:
    """The modules the core is made of today are present, so the checks below run."""
    assert {"_durations", "_results", "_state", "_events", "_config", "exceptions"} <= set(PRESENT)


@pytest.mark.parametrize("module", PRESENT)
def test_core_imports_only_stdlib_and_core(module: str) -> None:
    """A core module imports only standard-library modules and other core modules."""
    path = PACKAGE_DIR / f"{module}.py"
    outside = [
        (line, name)
        for line, name in _imports(path)
        if name not in CORE_NAMES and name.split(".")[0] not in sys.stdlib_module_names
    ]
    assert outside == [], f"{path.name} imports non-core, non-stdlib modules"


@pytest.mark.parametrize("module", PRESENT)
def test_core_avoids_io_clock_and_event_loop(module: str) -> None:
    """A core module never imports asyncio, time, logging, socket, os, subprocess and kin."""
    path = PACKAGE_DIR / f"{module}.py"
    banned = [(line, name) for line, name in _imports(path) if name.split(".")[0] in FORBIDDEN]
    assert banned == [], f"{path.name} imports modules that do I/O or read the clock"
    assert _dynamic_imports(path) == [], f"{path.name} imports dynamically"


@pytest.mark.parametrize("test_file", sorted(p.name for p in TESTS_CORE_DIR.glob("test_*.py")))
def test_core_tests_do_not_use_asyncio(test_file: str) -> None:
    """Core tests drive the pure functions directly, never through an event loop."""
    names = [name for _, name in _imports(TESTS_CORE_DIR / test_file)]
    assert "asyncio" not in {name.split(".")[0] for name in names}


def test_checker_sees_hidden_and_relative_imports(tmp_path: Path) -> None:
    """The import walker finds imports inside functions, relative imports and package forms."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os.path\n"
        "from . import _durations\n"
        "from ._config import X\n"
        "from vigil import _clock\n"
        "def f():\n"
        "    import time\n"
        "    return __import__('socket')\n"
    )
    assert [name for _, name in _imports(sample)] == [
        "os.path",
        "vigil._durations",
        "vigil._config",
        "vigil._clock",
        "time",
    ]
    assert _dynamic_imports(sample) == [7]
