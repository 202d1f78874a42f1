"""Slices of the synapse table, read without loading it whole.

A store's ``synapses`` table is split into Parquet files whose manifest entries
carry the min/max of ``pre_root_id`` and of the positions (``x_nm`` ... ``z_nm``);
inside each file, row groups carry the same statistics. A read by ids or by a
bounding box opens only the files whose ranges can hold matching rows and,
inside them, only the matching row groups (Arrow's predicate pushdown).
Stores written by the streaming ingest (:mod:`connectome.ingest.synapse_layout`) lay
the table out by position (Morton-ordered grid cells), so a box touches few files
and row groups, and keep an id index (``synapse_index``: root id → files), so a
read by ids opens only the files that hold those neurons' synapses.

Examples
--------
>>> import tempfile, pandas as pd, connectome as cx
>>> e = pd.DataFrame({"pre_root_id": [1, 2], "post_root_id": [2, 1], "synapse_count": [2, 1]})
>>> s = pd.DataFrame({"pre_root_id": [1, 1, 2], "post_root_id": [2, 2, 1],
...                   "x_nm": [0.0, 500.0, 900.0], "y_nm": [0.0, 0.0, 0.0], "z_nm": [40.0, 40.0, 80.0]})
>>> p = tempfile.mkdtemp() + "/toy"
>>> _ = cx.write_store(p, e, synapses=s, progress=False)
>>> c = cx.load(p)
>>> c.synapse_table(bbox=[[0, 0, 0], [600, 10, 50]])["x_nm"].tolist()
[0.0, 500.0]
>>> c.synapse_table(ids=[2], side="pre", columns=["pre_root_id", "z_nm"]).values.tolist()
[[2.0, 80.0]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import ColumnError, InputError
from .schema import MAX_ID, POSITION_COLUMNS, POST, PRE, coerce_ids
from .store import _arrow_to_pandas, read_manifest

logger = logging.getLogger(__name__)

__all__ = ["INDEX", "SIDES", "check_bbox", "synapse_counts", "synapse_table"]

#: The table of a streamed store that names, per root id, the synapse files holding its synapses.
INDEX = "synapse_index"

#: How ``ids`` select synapses: presynaptic id in ids, postsynaptic, either, or both ends.
SIDES = ("either", "pre", "post", "both")


def check_bbox(bbox: Any) -> np.ndarray | None:
    """``bbox`` as a (2, 3) float array ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` in nm, or refuse it.

    Examples
    --------
    >>> check_bbox([[0, 0, 0], [10, 10, 10]]).tolist()
    [[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]]
    >>> check_bbox([0, 0, 0, 10, 10, 10])
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: bbox must be [[xmin, ymin, zmin], [xmax, ymax, zmax]] in nm (shape (2, 3)), not shape (6,)
    """
    if bbox is None:
        return None
    try:
        box = np.asarray(bbox, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"bbox must be [[xmin, ymin, zmin], [xmax, ymax, zmax]] in nm, not {bbox!r}",
                         "bbox") from None
    if box.shape != (2, 3):
        raise InputError("bbox must be [[xmin, ymin, zmin], [xmax, ymax, zmax]] in nm (shape (2, 3)), "
                         f"not shape {box.shape}", "bbox")
    if not np.isfinite(box).all():
        raise InputError("bbox: corners must be finite numbers (nm)", "bbox")
    if (box[0] > box[1]).any():
        axis = "xyz"[int(np.flatnonzero(box[0] > box[1])[0])]
        raise InputError(f"bbox: the minimum {axis} is above the maximum; give [[mins], [maxs]]", "bbox")
    return box


def _check_side(side: Any) -> str:
    if side not in SIDES:
        raise InputError(f"side must be one of {list(SIDES)}, not {side!r}", "side")
    return side


def _check_ids(ids: Any) -> np.ndarray | None:
    if ids is None:
        return None
    if isinstance(ids, (int, np.integer, str)):
        ids = [ids]
    vals = ids if isinstance(ids, (np.ndarray, pd.Series)) else pd.Series(list(ids), dtype=object)
    return np.unique(coerce_ids(vals, "ids"))


def _available(c: Any) -> list[str]:
    if not c.has_synapses:
        raise InputError(f"synapses: {c.name} has no synapse table; ingest one with synapses "
                         "(connectome ingest cave-files --synapses FILE, or write_store(..., synapses=...))",
                         "synapses")
    info = c.manifest.tables.get("synapses")
    if info is not None and info.columns and c.path is not None and not c.manifest.extra.get("derived"):
        return list(info.columns)
    return list(c.synapses.columns)


def _check_columns(columns: Any, available: Sequence[str]) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    cols = list(columns)
    for col in cols:
        if not isinstance(col, str) or col not in available:
            err = ColumnError("synapses", str(col), available, "Choose columns of the synapse table.")
            err.parameter = "columns"
            raise err
    return cols


def _file_may_match(stats: dict[str, Any], ids: np.ndarray | None, side: str, box: np.ndarray | None) -> bool:
    if ids is not None and side in ("pre", "both") and "pre_root_id_min" in stats:
        lo, hi = int(stats["pre_root_id_min"]), int(stats["pre_root_id_max"])  # Python ints: no float, any dtype
        i = np.searchsorted(ids, min(lo, MAX_ID))
        if i >= len(ids) or int(ids[i]) > hi:
            return False
    if box is not None and "x_nm_min" in stats:
        for k, col in enumerate(POSITION_COLUMNS):
            if stats[f"{col}_max"] < box[0, k] or stats[f"{col}_min"] > box[1, k]:
                return False
    return True


def _indexed_files(manifest: Any, vdir: Any, ids: np.ndarray, side: str) -> set[int] | None:
    """Numbers of the synapse files that the id index names for ``ids`` on ``side`` (``None``: no index)."""
    info = manifest.tables.get(INDEX)
    if info is None:
        return None
    import pyarrow.dataset as ds

    dset = ds.dataset([str(vdir / f.path) for f in info.files], format="parquet")
    tbl = dset.to_table(columns=["file", "role"], filter=ds.field("root_id").isin(
        _as_stored(ids, dset.schema.field("root_id").type)))
    file = tbl["file"].to_numpy()
    role = tbl["role"].to_numpy()
    as_pre, as_post = set(file[(role & 1) > 0].tolist()), set(file[(role & 2) > 0].tolist())
    return {"pre": as_pre, "post": as_post, "either": as_pre | as_post, "both": as_pre & as_post}[side]


def _as_stored(ids: np.ndarray, arrow_type: Any) -> Any:
    """``ids`` (int64, non-negative) as an Arrow array of the files' id type (uint64 in stores of earlier versions)."""
    import pyarrow as pa

    return pa.array(ids.astype(np.uint64) if pa.types.is_unsigned_integer(arrow_type) else ids, type=arrow_type)


def _expression(ids: np.ndarray | None, side: str, box: np.ndarray | None, id_type: Any = None) -> Any:
    import pyarrow as pa
    import pyarrow.dataset as ds

    expr = None

    def both(a: Any, b: Any) -> Any:
        return b if a is None else a & b

    if ids is not None:
        arr = _as_stored(ids, id_type if id_type is not None else pa.int64())
        pre, post = ds.field(PRE).isin(arr), ds.field(POST).isin(arr)
        expr = {"pre": pre, "post": post, "either": pre | post, "both": pre & post}[side]
    if box is not None:
        for k, col in enumerate(POSITION_COLUMNS):
            expr = both(expr, (ds.field(col) >= float(box[0, k])) & (ds.field(col) <= float(box[1, k])))
    return expr


def _pandas_mask(df: pd.DataFrame, ids: np.ndarray | None, side: str, box: np.ndarray | None) -> np.ndarray:
    keep = np.ones(len(df), bool)
    if ids is not None:
        pre = df[PRE].isin(ids).to_numpy()
        post = df[POST].isin(ids).to_numpy()
        keep &= {"pre": pre, "post": post, "either": pre | post, "both": pre & post}[side]
    if box is not None:
        for k, col in enumerate(POSITION_COLUMNS):
            v = df[col].to_numpy(dtype=np.float64)
            keep &= (v >= box[0, k]) & (v <= box[1, k])
    return keep


def synapse_table(c: Any, ids: Any = None, bbox: Any = None, columns: Sequence[str] | None = None, *,
                  side: str = "either") -> pd.DataFrame:
    """A slice of the synapse table as pandas, read partition by partition.

    Parameters
    ----------
    c : Connectome
        A connectome with a synapse table.
    ids : int or sequence of int, optional
        Root ids. Which end must be one of them is ``side``'s choice.
    bbox : array-like of shape (2, 3), optional
        ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` in nm, both ends included.
    columns : list of str, optional
        Columns to return (default all); filters may use columns not returned.
    side : {"either", "pre", "post", "both"}
        With ``ids``: the presynaptic id, the postsynaptic id, either, or both
        ends in ``ids`` (``"both"``: synapses among the neurons).

    Returns
    -------
    pandas.DataFrame
        Matching rows, in the order the store (or the in-memory table) holds them.

    Raises
    ------
    InputError
        No synapse table (parameter ``synapses``), a malformed ``bbox``, an
        unknown ``side``, ids that are not non-negative integers.
    ColumnError
        A requested column the table does not have (parameter ``columns``).
    """
    side = _check_side(side)
    box = check_bbox(bbox)
    wanted = _check_ids(ids)
    available = _available(c)
    cols = _check_columns(columns, available)
    if wanted is not None and len(wanted) == 0:
        empty = c.synapses._meta if c._tables is None else c._tables.synapses.iloc[:0]
        return (empty if cols is None else empty[cols]).reset_index(drop=True)
    stored = c.path is not None and not c.manifest.extra.get("derived") and "synapses" in c.manifest.tables
    if not stored:
        df = c.to_pandas().synapses
        out = df[_pandas_mask(df, wanted, side, box)]
        return (out if cols is None else out[cols]).reset_index(drop=True)
    import pyarrow.dataset as ds

    manifest, vdir = read_manifest(c.path)
    info = manifest.tables["synapses"]
    named = _indexed_files(manifest, vdir, wanted, side) if wanted is not None else None
    files = [str(vdir / f.path) for i, f in enumerate(info.files)
             if (named is None or i in named) and _file_may_match(f.stats, wanted, side, box)]
    logger.debug("synapse_table: %d of %d file(s) can hold matching rows", len(files), len(info.files))
    if not files:
        tbl = ds.dataset([str(vdir / info.files[0].path)], format="parquet").head(0, columns=cols)
        return _arrow_to_pandas(tbl, f"store {str(c.path)!r}, table synapses")
    dset = ds.dataset(files, format="parquet")
    tbl = dset.to_table(columns=cols, filter=_expression(wanted, side, box, dset.schema.field(PRE).type))
    return _arrow_to_pandas(tbl, f"store {str(c.path)!r}, table synapses")


def synapse_counts(c: Any, by: str = "neuropil", ids: Any = None, bbox: Any = None, *,
                   side: str = "either") -> pd.DataFrame:
    """Synapses per value of a synapse column (e.g. per neuropil or compartment), from a pruned read.

    Returns
    -------
    pandas.DataFrame
        ``by``, ``synapses``, sorted by count (largest first).

    Examples
    --------
    >>> import tempfile, pandas as pd, connectome as cx
    >>> e = pd.DataFrame({"pre_root_id": [1], "post_root_id": [2], "synapse_count": [2]})
    >>> s = pd.DataFrame({"pre_root_id": [1, 1], "post_root_id": [2, 2], "x_nm": [0.0, 1.0],
    ...                   "y_nm": [0.0, 0.0], "z_nm": [0.0, 0.0], "neuropil": ["AL_L", "AL_L"]})
    >>> p = tempfile.mkdtemp() + "/toy"
    >>> _ = cx.write_store(p, e, synapses=s, progress=False)
    >>> synapse_counts(cx.load(p), ids=[1]).values.tolist()
    [['AL_L', 2]]
    """
    df = synapse_table(c, ids=ids, bbox=bbox, columns=[by], side=side)
    counts = df[by].value_counts(dropna=False, sort=True)
    return pd.DataFrame({by: counts.index, "synapses": counts.to_numpy(dtype=np.int64)})
