"""Packaging and import direction (issue 17, item 1).

- ``api/``, ``gnn/`` and ``ingest/`` install as ``connectome.api``, ``connectome.gnn`` and
  ``connectome.ingest``: no generic top-level names that a user's own ``api/`` folder shadows.
- The core modules of ``connectome`` import none of the three (an AST walk of every import).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT

PLUGINS = ("api", "gnn", "ingest")
CORE = ROOT / "connectome"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """Absolute names of every module ``path`` imports (relative imports resolved against ``package``)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]  # `from connectome import gnn`
    return out


def _package_of(path: Path, top: str, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("").parts
    parts = [top, *rel[:-1]] if rel[-1] != "__init__" else [top, *rel[:-1]]
    return ".".join(parts)


def test_the_package_list_covers_every_folder_with_an_init():
    cfg = _pyproject()["tool"]["setuptools"]
    mapping = cfg["package-dir"]
    assert mapping == {"connectome": "connectome", "connectome.api": "api", "connectome.gnn": "gnn",
                       "connectome.ingest": "ingest"}
    found = set()
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join([name, *rel]))
    assert set(cfg["packages"]) == found, "pyproject.toml [tool.setuptools] packages is out of date"


def test_entry_points_name_the_installed_packages():
    eps = _pyproject()["project"]["entry-points"]
    for group in eps.values():
        for value in group.values():
            assert value.startswith("connectome."), value


def test_no_project_file_imports_a_top_level_plugin_name():
    offenders = []
    for folder in ("connectome", *PLUGINS, "tests", "benchmarks", "examples"):
        for path in _python_files(ROOT / folder):
            for line, mod in _imports(path, "x"):
                if mod.split(".")[0] in PLUGINS:
                    offenders.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not offenders, "\n".join(offenders)


def test_no_example_imports_a_top_level_plugin_name():
    """Doctests and the Markdown docs: ``>>> import gnn`` would work in a checkout only by accident."""
    pattern = re.compile(r"^\s*(?:>>>|\.\.\.)?\s*(?:import\s+(?:[\w.]+\s*,\s*)*(?:api|gnn|ingest)\b"
                         r"|from\s+(?:api|gnn|ingest)(?:\.|\s))")
    offenders = []
    files = [p for f in ("connectome", *PLUGINS, "examples", "docs") for p in (ROOT / f).rglob("*")
             if p.suffix in (".py", ".md", ".rst") and "__pycache__" not in p.parts and "_build" not in p.parts]
    for path in files + [ROOT / "README.md"]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.match(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_core_connectome_imports_none_of_api_gnn_ingest():
    """The direction rule: plugins import the core, never the other way (they register by entry points)."""
    offenders = []
    banned = tuple(f"connectome.{p}" for p in PLUGINS)
    for path in _python_files(CORE):
        for line, mod in _imports(path, _package_of(path, "connectome", CORE)):
            if mod in banned or mod.startswith(tuple(b + "." for b in banned)):
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not offenders, "\n".join(offenders)


def test_the_walk_sees_relative_and_from_imports(tmp_path):
    """The AST walk itself: it would catch each spelling of a forbidden import."""
    f = tmp_path / "m.py"
    f.write_text("from . import gnn\nfrom .api.app import create_app\nimport connectome.ingest\n"
                 "def f():\n    from connectome import api\n")
    mods = {m for _, m in _imports(f, "connectome")}
    assert {"connectome.gnn", "connectome.api.app", "connectome.ingest", "connectome.api"} <= mods


def test_a_users_own_api_folder_does_not_shadow_ours(tmp_path):
    for name in PLUGINS:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user s own package')\n")
    code = ("import importlib, importlib.util as u, connectome as cx\n"
            "import connectome.api.app, connectome.gnn.training, connectome.ingest.cave.session\n"
            "assert cx.gnn.__name__ == 'connectome.gnn' and cx.ingest.__name__ == 'connectome.ingest'\n"
            "print(cx.api.__file__)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == ROOT / "api" / "__init__.py"
    # and outside the checkout, the generic names are not installed at all
    probe = "import importlib.util as u; print([u.find_spec(n) for n in ('api', 'gnn', 'ingest')])"
    out = subprocess.run([sys.executable, "-I", "-c", probe], cwd=ROOT.parent, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "[None, None, None]", out.stdout + out.stderr


@pytest.mark.slow
def test_the_wheel_holds_connectome_api_and_no_top_level_api(tmp_path):
    build = ROOT / "build"  # setuptools builds in the source tree; leave it as it was
    existed = build.exists()
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                              "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    finally:
        if not existed:
            shutil.rmtree(build, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "connectome/api/app.py" in names and "connectome/gnn/training.py" in names
    assert "connectome/ingest/cave/session.py" in names and "connectome/api/routers/__init__.py" in names
    assert not [n for n in names if n.split("/")[0] in PLUGINS]
    assert any(n.startswith("connectome/snapshots/") for n in names)
