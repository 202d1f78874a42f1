"""Named datasets available offline, and :func:`load`.

Three places provide datasets, searched in this order:

1. stores in the data home (``CONNECTOME_HOME``), written by ``connectome ingest``;
2. snapshots embedded in the package (C. elegans, produced by ``connectome.ingest.celegans``);
3. *buildable* datasets announced by plugins (entry point group
   ``connectome.datasets``; the ``ingest`` package announces the C. elegans
   datasets of ``cect``, the larval *Drosophila* connectome and FlyWire files in
   the shared data folder). They are converted into the data home on first load.

Examples
--------
>>> import connectome as cx
>>> d = cx.datasets()
>>> "celegans_cook2019_herm" in set(d["name"])
True
>>> list(d.columns[:5])
['name', 'species', 'nodes', 'edges', 'source']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .config import DEFAULT_DATASET, data_home
from .errors import DatasetNotFoundError, InputError
from .graph import Connectome, memory_rows_limit
from .manifest import Manifest
from .plugins import entry_points
from .schema import ids_to_int64
from .store import is_store, read_manifest, table_paths, verify_store

logger = logging.getLogger(__name__)

__all__ = ["DatasetEntry", "datasets", "load", "DEFAULT_DATASET", "snapshot_dir", "dataset_entries", "store_entry"]


@dataclass
class DatasetEntry:
    """One dataset known offline.

    ``build(out_path, progress)`` converts a buildable dataset into a store.
    """

    name: str
    species: str
    title: str
    source: str
    nodes: int | None = None
    edges: int | None = None
    location: str = "buildable"
    path: Path | None = None
    build: Callable[[Path, bool | None], Any] | None = None


def snapshot_dir() -> Path:
    """Folder of the snapshots embedded in the package."""
    return Path(__file__).resolve().parent / "snapshots"


def store_entry(path: Path, location: str, name: str | None = None) -> DatasetEntry | None:
    """The entry of the store at ``path`` (named ``name`` or as its manifest says).

    ``None`` when ``path`` is not a store or its manifest cannot be read (logged:
    a broken store must not hide the others).
    """
    if not is_store(path):
        return None
    try:
        m, _ = read_manifest(path)
    except Exception as exc:  # a broken store must not hide the others
        logger.warning("skipping unreadable store %s: %s", path, exc)
        return None
    src = m.source.get("citation") or m.source.get("kind") or ""
    return DatasetEntry(name=name or m.name, species=m.species or "", title=m.title, source=str(src),
                        nodes=m.rows("nodes"), edges=m.rows("edges"), location=location, path=path)


def _scan(folder: Path, location: str) -> list[DatasetEntry]:
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if p.is_dir() and is_store(p):
            e = store_entry(p, location)
            if e is not None:
                out.append(e)
    return out


def _provided() -> list[DatasetEntry]:
    out: list[DatasetEntry] = []
    for ep in entry_points("connectome.datasets"):
        try:
            out.extend(ep.load()())
        except Exception as exc:  # a broken plugin must not break datasets()
            logger.warning("dataset provider %s failed: %s", ep.name, exc)
    return out


def dataset_entries() -> dict[str, DatasetEntry]:
    """All known datasets by name (data home first, then embedded, then buildable)."""
    found: dict[str, DatasetEntry] = {}
    for entry in _scan(data_home(), "home") + _scan(snapshot_dir(), "embedded") + _provided():
        found.setdefault(entry.name, entry)
    return found


def datasets() -> pd.DataFrame:
    """The datasets available offline, one row each.

    Returns
    -------
    pandas.DataFrame
        ``name``, ``species``, ``nodes``, ``edges``, ``source``, ``location``
        (``home``, ``embedded`` or ``buildable``), ``title``, ``path``.
    """
    rows = [
        {"name": e.name, "species": e.species, "nodes": e.nodes, "edges": e.edges, "source": e.source,
         "location": e.location, "title": e.title, "path": str(e.path) if e.path else None}
        for e in dataset_entries().values()
    ]
    df = pd.DataFrame(rows, columns=["name", "species", "nodes", "edges", "source", "location", "title", "path"])
    df["nodes"] = df["nodes"].astype("Int64")
    df["edges"] = df["edges"].astype("Int64")
    return df.sort_values("name", ignore_index=True)


def _looks_like_path(s: str) -> bool:
    return os.sep in s or s.startswith(".") or s.startswith("~") or Path(s).exists()


def resolve(name_or_path: str | os.PathLike, progress: bool | None = None) -> Path:
    """The store path for a dataset name or path, building buildable datasets."""
    if isinstance(name_or_path, os.PathLike) or (isinstance(name_or_path, str) and _looks_like_path(name_or_path)):
        return Path(name_or_path).expanduser()
    if not isinstance(name_or_path, str):
        raise InputError(f"name_or_path must be a dataset name or a path, not {type(name_or_path).__name__}",
                         "name_or_path")
    entries = dataset_entries()
    entry = entries.get(name_or_path)
    if entry is None:
        raise DatasetNotFoundError(name_or_path, entries)
    if entry.path is not None:
        return entry.path
    assert entry.build is not None
    out = data_home() / entry.name
    logger.info("building dataset %s into %s", entry.name, out)
    entry.build(out, progress)
    return out


def _read_frames(path: Path, manifest: Manifest) -> tuple[Any, Any, Any]:
    import dask.dataframe as dd

    def read(table: str) -> Any:
        files = [str(p) for p in table_paths(path, table)]
        if not files:
            return None
        frame = dd.read_parquet(files, index=False)
        old = [c for c, t in frame.dtypes.items() if pd.api.types.is_unsigned_integer_dtype(t)]
        if old:  # a store of an earlier version: uint64 ids, read (and checked) as int64
            meta = {c: ("int64" if c in old else t) for c, t in frame.dtypes.items()}
            frame = frame.map_partitions(ids_to_int64, f"store {str(path)!r}, table {table}", meta=meta)
        return frame

    return read("nodes"), read("edges"), read("synapses")


def load(name_or_path: str | os.PathLike, *, in_memory: bool | None = None, verify: bool = False,
         progress: bool | None = None) -> Connectome:
    """Load a connectome by dataset name or store path.

    Parameters
    ----------
    name_or_path : str or path-like
        A name from :func:`datasets` (e.g. ``"celegans_cook2019_herm"``) or the
        folder of a store.
    in_memory : bool, optional
        Take the pandas path (``True``) or keep everything in Dask (``False``).
        Default: in memory when the edge table has at most
        ``CONNECTOME_MEMORY_ROWS`` rows.
    verify : bool
        Check every file's SHA-256 against the manifest first.
    progress : bool, optional
        Progress bar when a buildable dataset is converted on first load.

    Returns
    -------
    Connectome

    Raises
    ------
    DatasetNotFoundError
        Unknown name (the message lists the known ones).
    StoreVersionError
        The store was written by a newer schema.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> c.manifest.species
    'Caenorhabditis elegans'
    >>> cx.load("celegans_cook2019_hermaphrodite")
    Traceback (most recent call last):
    ...
    connectome.errors.DatasetNotFoundError: unknown dataset 'celegans_cook2019_hermaphrodite'; did you mean 'celegans_cook2019_herm'? ...
    """
    path = resolve(name_or_path, progress=progress)
    manifest = verify_store(path) if verify else read_manifest(path)[0]
    frames = _read_frames(path, manifest)
    if in_memory is None:
        in_memory = manifest.rows("edges") <= memory_rows_limit()
    return Connectome(manifest, frames=frames, path=path.absolute(), in_memory=in_memory)
