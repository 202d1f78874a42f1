"""``connectome refresh STORE --to latest``: a new store version with current root ids.

:func:`refresh_store` reads a store made from a CAVE datastack (live or
release files), maps its root ids to the moment ``to`` with
:func:`~connectome.ingest.cave.lineage.update_ids`, re-aggregates what the
edits changed and writes a **new store version** (the previous one stays on
disk, see :mod:`connectome.store`) whose manifest records the move.

How each table is brought forward:

* **synapses** with supervoxel ids (``pre_pt_supervoxel_id`` /
  ``post_pt_supervoxel_id``, which FlyWire and MICrONS tables carry): each
  synapse gets the root of its own supervoxel -- exact, also for a neuron that
  was split. Synapses without a supervoxel (id 0) use the lineage of their root
  id (said on stderr and in the manifest);
* **edges** are re-aggregated from those synapses when the store's edges were
  made from them (checked: rebuilding the old edges from the old synapses must
  give the stored ones), so a merge sums its synapses and a split divides them
  by supervoxel. Otherwise the edge rows themselves are remapped and summed
  per new pair: a merge still sums exactly, but a split root's edges all go to
  the successor with the largest overlap -- a warning on stderr and
  ``"edges": "remapped"`` in the manifest;
* **nodes** are remapped: rows of merged ids become one row (the first
  non-missing value of each column; conflicts are counted), a split id's row
  goes to its largest successor, and the other successors become unlabelled
  nodes.

The manifest's ``version`` becomes ``{"timestamp": ...}`` and
``extra["refresh"]`` gains one entry per refresh: from / to (version and
timestamps), counts of changed, merged, split and unknown ids, the methods
used, and every fallback taken.

The command line is in :mod:`connectome.ingest.cave.refresh_cli`.

Examples
--------
>>> supervoxel_columns(["pre_root_id", "post_root_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id"])
('pre_pt_supervoxel_id', 'post_pt_supervoxel_id')
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import numpy as np
import pandas as pd

from connectome.errors import InputError
from connectome.manifest import utc_now
from connectome.schema import EDGE_KIND, NEUROPIL, NT_TYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT
from connectome.store import read_manifest, read_table, table_paths, write_store

from .format import aggregate_edges, nt_type_from_scores, threshold_pairs
from .lineage import resolve_target, update_ids
from .options import FetchOptions
from .session import connect

logger = logging.getLogger(__name__)

__all__ = ["refresh_store", "supervoxel_columns"]


def _say(msg: str, notes: list[str]) -> None:
    """A fallback, said on stderr (logging) and kept for the manifest."""
    logger.warning("refresh: %s", msg)
    notes.append(msg)


def supervoxel_columns(columns: list[str]) -> tuple[str, str] | None:
    """The (pre, post) supervoxel id columns of a synapse table, if it has both.

    Examples
    --------
    >>> supervoxel_columns(["pre_root_id", "pre_pt_supervoxel_id", "post_pt_supervoxel_id"])
    ('pre_pt_supervoxel_id', 'post_pt_supervoxel_id')
    >>> supervoxel_columns(["pre_root_id"]) is None
    True
    """
    svs = [c for c in columns if c.endswith("supervoxel_id")]
    pre = next((c for c in svs if c.startswith("pre")), None)
    post = next((c for c in svs if c.startswith("post")), None)
    return (pre, post) if pre and post else None


def _mapper(table: pd.DataFrame) -> dict[int, int]:
    """old id -> new id of a per-id :func:`update_ids` result (unknown ids keep their old id)."""
    new = table["new_id"].to_numpy(np.int64)
    old = table["old_id"].to_numpy(np.int64)
    keep = table["method"].astype(str).to_numpy() == "unknown"
    new = np.where(keep, old, new)
    return dict(zip(old.tolist(), new.tolist()))


def _apply(ids: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    uniq, inv = np.unique(ids, return_inverse=True)
    mapped = np.array([mapping.get(int(u), int(u)) for u in uniq], dtype=np.int64)
    return mapped[inv].reshape(ids.shape)


def _nt_columns(edges: pd.DataFrame, syn: pd.DataFrame | None) -> list[str]:
    """Transmitter score columns the edges average (``gaba_avg`` <- ``gaba``)."""
    base = [c[: -len("_avg")] for c in edges.columns if c.endswith("_avg")]
    return [c for c in base if syn is None or c in syn.columns]


def _rebuild_edges(syn: pd.DataFrame, edges: pd.DataFrame, min_synapses: int | None) -> pd.DataFrame:
    out = aggregate_edges(syn, nt_columns=_nt_columns(edges, syn), by_neuropil=NEUROPIL in edges.columns)
    out, _ = threshold_pairs(out, min_synapses)
    return out[[c for c in edges.columns if c in out.columns]]


def _same_edges(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    key = [c for c in (PRE, POST, NEUROPIL, EDGE_KIND) if c in a.columns and c in b.columns]
    if len(a) != len(b) or set(a.columns) != set(b.columns):
        return False
    sa = a.sort_values(key, ignore_index=True)
    sb = b.sort_values(key, ignore_index=True)
    # as text: neuropil may be missing (None / NaN / NA) in either table, and NA never equals itself
    return all(np.array_equal(sa[c].astype(str).to_numpy(), sb[c].astype(str).to_numpy())
               for c in (*key, SYNAPSE_COUNT))


def _remap_edges(edges: pd.DataFrame, mapping: dict[int, int]) -> pd.DataFrame:
    """Edge rows under new ids, summed per new (pre, post[, neuropil, edge_kind])."""
    e = edges.copy()
    e[PRE] = _apply(e[PRE].to_numpy(), mapping)
    e[POST] = _apply(e[POST].to_numpy(), mapping)
    key = [c for c in (PRE, POST, NEUROPIL, EDGE_KIND) if c in e.columns]
    avg = [c for c in e.columns if c.endswith("_avg")]
    w = e[SYNAPSE_COUNT].astype(float)
    for c in avg:  # weighted means: sum(score * count) / sum(count)
        e[c] = e[c].astype(float) * w
    agg = {SYNAPSE_COUNT: "sum", **{c: "sum" for c in avg}}
    agg.update({c: "first" for c in e.columns if c not in key and c not in agg})
    out = e.groupby(key, sort=True, dropna=False, observed=True).agg(agg).reset_index()
    for c in avg:
        out[c] = out[c] / out[SYNAPSE_COUNT].astype(float)
    if avg and NT_TYPE in out.columns:
        out[NT_TYPE] = nt_type_from_scores(out[avg].to_numpy(dtype=float), avg)
    return out[list(edges.columns)]


def _remap_nodes(nodes: pd.DataFrame, mapping: dict[int, int], notes: list[str]) -> tuple[pd.DataFrame, int]:
    n = nodes.copy()
    n[ROOT_ID] = _apply(n[ROOT_ID].to_numpy(), mapping)
    dup = n[ROOT_ID].duplicated(keep=False)
    conflicts = 0
    if dup.any():
        groups = n[dup].groupby(ROOT_ID, sort=False)
        for c in n.columns:
            if c != ROOT_ID:
                conflicts += int((groups[c].nunique(dropna=True) > 1).sum())
        first = groups.first().reset_index()
        n = pd.concat([n[~dup], first[list(n.columns)]], ignore_index=True)
        msg = (f"{int(dup.sum())} node rows merged into {len(first)} new root ids; each keeps the first "
               "non-missing value of every column")
        if conflicts:
            msg += f" ({conflicts} column value(s) disagreed between the merged rows)"
        _say(msg, notes)
    return n.sort_values(ROOT_ID, ignore_index=True), conflicts


def refresh_store(
    path: str | os.PathLike,
    to: Any = "latest",
    *,
    client: Any = None,
    server: str | None = None,
    datastack: str | None = None,
    unknown: str = "raise",
    options: FetchOptions | None = None,
    auth_token: str | None = None,
    progress: bool | None = True,
) -> dict:
    """Write a new version of the store at ``path`` with root ids as of ``to``.

    Parameters
    ----------
    path : path
        A store made from a CAVE datastack (``connectome ingest cave`` /
        ``cave-files``) or any store whose ids are root ids of ``datastack``.
    to : "latest", datetime, ISO 8601 str or int
        The moment (see :func:`~connectome.ingest.cave.lineage.update_ids`).
    client : caveclient.CAVEclient, optional
        A ready client (else ``server`` and ``datastack``).
    server, datastack : str, optional
        Default: the ones the store's manifest records (``source.server``,
        ``source.datastack``).
    unknown : {"raise", "report"}
        Ids the chunkedgraph never made: refuse (default), or keep them
        unchanged and list them in the manifest.
    options : FetchOptions, optional
        Retries, backoff and timeouts.
    auth_token : str, optional
        Token when no ``client`` is given.
    progress : bool
        Progress bars.

    Returns
    -------
    dict
        The manifest entry written under ``extra["refresh"]``.

    Raises
    ------
    InputError
        No datastack or server known; ``to`` unreadable; unknown ids (``unknown="raise"``).
    StoreError
        ``path`` is not a store.
    """
    manifest, _ = read_manifest(path)
    src = manifest.source or {}
    if client is None:
        datastack = datastack or src.get("datastack")
        server = server or src.get("server")
        if not datastack:
            raise InputError("datastack: the store's manifest names no datastack; pass --datastack NAME "
                             "(datastack=...)", "datastack")
        if not server:
            raise InputError(f"server: the store's manifest records no server for {datastack} (a store made from "
                             "release files); pass --server URL (server=...)", "server")
    if unknown not in ("raise", "report"):
        raise InputError(f"unknown must be 'raise' or 'report', not {unknown!r}", "unknown")
    options = options or FetchOptions()
    notes: list[str] = []
    nodes = read_table(path, "nodes")
    edges = read_table(path, "edges")
    syn = read_table(path, "synapses") if table_paths(path, "synapses") else None
    session = connect(datastack, server, options=options, client=client, auth_token=auth_token)
    try:
        t, target = resolve_target(session, to)
        before = dict(manifest.version or {})
        from_ts = before.get("timestamp")
        if from_ts is None and before.get("materialization") is not None:
            try:
                from_ts = resolve_target(session, int(before["materialization"]))[0].isoformat()
            except InputError as exc:  # the version is gone from the server: say so, keep going
                _say(f"the store's version {before['materialization']} is unknown to the server ({exc}); "
                     "its timestamp is not recorded", notes)
        kw = dict(to=t, client=session.client, unknown=unknown, options=options, progress=progress)
        methods: dict[str, dict[str, int]] = {}
        # 1. synapses: exact per supervoxel where the table has them
        svc = supervoxel_columns(list(syn.columns)) if syn is not None else None
        edges_mode = "remapped"
        new_syn = None
        if syn is not None and svc is not None:
            n = len(syn)
            res = update_ids(np.concatenate([syn[PRE].to_numpy(np.int64), syn[POST].to_numpy(np.int64)]),
                             supervoxels=np.concatenate([syn[svc[0]].fillna(0).to_numpy(np.uint64),
                                                         syn[svc[1]].fillna(0).to_numpy(np.uint64)]), **kw)
            meta = res.attrs["update_ids"]
            methods["synapses"] = meta["methods"]
            notes += meta["fallbacks"]
            new = res["new_id"].to_numpy(np.int64)
            unk = res["method"].astype(str).to_numpy() == "unknown"
            new = np.where(unk, res["old_id"].to_numpy(np.int64), new)
            new_syn = syn.copy()
            new_syn[PRE], new_syn[POST] = new[:n], new[n:]
            rebuilt_old = _rebuild_edges(syn, edges, manifest.extra.get("min_synapses"))
            if _same_edges(rebuilt_old, edges):
                edges_mode = "from synapses"
            else:
                _say("the store's edges are not the aggregate of its synapses (rebuilding them from the old "
                     "synapses gives other rows); edges are remapped instead, and split ids' edges go to the "
                     "successor with the largest overlap", notes)
        elif syn is not None:
            _say("the synapse table has no pre/post supervoxel id columns; synapses and edges are remapped by "
                 "root id, and a split id's synapses all go to the successor with the largest overlap", notes)
        else:
            _say("the store has no synapse table; edges are remapped by root id: merges are summed exactly, "
                 "but a split id's edges all go to the successor with the largest overlap", notes)
        # 2. every id of nodes and edges (and synapses without supervoxels): per id
        parts = [nodes[ROOT_ID].to_numpy(np.int64), edges[PRE].to_numpy(np.int64),
                 edges[POST].to_numpy(np.int64)]
        if syn is not None and new_syn is None:
            parts += [syn[PRE].to_numpy(np.int64), syn[POST].to_numpy(np.int64)]
        ids = np.unique(np.concatenate(parts))
        res_ids = update_ids(ids, **kw)
        meta_ids = res_ids.attrs["update_ids"]
        methods["ids"] = meta_ids["methods"]
        notes += [f for f in meta_ids["fallbacks"] if f not in notes]
        mapping = _mapper(res_ids)
        if syn is not None and new_syn is None:
            new_syn = syn.copy()
            new_syn[PRE] = _apply(syn[PRE].to_numpy(), mapping)
            new_syn[POST] = _apply(syn[POST].to_numpy(), mapping)
        if edges_mode == "from synapses":
            new_edges = _rebuild_edges(new_syn, edges, manifest.extra.get("min_synapses"))
        else:
            new_edges = _remap_edges(edges, mapping)
        new_nodes, conflicts = _remap_nodes(nodes, mapping, notes)
    finally:
        session.close()
    changed = res_ids[res_ids["changed"] & (res_ids["method"].astype(str) != "unknown")]
    merged_into = int((changed.groupby("new_id").size() > 1).sum()) if len(changed) else 0
    loops_before = int((edges[PRE] == edges[POST]).sum())
    loops_after = int((new_edges[PRE] == new_edges[POST]).sum())
    if loops_after > loops_before:
        _say(f"{loops_after - loops_before} new autapse edge(s): merges joined both partners of a connection; "
             "they are kept (filter them with pre_root_id != post_root_id)", notes)
    entry = {
        "refreshed": utc_now(), "datastack": session.datastack, "server": session.server,
        "from": before, "from_timestamp": from_ts, "to": target.get("to"), "to_timestamp": target["timestamp"],
        "ids": int(len(ids)), "changed_ids": int(len(changed)),
        "merged_ids": int(changed.duplicated("new_id", keep=False).sum()),
        "merged_into": merged_into,
        "split_ids": int((res_ids["n_successors"] > 1).sum()),
        "unknown_ids": meta_ids["unknown_ids"], "methods": methods,
        "edges": edges_mode, "edges_before": int(len(edges)), "edges_after": int(len(new_edges)),
        "synapses": int(len(syn)) if syn is not None else 0,
        "synapses_changed": int(((new_syn[PRE].to_numpy() != syn[PRE].to_numpy())
                                 | (new_syn[POST].to_numpy() != syn[POST].to_numpy())).sum()) if syn is not None else 0,
        "node_value_conflicts": conflicts, "fallbacks": notes,
    }
    m = copy.deepcopy(manifest)
    m.version = {"timestamp": target["timestamp"], "datastack": session.datastack, "refreshed_from": before}
    m.extra = {**m.extra, "refresh": [*m.extra.get("refresh", []), entry]}
    m.title = (m.title or m.name).split(" (ids refreshed")[0] + f" (ids refreshed to {target['timestamp']})"
    write_store(path, new_edges, new_nodes, new_syn, name=m.name, manifest=m, duplicates="error",
                missing_nodes="add", progress=progress)
    return entry
