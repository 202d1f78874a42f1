"""Segmentation volumes through CloudVolume: cutouts, per-segment statistics, points to segment ids.

Sources are Neuroglancer-precomputed volumes: ``file:///path``,
``precomputed://http(s)://host/path`` (or a plain local folder). Bounding boxes
always carry their units: ``"voxels"`` (of the chosen mip) or ``"nm"``; a box
in nm reads every voxel it touches. Voxel ``i`` covers ``[i, i+1)`` and its
centre is at ``(i + 0.5) * resolution`` nm; a point at ``p`` nm lies in voxel
``floor(p / resolution)``.

* :func:`read_cutout` -- labels of a box as a numpy array with its offset and resolution;
* :func:`segment_stats` -- per segment: voxel count, volume in nm³, centroid
  (nm), bounding box (voxels, and nm) -- node columns keyed by ``root_id``;
* :func:`points_to_segments` -- the segment id under each point (synapses, somata);
* :func:`ingest_volume` -- segment statistics as a nodes store, or as new node
  columns of an existing store.

Examples
--------
>>> import numpy as np
>>> labels = np.zeros((4, 4, 2), dtype=np.uint32); labels[1:3, 0:2, :] = 7
>>> s = segment_stats(labels, resolution_nm=(8, 8, 40))
>>> s[["root_id", "voxel_count", "volume_nm3", "x_nm", "z_nm"]].values.tolist()
[[7.0, 8.0, 20480.0, 16.0, 40.0]]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import connectome as cx
from connectome.config import data_home
from connectome.errors import ColumnError, InputError, SourceNotFoundError
from connectome.manifest import Manifest, utc_now
from connectome.schema import ID_DTYPE, ROOT_ID, coerce_ids
from connectome.store import write_store
from connectome.validate import check_int

from .cave.options import bbox_array

logger = logging.getLogger(__name__)

__all__ = ["Cutout", "open_volume", "read_cutout", "segment_stats", "points_to_segments", "ingest_volume",
           "normalize_source", "volume_bbox"]

UNITS = ("voxels", "nm")


def normalize_source(source: str | os.PathLike) -> str:
    """A CloudVolume path: local folders become ``file://`` URLs; others are kept.

    Examples
    --------
    >>> normalize_source("/data/seg")
    'file:///data/seg'
    >>> normalize_source("precomputed://http://127.0.0.1:8000/seg")
    'precomputed://http://127.0.0.1:8000/seg'
    """
    s = str(source)
    if "://" not in s:
        return "file://" + str(Path(s).expanduser().absolute())
    return s


def _local_path(source: str) -> Path | None:
    s = source.removeprefix("precomputed://")
    if s.startswith("file://"):
        return Path(s[len("file://"):])
    return None


def open_volume(source: str | os.PathLike, *, mip: int = 0, progress: bool | None = False,
                fill_missing: bool = False) -> Any:
    """A ``cloudvolume.CloudVolume`` on ``source`` at ``mip``, with clear errors.

    Raises
    ------
    SourceNotFoundError
        No volume (no ``info`` file) at ``source``, or its server cannot be reached.
    InputError
        ``mip`` is not a scale of the volume.
    """
    src = normalize_source(source)
    local = _local_path(src)
    if local is not None and not (local / "info").is_file():
        hint = "a folder with an 'info' file (a Neuroglancer-precomputed volume)"
        raise SourceNotFoundError(local if not local.exists() else local / "info", "source", hint)
    from cloudvolume import CloudVolume
    from cloudvolume.exceptions import InfoUnavailableError

    try:
        vol = CloudVolume(src, mip=0, progress=bool(progress), fill_missing=fill_missing, parallel=1,
                          cache=False)
    except InfoUnavailableError:
        raise SourceNotFoundError(src, "source", "no 'info' file there: check the path of the precomputed "
                                  "volume") from None
    except OSError as exc:  # requests' ConnectionError derives from OSError
        raise SourceNotFoundError(src, "source", f"cannot reach it ({type(exc).__name__}); is the server "
                                  "running?") from None
    n = len(vol.info["scales"])
    check_int(mip, "mip", low=0, high=n - 1, what=f"an integer scale index in [0, {n - 1}] of {src}")
    if mip:
        vol.mip = int(mip)
    return vol


@dataclass
class Cutout:
    """Labels of a box: ``labels[i, j, k]`` is voxel ``offset + (i, j, k)`` (x, y, z) at ``resolution_nm``."""

    labels: np.ndarray
    offset: np.ndarray
    resolution_nm: np.ndarray
    source: str
    mip: int = 0

    @property
    def bbox_voxels(self) -> np.ndarray:
        return np.stack([self.offset, self.offset + np.asarray(self.labels.shape[:3])])

    @property
    def bbox_nm(self) -> np.ndarray:
        return self.bbox_voxels * self.resolution_nm


def volume_bbox(vol: Any) -> np.ndarray:
    """The volume's bounds at its current mip, ``[[x0, y0, z0], [x1, y1, z1]]`` voxels (half-open)."""
    b = vol.bounds
    return np.stack([np.asarray(b.minpt, dtype=np.int64), np.asarray(b.maxpt, dtype=np.int64)])


