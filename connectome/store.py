"""The on-disk connectome store: Parquet tables, a manifest, atomic replacement.

Layout of a store at ``PATH``::

    PATH/
      CURRENT                 name of the live version, e.g. "v-3f2a9c0d1e4b5a67"
      v-3f2a9c0d1e4b5a67/
        manifest.json
        nodes.parquet
        edges/part-00000.parquet ...   sorted by pre_root_id, one pre id never split
        pairs/part-00000.parquet ...   one row per (pre, post, edge_kind): per-neuropil stores only
        synapses/part-00000.parquet    (optional; min/max of ids and positions per file in the manifest)

Writers build a complete version in a hidden temporary folder, rename it into
place, then switch ``CURRENT`` with an atomic ``os.replace``. A writer killed at
any point leaves the previous version live and no half-written store visible;
the next write removes its leftovers. The version name is derived from the
content, so writing the same data twice gives the same version.

Examples
--------
>>> import tempfile, pandas as pd
>>> from connectome.store import write_store, read_manifest
>>> edges = pd.DataFrame({"pre_root_id": [1, 2], "post_root_id": [2, 1], "synapse_count": [5, 3]})
>>> d = tempfile.mkdtemp()
>>> m = write_store(d + "/toy", edges=edges, name="toy", progress=False)
>>> read_manifest(d + "/toy")[0].rows("edges")
2
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .build import assemble
from .errors import InputError, SourceNotFoundError, StoreCorruptError, StoreError, StoreWriteError
from .manifest import FileInfo, Manifest, TableInfo
from .pair_table import pair_aggregate
from .progress import progress_bar
from .schema import LABEL_DTYPE, POSITION_COLUMNS, PRE, ids_to_int64

logger = logging.getLogger(__name__)

__all__ = [
    "write_store",
    "write_tables",
    "StoreBuilder",
    "position_stats",
    "read_manifest",
    "read_table",
    "table_paths",
    "verify_store",
    "is_store",
    "DEFAULT_PARTITION_ROWS",
]

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
DEFAULT_PARTITION_ROWS = 500_000
_KEEP_VERSIONS = 2  # the live one and the one before it (lazy readers may still hold it)


# ----------------------------------------------------------------------------- reading


def is_store(path: str | os.PathLike) -> bool:
    """True if ``path`` is a complete connectome store.

    Examples
    --------
    >>> is_store("/nonexistent")
    False
    """
    p = Path(path)
    return (p / CURRENT).is_file()


def _version_dir(path: Path) -> Path:
    if not path.exists():
        raise SourceNotFoundError(path, "path", "pass an existing store folder or a dataset name")
    cur = path / CURRENT
    if not cur.is_file():
        if path.is_dir() and any(path.glob(".tmp-*")) and not any(path.glob("v-*")):
            raise StoreError(f"{str(path)!r} holds only an unfinished write; write the store again")
        raise StoreError(
            f"{str(path)!r} is not a connectome store (no {CURRENT} file); "
            "create one with connectome.write_store or `connectome ingest`"
        )
    name = cur.read_text().strip()
    vdir = path / name
    if not name.startswith("v-") or not vdir.is_dir():
        raise StoreCorruptError(f"{str(path)!r}: {CURRENT} names {name!r}, which is missing")
    return vdir


def read_manifest(path: str | os.PathLike) -> tuple[Manifest, Path]:
    """Read the live manifest of the store at ``path``.

    Returns
    -------
    (Manifest, pathlib.Path)
        The manifest and the folder of the live version.

    Raises
    ------
    StoreVersionError
        The store was written by a newer schema than this code reads.
    """
    vdir = _version_dir(Path(path))
    mf = vdir / MANIFEST
    if not mf.is_file():
        raise StoreCorruptError(f"{str(vdir)!r}: {MANIFEST} is missing")
    return Manifest.from_json(mf.read_text(), where=str(mf)), vdir


def table_paths(path: str | os.PathLike, table: str) -> list[Path]:
    """Absolute paths of the Parquet files of ``table`` in the live version.

    Raises :class:`StoreCorruptError` if a listed file is missing or its size
    differs from the manifest.
    """
    manifest, vdir = read_manifest(path)
    info = manifest.tables.get(table)
    if info is None:
        return []
    out = []
    for f in info.files:
        p = vdir / f.path
        if not p.is_file():
            raise StoreCorruptError(f"{str(path)!r}: file {f.path} of table {table} is missing")
        if p.stat().st_size != f.bytes:
            raise StoreCorruptError(
                f"{str(path)!r}: file {f.path} has {p.stat().st_size} bytes, manifest says {f.bytes}"
            )
        out.append(p)
    return out


def _arrow_to_pandas(tbl: pa.Table, where: str = "store table") -> pd.DataFrame:
    """pandas of an Arrow table: labels as pyarrow strings, ``uint64`` ids of older stores as ``int64``."""
    def mapper(t: pa.DataType):
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return LABEL_DTYPE
        return None

    return ids_to_int64(tbl.to_pandas(types_mapper=mapper), where)


def read_table(path: str | os.PathLike, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one table of a store into pandas (labels as pyarrow strings).

    Examples
    --------
    >>> import connectome as cx
    >>> p = cx.datasets().set_index("name").loc["celegans_cook2019_herm", "path"]
    >>> read_table(p, "nodes", ["root_id", "name"]).shape[1]
    2
    """
    files = table_paths(path, table)
    if not files:
        raise StoreError(f"store {str(path)!r} has no {table} table")
    tbls = [pq.read_table(f, columns=columns) for f in files]
    return _arrow_to_pandas(pa.concat_tables(tbls), f"store {str(path)!r}, table {table}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_store(path: str | os.PathLike) -> Manifest:
    """Check every file of the live version against the manifest's SHA-256.

    Raises
    ------
    StoreCorruptError
        A file is missing or its content differs from what was written.
    """
    manifest, vdir = read_manifest(path)
    for name, info in manifest.tables.items():
        for f in info.files:
            p = vdir / f.path
            if not p.is_file():
                raise StoreCorruptError(f"{str(path)!r}: file {f.path} of table {name} is missing")
            got = _sha256(p)
            if got != f.sha256:
                raise StoreCorruptError(
                    f"{str(path)!r}: {f.path} has SHA-256 {got[:12]}…, manifest says {f.sha256[:12]}…"
                )
    return manifest


# ----------------------------------------------------------------------------- writing


def _fsync_path(p: Path) -> None:
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


def _remove_stale(folder: Path, pattern: str) -> None:
    """Remove temporary folders of writers that are no longer running."""
    for tmp in folder.glob(pattern):
        parts = tmp.name.split("-")
        try:
            pid = int(parts[-2])
        except (IndexError, ValueError):
            continue
        if not _pid_alive(pid):
            logger.info("removing leftovers of an interrupted write: %s", tmp)
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


def _split_points(pre: np.ndarray, partition_rows: int) -> list[int]:
    """Row offsets that split sorted ``pre`` into ~partition_rows chunks, never inside one id."""
    n = len(pre)
    bounds = [0]
    target = partition_rows
    while target < n:
        # first row whose id differs from the id at the target row
        cut = int(np.searchsorted(pre, pre[target], side="left"))
        if cut <= bounds[-1]:
            cut = int(np.searchsorted(pre, pre[target], side="right"))
        if cut >= n:
            break
        if cut > bounds[-1]:
            bounds.append(cut)
        target = bounds[-1] + partition_rows
    bounds.append(n)
    return bounds


def _write_parquet(df: pd.DataFrame | pa.Table, path: Path, stats: dict[str, Any] | None = None,
                   row_group_size: int = 128 * 1024) -> FileInfo:
    """Encode ``df`` as Parquet in memory, hash the bytes, write and fsync them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = pa.BufferOutputStream()
    tbl = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(tbl, sink, compression="zstd", row_group_size=row_group_size)
    data = sink.getvalue()
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return FileInfo(path="", rows=len(df), bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    stats=stats or {})


def _dtypes(df: pd.DataFrame) -> dict[str, str]:
    return {c: str(t) for c, t in df.dtypes.items()}


def _parts(df: pd.DataFrame, rel: str, partition_rows: int) -> list[tuple[str, pd.DataFrame, dict[str, Any]]]:
    """(relative path, rows, stats) of each Parquet file of a partitioned table."""
    if PRE in df.columns and len(df):
        bounds = _split_points(df[PRE].to_numpy(), partition_rows)
    else:
        bounds = sorted(set(list(range(0, max(len(df), 1), partition_rows)) + [len(df)]))
        if len(bounds) == 1:
            bounds = [0, 0]
    out = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        part = df.iloc[a:b]
        stats = {}
        if PRE in part.columns and len(part):
            stats = {"pre_root_id_min": str(part[PRE].iloc[0]), "pre_root_id_max": str(part[PRE].iloc[-1])}
            stats.update(position_stats(part))
        out.append((f"{rel}/part-{i:05d}.parquet", part, stats))
    return out


def position_stats(df: pd.DataFrame) -> dict[str, float]:
    """``x_nm_min`` ... ``z_nm_max`` of a synapse partition (empty for tables without positions).

    Readers skip a file whose box misses a bounding box (:mod:`connectome.synapse_reads`).

    Examples
    --------
    >>> position_stats(pd.DataFrame({"x_nm": [4.0, 8.0], "y_nm": [1.0, 2.0], "z_nm": [40.0, 80.0]}))["x_nm_max"]
    8.0
    """
    if not len(df) or not all(c in df.columns for c in POSITION_COLUMNS):
        return {}
    out: dict[str, float] = {}
    for c in POSITION_COLUMNS:
        v = df[c].to_numpy(dtype=np.float64)
        if np.isnan(v).any():
            return {}  # a box with unknown positions prunes nothing: leave it out
        out[f"{c}_min"], out[f"{c}_max"] = float(v.min()), float(v.max())
    return out


def _write_files(work: Path, jobs: list[tuple[str, pd.DataFrame, dict[str, Any]]], bar: Any) -> list[FileInfo]:
    """Write the files in parallel threads (Arrow encodes without the GIL); results in order."""
    from concurrent.futures import ThreadPoolExecutor

    def one(job: tuple[str, pd.DataFrame, dict[str, Any]]) -> FileInfo:
        rel, part, stats = job
        info = _write_parquet(part, work / rel, stats)
        info.path = rel
        bar.update(len(part))
        return info

    workers = max(1, min(len(jobs), os.cpu_count() or 1, 4))
    if workers == 1:
        return [one(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))


def _check_target(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise StoreWriteError(f"path: {str(path)!r} is a file; choose a folder path for the store")
    if path.is_dir() and not is_store(path):
        leftovers = [p for p in path.iterdir() if not p.name.startswith(".tmp-")]
        if leftovers:
            raise StoreWriteError(
                f"path: {str(path)!r} exists and is not a connectome store; refusing to write into it "
                "(choose an empty or new folder)"
            )
    parent = path.parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise StoreWriteError(f"path: {str(probe)!r} is a file, not a folder; choose another path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StoreWriteError(f"path: cannot write under {str(probe)!r} (permission denied); choose another path")


class StoreBuilder:
    """A new version of the store at ``path``, written file by file, then made live atomically.

    :func:`write_tables` uses it for whole pandas tables; streaming ingests
    (:mod:`connectome.ingest.stream`) add one partition at a time, so a table
    never has to be in memory at once. Nothing is visible until :meth:`commit`;
    :meth:`abort` (or an exception inside ``with``) removes the staging folder.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from connectome.manifest import Manifest
    >>> nodes = pd.DataFrame({"root_id": pd.Series([1, 2], dtype="int64")})
    >>> with StoreBuilder(tempfile.mkdtemp() + "/s") as b:
    ...     b.add_table("nodes", [b.write("nodes.parquet", nodes)], nodes)
    ...     m = b.commit(Manifest(name="s"))
    >>> m.rows("nodes")
    2
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path).expanduser().absolute()
        _check_target(path)
        self.path = path
        self.fresh = not path.exists()
        tmp_parent = path.parent if self.fresh else path
        try:
            tmp_parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreWriteError(f"path: cannot create {str(tmp_parent)!r} ({exc}); choose another path") from exc
        if self.fresh:
            _remove_stale(tmp_parent, f".{path.name}.tmp-*")
            self.tmp = tmp_parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        else:
            _remove_stale(path, ".tmp-*")
            self.tmp = path / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.work = self.tmp / "staging" if self.fresh else self.tmp
        self.tables: dict[str, TableInfo] = {}
        try:
            self.work.mkdir(parents=True)
        except OSError as exc:
            self.abort()
            raise StoreWriteError(f"path: cannot write the store at {str(path)!r} ({exc}); choose another path") from exc

    def __enter__(self) -> StoreBuilder:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()

    def write(self, rel: str, data: pd.DataFrame | pa.Table, stats: dict[str, Any] | None = None,
              row_group_size: int = 128 * 1024) -> FileInfo:
        """Write one Parquet file at ``rel`` (relative to the version folder) and return its entry."""
        try:
            info = _write_parquet(data, self.work / rel, stats, row_group_size=row_group_size)
        except OSError as exc:
            raise StoreWriteError(f"path: cannot write the store at {str(self.path)!r} ({exc}); "
                                  "choose another path") from exc
        info.path = rel
        return info

    def staging_dir(self, name: str) -> Path:
        """A scratch folder inside the staging area (removed on commit and on abort)."""
        d = self.tmp / f"scratch-{name}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def add_table(self, name: str, files: list[FileInfo], columns: pd.DataFrame | dict[str, str],
                  rows: int | None = None) -> None:
        """Record table ``name``: its files (in order), its column dtypes (a frame or a dict) and rows."""
        cols = _dtypes(columns) if isinstance(columns, pd.DataFrame) else dict(columns)
        self.tables[name] = TableInfo(rows=int(sum(f.rows for f in files) if rows is None else rows),
                                      columns=cols, files=files)

    def commit(self, manifest: Manifest) -> Manifest:
        """Write the manifest and make this version the live one (atomic rename and ``CURRENT`` switch)."""
        path, tmp, work = self.path, self.tmp, self.work
        for scratch in tmp.glob("scratch-*"):
            shutil.rmtree(scratch, ignore_errors=True)
        try:
            manifest.tables = dict(self.tables)
            manifest.writer = f"connectome-service {__version__}"
            digest = hashlib.sha256()
            ident = {k: v for k, v in manifest.to_dict().items() if k not in ("created", "writer")}
            digest.update(json.dumps(ident, sort_keys=True, default=str).encode())
            version = "v-" + digest.hexdigest()[:16]
            (work / MANIFEST).write_text(manifest.to_json())
            _fsync_path(work / MANIFEST)
            _fsync_path(work)
            if self.fresh:
                final_version = tmp / version
                os.rename(work, final_version)
                (tmp / CURRENT).write_text(version + "\n")
                _fsync_path(tmp / CURRENT)
                _fsync_path(tmp)
                try:
                    os.rename(tmp, path)
                except OSError as exc:
                    raise StoreWriteError(f"path: {str(path)!r} appeared while writing ({exc}); write again") from None
            else:
                final_version = path / version
                if final_version.exists():
                    shutil.rmtree(tmp)  # identical content already present
                else:
                    os.rename(tmp, final_version)
                cur_tmp = path / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
                cur_tmp.write_text(version + "\n")
                _fsync_path(cur_tmp)
                os.replace(cur_tmp, path / CURRENT)
                _prune(path, version)
            _fsync_path(path)
            _fsync_path(path.parent)
        except OSError as exc:
            self.abort()
            raise StoreWriteError(f"path: cannot write the store at {str(path)!r} ({exc}); choose another path") from exc
        except BaseException:
            self.abort()
            raise
        logger.info("wrote store %s (%s) to %s", manifest.name, version, path)
        return manifest

    def abort(self) -> None:
        """Remove everything written so far; the live version (if any) stays as it was."""
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_tables(
    path: str | os.PathLike,
    manifest: Manifest,
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    synapses: pd.DataFrame | None = None,
    *,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    progress: bool = True,
) -> Manifest:
    """Write already-normalised tables as a new live version of the store at ``path``.

    Most callers want :func:`write_store` (validates raw tables) or
    :meth:`connectome.Connectome.save`. This function assumes the tables passed
    :func:`connectome.schema.normalize_nodes` / ``normalize_edges``. Edges with
    several rows per neuron pair (per neuropil) also get the ``pairs`` table
    (:mod:`connectome.pair_table`), which statistics and the census read.
    """
    if not isinstance(partition_rows, (int, np.integer)) or partition_rows < 1:
        raise InputError(f"partition_rows must be a positive integer, not {partition_rows!r}", "partition_rows")
    pairs = pair_aggregate(edges)
    builder = StoreBuilder(path)
    try:
        total = len(nodes) + len(edges) + (0 if synapses is None else len(synapses))
        with progress_bar(total=total, desc=f"writing {manifest.name}", unit="row", progress=progress) as bar:
            frames = {"nodes": nodes, "edges": edges, "pairs": pairs, "synapses": synapses}
            jobs = {"nodes": [("nodes.parquet", nodes, {})],
                    "edges": _parts(edges, "edges", partition_rows),
                    "pairs": [] if pairs is None else _parts(pairs, "pairs", partition_rows),
                    "synapses": [] if synapses is None else _parts(synapses, "synapses", partition_rows)}
            order = ("nodes", "edges", "pairs", "synapses")
            flat = [j for name in order for j in jobs[name]]
            infos = iter(_write_files(builder.work, flat, bar))
            for name in order:
                if frames[name] is not None:
                    files = [next(infos) for _ in jobs[name]]
                    builder.add_table(name, files, frames[name], rows=len(frames[name]))
    except OSError as exc:
        builder.abort()
        raise StoreWriteError(f"path: cannot write the store at {str(path)!r} ({exc}); choose another path") from exc
    except BaseException:
        builder.abort()
        raise
    return builder.commit(manifest)


