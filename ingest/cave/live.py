"""The live path: :func:`ingest_cave` reads a CAVE datastack (FlyWire, MICrONS, any) into a store, resumably and exactly.

:func:`ingest_cave` reads a synapse table and cell-type tables at one
materialization version *or* one timestamp through the real ``caveclient``,
pages them deterministically under the server's row cap, stages every page in
a durable journal, and writes the store atomically:

* ``synapses``: one row per synapse (``synapse_id``, pre/post root ids,
  position in nm converted with the table's voxel resolution, kept columns);
* ``edges``: synapses per (pre, post[, neuropil]) with mean transmitter
  probabilities and ``nt_type`` where the table has them;
* ``nodes``: root ids joined with cell-type labels (positions in nm).

What is read is said by three typed arguments: a :class:`CavePreset` (the
datastack, its server, tables and conventions), a :class:`Selection` (which
synapses) and :class:`FetchOptions` (how pages are fetched); a ready
``caveclient.CAVEclient`` may be passed as ``client``. A run that is killed or
fails part-way leaves its work folder; the same call again continues from
where it stopped and ends with exactly the rows of a clean run. The version
(or timestamp) used is recorded in the manifest. Release files of the same
tables go through :func:`connectome.ingest.cave.release.ingest_cave_files`.

Examples
--------
>>> import tempfile, connectome as cx
>>> from connectome.ingest.testing import CaveTestServer, generic_datastack
>>> with CaveTestServer([generic_datastack(n_synapses=600)], max_rows=250) as srv:
...     toy = CavePreset("toy_public", server=srv.url, cell_tables=["cell_types"])
...     path = ingest_cave(toy, tempfile.mkdtemp() + "/toy", version=2, progress=False)
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
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
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

from .errors import TableNotFoundError
from .fetch import Group, TableJob, fetch_table, plan_span
from .format import (
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
from .ledger import Ledger
from .options import FetchOptions, Selection, parse_timestamp, version_or_timestamp
from .presets import FILTER_OPS, PRESETS, CavePreset, CellTableSpec, get_preset
from .session import CaveSession, client_target, connect

logger = logging.getLogger(__name__)

__all__ = ["ingest_cave", "plan_cave"]


# ----------------------------------------------------------------------------- arguments


def _typed(value: Any, cls: type | tuple[type, ...], parameter: str, example: str) -> Any:
    """``value`` if it is a ``cls`` (or ``None``); anything else is refused by name."""
    if value is None or isinstance(value, cls):
        return value
    kinds = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
    raise InputError(f"{parameter} must be a {kinds}, e.g. {example}, not {type(value).__name__}", parameter)


def _preset(preset: str | CavePreset | None, client: Any) -> CavePreset:
    """The preset of a read; a ready client's datastack and server replace the preset's."""
    p = get_preset(_typed(preset, (str, CavePreset), "preset", "'microns' or CavePreset('minnie65_public')"))
    if client is None:
        if p is None:
            raise InputError("preset: name a preset ('flywire', 'microns'), pass CavePreset(datastack=...) for any "
                             "datastack, or pass a ready client=CAVEclient(...)", "preset")
        return p
    datastack, server = client_target(client)
    if p is None:
        return CavePreset(datastack, server=server)
    if datastack != p.datastack:
        logger.info("using preset %s on datastack %s", p.name, datastack)
    return replace(p, datastack=datastack, server=server)


def _default_name(p: CavePreset, version: int | None, timestamp: _dt.datetime | None) -> str:
    base = p.name or p.datastack
    if version is not None:
        return f"{base}_v{version}"
    if timestamp is not None:
        return f"{base}_{timestamp.strftime('%Y%m%dT%H%M%SZ')}"
    return f"{base}_latest"


@dataclass
class _Resolved:
    version: int | None
    timestamp: _dt.datetime | None
    base_version: int

    def manifest_version(self) -> dict:
        if self.timestamp is not None:
            return {"timestamp": self.timestamp.isoformat(), "base_materialization": self.base_version}
        return {"materialization": self.version}


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


def _synapse_job(table: str, info: dict, p: CavePreset, sel: Selection, res: _Resolved,
                 opts: FetchOptions) -> TableJob:
    """How the synapse table is read: its columns checked, server filters, page groups, rows made in the workers."""
    columns = info["columns"]
    res_nm = np.asarray(info["voxel_resolution"], dtype=float)
    position = _position(table, columns, p.position)
    for c in [*p.keep_columns, *p.nt_columns]:
        if c not in columns:
            raise ColumnError(table, c, columns, "Drop it from the preset's columns to keep.")
    for col, _, _ in p.synapse_filters:
        if col not in columns:
            raise ColumnError(table, col, columns, "Drop the filter (synapse_filters=()) or pick another table.")
    pre_c, post_c = root_columns(columns)
    svs = [c for c in columns if c.endswith("_supervoxel_id")]
    extra = [c for c in ("neuropil",) if c in columns]
    select = list(dict.fromkeys(["id", pre_c, post_c, position, *svs, *p.keep_columns, *p.nt_columns, *extra]))
    base_filters: dict = {}
    for col, op, value in p.synapse_filters:
        base_filters.setdefault(FILTER_OPS[op], {})[col] = value
    keep_fn = None
    if sel.bbox is not None:
        vox, exact = _bbox_voxels(sel, res_nm)
        base_filters["filter_spatial_dict"] = {position: vox.tolist()}
        scale = res_nm if sel.bbox_units == "nm" else np.ones(3)

        def keep_fn(df: pd.DataFrame, _exact=exact, _scale=scale) -> pd.DataFrame:
            pos = positions_voxels(df, position) * _scale
            return df[np.all((pos >= _exact[0]) & (pos < _exact[1]), axis=1)]

    if sel.root_ids is None:
        groups = [Group("all", adaptive=sel.bbox is not None)]
    else:
        groups = _root_groups(sel, pre_c, post_c, opts.id_batch, live=res.timestamp is not None)
    # supervoxel ids stay on the synapse rows: `connectome refresh` maps each synapse exactly through them
    keep, nt = list(dict.fromkeys([*p.keep_columns, *svs])), list(p.nt_columns)

    def to_rows(df: pd.DataFrame) -> pd.DataFrame:  # runs in the page workers
        return synapse_rows(df, position=position, voxel_resolution=res_nm, keep=keep, nt_columns=nt)

    return TableJob(table, groups, filters=base_filters, select=select, merge_reference=False, keep=keep_fn,
                    transform=to_rows)


def _position(table: str, columns: list[str], wanted: str | None) -> str:
    """The position column that stands for a synapse (the preset's, else ctr_pt / post_pt / the first)."""
    positions = position_columns(columns)
    position = wanted
    if position is None:
        position = next((c for c in ("ctr_pt_position", "post_pt_position") if c in positions),
                        positions[0] if positions else "pt_position")
    if position not in positions:
        raise ColumnError(table, position, columns, f"Choose a position column: {', '.join(positions)}.")
    return position


def _root_groups(sel: Selection, pre_c: str, post_c: str, id_batch: int, *, live: bool) -> list[Group]:
    """Page groups of a root-id selection: batches of ids on the sides asked for."""
    ids = np.asarray(sel.root_ids, dtype=np.int64)
    batches = [ids[i:i + id_batch] for i in range(0, len(ids), id_batch)]
    sides = {"both": [pre_c, post_c], "pre": [pre_c], "post": [post_c], "within": [None]}[sel.side]
    groups = []
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
                    m &= np.isin(df[c].to_numpy().astype(np.int64), vals)
                return df[m]

            # live queries map root ids to the past and back; keep only rows that match now
            groups.append(Group(f"{col or 'within'}:{i}", f, adaptive=True, keep=keep_roots if live else None))
    return groups


def _cell_job(spec: CellTableSpec, info: dict) -> TableJob:
    ref = bool(info["reference_table"])
    # caveclient looks up the reference table's metadata on every join query, through a cache that
    # is not thread-safe: annotation tables are small, read them one page at a time
    return TableJob(spec.table, [Group("all")], merge_reference=ref, concurrency=1 if ref else None)


def _table_info(session: CaveSession, ledger: Ledger, p: CavePreset, res: _Resolved,
                options: FetchOptions) -> tuple[str | None, dict]:
    """The synapse table and every table's metadata (voxel resolution, reference table, synapse columns),
    checked and recorded in the ledger (a resumed run reads them from there)."""
    syn_table = p.synapse_table
    if syn_table is None:
        syn_table = session.client.info.get_datastack_info().get("synapse_table")
    _table_check(session, [syn_table] if syn_table else [], res.base_version, "synapse_table")
    known = _table_check(session, [c.table for c in p.cell_tables], res.base_version, "cell_tables")
    meta = ledger.first("tables")
    if meta is None:
        meta = {"kind": "tables", "synapse_table": syn_table, "tables": {}}
        for t in ([syn_table] if syn_table else []) + [c.table for c in p.cell_tables]:
            md = session.table_metadata(t, res.base_version, known)
            meta["tables"][t] = {"voxel_resolution": [float(v) for v in md["voxel_resolution"]],
                                 "reference_table": md.get("reference_table"), "columns": None}
        if syn_table:  # the id-range probes of the synapse table also read its columns
            span = plan_span(session, syn_table, res.base_version, options.page_rows, columns=True)
            meta["tables"][syn_table]["columns"] = span.pop("columns")
            ledger.append({"kind": "plan", "table": syn_table, **span})
        ledger.append(meta)
    return syn_table, meta["tables"]


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


# ----------------------------------------------------------------------------- the public functions


def plan_cave(preset: str | CavePreset | None = None, *, version: int | None = None, timestamp: Any = None,
              options: FetchOptions | None = None, client: Any = None, auth_token: str | None = None,
              auth_token_file: str | None = None) -> dict:
    """What :func:`ingest_cave` would fetch, without fetching: version, tables, row counts, resolution.

    The arguments are those of :func:`ingest_cave`.

    Examples
    --------
    >>> from connectome.ingest.testing import CaveTestServer, generic_datastack
    >>> with CaveTestServer([generic_datastack(n_synapses=300)]) as srv:
    ...     plan = plan_cave(CavePreset("toy_public", server=srv.url, cell_tables=["cell_types"]))
    >>> plan["version"], plan["tables"]["synapses"]["rows"], plan["tables"]["synapses"]["voxel_resolution_nm"]
    (2, 300, [8.0, 8.0, 40.0])
    """
    version, ts = version_or_timestamp(version, timestamp)
    p = _preset(preset, client)
    options = _typed(options, FetchOptions, "options", "FetchOptions(page_rows=50_000)") or FetchOptions()
    with connect(p.datastack, p.server, options=options, auth_token=auth_token, auth_token_file=auth_token_file,
                 client=client) as session:
        info = session.resolve_version(version, ts)
        syn_table = p.synapse_table or session.client.info.get_datastack_info().get("synapse_table")
        names = ([syn_table] if syn_table else []) + [c.table for c in p.cell_tables]
        _table_check(session, names, info["base_version"], "tables")
        out = {"datastack": session.datastack, "server": session.server, "preset": p.name or p.datastack, **info,
               "tables": {}}
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
    preset: str | CavePreset | None = None,
    out: str | Path | None = None,
    *,
    version: int | None = None,
    timestamp: Any = None,
    selection: Selection | None = None,
    options: FetchOptions | None = None,
    client: Any = None,
    auth_token: str | None = None,
    auth_token_file: str | None = None,
    keep_synapses: bool = True,
    name: str | None = None,
    restart: bool = False,
    progress: bool | None = None,
) -> Path:
    """Read CAVE tables at one version or timestamp into a connectome store (resumable).

    Parameters
    ----------
    preset : {"flywire", "microns"} or CavePreset
        The datastack, its server, tables and conventions: a named preset, a
        changed one (``get_preset("flywire").with_overrides(min_synapses=1)``)
        or one for any datastack (``CavePreset("minnie65_public", cell_tables=[])``).
        May be left out when ``client`` is given.
    out : path, optional
        Store folder (default ``CONNECTOME_HOME/<name>``). Its work folder
        ``.<name>.cave-work`` beside it holds the resume state until the store is written.
    version : int, optional
        Materialization version. Without ``version`` and ``timestamp`` the
        latest valid version is used (and recorded, so a resume keeps it).
    timestamp : datetime or ISO 8601 str, optional
        A timezone-aware moment (UTC): rows of the newest version before it,
        root ids brought to that moment by caveclient's live query. Never with ``version``.
    selection : Selection, optional
        Which synapses: root ids (and on which side), a bounding box (with its
        units), autapses and root id 0 kept or dropped. Default: the whole
        table, autapses and root id 0 dropped.
    options : FetchOptions, optional
        Page size, concurrency, retries and backoff, timeouts.
    client : caveclient.CAVEclient, optional
        A ready client for one datastack (its datastack, server and token are
        used; the preset's conventions still apply). Its sessions get the
        transport of ``options`` during the call and their own back after it.
    auth_token, auth_token_file : str, optional
        Token (default: where caveclient looks for it); not with ``client``.
    keep_synapses : bool
        Store the per-synapse table as well as the edges.
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
    version, ts = version_or_timestamp(version, timestamp)
    p = _preset(preset, client)
    sel = _typed(selection, Selection, "selection", "Selection(root_ids=[...], side='pre')") or Selection()
    options = _typed(options, FetchOptions, "options", "FetchOptions(page_rows=50_000)") or FetchOptions()
    datastack, server = p.datastack, p.server.rstrip("/")
    name = name or _default_name(p, version, ts)
    path = Path(out).expanduser().absolute() if out is not None else data_home() / name
    key = {"datastack": datastack, "server": server, "version": version if version is not None else
           ("timestamp" if ts is not None else "latest"), "timestamp": ts.isoformat() if ts else None,
           "synapse_table": p.synapse_table, "cell_tables": [asdict(c) for c in p.cell_tables],
           "selection": sel.describe(), "synapse_filters": [list(f) for f in p.synapse_filters],
           "keep_columns": list(p.keep_columns), "nt_columns": list(p.nt_columns), "position": p.position,
           "keep_synapses": keep_synapses}
    session = connect(datastack, server, options=options, auth_token=auth_token, auth_token_file=auth_token_file,
                      client=client)
    try:
        ledger = Ledger.open(path, key, restart=restart)
        _step("connected to %s at %s%s", datastack, server, " (resuming)" if ledger.resumed else "", t0=t_start)
        try:
            manifest, tables = _read(session, ledger, p, sel, options, (version, ts), name=name, progress=progress,
                                     t0=t_start)
            nodes, edges, syn = tables
            write_tables(path, manifest, nodes, edges, _canonical_labels(syn) if keep_synapses and syn is not None
                         else None, progress=progress)
            ledger.finish()
        finally:
            ledger.close()
    finally:
        session.close()
    logger.info("ingested %s into %s in %.1f s", datastack, path, time.monotonic() - t_start)
    return path


def _read(session: CaveSession, ledger: Ledger, p: CavePreset, sel: Selection, options: FetchOptions,
          when: tuple[int | None, _dt.datetime | None], *, name: str, progress: bool | None,
          t0: float) -> tuple[Manifest, tuple]:
    """Resolve the version, fetch every missing page, and assemble the store's manifest and
    (nodes, edges, synapses), nodes and edges in canonical form."""
    res = _resolve(session, ledger, *when)
    syn_table, tinfo = _table_info(session, ledger, p, res, options)
    session.prepare(live=res.timestamp is not None)
    _step("version %s, tables checked", res.manifest_version(), t0=t0)
    syn_job = _synapse_job(syn_table, tinfo[syn_table], p, sel, res, options) if syn_table else None
    jobs = ([syn_job] if syn_job else []) + [_cell_job(spec, tinfo[spec.table]) for spec in p.cell_tables]
    stats = [fetch_table(session, ledger, job, version=res.version, timestamp=res.timestamp,
                         base_version=res.base_version, progress=progress) for job in jobs]
    _step("fetched %s", ", ".join(f"{s['table']}: {s['fetched_rows']} rows in {s['pages']} pages"
                                  for s in stats), t0=t0)
    frames: dict[str, pd.DataFrame] = {}
    for s in stats:
        frames.update(s.pop("frames"))
        s["pages_total"] = len(ledger.pages(s["table"]))
    syn = edges = None
    syn_summary: dict[str, Any] = {}
    if syn_job is not None:
        syn, edges, syn_summary = _synapses_and_edges(ledger, syn_job, frames, sel, p)
    nodes, cell_summary = _nodes(ledger, list(p.cell_tables), tinfo, syn, edges, sel, frames)
    frames.clear()
    if edges is None:
        edges = pd.DataFrame({PRE: np.zeros(0, np.int64), POST: np.zeros(0, np.int64),
                              "synapse_count": np.zeros(0, np.int64)})
    manifest = _manifest(name, p, session.server, syn_table, sel, res, tinfo, syn_summary, cell_summary, stats)
    # the tables are built in the canonical form of connectome.schema.normalize_* (tested), so the
    # store is written directly, without a second validation pass over every synapse
    _step("assembled %d synapse rows, %d edges", 0 if syn is None else len(syn), len(edges), t0=t0)
    e_tab = _canonical_edges(edges)
    return manifest, (_canonical_nodes(nodes, e_tab), e_tab, syn)


def _synapses_and_edges(ledger: Ledger, job: TableJob, frames: dict, sel: Selection,
                        p: CavePreset) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Staged synapse rows (autapses and root 0 as selected, in store order), their edges, and counts."""
    syn = _synapse_table(ledger, job.table, frames, multi_group=len(job.groups) > 1)
    syn, counts = drop_special(syn, autapses=sel.autapses, zero_root=sel.zero_root)
    order = synapse_order(syn)
    if not np.array_equal(order, np.arange(len(order))):
        syn = syn.take(order).reset_index(drop=True)
    edges = aggregate_edges(syn, nt_columns=list(p.nt_columns), presorted=True)
    edges, weak = threshold_pairs(edges, p.min_synapses)
    return syn, edges, {**counts, "synapses": int(len(syn)), "edges_below_min_synapses": weak}


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
    """String columns as the store's label dtype; ids (int64), counts and positions are already canonical."""
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
    out[PRE] = coerce_ids(out[PRE], PRE)  # int64, checked (an id of 2**63 or more is refused)
    out[POST] = coerce_ids(out[POST], POST)
    out[SYNAPSE_COUNT] = out[SYNAPSE_COUNT].to_numpy(np.int64)
    return out.reset_index(drop=True)