def _check_box(bbox: Any, units: str | None) -> np.ndarray | None:
    """Shape and units of a box, checked before any volume is opened."""
    if bbox is None:
        return None

    box = bbox_array(bbox)
    if units not in UNITS:
        if units is None:
            raise InputError("units: say whether bbox is in 'voxels' (of the chosen mip) or 'nm'; units are "
                             "never assumed", "units")
        raise InputError(f"units must be 'voxels' or 'nm', not {units!r}", "units")
    if units == "voxels" and np.any(box != np.round(box)):
        raise InputError("bbox: voxel coordinates must be whole numbers (or pass units='nm')", "bbox")
    return box


def _box_voxels(vol: Any, bbox: Any, units: str | None) -> np.ndarray:
    bounds = volume_bbox(vol)
    res = np.asarray(vol.resolution, dtype=float)
    box = _check_box(bbox, units)
    if box is None:
        return bounds
    if units == "nm":
        vox = np.stack([np.floor(box[0] / res), np.ceil(box[1] / res)]).astype(np.int64)
    else:
        vox = box.astype(np.int64)
    if np.any(vox[0] < bounds[0]) or np.any(vox[1] > bounds[1]):
        raise InputError(
            f"bbox: {vox.tolist()} voxels is outside the volume, whose bounds are {bounds.tolist()} voxels = "
            f"{(bounds * res).tolist()} nm at {res.tolist()} nm/voxel; clip the box", "bbox")
    return vox


def read_cutout(source: str | os.PathLike | Any, bbox: Any = None, *, units: str | None = None, mip: int = 0,
                progress: bool | None = False) -> Cutout:
    """Read the labels inside ``bbox`` (``None``: the whole volume).

    Parameters
    ----------
    source : str, path or CloudVolume
        ``file://...``, ``precomputed://http(s)://...``, a local folder, or an open volume.
    bbox : [[x0, y0, z0], [x1, y1, z1]] or six numbers, optional
        Half-open box.
    units : {"voxels", "nm"}
        Units of ``bbox`` (required with a box).
    mip : int
        Resolution level.

    Examples
    --------
    >>> from connectome.config import shared_data_dir
    >>> src = shared_data_dir() / "segmentation_pinky40_cutout" / "precomputed_256cube"
    >>> c = read_cutout(src, [[0, 0, 0], [640, 640, 400]], units="nm")
    >>> c.labels.shape, c.resolution_nm.tolist()
    ((20, 20, 10), [32.0, 32.0, 40.0])
    """
    _check_box(bbox, units)
    vol = source if hasattr(source, "bounds") and hasattr(source, "download") else open_volume(source, mip=mip,
                                                                                              progress=progress)
    vox = _box_voxels(vol, bbox, units)
    arr = vol[vox[0, 0]:vox[1, 0], vox[0, 1]:vox[1, 1], vox[0, 2]:vox[1, 2]]
    labels = np.asarray(arr)
    if labels.ndim == 4:
        labels = labels[..., 0]
    return Cutout(labels, vox[0].copy(), np.asarray(vol.resolution, dtype=float), str(vol.cloudpath), int(vol.mip))


