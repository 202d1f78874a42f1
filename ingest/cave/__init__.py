"""CAVE sources: live datastacks (FlyWire, MICrONS, any) and their release files, into connectome stores.

The public surface is small: two functions to read a server, one to read
release files, and the three typed arguments that say what and how.

* :func:`ingest_cave` / :func:`plan_cave` (:mod:`~connectome.ingest.cave.live`) -- read a
  datastack at one materialization version or timestamp, resumably and exactly;
* :func:`ingest_cave_files` (:mod:`~connectome.ingest.cave.release`) -- the same tables as
  release files, through the same normalisation;
* :class:`CavePreset` (:mod:`~connectome.ingest.cave.presets`) -- the datastack, server,
  tables and conventions (``get_preset("flywire")``, ``get_preset("microns")``);
* :class:`Selection` and :class:`FetchOptions` (:mod:`~connectome.ingest.cave.options`) --
  which synapses, and how pages are fetched.

The rest are implementation modules: :mod:`~connectome.ingest.cave.session` (the one
place that talks to caveclient: transport, retries, error translation),
:mod:`~connectome.ingest.cave.fetch` (deterministic paging), :mod:`~connectome.ingest.cave.ledger`
(resume state), :mod:`~connectome.ingest.cave.format` (CAVE tables -> the project's
tables), :mod:`~connectome.ingest.cave.errors`, :mod:`~connectome.ingest.cave.cli` and
:mod:`~connectome.ingest.cave._compat` (the private caveclient attributes used, in one
place). caveclient itself is imported only inside the functions that use it.

Examples
--------
>>> from connectome.ingest.cave import Selection, get_preset
>>> get_preset("microns").with_overrides(cell_tables=[]).cell_tables
()
>>> Selection(root_ids=["864691135", 5], side="within").root_ids
(5, 864691135)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        CaveAuthError,
        CaveConnectionError,
        CaveError,
        CaveServerError,
        DatastackNotFoundError,
        ResumeMismatchError,
        TableNotFoundError,
        VersionExpiredError,
    )
    from .live import ingest_cave, plan_cave
    from .options import FetchOptions, Selection, bbox_array
    from .presets import PRESETS, CavePreset, CellTableSpec, get_preset
    from .lineage import UnknownIdError, update_ids
    from .proofreading import add_proofreading, proofreading_status
    from .refresh import refresh_store
    from .release import ingest_cave_files

#: Public name -> the module that defines it. Loaded on first use, so that the
#: command line can register ``connectome ingest cave`` without importing pandas.
_EXPORTS = {
    "ingest_cave": "live", "plan_cave": "live", "ingest_cave_files": "release",
    "CavePreset": "presets", "CellTableSpec": "presets", "get_preset": "presets", "PRESETS": "presets",
    "Selection": "options", "FetchOptions": "options", "bbox_array": "options",
    "update_ids": "lineage", "UnknownIdError": "lineage", "refresh_store": "refresh",
    "proofreading_status": "proofreading", "add_proofreading": "proofreading",
    **{n: "errors" for n in ("CaveError", "CaveConnectionError", "CaveAuthError", "CaveServerError",
                             "DatastackNotFoundError", "TableNotFoundError", "VersionExpiredError",
                             "ResumeMismatchError")},
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
