"""Ingest from CAVE (FlyWire, MICrONS, any datastack) into a connectome store, resumably and exactly.

:func:`ingest_cave` reads a synapse table and cell-type tables at one
materialization version *or* one timestamp through the real ``caveclient``,
pages them deterministically under the server's row cap, stages every page in
a durable journal, and writes the store atomically:

* ``synapses``: one row per synapse (``synapse_id``, pre/post root ids,
  position in nm converted with the table's voxel resolution, kept columns);
* ``edges``: synapses per (pre, post[, neuropil]) with mean transmitter
  probabilities and ``nt_type`` where the table has them;
* ``nodes``: root ids joined with cell-type labels (positions in nm).

A run that is killed or fails part-way leaves its work folder; the same call
again continues from where it stopped and ends with exactly the rows of a
clean run. The version (or timestamp) used is recorded in the manifest.

Examples
--------
>>> import tempfile, connectome as cx
>>> from ingest.testing import CaveTestServer, generic_datastack
>>> with CaveTestServer([generic_datastack(n_synapses=600)], max_rows=250) as srv:
...     path = ingest_cave("toy_public", tempfile.mkdtemp() + "/toy", server=srv.url, version=2,
...                        cell_tables=["cell_types"], progress=False)
>>> c = cx.load(path)
>>> c.manifest.version, c.manifest.voxel_resolution_nm
({'materialization': 2}, [8.0, 8.0, 40.0])
>>> int(c.edge_table()["synapse_count"].sum()) == c.manifest.rows("synapses")
True
"""

from __future__ import annotations

import datetime as _dt
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectome.config import data_home
from connectome.errors import ColumnError, InputError
from connectome.manifest import Manifest, utc_now
from connectome.schema import (
    CHEMICAL,
    EDGE_KIND,
    LABEL_DTYPE,
    POST,
    PRE,
    ROOT_ID,
    SYNAPSE_COUNT,
    coerce_ids,
    normalize_nodes,
)
from connectome.store import write_tables

from .cave_errors import TableNotFoundError
from .cave_fetch import Group, TableJob, fetch_table, plan_span
from .cave_format import (
    SYNAPSE_ID,
    aggregate_edges,
    cell_rows,
    drop_special,
    position_columns,
    positions_voxels,
    root_columns,
    synapse_order,
    synapse_rows,
    threshold_pairs,
)
from .cave_ledger import Ledger
from .cave_presets import FILTER_OPS, CavePreset, CellTableSpec, get_preset
from .cave_session import CaveSession, FetchOptions, connect, parse_timestamp

logger = logging.getLogger(__name__)

__all__ = ["ingest_cave", "plan_cave", "Selection", "FetchOptions", "make_selection", "bbox_array"]

SIDES = ("both", "pre", "post", "within")
UNITS = ("nm", "voxels")


# ----------------------------------------------------------------------------- selection


def bbox_array(bbox: Any) -> np.ndarray:
    """A bounding box as a (2, 3) float array ``[[x0, y0, z0], [x1, y1, z1]]`` (six numbers also accepted).

    Examples
    --------
    >>> bbox_array([0, 0, 0, 10, 20, 30]).tolist()
    [[0.0, 0.0, 0.0], [10.0, 20.0, 30.0]]
    >>> bbox_array([[0, 0], [1, 1]])
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: bbox must be [[x0, y0, z0], [x1, y1, z1]] (or six numbers x0 y0 z0 x1 y1 z1); got shape (2, 2)
    """
    try:
        arr = np.asarray(bbox, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"bbox must be numbers [[x0, y0, z0], [x1, y1, z1]], not {bbox!r}", "bbox") from None
    if arr.shape == (6,):
        arr = arr.reshape(2, 3)
    if arr.shape != (2, 3):
        raise InputError("bbox must be [[x0, y0, z0], [x1, y1, z1]] (or six numbers x0 y0 z0 x1 y1 z1); "
                         f"got shape {arr.shape}", "bbox")
    if not np.all(np.isfinite(arr)):
        raise InputError("bbox: corners must be finite numbers", "bbox")
    if np.any(arr[0] >= arr[1]):
        ax = "xyz"[int(np.argmax(arr[0] >= arr[1]))]
        raise InputError(f"bbox: the first corner must be below the second on every axis ({ax}: "
                         f"{arr[0]['xyz'.index(ax)]:g} >= {arr[1]['xyz'.index(ax)]:g}); give [[min...], [max...]]",
                         "bbox")
    return arr