def segment_stats(cutout: Cutout | np.ndarray, *, resolution_nm: Sequence[float] | None = None,
                  offset: Sequence[int] = (0, 0, 0), include_zero: bool = False) -> pd.DataFrame:
    """Per-segment statistics of a labelled array, one row per segment id.

    Columns: ``root_id`` (the segment id, int64), ``voxel_count``,
    ``volume_nm3``, centroid ``x_nm``, ``y_nm``, ``z_nm`` (mean of voxel
    centres), ``bbox_min_{x,y,z}_vx`` / ``bbox_max_{x,y,z}_vx`` (voxels,
    max exclusive) and the same box in nm (``bbox_min_x_nm`` ...). Counts cover
    the cutout only: a segment cut by the box edge is counted inside it.

    Parameters
    ----------
    cutout : Cutout or ndarray
        Labels (x, y, z); an array needs ``resolution_nm`` (and ``offset`` in voxels).
    include_zero : bool
        Also report label 0 (background).
    """
    if isinstance(cutout, Cutout):
        labels, res, off = cutout.labels, cutout.resolution_nm, cutout.offset
    else:
        labels = np.asarray(cutout)
        if resolution_nm is None:
            raise InputError("resolution_nm: pass the voxel size (x, y, z nm) of the labels", "resolution_nm")
        res, off = np.asarray(resolution_nm, dtype=float), np.asarray(offset, dtype=np.int64)
    if labels.ndim == 4 and labels.shape[3] == 1:
        labels = labels[..., 0]
    if labels.ndim != 3:
        raise InputError(f"labels must be a 3-d (x, y, z) array, not shape {labels.shape}", "labels")
    res = np.asarray(res, dtype=float)
    if res.shape != (3,) or np.any(res <= 0):
        raise InputError(f"resolution_nm must be three positive numbers, not {res.tolist()}", "resolution_nm")
    off = np.asarray(off, dtype=np.int64)
    import fastremap

    compact, remap = fastremap.renumber(np.asarray(labels), preserve_zero=True, in_place=False)
    n = int(compact.max()) + 1 if compact.size else 1
    ids = np.zeros(n, dtype=np.uint64)
    for orig, new in remap.items():
        ids[new] = orig
    counts = np.bincount(compact.ravel(), minlength=n).astype(np.int64)
    sums = np.zeros((3, n))
    lo = np.full((3, n), -1, dtype=np.int64)
    hi = np.full((3, n), -1, dtype=np.int64)
    for axis in range(3):
        moved = np.moveaxis(compact, axis, 0)
        for i in range(moved.shape[0]):
            b = np.bincount(moved[i].ravel(), minlength=n)
            present = b > 0
            sums[axis] += b * i
            lo[axis] = np.where((lo[axis] < 0) & present, i, lo[axis])
            hi[axis] = np.where(present, i, hi[axis])
    keep = counts > 0
    if not include_zero:
        keep &= ids != 0
    idx = np.flatnonzero(keep)
    c = counts[idx].astype(float)
    out: dict[str, Any] = {ROOT_ID: coerce_ids(ids[idx], ROOT_ID), "voxel_count": counts[idx], "volume_nm3": c * float(np.prod(res))}
    for a, ax in enumerate("xyz"):
        out[f"{ax}_nm"] = (sums[a, idx] / c + off[a] + 0.5) * res[a]
    for a, ax in enumerate("xyz"):
        out[f"bbox_min_{ax}_vx"] = lo[a, idx] + off[a]
    for a, ax in enumerate("xyz"):
        out[f"bbox_max_{ax}_vx"] = hi[a, idx] + 1 + off[a]
    for a, ax in enumerate("xyz"):
        out[f"bbox_min_{ax}_nm"] = (lo[a, idx] + off[a]) * res[a]
    for a, ax in enumerate("xyz"):
        out[f"bbox_max_{ax}_nm"] = (hi[a, idx] + 1 + off[a]) * res[a]
    return pd.DataFrame(out).sort_values(ROOT_ID, ignore_index=True)


