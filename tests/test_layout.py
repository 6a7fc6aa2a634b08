"""The layout is the architecture: each package imports only the layers below it, the pure
packages touch no I/O, clock or event loop, and no module reaches into another package's
private names. Checked on the source's AST, so an import hidden in a function is caught too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import vigil

PACKAGE_DIR = Path(vigil.__file__).parent
TESTS_DIR = Path(__file__).parent

# What each package may import from vigil, as dotted prefixes (vigil.exceptions is open to
# all). Read top to bottom: every package stands only on those above it in this table.
ALLOWED: dict[str, tuple[str, ...]] = {
    "go": (),
    "core": ("vigil.go",),
    "compose": ("vigil.core", "vigil.go"),
    "docker": ("vigil.core", "vigil.go"),
    "linux": ("vigil.core", "vigil.go"),
    "runtime.clock": (),
    "store": ("vigil.core", "vigil.go", "vigil.docker"),
    "dockerd": ("vigil.core", "vigil.go", "vigil.docker", "vigil.runtime.clock"),
    "probes": ("vigil.core", "vigil.go", "vigil.linux", "vigil.runtime.clock",
               "vigil.docker", "vigil.dockerd"),
    "targets": ("vigil.core", "vigil.go", "vigil.linux", "vigil.runtime.clock",
                "vigil.docker", "vigil.dockerd"),
    "runtime": ("vigil.core", "vigil.go", "vigil.probes", "vigil.targets", "vigil.store",
                "vigil.linux"),
    "metrics": ("vigil.core", "vigil.go", "vigil.runtime"),
    "notify": ("vigil.core", "vigil.go", "vigil.runtime"),
    # fleet mode (issue 11): agents, leases, shared checks on the fleet's PostgreSQL; the
    # fleet's shared view over the manager's views (the API serves it)
    "fleet": ("vigil.core", "vigil.go", "vigil.compose", "vigil.runtime", "vigil.store",
              "vigil.probes", "vigil.targets", "vigil.docker", "vigil.daemon.manager"),
    "api": ("vigil.core", "vigil.go", "vigil.docker", "vigil.compose", "vigil.runtime",
            "vigil.targets", "vigil.store", "vigil.daemon.manager", "vigil.daemon.eventlog",
            "vigil.client", "vigil.metrics", "vigil.notify.urls", "vigil.fleet"),
    "web": ("vigil.core", "vigil.go", "vigil.docker", "vigil.compose", "vigil.runtime",
            "vigil.targets", "vigil.store", "vigil.daemon.manager", "vigil.api", "vigil.fleet"),
    "daemon": ("vigil.core", "vigil.go", "vigil.docker", "vigil.compose", "vigil.runtime",
               "vigil.targets", "vigil.store", "vigil.linux", "vigil.probes", "vigil.api",
               "vigil.metrics", "vigil.notify", "vigil.web", "vigil.dockerd", "vigil.fleet"),
    "cli": ("vigil.core", "vigil.go", "vigil.docker", "vigil.compose", "vigil.runtime",
            "vigil.probes", "vigil.linux", "vigil.client", "vigil.daemon.main", "vigil.api.server",
            "vigil.api.tls", "vigil.notify.urls", "vigil.dockerd.host"),
}
PURE = ("go", "core", "compose", "docker")
IMPURE_MODULES = {"compose/load.py"}  # reads the file; the rest of compose is pure
# Third-party code that is pure computation: RE2 checks expect_body patterns at config time.
PURE_THIRD_PARTY = {"compose/netcheck.py": {"re2"}}

# Standard-library modules that do I/O, read the time, or run an event loop.
FORBIDDEN = {
    "asyncio", "time", "logging", "socket", "os", "subprocess", "selectors", "signal",
    "threading", "multiprocessing", "sqlite3", "shutil", "tempfile", "importlib", "random",
}


def _package_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE_DIR)
    if relative.parts[0] == "runtime" and relative.name == "clock.py":
        return "runtime.clock"
    return relative.parts[0]


def _modules(packages: tuple[str, ...] | None = None) -> list[Path]:
    paths = sorted(PACKAGE_DIR.glob("*/**/*.py"))
    return [p for p in paths if packages is None or _package_of(p) in packages]


def _imports(path: Path, package: str = "") -> list[tuple[int, str, list[str]]]:
    """Every import of a file as (line, absolute dotted module, imported names)."""
    package = package or ".".join(("vigil", *path.relative_to(PACKAGE_DIR).parent.parts))
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names = [alias.name for alias in node.names]
            for name in names:  # ``from vigil.core import health`` names a submodule
                if _is_module(f"{module}.{name}"):
                    found.append((node.lineno, f"{module}.{name}", []))
            found.append((node.lineno, module, names))
    return found


def _is_module(dotted: str) -> bool:
    parts = dotted.split(".")
    if parts[0] != "vigil":
        return False
    where = PACKAGE_DIR.joinpath(*parts[1:])
    return where.is_dir() or where.with_suffix(".py").is_file()


def _allowed(package: str, module: str) -> bool:
    if not module.startswith("vigil") or module in ("vigil.exceptions", "vigil"):
        return True
    own = "vigil.runtime.clock" if package == "runtime.clock" else f"vigil.{package}"
    prefixes = (own, *ALLOWED[package])
    return any(module == p or module.startswith(p + ".") for p in prefixes)


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


def _name(path: Path) -> str:
    return str(path.relative_to(PACKAGE_DIR))


def test_every_package_has_a_rule_and_a_docstring() -> None:
    """A new package states what lives there (its docstring) and what it may import."""
    for init in sorted(PACKAGE_DIR.glob("*/__init__.py")):
        assert init.parent.name in ALLOWED, f"{init.parent.name} has no row in ALLOWED"
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} has no docstring"


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_imports_follow_the_layers(path: Path) -> None:
    """A module imports only its own package, the packages its layer stands on, and stdlib."""
    package = _package_of(path)
    wrong = [(line, m) for line, m, _ in _imports(path) if not _allowed(package, m)]
    assert wrong == [], f"{_name(path)} ({package}) imports across the layers"


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_no_private_names_across_packages(path: Path) -> None:
    """``from vigil.x.y import _z`` only from inside package x: private means private."""
    own = f"vigil.{path.relative_to(PACKAGE_DIR).parts[0]}"
    reached = [
        (line, module, name)
        for line, module, names in _imports(path)
        if module.startswith("vigil") and not (module == own or module.startswith(own + "."))
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert reached == []


@pytest.mark.parametrize("path", _modules(PURE), ids=_name)
def test_pure_packages_use_only_stdlib_and_avoid_io(path: Path) -> None:
    """go, core, compose and docker import no third-party code and nothing that does I/O,
    reads the clock or runs an event loop (compose's file loader excepted)."""
    if _name(path) in IMPURE_MODULES:
        pytest.skip("the one module of its package that reads files")
    imported = [m for _, m, _ in _imports(path)]
    third_party = [m for m in imported
                   if not m.startswith("vigil") and m.split(".")[0] not in sys.stdlib_module_names
                   and m not in PURE_THIRD_PARTY.get(_name(path), ())]
    assert third_party == []
    assert [m for m in imported if m.split(".")[0] in FORBIDDEN] == []
    assert _dynamic_imports(path) == []


@pytest.mark.parametrize("test_file", sorted(p.name for p in TESTS_DIR.glob("core/test_*.py")))
def test_core_tests_do_not_use_asyncio(test_file: str) -> None:
    """Core tests drive the pure functions directly, never through an event loop."""
    names = [m for _, m, _ in _imports_any(TESTS_DIR / "core" / test_file)]
    assert "asyncio" not in {name.split(".")[0] for name in names}


def _imports_any(path: Path) -> list[tuple[int, str, list[str]]]:
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def test_checker_sees_hidden_relative_and_submodule_imports(tmp_path: Path) -> None:
    """The walker finds imports inside functions, relative imports and package forms."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os.path\n"
        "from . import health\n"
        "from .config import X\n"
        "from vigil.runtime import clock as _clock\n"
        "def f():\n"
        "    import time\n"
        "    return __import__('socket')\n"
    )
    imports = [(m, n) for _, m, n in _imports(sample, "vigil.core")]
    assert ("os.path", []) in imports
    assert ("vigil.core.health", []) in imports
    assert ("vigil.core.config", ["X"]) in imports
    assert ("vigil.runtime.clock", []) in imports
    assert ("time", []) in imports
    assert _dynamic_imports(sample) == [7]
    assert not _allowed("core", "vigil.runtime.clock")
    assert _allowed("probes", "vigil.runtime.clock")
    assert not _allowed("probes", "vigil.runtime.engine")
