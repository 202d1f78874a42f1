"""Index arrays of a connectome's directed graph: the shared input of census,
null models, statistics and motif queries.

Nodes are numbered ``0..n-1`` in ``root_id`` order (the node table's order), so
a node index compares like its root id. Edges are (pre, post) neuron *pairs*
with synapse counts summed over neuropils; built from the Dask edge table by
:func:`connectome.pair_totals`, never as a dense matrix.

Examples
--------
>>> import connectome as cx
>>> g = directed_pairs(cx.load("celegans_cook2019_herm"))
>>> g.n, len(g.src) == len(g.dst)
(473, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError
from .typelevel import pair_totals
from .validate import check_int
from .graph import Connectome
from .schema import ID_DTYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT

__all__ = ["DirectedPairs", "directed_pairs", "csr_arrays", "coded_undirected", "from_arrays"]


@dataclass(frozen=True)
class DirectedPairs:
    """A simple directed graph as arrays.

    Attributes
    ----------
    n : int
        Number of nodes.
    src, dst : numpy.ndarray of int64
        Edge endpoints (node indices), sorted by (src, dst), no duplicates.
    weight : numpy.ndarray of int64
        Synapses per edge.
    ids : numpy.ndarray of int64
        Root id of each node index.
    """

    n: int
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    ids: np.ndarray

    @property
    def m(self) -> int:
        """Number of edges."""
        return int(len(self.src))

    def without_self_loops(self) -> DirectedPairs:
        """The same graph with autapses removed."""
        keep = self.src != self.dst
        return DirectedPairs(self.n, self.src[keep], self.dst[keep], self.weight[keep], self.ids)


def _unique_sorted(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique values of a sorted array and the index where each run starts."""
    if len(key) == 0:
        return key, np.zeros(0, np.int64)
    first = np.empty(len(key), bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    start = np.flatnonzero(first)
    return key[start], start


def from_arrays(n: int, src: Any, dst: Any, weight: Any = None, ids: Any = None) -> DirectedPairs:
    """Build :class:`DirectedPairs` from raw index arrays (deduplicated and sorted).

    Examples
    --------
    >>> g = from_arrays(3, [2, 0, 0], [1, 1, 1])
    >>> g.src.tolist(), g.dst.tolist(), g.weight.tolist()
    ([0, 2], [1, 1], [2, 1])
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if len(src) != len(dst):
        raise InputError("src and dst must have the same length", "dst")
    if len(src) and (src.min() < 0 or dst.min() < 0 or src.max() >= n or dst.max() >= n):
        raise InputError(f"node indices must lie in [0, {n})", "src")
    w = np.ones(len(src), np.int64) if weight is None else np.asarray(weight, dtype=np.int64)
    key = src * np.int64(n) + dst
    order = np.argsort(key, kind="stable")
    key = key[order]
    uniq, start = _unique_sorted(key)
    w = np.add.reduceat(w[order], start) if len(key) else w
    ids = np.arange(n, dtype=ID_DTYPE) if ids is None else np.asarray(ids, dtype=ID_DTYPE)
    return DirectedPairs(int(n), uniq // n, uniq % n, w.astype(np.int64), ids)


def directed_pairs(c: Connectome, *, edge_kind: str | None = "chemical", min_synapses: int | None = None,
                   self_loops: bool = True, scheduler: Any = None) -> DirectedPairs:
    """The directed neuron-pair graph of ``c`` as index arrays.

    Parameters
    ----------
    edge_kind : str or None
        Edge kind (default chemical synapses; ``None`` sums all kinds, so a
        gap junction makes a pair connected in both directions).
    min_synapses : int, optional
        Keep pairs with at least this many synapses (summed over neuropils).
    self_loops : bool
        Keep autapses (they never take part in a triad census).
    """
    key = ("directed_pairs", edge_kind, min_synapses, self_loops)
    return c.memo(key, lambda: _directed_pairs(c, edge_kind, min_synapses, self_loops, scheduler))


def _directed_pairs(c: Connectome, edge_kind: str | None, min_synapses: int | None, self_loops: bool,
                    scheduler: Any) -> DirectedPairs:
    check_int(min_synapses, "min_synapses", low=1, optional=True)
    ids = c.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
    p = pair_totals(c, edge_kind=edge_kind, scheduler=scheduler)
    if min_synapses is not None:
        p = p[p[SYNAPSE_COUNT] >= min_synapses]
    src = np.searchsorted(ids, p[PRE].to_numpy()).astype(np.int64)
    dst = np.searchsorted(ids, p[POST].to_numpy()).astype(np.int64)
    w = p[SYNAPSE_COUNT].to_numpy(dtype=np.int64)
    if not self_loops:
        keep = src != dst
        src, dst, w = src[keep], dst[keep], w[keep]
    # pair_totals is sorted by (pre, post) root ids == (src, dst) indices
    return DirectedPairs(len(ids), src, dst, w, ids)


def csr_arrays(n: int, src: np.ndarray, dst: np.ndarray, data: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """CSR (indptr, indices[, data]) with sorted column indices per row.

    Examples
    --------
    >>> indptr, indices, _ = csr_arrays(3, np.array([2, 0]), np.array([0, 1]))
    >>> indptr.tolist(), indices.tolist()
    ([0, 1, 1, 2], [1, 0])
    """
    key = src.astype(np.int64) * np.int64(n) + dst
    if len(key) > 1 and not np.all(key[1:] >= key[:-1]):
        order = np.argsort(key, kind="stable")
        src, dst = src[order], dst[order]
        data = None if data is None else data[order]
    counts = np.bincount(src, minlength=n)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, dst.astype(np.int64), data


def coded_undirected(g: DirectedPairs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The undirected simple graph under ``g`` (self-loops dropped) with dyad codes.

    Returns CSR ``(indptr, indices, codes)`` where, in row ``u``, the code of
    neighbour ``v`` is 1 if only u→v exists, 2 if only v→u, 3 if both.

    Examples
    --------
    >>> g = from_arrays(3, [0, 1, 1], [1, 0, 2])
    >>> indptr, indices, codes = coded_undirected(g)
    >>> indices[indptr[1]:indptr[2]].tolist(), codes[indptr[1]:indptr[2]].tolist()
    ([0, 2], [3, 1])
    """
    keep = g.src != g.dst
    s, d = g.src[keep], g.dst[keep]
    a = np.concatenate([s, d])
    b = np.concatenate([d, s])
    bit = np.concatenate([np.ones(len(s), np.int8), np.full(len(s), 2, np.int8)])
    key = a * np.int64(g.n) + b
    order = np.argsort(key, kind="stable")
    key = key[order]
    bit = bit[order]
    uniq, start = _unique_sorted(key)
    codes = np.bitwise_or.reduceat(bit, start) if len(key) else bit
    rows = uniq // g.n
    indptr = np.zeros(g.n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=g.n), out=indptr[1:])
    return indptr, (uniq % g.n).astype(np.int64), codes.astype(np.int8)