def points_to_segments(source: str | os.PathLike | Any, points: Any, *, units: str,
                       point_resolution_nm: Sequence[float] | None = None, mip: int = 0,
                       outside: str = "error", progress: bool | None = False) -> np.ndarray:
    """The segment id under each point (int64; 0 outside with ``outside='zero'``).

    Parameters
    ----------
    points : (n, 3) array-like or DataFrame with ``x_nm, y_nm, z_nm``
        Positions (x, y, z).
    units : {"nm", "voxels"}
        Units of ``points``. Voxels are those of ``point_resolution_nm``
        (e.g. CAVE's 4x4x40 nm), or of the volume at ``mip`` when not given.
    outside : {"error", "zero"}
        Points outside the volume raise, or get id 0.

    Examples
    --------
    >>> from connectome.config import shared_data_dir
    >>> src = shared_data_dir() / "segmentation_pinky40_cutout" / "precomputed_256cube"
    >>> c = read_cutout(src, [[0, 0, 0], [4, 4, 4]], units="voxels")
    >>> int(points_to_segments(src, [[16.0, 16.0, 20.0]], units="nm")[0]) == int(c.labels[0, 0, 0])
    True
    """
    if outside not in ("error", "zero"):
        raise InputError(f"outside must be 'error' or 'zero', not {outside!r}", "outside")
    if units not in UNITS:
        raise InputError(f"units: say whether points are in 'nm' or 'voxels', not {units!r}", "units")
    if isinstance(points, pd.DataFrame):
        cols = ["x_nm", "y_nm", "z_nm"] if units == "nm" else ["x", "y", "z"]
        missing = [c for c in cols if c not in points.columns]
        if missing:
            raise ColumnError("points", missing[0], points.columns, f"Points in {units} need columns {cols}.")
        pts = points[cols].to_numpy(dtype=float)
    else:
        pts = np.asarray(points, dtype=float)
        if pts.ndim == 1 and pts.shape == (3,):
            pts = pts[None, :]
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(f"points must be an (n, 3) array of x, y, z, not shape {pts.shape}", "points")
    vol = source if hasattr(source, "bounds") and hasattr(source, "download") else open_volume(source, mip=mip,
                                                                                              progress=progress)
    res = np.asarray(vol.resolution, dtype=float)
    if units == "voxels":
        pres = res if point_resolution_nm is None else np.asarray(point_resolution_nm, dtype=float)
        nm = pts * pres
    else:
        nm = pts
    vox = np.floor(nm / res).astype(np.int64)
    bounds = volume_bbox(vol)
    inside = np.all((vox >= bounds[0]) & (vox < bounds[1]), axis=1)
    if not inside.all() and outside == "error":
        bad = int(np.flatnonzero(~inside)[0])
        raise InputError(
            f"points: {int((~inside).sum())} point(s) lie outside the volume (e.g. #{bad} at {pts[bad].tolist()} "
            f"{units} -> voxel {vox[bad].tolist()}; bounds {bounds.tolist()} voxels at {res.tolist()} nm); pass "
            "outside='zero' to give them id 0, or check the units", "points")
    out = np.zeros(len(pts), dtype=np.uint64)
    if not inside.any():
        return out.astype(ID_DTYPE)
    chunk = np.asarray(vol.chunk_size, dtype=np.int64)
    origin = bounds[0]
    v_in = vox[inside]
    key = (v_in - origin) // chunk
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = np.asarray(inv).ravel()
    vals = np.zeros(len(v_in), dtype=np.uint64)
    for k, blk in enumerate(uniq):
        a = origin + blk * chunk
        b = np.minimum(a + chunk, bounds[1])
        arr = np.asarray(vol[a[0]:b[0], a[1]:b[1], a[2]:b[2]])[..., 0]
        sel = np.flatnonzero(inv == k)
        rel = v_in[sel] - a
        vals[sel] = arr[rel[:, 0], rel[:, 1], rel[:, 2]]
    out[inside] = vals
    return coerce_ids(out, "segment_id")  # the volume's uint64 labels as int64 root ids, checked