def _canonical_nodes(nodes: pd.DataFrame | None, edges: pd.DataFrame) -> pd.DataFrame:
    """Labelled nodes plus unlabelled ones for edge endpoints, as :func:`normalize_nodes` gives them."""
    ends = np.unique(np.concatenate([edges[PRE].to_numpy(np.int64), edges[POST].to_numpy(np.int64)]))
    if nodes is None:
        return normalize_nodes(pd.DataFrame({ROOT_ID: ends}))
    missing = np.setdiff1d(ends, nodes[ROOT_ID].to_numpy(np.int64))
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
        parts = [np.asarray(sel.root_ids or [], dtype=np.int64)]
        for df in (syn, edges):
            if df is not None:
                parts += [df[PRE].to_numpy(np.int64), df[POST].to_numpy(np.int64)]
        wanted = np.unique(np.concatenate(parts))
        nodes = nodes[np.isin(nodes[ROOT_ID].to_numpy(np.int64), wanted)]
    return nodes, summary


def _manifest(name: str, p: CavePreset, server: str, syn_table: str | None, sel: Selection, res: _Resolved,
              tinfo: dict, syn_summary: dict, cell_summary: list[dict], stats: list[dict]) -> Manifest:
    try:
        cc = _dist_version("caveclient")
    except PackageNotFoundError:  # pragma: no cover
        cc = "unknown"
    cell_specs = p.cell_tables
    vres = tinfo[syn_table]["voxel_resolution"] if syn_table else (
        tinfo[cell_specs[0].table]["voxel_resolution"] if cell_specs else None)
    when = res.manifest_version()
    own = PRESETS.get(p.name or "")
    title = p.title if p.title and own is not None and own.datastack == p.datastack else f"CAVE datastack {p.datastack}"
    title += f" ({'v' + str(res.version) if res.timestamp is None else 'at ' + res.timestamp.isoformat()})"
    return Manifest(
        name=name, title=title, species=p.species,
        source={"kind": "cave", "datastack": p.datastack, "server": server, "preset": p.name,
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