def _prune(path: Path, live: str) -> None:
    """Keep the live version and the one before it; remove older versions."""
    versions = sorted((p for p in path.glob("v-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    keep = {live}
    for p in versions:
        if len(keep) >= _KEEP_VERSIONS:
            break
        keep.add(p.name)
    for p in versions:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)


def write_store(
    path: str | os.PathLike,
    edges: pd.DataFrame,
    nodes: pd.DataFrame | None = None,
    synapses: pd.DataFrame | None = None,
    *,
    name: str | None = None,
    manifest: Manifest | dict | None = None,
    duplicates: str = "error",
    missing_nodes: str = "add",
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    progress: bool = True,
) -> Manifest:
    """Validate tables and write them as a connectome store at ``path``.

    Nothing is written if any table fails validation; an existing store at
    ``path`` is replaced atomically.

    Parameters
    ----------
    path : str or path-like
        Store folder (created if missing).
    edges : pandas.DataFrame
        ``pre_root_id``, ``post_root_id``, ``synapse_count`` (+ optional columns).
    nodes : pandas.DataFrame, optional
        Keyed by ``root_id``; derived from the edges if omitted.
    synapses : pandas.DataFrame, optional
        One row per synapse, positions ``x_nm``, ``y_nm``, ``z_nm``.
    name : str, optional
        Dataset name (defaults to the folder name).
    manifest : Manifest or dict, optional
        Source, version, units, ... recorded with the data.
    duplicates, missing_nodes : str
        See :func:`connectome.from_edges`.
    partition_rows : int
        Target rows per edge/synapse Parquet file.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Manifest
    """
    n, e, s = assemble(edges, nodes, synapses, duplicates=duplicates, missing_nodes=missing_nodes)
    m = _as_manifest(manifest, name or Path(path).name)
    return write_tables(path, m, n, e, s, partition_rows=partition_rows, progress=progress)


def _as_manifest(manifest: Manifest | dict | None, name: str) -> Manifest:
    if manifest is None:
        return Manifest(name=name)
    if isinstance(manifest, Manifest):
        return manifest
    if isinstance(manifest, dict):
        d = dict(manifest)
        d.setdefault("name", name)
        allowed = set(Manifest.__dataclass_fields__) - {"tables", "schema_version", "created", "writer"}
        unknown = set(d) - allowed
        if unknown:
            raise InputError(
                f"manifest: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)} "
                "(put anything else under 'extra')",
                "manifest",
            )
        return Manifest(**d)
    raise InputError(f"manifest must be a Manifest or dict, not {type(manifest).__name__}", "manifest")
