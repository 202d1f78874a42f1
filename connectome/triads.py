"""Exact dyad and triad census (the 16 MAN classes of ``networkx.triadic_census``).

The census is assembled from three exact pieces instead of visiting triads:

- per-node counts of out-only, in-only and mutual neighbours give every *wedge*
  (two connected dyads sharing a centre) by type, in O(n);
- every *triangle* of the undirected graph is enumerated once (degree-ordered,
  sorted-list intersections in a compiled kernel) and classified; its three
  closed wedges are subtracted from the wedge counts, giving the open classes
  021D/021U/021C/111D/111U/201 and the closed ones 030T … 300;
- 012 and 102 follow from dyad counts, degrees and the triangles through each
  dyad; 003 is the rest of C(n, 3).

Triangle enumeration is split into node blocks of similar work; each block is
a Dask task, so the same code runs on threads or on distributed workers.
Self-loops never take part (as in networkx).

Examples
--------
>>> import connectome as cx
>>> t = cx.triad_census(cx.load("celegans_cook2019_herm"))
>>> list(t.index[:4]), int(t.sum()) == 473 * 472 * 471 // 6
(['003', '012', '102', '021D'], True)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .pair_arrays import DirectedPairs, coded_undirected, directed_pairs
from .graph import Connectome
from .scheduler import compute, get_scheduler, share
from .schema import coerce_ids

logger = logging.getLogger(__name__)

__all__ = ["TRIAD_NAMES", "triad_census", "census_of", "dyad_census", "triangle_stats"]

#: The 16 MAN triad classes, in networkx order.
TRIAD_NAMES = ("003", "012", "102", "021D", "021U", "021C", "111D", "111U", "030T", "030C", "201",
               "120D", "120U", "120C", "210", "300")

# networkx's TRICODES: 6-bit triad code -> class number (1-based)
_TRICODES = (1, 2, 2, 3, 2, 4, 6, 8, 2, 6, 5, 7, 3, 8, 7, 11, 2, 6, 4, 8, 5, 9, 9, 13, 6, 10, 9, 14, 7, 14,
             12, 15, 2, 5, 6, 7, 6, 9, 10, 14, 4, 9, 9, 12, 8, 13, 14, 15, 3, 7, 8, 11, 7, 12, 14, 15, 8, 14,
             13, 15, 11, 15, 15, 16)
_LUT = np.array([c - 1 for c in _TRICODES], dtype=np.int64)


class _Oriented:
    """Rank-oriented undirected adjacency with dyad codes, plus per-node counts."""

    def __init__(self, g: DirectedPairs) -> None:
        indptr, indices, codes = coded_undirected(g)
        n = g.n
        deg = np.diff(indptr)
        rows = np.repeat(np.arange(n, dtype=np.int64), deg)
        self.out_only = np.bincount(rows[codes == 1], minlength=n).astype(np.int64)
        self.in_only = np.bincount(rows[codes == 2], minlength=n).astype(np.int64)
        self.mutual = np.bincount(rows[codes == 3], minlength=n).astype(np.int64)
        self.deg = deg.astype(np.int64)
        # orient by (degree, index): each triangle is found once, from its lowest vertex
        rank = np.empty(n, np.int64)
        rank[np.lexsort((np.arange(n), deg))] = np.arange(n)
        keep = rank[indices] > rank[rows]
        o_rows = rows[keep]
        self.indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(o_rows, minlength=n), out=self.indptr[1:])
        self.indices = indices[keep]
        self.codes = codes[keep].astype(np.int64)
        self.n = n

    def blocks(self, k: int) -> list[tuple[int, int]]:
        """About ``k`` node ranges of similar intersection work."""
        out_deg = np.diff(self.indptr)
        rows = np.repeat(np.arange(self.n), out_deg)
        work = np.bincount(rows, weights=(out_deg[rows] + out_deg[self.indices]).astype(float),
                           minlength=self.n) + 1.0
        cum = np.cumsum(work)
        cuts = np.searchsorted(cum, cum[-1] * np.arange(1, k) / k)
        bounds = np.unique(np.concatenate([[0], cuts, [self.n]]))
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def _block(o: _Oriented, lo: int, hi: int, per_node: bool) -> tuple:
    from .kernels import triangles  # lazy: imports numba

    arr = np.zeros((o.n, 2) if per_node else (0, 2), np.int64)
    tri, wedge, asym, mut = triangles(o.indptr, o.indices, o.codes, lo, hi, _LUT, arr)
    return tri, wedge, int(asym), int(mut), (arr if per_node else None)


def _run_blocks(o: _Oriented, n_blocks: int | None, per_node: bool, scheduler: Any) -> tuple:
    import dask

    if n_blocks is None:
        n_blocks = 1 if len(o.indices) < 200_000 else 8
    if n_blocks <= 1:
        parts = [_block(o, 0, o.n, per_node)]
    else:
        sched = get_scheduler(scheduler)
        shared = share(o, sched)  # sent to each worker once, not inside every task
        tasks = [dask.delayed(_block, pure=True)(shared, lo, hi, per_node) for lo, hi in o.blocks(n_blocks)]
        parts = list(compute(*tasks, scheduler=sched))
    tri = sum(p[0] for p in parts)
    wedge = sum(p[1] for p in parts)
    asym = sum(p[2] for p in parts)
    mut = sum(p[3] for p in parts)
    nodes = sum(p[4] for p in parts) if per_node else None
    return tri, wedge, asym, mut, nodes


def census_of(g: DirectedPairs, *, blocks: int | None = None, scheduler: Any = None) -> np.ndarray:
    """Triad census of index arrays: 16 counts in :data:`TRIAD_NAMES` order.

    Examples
    --------
    >>> from connectome.pair_arrays import from_arrays
    >>> census_of(from_arrays(3, [0, 1, 0], [1, 2, 2])).tolist()  # a feed-forward loop
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    """
    o = _Oriented(g)
    tri, closed, asym_tri, mut_tri, _ = _run_blocks(o, blocks, False, scheduler)
    return _assemble(o, tri, closed, asym_tri, mut_tri)


def _assemble(o: _Oriented, tri: np.ndarray, closed: np.ndarray, asym_tri: int, mut_tri: int) -> np.ndarray:
    n = o.n
    out_o, in_o, mut, deg = o.out_only, o.in_only, o.mutual, o.deg
    c = np.zeros(16, dtype=object)

    def pairs(x: np.ndarray) -> int:
        return int((x * (x - 1) // 2).sum())

    wedges = {3: pairs(out_o), 4: pairs(in_o), 5: int((out_o * in_o).sum()),
              6: int((mut * in_o).sum()), 7: int((mut * out_o).sum()), 10: pairs(mut)}
    # check the wedge-class assignment against the lookup table (111D: mutual + an in-edge)
    assert _LUT[3 | (2 << 2)] == 6 and _LUT[3 | (1 << 2)] == 7
    for k, w in wedges.items():
        c[k] = w - int(closed[k])
    for k in (8, 9, 11, 12, 13, 14, 15):
        c[k] = int(tri[k])
    n_asym = int((out_o + in_o).sum()) // 2
    n_mut = int(mut.sum()) // 2
    c[1] = n * n_asym - int((deg * (out_o + in_o)).sum()) + asym_tri
    c[2] = n * n_mut - int((deg * mut).sum()) + mut_tri
    c[0] = n * (n - 1) * (n - 2) // 6 - int(sum(c[1:]))
    return c.astype(np.int64)


def triad_census(c: Connectome, *, nodelist: Iterable[Any] | None = None, edge_kind: str | None = "chemical",
                 min_synapses: int | None = None, blocks: int | None = None, scheduler: Any = None) -> pd.Series:
    """Exact triad census of a connectome, equal to ``networkx.triadic_census``.

    Parameters
    ----------
    c : Connectome
    nodelist : iterable of root ids, optional
        As networkx's ``nodelist``: count only the triads with at least one node in the list
        (the census of the whole graph minus that of the graph induced on the other nodes).
    edge_kind : str or None
        Edges that connect a dyad (default chemical synapses).
    min_synapses : int, optional
        Only pairs with at least this many synapses are connected.
    blocks : int, optional
        Number of node blocks (Dask tasks) for the triangle pass (default: 1
        for small graphs, 8 otherwise).
    scheduler : optional
        Dask scheduler (see :mod:`connectome.scheduler`).

    Returns
    -------
    pandas.Series
        Counts (int64) indexed by the 16 MAN codes ``'003'`` … ``'300'``.

    Raises
    ------
    InputError
        ``nodelist`` repeats a node or names a root id that is not a node (networkx's ValueError).

    Examples
    --------
    >>> import connectome as cx, networkx as nx
    >>> c = cx.load("celegans_witvliet2021_8")
    >>> ours = cx.triad_census(c)
    >>> ref = nx.triadic_census(cx.to_networkx(c, edge_kind="chemical"))
    >>> all(int(ours[k]) == v for k, v in ref.items())
    True
    >>> ava = cx.ids_of(c, cell_type="AVA")
    >>> sub = cx.triad_census(c, nodelist=ava)
    >>> ref = nx.triadic_census(cx.to_networkx(c, edge_kind="chemical"), nodelist=[int(x) for x in ava])
    >>> all(int(sub[k]) == v for k, v in ref.items())
    True
    """
    g = directed_pairs(c, edge_kind=edge_kind, min_synapses=min_synapses, self_loops=False, scheduler=scheduler)
    counts = census_of(g, blocks=blocks, scheduler=scheduler)
    if nodelist is not None:
        inside = _nodelist_mask(g, nodelist)
        counts = counts - census_of(_induced(g, ~inside), blocks=blocks, scheduler=scheduler)
    return pd.Series(counts, index=pd.Index(TRIAD_NAMES, name="triad"), name="count", dtype="int64")


def _nodelist_mask(g: DirectedPairs, nodelist: Iterable[Any]) -> np.ndarray:
    if isinstance(nodelist, (str, bytes)) or not isinstance(nodelist, Iterable):
        raise InputError(f"nodelist must be a list of root ids, not {type(nodelist).__name__}", "nodelist")
    ids = coerce_ids(pd.Series(list(nodelist), dtype=object), "nodelist")
    if len(np.unique(ids)) != len(ids):
        raise InputError("nodelist includes duplicate nodes; pass each root id once", "nodelist")
    pos = np.searchsorted(g.ids, ids)
    if len(g.ids):
        bad = (pos >= len(g.ids)) | (g.ids[np.minimum(pos, len(g.ids) - 1)] != ids)
    else:
        bad = np.ones(len(ids), bool)
    if bad.any():
        raise InputError(f"nodelist: root id {int(ids[bad][0])} is not a node of this connectome "
                         "(nodelist includes nodes not in the graph)", "nodelist")
    inside = np.zeros(g.n, dtype=bool)
    inside[pos] = True
    return inside


def _induced(g: DirectedPairs, keep: np.ndarray) -> DirectedPairs:
    """The subgraph induced on the nodes where ``keep`` is True, renumbered."""
    new = np.cumsum(keep) - 1
    e = keep[g.src] & keep[g.dst]
    return DirectedPairs(int(keep.sum()), new[g.src[e]], new[g.dst[e]], g.weight[e], g.ids[keep])


def dyad_census(c: Connectome, *, edge_kind: str | None = "chemical", min_synapses: int | None = None,
                scheduler: Any = None) -> pd.Series:
    """Mutual, asymmetric and null dyads (the MAN dyad census; autapses ignored).

    Examples
    --------
    >>> import connectome as cx
    >>> d = cx.dyad_census(cx.load("celegans_cook2019_herm"))
    >>> int(d.sum()) == 473 * 472 // 2
    True
    """
    g = directed_pairs(c, edge_kind=edge_kind, min_synapses=min_synapses, self_loops=False, scheduler=scheduler)
    key_fwd = g.src * np.int64(g.n) + g.dst
    key_rev = g.dst * np.int64(g.n) + g.src
    recip = np.isin(key_fwd, key_rev, assume_unique=True)
    mutual = int(recip.sum()) // 2
    asym = int(len(g.src) - 2 * mutual)
    null = g.n * (g.n - 1) // 2 - mutual - asym
    return pd.Series({"mutual": mutual, "asymmetric": asym, "null": null}, name="count", dtype="int64")


def triangle_stats(g: DirectedPairs, *, blocks: int | None = None, scheduler: Any = None
                   ) -> tuple[np.ndarray, np.ndarray, _Oriented]:
    """Per-node directed (Fagiolo) triangle weights and undirected triangle counts."""
    o = _Oriented(g)
    *_, nodes = _run_blocks(o, blocks, True, scheduler)
    return nodes[:, 0], nodes[:, 1], o