@dataclass(frozen=True)
class Selection:
    """Which synapses to read: all, those of some root ids, those in a box (or both).

    ``side``: ``"both"`` (synapses with a pre *or* post neuron among ``root_ids``),
    ``"pre"`` (their outputs), ``"post"`` (their inputs), ``"within"`` (both ends).
    ``bbox`` is half-open ``[min, max)`` in ``bbox_units`` (``"nm"``, or
    ``"voxels"`` of the synapse table's resolution) on the synapse position.
    """

    root_ids: tuple[int, ...] | None = None
    side: str = "both"
    bbox: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    bbox_units: str | None = None

    def describe(self) -> dict:
        d: dict[str, Any] = {"kind": "whole table" if self.root_ids is None and self.bbox is None else "subset"}
        if self.root_ids is not None:
            d.update(root_ids=[str(r) for r in self.root_ids], side=self.side)
        if self.bbox is not None:
            d.update(bbox=[list(c) for c in self.bbox], bbox_units=self.bbox_units)
        return d


def make_selection(root_ids: Any = None, bbox: Any = None, bbox_units: str | None = None,
                   side: str = "both") -> Selection:
    """Validate a selection.

    Examples
    --------
    >>> make_selection(bbox=[0, 0, 0, 100, 100, 10])
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: bbox_units: say whether bbox is in 'nm' or 'voxels' (voxels of the synapse table, e.g. 4x4x40 nm); units are never assumed
    >>> make_selection(root_ids=[3, 1, 3]).root_ids
    (1, 3)
    """
    if side not in SIDES:
        raise InputError(f"side must be one of {list(SIDES)}, not {side!r}", "side")
    ids = None
    if root_ids is not None:
        if isinstance(root_ids, (int, np.integer, str)):
            root_ids = [root_ids]
        arr = coerce_ids(pd.Series(list(root_ids), dtype=object), "root_ids")
        if not len(arr):
            raise InputError("root_ids: the list is empty; pass ids or leave root_ids out for the whole table",
                             "root_ids")
        if np.any(arr == 0):
            raise InputError("root_ids: 0 is not a neuron (it marks unsegmented space); remove it", "root_ids")
        ids = tuple(int(x) for x in np.unique(arr))
    box = None
    if bbox is not None:
        arr = bbox_array(bbox)
        if bbox_units not in UNITS:
            if bbox_units is None:
                raise InputError("bbox_units: say whether bbox is in 'nm' or 'voxels' (voxels of the synapse "
                                 "table, e.g. 4x4x40 nm); units are never assumed", "bbox_units")
            raise InputError(f"bbox_units must be 'nm' or 'voxels', not {bbox_units!r}", "bbox_units")
        box = (tuple(float(v) for v in arr[0]), tuple(float(v) for v in arr[1]))
    elif bbox_units is not None and bbox_units not in UNITS:
        raise InputError(f"bbox_units must be 'nm' or 'voxels', not {bbox_units!r}", "bbox_units")
    return Selection(ids, side, box, bbox_units if box is not None else None)


# ----------------------------------------------------------------------------- the ingest


@dataclass
class _Resolved:
    version: int | None
    timestamp: _dt.datetime | None
    base_version: int

    def manifest_version(self) -> dict:
        if self.timestamp is not None:
            return {"timestamp": self.timestamp.isoformat(), "base_materialization": self.base_version}
        return {"materialization": self.version}


def _default_name(datastack: str, preset: CavePreset | None, version: int | None,
                  timestamp: _dt.datetime | None) -> str:
    base = preset.name if preset is not None else datastack
    if version is not None:
        return f"{base}_v{version}"
    if timestamp is not None:
        return f"{base}_{timestamp.strftime('%Y%m%dT%H%M%SZ')}"
    return f"{base}_latest"


