"""Entry-point plugins: how ``ingest``, ``gnn`` and ``api`` extend the core
(CLI subcommands, datasets, demo steps) without the core importing them.

Groups: ``connectome.cli`` (``register(subparsers)``), ``connectome.datasets``
(``providers() -> list[DatasetEntry]``), ``connectome.demo`` (``step(ctx)``).

Examples
--------
>>> "ingest" in [ep.name for ep in entry_points("connectome.cli")]
True
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

__all__ = ["entry_points"]


def entry_points(group: str) -> list[Any]:
    """Installed entry points of ``group``, sorted by name."""
    return sorted(metadata.entry_points(group=group), key=lambda ep: ep.name)
