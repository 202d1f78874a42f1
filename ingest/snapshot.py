"""The compact C. elegans snapshots embedded in the ``connectome`` package.

They are written by the same code as ``connectome ingest celegans`` so the
default dataset loads offline without importing ``cect``; a test checks that
each snapshot equals a fresh conversion. Rebuild with::

    python -m connectome.ingest.snapshot

Examples
--------
>>> "celegans_cook2019_herm" in SNAPSHOT_DATASETS
True
"""

from __future__ import annotations

import shutil
from pathlib import Path

from connectome.registry import snapshot_dir

from .celegans import ingest_celegans

__all__ = ["SNAPSHOT_DATASETS", "build_snapshots"]

SNAPSHOT_DATASETS = (
    "celegans_cook2019_herm",
    "celegans_cook2019_male",
    "celegans_varshney2011",
    "celegans_white1986_whole",
    "celegans_witvliet2021_8",
)


def build_snapshots(folder: Path | None = None, progress: bool | None = False) -> list[Path]:
    """(Re)write every snapshot under ``folder`` (default: the package's)."""
    folder = folder or snapshot_dir()
    out = []
    for name in SNAPSHOT_DATASETS:
        target = folder / name
        if target.exists():
            shutil.rmtree(target)  # one version per snapshot in the package
        out.append(ingest_celegans(name, target, progress=progress))
    return out


if __name__ == "__main__":  # pragma: no cover
    for p in build_snapshots():
        print(p)