def ingest_volume(source: str | os.PathLike, bbox: Any = None, *, units: str | None = None, mip: int = 0,
                  out: str | Path | None = None, name: str | None = None, into: str | Path | None = None,
                  include_zero: bool = False, progress: bool | None = None) -> Path:
    """Per-segment statistics of a cutout as node columns: a new nodes store, or added to ``into``.

    Parameters
    ----------
    source, bbox, units, mip
        As in :func:`read_cutout`.
    out : path, optional
        Store to write (default ``CONNECTOME_HOME/<name>``; with ``into``: ``into`` itself).
    into : path, optional
        An existing store whose nodes get the columns (segments that are not
        nodes there are skipped and counted).

    Examples
    --------
    >>> import tempfile, connectome as cx
    >>> from connectome.config import shared_data_dir
    >>> src = shared_data_dir() / "segmentation_pinky40_cutout" / "precomputed_256cube"
    >>> p = ingest_volume(src, [[0, 0, 0], [32, 32, 32]], units="voxels", out=tempfile.mkdtemp() + "/seg",
    ...                   progress=False)
    >>> c = cx.load(p)
    >>> int(c.node_table()["voxel_count"].sum()) <= 32 ** 3, c.manifest.voxel_resolution_nm
    (True, [32.0, 32.0, 40.0])
    """
    _check_box(bbox, units)
    vol = open_volume(source, mip=mip, progress=False)
    cut = read_cutout(vol, bbox, units=units, mip=mip)
    stats = segment_stats(cut, include_zero=include_zero)
    box = {"voxels": cut.bbox_voxels.tolist(), "nm": cut.bbox_nm.tolist(), "mip": int(mip)}
    src = {"kind": "cloudvolume", "volume": normalize_source(source), "bbox": box, "ingested": utc_now()}
    if into is not None:
        c = cx.load(into)
        known = np.isin(stats[ROOT_ID].to_numpy(ID_DTYPE), c.node_table()[ROOT_ID].to_numpy(ID_DTYPE))
        skipped = int((~known).sum())
        c2 = c.with_node_columns(stats[known], overwrite=True)
        c2.manifest.extra.setdefault("segment_stats", []).append({**src, "segments": int(known.sum()),
                                                                  "skipped_not_nodes": skipped})
        target = Path(out) if out is not None else Path(into)
        c2.save(target, progress=progress)
        return target
    name = name or f"{Path(str(source).rstrip('/')).name}_segments"
    path = Path(out).expanduser() if out is not None else data_home() / name
    edges = pd.DataFrame({"pre_root_id": np.zeros(0, ID_DTYPE), "post_root_id": np.zeros(0, ID_DTYPE),
                          "synapse_count": np.zeros(0, np.int64)})
    m = Manifest(name=name, title=f"segment statistics of {normalize_source(source)}", source=src,
                 units={"position": "nm", "volume": "nm^3", "bbox_vx": "voxels"},
                 voxel_resolution_nm=[float(v) for v in cut.resolution_nm],
                 extra={"segments": int(len(stats)), "cutout_shape": list(cut.labels.shape)})
    write_store(path, edges, stats, name=name, manifest=m, progress=progress)
    return path