def _check_mode(version: Any, timestamp: Any) -> tuple[int | None, _dt.datetime | None]:
    if version is not None and timestamp is not None:
        raise InputError("pass a materialization version or a timestamp, not both (a version is a frozen "
                         "timestamp; both would disagree)", "timestamp")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (int, np.integer, str)) or \
                not str(version).isdigit():
            raise InputError(f"version must be a materialization version number, not {version!r}", "version")
        version = int(version)
    ts = parse_timestamp(timestamp) if timestamp is not None else None
    return version, ts


def _table_check(session: CaveSession, names: Sequence[str], version: int, what: str) -> list[str]:
    known = session.tables(version)
    for name in names:
        if name not in known:
            raise TableNotFoundError(name, known, f"{session.datastack} v{version}", parameter=what)
    return known


def _bbox_voxels(sel: Selection, res_nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(server box in voxels, inclusive; exact half-open box in the selection's units)."""
    box = np.asarray(sel.bbox, dtype=float)
    if sel.bbox_units == "nm":
        vox = np.stack([np.floor(box[0] / res_nm), np.ceil(box[1] / res_nm)])
    else:
        vox = np.stack([np.floor(box[0]), np.ceil(box[1])])
    return vox.astype(np.int64), box


def _synapse_job(table: str, columns: list[str], preset: CavePreset | None, sel: Selection, res_nm: np.ndarray,
                 res: _Resolved, opts: FetchOptions, keep: list[str], nt: list[str], position: str,
                 filters: Sequence[tuple[str, str, float]]) -> TableJob:
    pre_c, post_c = root_columns(columns)
    svs = [c for c in columns if c.endswith("_supervoxel_id")]
    extra = [c for c in ("neuropil",) if c in columns]
    for col, op, _ in filters:
        if op not in FILTER_OPS:
            raise InputError(f"synapse_filters: unknown operator {op!r}; use one of {list(FILTER_OPS)}",
                             "synapse_filters")
        if col not in columns:
            raise ColumnError(table, col, columns, "Drop the filter (synapse_filters=()) or pick another table.")
    select = list(dict.fromkeys(["id", pre_c, post_c, position, *svs, *keep, *nt, *extra]))
    base_filters: dict = {}
    for col, op, value in filters:
        base_filters.setdefault(FILTER_OPS[op], {})[col] = value
    keep_fn = None
    if sel.bbox is not None:
        vox, exact = _bbox_voxels(sel, res_nm)
        base_filters["filter_spatial_dict"] = {position: vox.tolist()}
        scale = res_nm if sel.bbox_units == "nm" else np.ones(3)

        def keep_fn(df: pd.DataFrame, _exact=exact, _scale=scale) -> pd.DataFrame:
            p = positions_voxels(df, position) * _scale
            inside = np.all((p >= _exact[0]) & (p < _exact[1]), axis=1)
            return df[inside]

    groups: list[Group] = []
    if sel.root_ids is None:
        groups.append(Group("all", adaptive=sel.bbox is not None))
    else:
        ids = np.asarray(sel.root_ids, dtype=np.uint64)
        batches = [ids[i:i + opts.id_batch] for i in range(0, len(ids), opts.id_batch)]
        sides = {"both": [pre_c, post_c], "pre": [pre_c], "post": [post_c], "within": [None]}[sel.side]
        for col in sides:
            for i, batch in enumerate(batches):
                if col is None:
                    f = {"filter_in_dict": {pre_c: batch.tolist(), post_c: ids.tolist()}}
                    cols = [(pre_c, batch), (post_c, ids)]
                else:
                    f = {"filter_in_dict": {col: batch.tolist()}}
                    cols = [(col, batch)]

                def keep_roots(df: pd.DataFrame, _cols=cols) -> pd.DataFrame:
                    m = np.ones(len(df), dtype=bool)
                    for c, vals in _cols:
                        m &= np.isin(df[c].to_numpy().astype(np.uint64), vals)
                    return df[m]

                # live queries map root ids to the past and back; keep only rows that match now
                groups.append(Group(f"{col or 'within'}:{i}", f, adaptive=True,
                                    keep=keep_roots if res.timestamp is not None else None))
    def to_rows(df: pd.DataFrame) -> pd.DataFrame:  # runs in the page workers
        return synapse_rows(df, position=position, voxel_resolution=res_nm, keep=keep, nt_columns=nt)

    return TableJob(table, groups, filters=base_filters, select=select, merge_reference=False, keep=keep_fn,
                    transform=to_rows)


def _resolve(session: CaveSession, ledger: Ledger, version: int | None, timestamp: _dt.datetime | None) -> _Resolved:
    prev = ledger.first("resolved")
    if prev is not None:
        r = _Resolved(prev["version"], parse_timestamp(prev["timestamp"]) if prev["timestamp"] else None,
                      prev["base_version"])
        if r.timestamp is None:
            valid = session.versions()
            if r.version not in valid:
                raise session.expired_error(r.version, valid, resume_note=(
                    f". The unfinished ingest in {ledger.folder} read version {r.version}; it cannot be "
                    "completed: pass restart=True (--restart) to start over"))
        logger.info("resuming %s at %s", session.datastack, r.manifest_version())
        return r
    info = session.resolve_version(version, timestamp)
    ledger.append({"kind": "resolved", **info})
    ts = parse_timestamp(info["timestamp"]) if info["timestamp"] else None
    return _Resolved(info["version"], ts, info["base_version"])


def _spec(table: str | CellTableSpec) -> CellTableSpec:
    return table if isinstance(table, CellTableSpec) else CellTableSpec(str(table))


def _setup(datastack: str | None, preset: Any, server: str | None, synapse_table: str | None,
           cell_tables: Any, min_synapses: Any, synapse_filters: Any) -> tuple[CavePreset, str, str]:
    p = get_preset(preset)
    if datastack is None:
        if p is None:
            raise InputError("datastack: name a datastack (e.g. 'minnie65_public') or a preset "
                             "('flywire', 'microns')", "datastack")
        datastack = p.datastack
    if p is None:
        p = CavePreset(name=datastack, datastack=datastack)
    elif datastack != p.datastack:
        logger.info("using preset %s on datastack %s", p.name, datastack)
    changes: dict[str, Any] = {"synapse_table": synapse_table}
    if cell_tables is not None:
        changes["cell_tables"] = tuple(_spec(t) for t in cell_tables)
    if synapse_filters is not None:
        changes["synapse_filters"] = tuple(tuple(f) for f in synapse_filters)
    p = p.with_overrides(**changes)
    if min_synapses != "preset":
        p = replace(p, min_synapses=min_synapses)
    return p, datastack, (server or p.server).rstrip("/")


def plan_cave(datastack: str | None = None, *, version: int | None = None, timestamp: Any = None,
              preset: str | CavePreset | None = None, server: str | None = None,
              synapse_table: str | None = None, cell_tables: Sequence[str | CellTableSpec] | None = None,
              options: FetchOptions | None = None, auth_token: str | None = None,
              auth_token_file: str | None = None) -> dict:
    """What :func:`ingest_cave` would fetch, without fetching: version, tables, row counts, resolution.

    Examples
    --------
    >>> from ingest.testing import CaveTestServer, generic_datastack
    >>> with CaveTestServer([generic_datastack(n_synapses=300)]) as srv:
    ...     plan = plan_cave("toy_public", server=srv.url, cell_tables=["cell_types"])
    >>> plan["version"], plan["tables"]["synapses"]["rows"], plan["tables"]["synapses"]["voxel_resolution_nm"]
    (2, 300, [8.0, 8.0, 40.0])
    """
    version, ts = _check_mode(version, timestamp)
    p, datastack, server = _setup(datastack, preset, server, synapse_table, cell_tables, "preset", None)
    options = options or FetchOptions()
    session = connect(datastack, server, options=options, auth_token=auth_token, auth_token_file=auth_token_file)
    info = session.resolve_version(version, ts)
    syn_table = p.synapse_table or session.client.info.get_datastack_info().get("synapse_table")
    names = ([syn_table] if syn_table else []) + [c.table for c in p.cell_tables]
    _table_check(session, names, info["base_version"], "tables")
    out = {"datastack": datastack, "server": server, "preset": p.name, **info, "tables": {}}
    for role, name in [("synapses", syn_table)] + [("cells", c.table) for c in p.cell_tables]:
        if name is None:
            continue
        md = session.table_metadata(name, info["base_version"])
        rows = session.count(name, info["base_version"])
        out["tables"][name if role == "cells" else "synapses"] = {
            "table": name, "rows": rows, "voxel_resolution_nm": [float(v) for v in md["voxel_resolution"]],
            "reference_table": md.get("reference_table"),
            "requests_at_least": -(-rows // options.page_rows) if rows else 1}
    out["synapse_filters"] = [list(f) for f in p.synapse_filters]
    out["min_synapses"] = p.min_synapses
    return out


def ingest_cave(
    datastack: str | None = None,
    out: str | Path | None = None,
    *,
    version: int | None = None,
    timestamp: Any = None,
    preset: str | CavePreset | None = None,
    server: str | None = None,
    synapse_table: str | None = None,
    cell_tables: Sequence[str | CellTableSpec] | None = None,
    root_ids: Sequence[int] | None = None,
    bbox: Any = None,
    bbox_units: str | None = None,
    side: str = "both",
    min_synapses: int | None | str = "preset",
    synapse_filters: Sequence[tuple[str, str, float]] | None = None,
    autapses: str = "drop",
    zero_root: str = "drop",
    keep_synapses: bool = True,
    options: FetchOptions | None = None,
    auth_token: str | None = None,
    auth_token_file: str | None = None,
    name: str | None = None,
    restart: bool = False,
    progress: bool | None = None,
) -> Path:
    """Read CAVE tables at one version or timestamp into a connectome store (resumable).

    Parameters
    ----------
    datastack : str, optional
        E.g. ``"minnie65_public"``, ``"flywire_fafb_public"`` (default: the preset's).
    out : path, optional
        Store folder (default ``CONNECTOME_HOME/<name>``). Its work folder
        ``.<name>.cave-work`` beside it holds the resume state until the store is written.
    version : int, optional
        Materialization version. Without ``version`` and ``timestamp`` the
        latest valid version is used (and recorded, so a resume keeps it).
    timestamp : datetime or ISO 8601 str, optional
        A timezone-aware moment (UTC): rows of the newest version before it,
        root ids brought to that moment by caveclient's live query. Never with ``version``.
    preset : {"flywire", "microns"} or CavePreset, optional
        Table names and conventions (see :mod:`ingest.cave_presets`).
    server : str, optional
        CAVE server URL (default: the preset's, else caveclient's global server).
    synapse_table : str, optional
        Overrides the preset's (default: the datastack's synapse table).
    cell_tables : list of str or CellTableSpec, optional
        Annotation tables joined to nodes by root id (``[]`` for none).
    root_ids : list of int, optional
        Read only synapses of these neurons (see ``side``); ids of the version / moment read.
    bbox, bbox_units : optional
        Read only synapses inside ``[[x0, y0, z0], [x1, y1, z1]]`` (half-open),
        in ``"nm"`` or ``"voxels"`` (of the table) -- always say which.
    side : {"both", "pre", "post", "within"}
        For ``root_ids``: their synapses in either role, as pre, as post, or among themselves.
    min_synapses : int or None
        Keep edges of neuron pairs with at least this many synapses (FlyWire
        preset: 5). Per-synapse rows are kept either way. Default: the preset's.
    synapse_filters : list of (column, op, value), optional
        Per-synapse filters applied by the server, e.g. ``[("cleft_score", ">=", 50)]``.
    autapses, zero_root : {"drop", "keep"}
        Synapses onto the same neuron, and synapses on root id 0 (no segment).
    keep_synapses : bool
        Store the per-synapse table as well as the edges.
    options : FetchOptions, optional
        Page size, concurrency, retries and backoff, timeouts.
    auth_token, auth_token_file : str, optional
        Token (default: where caveclient looks for it).
    name : str, optional
        Dataset name (default from preset/datastack and version).
    restart : bool
        Discard an unfinished ingest with other parameters at ``out``.
    progress : bool, optional
        Progress bars (rows and rate).

    Returns
    -------
    pathlib.Path
        The store folder.

    Raises
    ------
    InputError
        Bad parameters, unknown datastack / table / column, an expired version.
    CaveError
        The server cannot be reached, refuses the token, or keeps failing.
    """
    t_start = time.monotonic()
    version, ts = _check_mode(version, timestamp)
    sel = make_selection(root_ids, bbox, bbox_units, side)
    p, datastack, server = _setup(datastack, preset, server, synapse_table, cell_tables, min_synapses,
                                  synapse_filters)
    options = options or FetchOptions()
    name = name or _default_name(datastack, p if preset is not None else None, version, ts)
    path = Path(out).expanduser().absolute() if out is not None else data_home() / name
    key = {"datastack": datastack, "server": server, "version": version if version is not None else
           ("timestamp" if ts is not None else "latest"), "timestamp": ts.isoformat() if ts else None,
           "synapse_table": p.synapse_table, "cell_tables": [asdict(c) for c in p.cell_tables],
           "selection": sel.describe(), "synapse_filters": [list(f) for f in p.synapse_filters],
           "keep_columns": list(p.keep_columns), "nt_columns": list(p.nt_columns), "position": p.position,
           "keep_synapses": keep_synapses}
    session = connect(datastack, server, options=options, auth_token=auth_token, auth_token_file=auth_token_file)
    ledger = Ledger.open(path, key, restart=restart)
    _step("connected to %s at %s%s", datastack, server, " (resuming)" if ledger.resumed else "", t0=t_start)
    try:
        res = _resolve(session, ledger, version, ts)
        syn_table = p.synapse_table
        if syn_table is None:
            syn_table = session.client.info.get_datastack_info().get("synapse_table")
        cell_specs = list(p.cell_tables)
        _table_check(session, [syn_table] if syn_table else [], res.base_version, "synapse_table")
        known = _table_check(session, [c.table for c in cell_specs], res.base_version, "cell_tables")
        meta = ledger.first("tables")
        if meta is None:
            meta = {"kind": "tables", "synapse_table": syn_table, "tables": {}}
            for t in ([syn_table] if syn_table else []) + [c.table for c in cell_specs]:
                md = session.table_metadata(t, res.base_version, known)
                meta["tables"][t] = {"voxel_resolution": [float(v) for v in md["voxel_resolution"]],
                                     "reference_table": md.get("reference_table"), "columns": None}
            if syn_table:  # the id-range probes of the synapse table also read its columns
                span = plan_span(session, syn_table, res.base_version, options.page_rows, columns=True)
                meta["tables"][syn_table]["columns"] = span.pop("columns")
                ledger.append({"kind": "plan", "table": syn_table, **span})
            ledger.append(meta)
        session.prepare(live=res.timestamp is not None)
        _step("version %s, tables checked", res.manifest_version(), t0=t_start)
        tinfo = meta["tables"]
        stats = []
        job_groups: list = []
        syn = None
        syn_counts: dict = {}
        position = None
        if syn_table:
            cols = tinfo[syn_table]["columns"]
            res_nm = np.asarray(tinfo[syn_table]["voxel_resolution"], dtype=float)
            position = p.position
            positions = position_columns(cols)
            if position is None:
                position = next((c for c in ("ctr_pt_position", "post_pt_position") if c in positions),
                                positions[0] if positions else "pt_position")
            if position not in positions:
                raise ColumnError(syn_table, position, cols, f"Choose a position column: {', '.join(positions)}.")
            keep = [c for c in p.keep_columns]
            nt = [c for c in p.nt_columns]
            for c in keep + nt:
                if c not in cols:
                    raise ColumnError(syn_table, c, cols, "Drop it from the preset's columns to keep.")
            job = _synapse_job(syn_table, cols, p, sel, res_nm, res, options, keep, nt, position, p.synapse_filters)
            job_groups = job.groups
            stats.append(fetch_table(session, ledger, job, version=res.version, timestamp=res.timestamp,
                                     base_version=res.base_version, progress=progress))
        for spec in cell_specs:
            ref = bool(tinfo[spec.table]["reference_table"])
            # caveclient looks up the reference table's metadata on every join query, through a cache that
            # is not thread-safe: annotation tables are small, read them one page at a time
            job = TableJob(spec.table, [Group("all")], merge_reference=ref, concurrency=1 if ref else None)
            stats.append(fetch_table(session, ledger, job, version=res.version, timestamp=res.timestamp,
                                     base_version=res.base_version, progress=progress))
        _step("fetched %s", ", ".join(f"{s['table']}: {s['fetched_rows']} rows in {s['pages']} pages"
                                      for s in stats), t0=t_start)
        frames: dict[str, pd.DataFrame] = {}
        for s in stats:
            frames.update(s.pop("frames"))
            s["pages_total"] = len(ledger.pages(s["table"]))
        # ------------------------------------------------------------ assemble
        edges = None
        syn_summary: dict[str, Any] = {}
        if syn_table:
            syn = _synapse_table(ledger, syn_table, frames, multi_group=len(job_groups) > 1)
            syn, syn_counts = drop_special(syn, autapses=autapses, zero_root=zero_root)
            order = synapse_order(syn)
            if not np.array_equal(order, np.arange(len(order))):
                syn = syn.take(order).reset_index(drop=True)
            edges = aggregate_edges(syn, nt_columns=nt, presorted=True)
            edges, weak = threshold_pairs(edges, p.min_synapses)
            syn_summary = {**syn_counts, "synapses": int(len(syn)), "edges_below_min_synapses": weak}
        nodes, cell_summary = _nodes(ledger, cell_specs, tinfo, syn, edges, sel, frames)
        frames.clear()
        if edges is None:
            edges = pd.DataFrame({PRE: np.zeros(0, np.uint64), POST: np.zeros(0, np.uint64),
                                  "synapse_count": np.zeros(0, np.int64)})
        manifest = _manifest(name, p, preset is not None, datastack, server, syn_table, cell_specs, sel, res,
                             tinfo, syn_summary, cell_summary, stats)
        # the tables are built in the canonical form of connectome.schema.normalize_* (tested), so the
        # store is written directly, without a second validation pass over every synapse
        _step("assembled %d synapse rows, %d edges", 0 if syn is None else len(syn), len(edges), t0=t_start)
        e_tab = _canonical_edges(edges)
        n_tab = _canonical_nodes(nodes, e_tab)
        write_tables(path, manifest, n_tab, e_tab, _canonical_labels(syn) if keep_synapses and syn is not None
                     else None, progress=progress)
        ledger.finish()
    finally:
        ledger.close()
    logger.info("ingested %s into %s in %.1f s", datastack, path, time.monotonic() - t_start)
    return path


def _step(msg: str, *args: Any, t0: float) -> None:
    logger.info("[%6.2f s] " + msg, time.monotonic() - t0, *args)


def _synapse_table(ledger: Ledger, table: str, frames: dict, multi_group: bool) -> pd.DataFrame:
    """Staged synapse rows in id order; rows met by two groups (a synapse between two selected
    neurons, read as the output of one and the input of the other) are kept once."""
    syn = ledger.read_pages(table, frames)
    if multi_group and len(syn):
        syn = syn.sort_values(SYNAPSE_ID, kind="stable").drop_duplicates(SYNAPSE_ID, keep="first")
    return syn.reset_index(drop=True)


def _canonical_labels(df: pd.DataFrame) -> pd.DataFrame:
    """String columns as the store's label dtype; ids (uint64), counts and positions are already canonical."""
    out = df
    for c in out.columns:
        if out[c].dtype == object:
            if out is df:
                out = df.copy(deep=False)
            out[c] = out[c].astype(LABEL_DTYPE)
    return out


def _canonical_edges(edges: pd.DataFrame) -> pd.DataFrame:
    """Aggregated edges (unique keys, sorted by pre, post, neuropil) in :func:`normalize_edges` form."""
    if EDGE_KIND not in edges.columns:
        edges = edges.assign(**{EDGE_KIND: CHEMICAL})
    first = [PRE, POST, SYNAPSE_COUNT, EDGE_KIND]
    out = _canonical_labels(edges[first + [c for c in edges.columns if c not in first]])
    out[PRE] = out[PRE].to_numpy(np.uint64)
    out[POST] = out[POST].to_numpy(np.uint64)
    out[SYNAPSE_COUNT] = out[SYNAPSE_COUNT].to_numpy(np.int64)
    return out.reset_index(drop=True)


def _canonical_nodes(nodes: pd.DataFrame | None, edges: pd.DataFrame) -> pd.DataFrame:
    """Labelled nodes plus unlabelled ones for edge endpoints, as :func:`normalize_nodes` gives them."""
    ends = np.unique(np.concatenate([edges[PRE].to_numpy(np.uint64), edges[POST].to_numpy(np.uint64)]))
    if nodes is None:
        return normalize_nodes(pd.DataFrame({ROOT_ID: ends}))
    missing = np.setdiff1d(ends, nodes[ROOT_ID].to_numpy(np.uint64))
    if len(missing):
        logger.info("adding %d unlabelled node(s) that appear only in edges", len(missing))
        nodes = pd.concat([nodes, pd.DataFrame({ROOT_ID: missing})], ignore_index=True)
    return normalize_nodes(nodes)


def _nodes(ledger: Ledger, specs: list[CellTableSpec], tinfo: dict, syn: pd.DataFrame | None,
           edges: pd.DataFrame | None, sel: Selection,
           frames: dict | None = None) -> tuple[pd.DataFrame | None, list[dict]]:
    nodes = None
    summary = []
    for spec in specs:
        raw = ledger.read_pages(spec.table, frames)
        if raw is None:
            raw = pd.DataFrame({"id": pd.Series([], dtype=np.int64), spec.root: pd.Series([], dtype=np.int64)})
        raw = raw.sort_values("id", kind="stable").drop_duplicates("id", keep="first")
        n, counts = cell_rows(raw, spec, voxel_resolution=tinfo[spec.table]["voxel_resolution"])
        summary.append(counts)
        if nodes is None:
            nodes = n
        else:
            clash = [c for c in n.columns if c != ROOT_ID and c in nodes.columns]
            n = n.rename(columns={c: f"{spec.table}_{c}" for c in clash})
            nodes = nodes.merge(n, on=ROOT_ID, how="outer")
    if nodes is not None and (sel.root_ids is not None or sel.bbox is not None):
        parts = [np.asarray(sel.root_ids or [], dtype=np.uint64)]
        for df in (syn, edges):
            if df is not None:
                parts += [df[PRE].to_numpy(np.uint64), df[POST].to_numpy(np.uint64)]
        wanted = np.unique(np.concatenate(parts))
        nodes = nodes[np.isin(nodes[ROOT_ID].to_numpy(np.uint64), wanted)]
    return nodes, summary


def _manifest(name: str, p: CavePreset, is_preset: bool, datastack: str, server: str, syn_table: str | None,
              cell_specs: list[CellTableSpec], sel: Selection, res: _Resolved, tinfo: dict, syn_summary: dict,
              cell_summary: list[dict], stats: list[dict]) -> Manifest:
    try:
        from importlib.metadata import version as _v

        cc = _v("caveclient")
    except Exception:  # noqa: BLE001  pragma: no cover
        cc = "unknown"
    vres = tinfo[syn_table]["voxel_resolution"] if syn_table else (
        tinfo[cell_specs[0].table]["voxel_resolution"] if cell_specs else None)
    when = res.manifest_version()
    title = p.title or f"CAVE datastack {datastack}"
    title += f" ({'v' + str(res.version) if res.timestamp is None else 'at ' + res.timestamp.isoformat()})"
    return Manifest(
        name=name, title=title, species=p.species,
        source={"kind": "cave", "datastack": datastack, "server": server, "preset": p.name if is_preset else None,
                "tables": {"synapses": syn_table, "cells": [c.table for c in cell_specs]},
                "reference_tables": {t: v["reference_table"] for t, v in tinfo.items() if v["reference_table"]},
                "selection": sel.describe(), "synapse_filters": [list(f) for f in p.synapse_filters],
                "client": f"caveclient {cc}", "citation": p.citation, "ingested": utc_now(),
                "pages": sum(s["pages_total"] for s in stats)},
        version=when,
        units={"position": "nm"},
        voxel_resolution_nm=[float(v) for v in vres] if vres else None,
        extra={"min_synapses": p.min_synapses, "synapses": syn_summary, "cell_tables": cell_summary,
               "notes": list(p.notes), "table_voxel_resolution_nm": {t: v["voxel_resolution"] for t, v in tinfo.items()}},
    )
