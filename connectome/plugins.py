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

import importlib
import sys
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

__all__ = ["entry_points", "lazy_exports"]


def entry_points(group: str) -> list[Any]:
    """Installed entry points of ``group``, sorted by name."""
    return sorted(metadata.entry_points(group=group), key=lambda ep: ep.name)


def lazy_exports(package: str, exports: dict[str, str], submodules: Iterable[str] = ()
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for a package whose public names load on first use.

    ``exports`` maps a public name to the submodule defining it; ``submodules``
    are reachable as attributes (``cx.errors``). Keeps ``import package`` cheap.

    Examples
    --------
    >>> get, names = lazy_exports("connectome", {"load": "registry"})
    >>> get("load").__name__, "load" in names()
    ('load', True)
    """
    subs = tuple(submodules)

    def __getattr__(name: str) -> Any:
        if name in subs:
            return importlib.import_module(f".{name}", package)
        mod = exports.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{mod}", package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports) | set(subs))

    return __getattr__, __dir__
