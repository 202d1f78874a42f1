"""Root ids kept current: old root ids -> the root ids of a later (or earlier) moment, through the chunkedgraph.

Root ids change with every proofreading edit: a merge replaces two roots by a
new one, a split replaces one root by two. :func:`update_ids` maps ids to the
roots of a moment ``to`` ("latest", a UTC timestamp or a materialization
version) through the real ``caveclient`` chunkedgraph, in batches:

1. ``is_latest_roots`` (chunks of ``batch_size`` ids): ids still valid at
   ``to`` are ``"unchanged"``;
2. ``is_valid_nodes``: ids the chunkedgraph never made are refused by name
   (``unknown="raise"``) or reported (``unknown="report"``, method ``"unknown"``);
3. rows with a supervoxel id (synapse tables carry ``pre_pt_supervoxel_id`` /
   ``post_pt_supervoxel_id``) or a position (looked up in a segmentation) get
   the root of that supervoxel at ``to`` from one ``get_roots`` call per batch:
   ``"supervoxel"`` / ``"position"``, exact for that row even when its neuron
   was split;
4. the other stale ids go through the lineage graph (``get_lineage_graph`` on a
   batch of ids): one successor alive at ``to`` -> ``"lineage"`` (the whole
   object went there: merges); several -> ``"overlap"``: the successor holding
   most of the id's supervoxels (``get_leaves_many`` + ``get_roots``, what
   caveclient's ``suggest_latest_roots`` does per id), flagged ``ambiguous``
   with ``n_successors`` and the ``overlap`` fraction.

Every request goes through :mod:`connectome.ingest.cave.session`, so 5xx
replies, timeouts and dropped connections are retried by caveclient's session
(``options.retries``) and what still fails becomes a named error.

``update_ids`` lives here, not in the core: the core ``connectome`` package
never imports ``connectome.ingest``. Use ``from connectome.ingest import update_ids``
(also reachable as ``cx.ingest.update_ids``).

Examples
--------
>>> from connectome.ingest.testing import CaveTestServer, generic_datastack
>>> from connectome.ingest.testing.cave_data import utc
>>> ds = generic_datastack(n_synapses=50, n_neurons=6)
>>> r = [int(x) for x in sorted(set(ds.chunkedgraph.root0.tolist()))]
>>> merged = ds.chunkedgraph.merge(r[:2], utc(2024, 5, 1).timestamp())
>>> with CaveTestServer([ds]) as srv:
...     out = update_ids(r[:3], server=srv.url, datastack=ds.name, progress=False)
>>> out["method"].tolist(), bool((out["new_id"].iloc[:2] == merged).all())
(['lineage', 'lineage', 'unchanged'], True)
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from connectome.errors import InputError
from connectome.progress import progress_bar
from connectome.schema import ID_DTYPE, coerce_ids
from connectome.validate import check_int

from .options import FetchOptions, parse_timestamp
from .session import _as_utc, connect

logger = logging.getLogger(__name__)

__all__ = ["update_ids", "UnknownIdError", "resolve_target", "METHODS"]

#: How a new id was found, from the most to the least exact.
METHODS = ("unchanged", "supervoxel", "position", "lineage", "overlap", "unknown")
#: Root and supervoxel ids as the library returns them: int64 (the chunkedgraph's uint64 replies cast exactly).
IDS = ID_DTYPE


class UnknownIdError(InputError):
    """Ids the chunkedgraph never made (a typo, another datastack, a supervoxel id passed as a root id)."""

    def __init__(self, ids: np.ndarray, datastack: str) -> None:
        shown = ", ".join(str(int(i)) for i in ids[:10]) + (" ..." if len(ids) > 10 else "")
        super().__init__(
            f"ids: {len(ids)} id(s) are not root ids of {datastack}: {shown}; check the datastack, or pass "
            "unknown='report' (--unknown report) to keep them with method 'unknown' and new_id 0", "ids")
        self.ids = ids


def resolve_target(session: Any, to: Any) -> tuple[_dt.datetime, dict]:
    """The moment ``to`` names, as an aware UTC datetime, and how it was named (for the record).

    ``"latest"`` is now (fixed once, so every batch asks about the same moment);
    an ``int`` is a materialization version (its timestamp from the server,
    expired versions included); a ``datetime`` or ISO 8601 string must carry a
    timezone.
    """
    if isinstance(to, str) and to.strip().lower() in ("latest", "now"):
        t = _dt.datetime.now(_dt.timezone.utc)
        return t, {"to": "latest", "timestamp": t.isoformat()}
    if isinstance(to, (int, np.integer)) and not isinstance(to, bool) or (isinstance(to, str) and to.strip().isdigit()):
        v = check_int(int(to), "to", low=1, what="a materialization version, a UTC timestamp or 'latest'")
        metas = session.versions_metadata(expired=True)
        m = next((m for m in metas if int(m["version"]) == v), None)
        if m is None:
            raise InputError(f"to: materialization version {v} does not exist in {session.datastack} (versions: "
                             f"{', '.join(str(int(x['version'])) for x in metas) or 'none'})", "to")
        t = _as_utc(m["time_stamp"])
        return t, {"to": f"materialization {v}", "materialization": v, "timestamp": t.isoformat()}
    if isinstance(to, (str, _dt.datetime)):
        try:
            t = parse_timestamp(to)
        except InputError as exc:
            raise InputError(f"to: {exc}".replace("timestamp: ", ""), "to") from None
        return t, {"to": t.isoformat(), "timestamp": t.isoformat()}
    raise InputError(f"to must be 'latest', a UTC timestamp (datetime or ISO 8601 string) or a materialization "
                     f"version (int), not {type(to).__name__}", "to")


def _chunks(a: np.ndarray, n: int) -> list[np.ndarray]:
    return [a[i:i + n] for i in range(0, len(a), n)] or [a[:0]]


def _optional_ids(values: Any, n: int, name: str) -> np.ndarray:
    """Supervoxel ids aligned with the ids; missing / NaN -> 0 (none known)."""
    s = pd.Series(values)
    if len(s) != n:
        raise InputError(f"{name}: has {len(s)} values for {n} ids; pass one per id (0 where none is known)", name)
    s = s.fillna(0) if s.dtype.kind == "f" or s.dtype == object else s
    return coerce_ids(s.to_numpy(), name)


def _positions_to_supervoxels(positions: Any, n: int, segmentation: Any) -> np.ndarray:
    pos = np.asarray(positions, dtype=float)
    if pos.shape != (n, 3):
        raise InputError(f"positions: needs one (x, y, z) per id, shape ({n}, 3), not {pos.shape}", "positions")
    if segmentation is None:
        raise InputError("segmentation: positions need a supervoxel lookup; pass segmentation= a function "
                         "(positions -> supervoxel ids) or a CloudVolume of the supervoxel segmentation "
                         "(agglomerate=False), in the positions' voxel units", "segmentation")
    ok = np.all(np.isfinite(pos), axis=1)
    out = np.zeros(n, dtype=IDS)
    if not ok.any():
        return out
    if callable(segmentation):
        found = segmentation(pos[ok])
    elif hasattr(segmentation, "scattered_points"):
        pts = [tuple(int(v) for v in p) for p in pos[ok]]
        got = segmentation.scattered_points(pts)
        found = [got.get(p, 0) for p in pts]
    else:
        raise InputError(f"segmentation must be a function or a CloudVolume, not {type(segmentation).__name__}",
                         "segmentation")
    out[ok] = coerce_ids(np.asarray(found).ravel(), "segmentation(positions)")
    return out


class _Lineage:
    """The union of lineage graphs of many ids: node timestamps, children, parents."""

    def __init__(self) -> None:
        self.ts: dict[int, float] = {}
        self.children: dict[int, list[int]] = {}
        self.parents: dict[int, list[int]] = {}

    def add(self, graph: dict) -> None:
        for nd in graph.get("nodes", []):
            self.ts[int(nd["id"])] = float(nd["timestamp"])
        for ln in graph.get("links", []):
            a, b = int(ln["source"]), int(ln["target"])
            ch = self.children.setdefault(a, [])
            if b not in ch:
                ch.append(b)
                self.parents.setdefault(b, []).append(a)

    def alive_related(self, root: int, t: float) -> list[int]:
        """The roots related to ``root`` that are valid at ``t``: successors if ``root`` is older, else ancestors."""
        if self.ts.get(root, -np.inf) <= t:  # forward: descendants valid at t
            out, stack, seen = [], [root], {root}
            while stack:
                n = stack.pop()
                kids = [k for k in self.children.get(n, []) if self.ts.get(k, np.inf) <= t]
                if not kids:
                    out.append(n)
                for k in kids:
                    if k not in seen:
                        seen.add(k)
                        stack.append(k)
            return sorted(out)
        out, stack, seen = [], [root], {root}  # backward: the ancestors valid at t
        while stack:
            n = stack.pop()
            for p in self.parents.get(n, []):
                if p in seen:
                    continue
                seen.add(p)
                (out if self.ts.get(p, np.inf) <= t else stack).append(p)
        return sorted(out)


def update_ids(
    ids: Sequence[int] | np.ndarray | pd.Series,
    to: Any = "latest",
    *,
    client: Any = None,
    datastack: str | None = None,
    server: str | None = None,
    supervoxels: Sequence[int] | np.ndarray | pd.Series | None = None,
    positions: Any = None,
    segmentation: Callable[[np.ndarray], np.ndarray] | Any = None,
    unknown: str = "raise",
    batch_size: int = 50_000,
    lineage_batch: int = 2_000,
    options: FetchOptions | None = None,
    auth_token: str | None = None,
    progress: bool | None = True,
) -> pd.DataFrame:
    """Map root ids to the root ids of the moment ``to``, supervoxel-exact where possible.

    Parameters
    ----------
    ids : sequence of int
        Root ids (int64; strings of digits are fine). Duplicates are allowed:
        the result has one row per input row, in order. Id 0 (no segment) stays 0.
    to : "latest", datetime, ISO 8601 str or int
        The moment: now, a timezone-aware UTC timestamp, or a materialization
        version (its timestamp). Earlier than an id's creation maps it back to
        its ancestors.
    client : caveclient.CAVEclient, optional
        A ready client for one datastack (else ``datastack`` and ``server``).
    datastack, server : str, optional
        Where to connect when no ``client`` is given.
    supervoxels : sequence of int, optional
        One supervoxel id per id (0 or NaN where none is known), e.g. a
        synapse table's ``pre_pt_supervoxel_id``: those rows are mapped exactly.
    positions : array (n, 3), optional
        One position per id (NaN where none is known), in the voxel units of
        ``segmentation``; used where no supervoxel id is given.
    segmentation : callable or CloudVolume, optional
        Supervoxel lookup for ``positions``: ``f(positions) -> supervoxel ids``,
        or a CloudVolume of the supervoxel segmentation (``scattered_points``).
    unknown : {"raise", "report"}
        Ids the chunkedgraph never made: refuse them (:class:`UnknownIdError`,
        naming them) or keep them with method ``"unknown"`` and ``new_id`` 0.
    batch_size : int
        Ids (or supervoxels) per request of ``is_latest_roots`` / ``get_roots``.
    lineage_batch : int
        Ids per ``get_lineage_graph`` / ``get_leaves_many`` request.
    options : FetchOptions, optional
        Retries, backoff and timeouts (caveclient's session retries).
    auth_token : str, optional
        Token, when no ``client`` is given (default: where caveclient looks).
    progress : bool
        Show a progress bar over the steps.

    Returns
    -------
    DataFrame
        ``old_id``, ``new_id`` (int64), ``method`` (see :data:`METHODS`),
        ``changed``, ``n_successors`` (roots at ``to`` that hold part of the id;
        1 when unchanged or exact), ``overlap`` (fraction of the id's
        supervoxels in ``new_id``; 1.0 when exact, NaN for a supervoxel row)
        and ``ambiguous`` (the id's supervoxels lie in several roots and the
        row has no supervoxel of its own). ``.attrs["update_ids"]``
        records the datastack, the moment, method counts, fallbacks and the
        requests made.

    Raises
    ------
    UnknownIdError
        Ids that are not root ids of the datastack (with ``unknown="raise"``).
    CaveServerError
        A request still failing after every retry.

    Examples
    --------
    >>> from connectome.ingest.testing import CaveTestServer, generic_datastack
    >>> from connectome.ingest.testing.cave_data import utc
    >>> ds = generic_datastack(n_synapses=50, n_neurons=6)
    >>> r = [int(x) for x in sorted(set(ds.chunkedgraph.root0.tolist()))]
    >>> a, b = ds.chunkedgraph.split(r[0], utc(2024, 5, 1).timestamp())
    >>> sv = ds.chunkedgraph.sv[ds.chunkedgraph.supervoxels_of(b)][0]
    >>> with CaveTestServer([ds]) as srv:
    ...     out = update_ids([r[0], r[0]], server=srv.url, datastack=ds.name, supervoxels=[sv, 0], progress=False)
    >>> out["method"].tolist(), int(out["new_id"].iloc[0]) == b, out["ambiguous"].tolist()
    (['supervoxel', 'overlap'], True, [False, True])
    """
    if unknown not in ("raise", "report"):
        raise InputError(f"unknown must be 'raise' or 'report', not {unknown!r}", "unknown")
    batch_size = check_int(batch_size, "batch_size", low=1)
    lineage_batch = check_int(lineage_batch, "lineage_batch", low=1)
    old = coerce_ids(pd.Series(ids).to_numpy() if not isinstance(ids, np.ndarray) else ids, "ids")
    n = len(old)
    sv = _optional_ids(supervoxels, n, "supervoxels") if supervoxels is not None else np.zeros(n, dtype=IDS)
    by_position = np.zeros(n, dtype=bool)
    if positions is not None:
        from_pos = _positions_to_supervoxels(positions, n, segmentation)
        by_position = (sv == 0) & (from_pos != 0)
        sv = np.where(by_position, from_pos, sv)
    if client is None and (datastack is None or server is None):
        raise InputError("client: pass a CAVEclient (client=...) or both datastack= and server=", "client")
    options = options or FetchOptions()
    session = connect(datastack, server, options=options, client=client, auth_token=auth_token)
    requests: dict[str, int] = {}

    def call(name: str, fn: Callable[[], Any], what: str) -> Any:
        requests[name] = requests.get(name, 0) + 1
        return session.call(fn, what=what)

    try:
        cg = session.chunkedgraph
        t, target = resolve_target(session, to)
        tsec = t.timestamp()
        new = old.copy()
        method = np.full(n, "unchanged", dtype=object)
        n_succ = np.ones(n, dtype=np.int64)
        overlap = np.ones(n, dtype=float)
        ambiguous = np.zeros(n, dtype=bool)
        uniq = np.unique(old[old != 0])
        fallbacks: list[str] = []
        with progress_bar(total=5, desc="update_ids", unit="step", progress=progress) as bar:
            # 1. which ids are still roots at t
            latest = np.concatenate([np.asarray(call("is_latest_roots", lambda c=c: cg.is_latest_roots(c, timestamp=t),
                                                     "checking which root ids are current"), dtype=bool)
                                     for c in _chunks(uniq, batch_size)]) if len(uniq) else np.zeros(0, bool)
            stale = uniq[~latest]
            bar.update(1)
            # 2. ids that never existed
            bad = np.zeros(0, dtype=IDS)
            if len(stale):
                valid = np.concatenate([np.asarray(call("is_valid_nodes", lambda c=c: cg.is_valid_nodes(c),
                                                        "checking that the root ids exist"), dtype=bool)
                                        for c in _chunks(stale, batch_size)])
                bad = stale[~valid]
                stale = stale[valid]
            if len(bad):
                if unknown == "raise":
                    raise UnknownIdError(bad, session.datastack)
                rows = np.isin(old, bad)
                new[rows], method[rows], n_succ[rows], overlap[rows] = 0, "unknown", 0, np.nan
                logger.warning("update_ids: %d id(s) are not root ids of %s (method 'unknown', new_id 0), e.g. %s",
                               len(bad), session.datastack, int(bad[0]))
            bar.update(1)
            # 3. rows with a supervoxel (or a position): exact
            todo = np.isin(old, stale)
            exact = todo & (sv != 0)
            if exact.any():
                idx = np.flatnonzero(exact)
                roots = np.concatenate([np.asarray(call("get_roots", lambda c=c: cg.get_roots(c, timestamp=t),
                                                        "looking up the roots of supervoxels"), dtype=IDS)
                                        for c in _chunks(sv[idx], batch_size)])
                lost = roots == 0
                if lost.any():  # a supervoxel the chunkedgraph does not know: fall back to the lineage
                    msg = (f"{int(lost.sum())} supervoxel id(s) have no root at {t.isoformat()}; those rows use the "
                           "lineage of their root id instead")
                    logger.warning("update_ids: %s", msg)
                    fallbacks.append(msg)
                    exact[idx[lost]] = False
                    idx, roots = idx[~lost], roots[~lost]
                new[idx] = roots
                method[idx] = np.where(by_position[idx], "position", "supervoxel")
                overlap[idx] = np.nan
            bar.update(1)
            # 4. the rest: lineage graph, then overlap where an id has several successors
            need = np.unique(old[todo & ~exact])
            if len(need) and (supervoxels is not None or positions is not None):
                msg = (f"{int((todo & ~exact).sum())} row(s) of {len(need)} changed id(s) have no supervoxel or "
                       "position; they use the lineage graph (largest overlap where an id was split)")
                logger.warning("update_ids: %s", msg)
                fallbacks.append(msg)
            lin = _Lineage()
            for c in _chunks(need, lineage_batch):
                if len(c):
                    lin.add(call("get_lineage_graph", lambda c=c: cg.get_lineage_graph(
                        c, timestamp_past=t, timestamp_future=t), "reading the lineage of changed root ids"))
            successor: dict[int, int] = {}
            count: dict[int, int] = {}
            frac: dict[int, float] = {}
            split = []
            for r in (int(x) for x in need):
                alive = lin.alive_related(r, tsec)
                count[r] = len(alive)
                if len(alive) == 1:
                    successor[r], frac[r] = alive[0], 1.0
                else:
                    split.append(r)
            bar.update(1)
            frac_from_leaves = set(split)
            if split:
                stop = _stop_layer(cg, call)
                for c in _chunks(np.asarray(split, dtype=IDS), lineage_batch):
                    leaves = call("get_leaves_many", lambda c=c: cg.get_leaves_many(c, stop_layer=stop),
                                  "reading the supervoxels of split root ids")
                    keys = [int(k) for k in leaves]
                    parts = [np.asarray(leaves[k], dtype=IDS).ravel() for k in leaves]
                    flat = np.concatenate(parts) if parts else np.zeros(0, IDS)
                    roots = np.concatenate([np.asarray(call("get_roots", lambda s=s: cg.get_roots(s, timestamp=t),
                                                            "looking up where split ids went"), dtype=IDS)
                                            for s in _chunks(flat, batch_size)]) if len(flat) else flat
                    owner = np.repeat(np.arange(len(keys)), [len(p) for p in parts])
                    for i, k in enumerate(keys):
                        got = roots[owner == i]
                        got = got[got != 0]
                        if not len(got):
                            successor[k], frac[k], count[k] = 0, 0.0, 0
                            continue
                        vals, cnt = np.unique(got, return_counts=True)
                        best = int(np.argmax(cnt))  # ties: the smallest id, deterministically
                        successor[k], frac[k] = int(vals[best]), float(cnt[best] / cnt.sum())
                        count[k] = len(vals)  # the successors that hold part of it, not every descendant
            rows = np.flatnonzero(todo & ~exact)
            if len(rows):
                keys = old[rows].tolist()
                new[rows] = np.array([successor[int(k)] for k in keys], dtype=IDS)
                n_succ[rows] = [count[int(k)] for k in keys]
                overlap[rows] = [frac[int(k)] for k in keys]
                method[rows] = [("overlap" if int(k) in frac_from_leaves else "lineage") for k in keys]
                ambiguous[rows] = n_succ[rows] > 1
            # successors of exact rows, for the record
            ex = np.flatnonzero(exact)
            if len(ex):
                n_succ[ex] = 1
            bar.update(1)
    finally:
        session.close()
    out = pd.DataFrame({"old_id": old, "new_id": new, "method": pd.Categorical(method, categories=list(METHODS)),
                        "changed": new != old, "n_successors": n_succ, "overlap": overlap, "ambiguous": ambiguous})
    counts = {m: int(v) for m, v in out["method"].value_counts().items() if v}
    n_amb = int(ambiguous.sum())
    if n_amb:
        msg = (f"{n_amb} row(s) ({len(set(old[ambiguous].tolist()))} id(s)) were split into several roots and have "
               "no supervoxel: each went to the successor with the largest overlap (column 'overlap')")
        logger.warning("update_ids: %s", msg)
        fallbacks.append(msg)
    out.attrs["update_ids"] = {
        "datastack": session.datastack, "server": session.server, **target, "n_ids": n,
        "n_unique": int(len(uniq)), "changed_ids": int(len(set(old[out["changed"].to_numpy()].tolist()))),
        "methods": counts, "ambiguous_rows": n_amb, "unknown_ids": [str(int(b)) for b in bad[:100]],
        "fallbacks": fallbacks, "requests": requests, "retries": dict(session.retries_done),
    }
    return out


def _stop_layer(cg: Any, call: Callable) -> int:
    """caveclient's ``suggest_latest_roots`` layer: four below the top (at least 1)."""
    info = call("segmentation_info", lambda: cg.segmentation_info, "reading the segmentation info")
    return max(1, int(info.get("graph", {}).get("n_layers", 6)) - 4)
