"""ingest — outside sources into connectome stores.

Sources: C. elegans datasets of ``cect`` (:mod:`connectome.ingest.celegans`), the larval
*Drosophila* connectome (:mod:`connectome.ingest.larva`), FlyWire Codex and neuPrint
release files and generic edge lists (:mod:`connectome.ingest.release`), CAVE datastacks
and their release files (:mod:`connectome.ingest.cave`), CloudVolume segmentations
(:mod:`connectome.ingest.volume`). Column names are renamed once, here, to the project's
(:mod:`connectome.ingest.tables`). Remote clients (caveclient, cloud-volume) are imported
only inside the functions that use them.

The CAVE entry points are also importable from here (loaded on first use)::

    from connectome.ingest import CavePreset, FetchOptions, Selection, ingest_cave, plan_cave

Root ids kept current and MICrONS proofreading status (same lazy loading)::

    from connectome.ingest import update_ids, refresh_store, add_proofreading
"""

from __future__ import annotations

from typing import Any

from . import cave

#: Names re-exported from :mod:`connectome.ingest.cave`, imported when first used.
_CAVE = ("ingest_cave", "plan_cave", "ingest_cave_files", "CavePreset", "CellTableSpec", "get_preset", "Selection",
         "FetchOptions", "update_ids", "refresh_store", "proofreading_status", "add_proofreading")


def __getattr__(name: str) -> Any:
    if name not in _CAVE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    return getattr(cave, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_CAVE))
