"""The import graph, read from the source with :mod:`ast` (nothing is imported): no import cycle in
``hexgate/`` or inside any plugin package, and no plugin importing the core's internals.

What counts as an import: every ``import`` / ``from ... import`` statement in the module, wherever
it is: at module level (also under ``if``/``try``/``with``), under ``if TYPE_CHECKING:``, and inside
functions.

Decisions:

- ``if TYPE_CHECKING:`` imports count. They do not fail at runtime, but they are the same coupling:
  mypy, a reader and a refactoring all see the cycle, and the next runtime use of the name turns it
  into an ``ImportError`` on a partially initialised module.
- Imports inside functions count too. A deferred import is the usual way a cycle is hidden rather than
  removed (``resilience`` importing ``routes.chat`` inside ``chat()`` was one): the modules still
  cannot be understood, tested or moved apart.
- ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``.
- Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py`` too; those implicit edges to the
  enclosing packages are not counted (a package's ``__init__`` re-exporting its modules would otherwise
  be a cycle with each of them, which Python handles and no reader finds surprising).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CORE_INTERNALS = ("hexgate.routes", "hexgate.resilience", "hexgate.app")
"""What a plugin may not import: the HTTP layer and the call path are the core's, not the plugin API."""

KNOWN_CYCLES: dict[str, frozenset[str]] = {}
"""Cycles accepted for now, by name (none). The test fails on an entry that no longer matches."""


def _packages() -> list[tuple[str, Path]]:
    """(top-level package name, its directory): the core and every plugin's package."""
    found = [("hexgate", ROOT / "hexgate")]
    for init in sorted((ROOT / "plugins").glob("*/hexgate_*/__init__.py")):
        found.append((init.parent.name, init.parent))
    return found


def _modules(name: str, directory: Path) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted(directory.rglob("*.py")):
        parts = list(path.relative_to(directory).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([name, *parts])] = path
    return modules


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Absolute names ``module`` imports anywhere in its source, resolved to modules when they are ones."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            targets.add(candidate if candidate in known else base)
    return targets


def _graph(name: str, directory: Path) -> dict[str, set[str]]:
    modules = _modules(name, directory)
    known = set(modules)
    return {m: {t for t in _imports(m, p, known) if t in known and t != m} for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.add(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


@pytest.mark.parametrize(("name", "directory"), _packages(), ids=[n for n, _ in _packages()])
def test_no_import_cycles(name: str, directory: Path) -> None:
    found = _cycles(_graph(name, directory))
    known = {c for c in KNOWN_CYCLES.values() if next(iter(c)).partition(".")[0] == name}
    assert not [sorted(c) for c in found if c not in known], f"import cycles in {name}"
    assert not [sorted(c) for c in known if c not in found], "a KNOWN_CYCLES entry is gone: delete it"


@pytest.mark.parametrize(("name", "directory"), _packages()[1:], ids=[n for n, _ in _packages()[1:]])
def test_plugins_do_not_import_core_internals(name: str, directory: Path) -> None:
    offences = []
    for module, path in _modules(name, directory).items():
        for target in _imports(module, path, set()):
            if any(target == banned or target.startswith(f"{banned}.") for banned in CORE_INTERNALS):
                offences.append(f"{module} imports {target}")
    assert not offences, offences


def test_the_check_sees_a_cycle(tmp_path: Path) -> None:
    """The check itself: a two-module cycle through ``if TYPE_CHECKING:`` and a relative import."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "a.py").write_text("from pkg import b\n", encoding="utf-8")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import thing\n", encoding="utf-8"
    )
    (package / "c.py").write_text("def f():\n    from pkg import d\n", encoding="utf-8")
    (package / "d.py").write_text("import pkg.c\n", encoding="utf-8")
    (package / "e.py").write_text("import pkg.a\n", encoding="utf-8")
    assert sorted(map(sorted, _cycles(_graph("pkg", package)))) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d"]]
