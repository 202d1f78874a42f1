"""Doctests of the four package folders, imported under their installed names.

``api/``, ``gnn/`` and ``ingest/`` install as ``connectome.api``, ``connectome.gnn`` and
``connectome.ingest`` (``package-dir`` in pyproject.toml). pytest's own ``--doctest-modules``
would import ``api/app.py`` by its path, as a top-level ``api.app``: a second copy of the
module with its own classes. This collector imports each file by the name users import it
by, so doctests see the same objects (and exception names) as users do.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parent
PACKAGES = {"connectome": "connectome", "api": "connectome.api", "gnn": "connectome.gnn",
            "ingest": "connectome.ingest"}


def installed_name(path: Path) -> str | None:
    """``api/routers/jobs.py`` -> ``connectome.api.routers.jobs``; None outside the packages."""
    try:
        parts = list(path.resolve().relative_to(ROOT).with_suffix("").parts)
    except ValueError:  # a file outside this checkout (pytest's own, a tmp_path): not one of our modules
        return None
    if len(parts) < 2 or parts[0] not in PACKAGES:
        return None
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGES[parts[0]], *parts[1:]])


class InstalledDoctestModule(DoctestModule):
    """A doctest module imported by its installed name (see the module docstring)."""

    def _getobj(self) -> ModuleType:
        return importlib.import_module(installed_name(self.path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".py" and file_path.name != "conftest.py" and installed_name(file_path):
        return InstalledDoctestModule.from_parent(parent, path=file_path)
    return None
