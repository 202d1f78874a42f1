"""The larval *Drosophila* connectome of Winding et al. 2023 (shared data folder).

Edges ``pre_skid``, ``post_skid``, ``syn_count`` become ``pre_root_id``,
``post_root_id``, ``synapse_count`` (CATMAID skeleton ids as root ids); node
labels (``merge_class``, ``class1``, ``simple_group``, ``hemisphere``, ...) are
kept as they are, with ``side`` (left / right / center) added from
``hemisphere``. Unlabelled neurons keep the source's ``"unk"``.

Examples
--------
>>> import tempfile, connectome as cx
>>> p = ingest_larva(out=tempfile.mkdtemp() + "/larva", progress=False)
>>> c = cx.load(p)
>>> c.n_nodes >= 3591, c.n_edges
(True, 119010)
"""

from __future__ import annotations

from pathlib import Path

from connectome.config import shared_data_dir

from .release import ingest_tables
from .tables import read_table

__all__ = ["ingest_larva", "larva_dir", "LARVA_NAME"]

LARVA_NAME = "drosophila_larva_winding2023"
_CITATION = ("Winding M, Pedigo BD, Barnes CL, et al. (2023) The connectome of an insect brain. "
             "Science 379:eadd9330")
_SIDES = {"L": "left", "R": "right", "C": "center"}


def larva_dir() -> Path:
    """Folder of the larva files in the shared data folder."""
    return shared_data_dir() / LARVA_NAME


def ingest_larva(folder: str | Path | None = None, *, out: str | Path | None = None,
                 progress: bool | None = None) -> Path:
    """Convert ``edges.parquet`` + ``nodes.parquet`` of Winding et al. 2023 into a store."""
    folder = Path(folder) if folder is not None else larva_dir()
    edges = read_table(folder / "edges.parquet", "folder")
    nodes = read_table(folder / "nodes.parquet", "folder")
    if "hemisphere" in nodes.columns:
        nodes["side"] = nodes["hemisphere"].astype(object).map(_SIDES)
    return ingest_tables(
        edges, nodes, name=LARVA_NAME, out=out,
        manifest={
            "title": "Larval Drosophila brain, Winding et al. 2023",
            "species": "Drosophila melanogaster (larva)",
            "source": {"kind": "release-file", "citation": _CITATION,
                       "url": "https://github.com/neurodata/bilateral-connectome (data/elife)",
                       "license": "MIT"},
            "version": {"release": "Winding et al. 2023"},
            "extra": {"root_id": "CATMAID skeleton id", "unlabelled": "label value 'unk'"},
        },
        progress=progress,
    )
