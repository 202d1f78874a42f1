"""The module-level import graph has no cycles (issue 17, item 6).

The graph is built from the source with an AST walk: only the imports that run when a module is
imported count (module level, class bodies, ``try``/``if`` blocks), not those under
``if TYPE_CHECKING:`` nor those inside functions. The functional modules of the core (filters,
typelevel, export, overview, store, build, ...) name :class:`connectome.Connectome` only for typing;
``connectome/graph.py`` imports them at its top, so ``c.filter_edges(...).select(...)`` needs no
late import. A cycle fails with its path spelled out (``a -> b -> a``).

The walk covers the installed package: ``connectome/`` and the folders that install as
``connectome.api``, ``connectome.gnn`` and ``connectome.ingest``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

FOLDERS = {"connectome": "connectome", "api": "connectome.api", "gnn": "connectome.gnn",
           "ingest": "connectome.ingest"}


def _modules(root: Path, folders: dict[str, str]) -> dict[str, tuple[Path, bool]]:
    """Installed module name -> (file, is a package) for every ``.py`` file under ``folders``."""
    out = {}
    for folder, package in folders.items():
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(root / folder).with_suffix("").parts
            is_package = rel[-1] == "__init__"
            out[".".join([package, *(rel[:-1] if is_package else rel)])] = (path, is_package)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_time_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported."""
    found, stack = [], list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        elif isinstance(node, (ast.ClassDef, ast.ExceptHandler)):
            stack.extend(node.body)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, field, None) or [])
    return found


def import_graph(root: Path = ROOT, folders: dict[str, str] = FOLDERS) -> dict[str, set[str]]:
    """Module -> the project modules it imports at import time.

    ``from .x import y`` is an edge to ``x`` (and to ``x.y`` when that is a module); the packages
    above a target count too (their ``__init__`` runs first), except the importing module's own
    enclosing packages, which are already being imported.
    """
    mods = _modules(root, folders)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, (path, is_package) in mods.items():
        package = name if is_package else name.rpartition(".")[0]
        for node in _import_time_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [module] + [f"{module}.{a.name}" for a in node.names]
            for target in targets:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    above = ".".join(parts[:i])
                    if above not in mods or above == name:
                        continue
                    explicit = i == len(parts) or ".".join(parts[: i + 1]) not in mods
                    if explicit or not name.startswith(above + "."):
                        graph[name].add(above)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_the_module_level_import_graph_has_no_cycle():
    graph = import_graph()
    assert "connectome.graph" in graph and "connectome.api.app" in graph  # the walk sees the tree
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle at module level: " + " -> ".join(cycle or [])


def test_graph_py_imports_the_functional_modules_and_they_do_not_import_it():
    """The methods of Connectome call the functional modules; those name Connectome only for typing."""
    graph = import_graph()
    functional = ("filters", "typelevel", "export", "overview", "store")
    assert {f"connectome.{m}" for m in functional} <= graph["connectome.graph"]
    for m in (*functional, "build"):
        assert "connectome.graph" not in graph[f"connectome.{m}"], f"connectome.{m} imports connectome.graph"


def test_the_walk_finds_a_cycle_and_ignores_type_checking_and_function_imports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
                              "from .b import f\nif TYPE_CHECKING:\n    from .c import C\n")
    (pkg / "b.py").write_text("def f():\n    from .c import C\n    return C\n")
    (pkg / "c.py").write_text("try:\n    from . import a\nexcept ImportError:\n    a = None\nclass C:\n    pass\n")
    graph = import_graph(tmp_path, {"pkg": "pkg"})
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == set() and graph["pkg.c"] == {"pkg", "pkg.a"}
    assert find_cycle(graph) is None
    (pkg / "b.py").write_text("from .c import C\n")
    assert find_cycle(import_graph(tmp_path, {"pkg": "pkg"})) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
