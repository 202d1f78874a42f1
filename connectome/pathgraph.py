"""The neuron-pair graph as out- and in-CSR arrays: the shared input of partner tables, paths,
influence and information-flow layers.

A :class:`PairGraph` is built once per connectome and per (edge kind, synapse threshold)
from :func:`connectome.pair_arrays.directed_pairs` and cached on in-memory connectomes. Nodes
are numbered ``0..n-1`` in root-id order; edges are (pre, post) neuron pairs with synapses
summed over neuropils. Nothing here is dense.

Examples
--------
>>> import connectome as cx
>>> g = pair_graph(cx.load("celegans_cook2019_herm"))
>>> g.n, int(g.out_indptr[-1]) == g.m == int(g.in_indptr[-1])
(473, True)
>>> resolve_ids(cx.load("celegans_cook2019_herm"), [1, 2], "sources")
Traceback (most recent call last):
...
connectome.errors.IdError: sources: 2 id(s) not in celegans_cook2019_herm: 1, 2; check the ids (cx.ids_of(c, ...)) and the dataset version: root ids change with proofreading
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ColumnError, IdError, InputError
from .graph import Connectome
from .pair_arrays import directed_pairs
from .schema import EDGE_KINDS, ID_DTYPE, ROOT_ID, coerce_ids
from .validate import check_int

logger = logging.getLogger(__name__)

__all__ = ["PairGraph", "pair_graph", "resolve_ids", "check_min_synapses", "check_edge_kind", "label_columns",
           "DEFAULT_LABELS", "graph_metadata", "describe_filters"]

#: Node columns shown beside root ids by default (those the store has, in this order).
DEFAULT_LABELS = ("name", "cell_type", "class", "super_class", "simple_group", "side", "nt_type")


@dataclass(frozen=True)
class PairGraph:
    """A directed neuron-pair graph as CSR arrays in both directions.

    Attributes
    ----------
    n, m : int
        Nodes and edges (neuron pairs).
    ids : numpy.ndarray of int64
        Root id of each node index (sorted).
    src, dst, weight : numpy.ndarray
        Edges sorted by (src, dst); ``weight`` is synapses (int64).
    out_indptr : numpy.ndarray
        Out-CSR row pointers: the out-edges of ``u`` are ``out_indptr[u]:out_indptr[u + 1]``
        (positions in ``src/dst/weight``).
    in_indptr, in_order : numpy.ndarray
        In-CSR: the in-edges of ``v`` are ``in_order[in_indptr[v]:in_indptr[v + 1]]`` (edge
        positions, sorted by source).
    in_total, out_total : numpy.ndarray of int64
        Synapses onto / from each node in this graph.
    """

    n: int
    ids: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    out_indptr: np.ndarray
    in_indptr: np.ndarray
    in_order: np.ndarray
    in_total: np.ndarray
    out_total: np.ndarray

    @property
    def m(self) -> int:
        """Number of edges."""
        return int(len(self.src))

    @property
    def in_src(self) -> np.ndarray:
        """Sources of the in-CSR edges (``src[in_order]``)."""
        return self.src[self.in_order]

    def edge_weight(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Synapses of edges ``u[i] -> v[i]`` (0 where there is no edge).

        Examples
        --------
        >>> import numpy as np
        >>> from connectome.pair_arrays import from_arrays
        >>> g = PairGraph.from_pairs(from_arrays(3, [0, 1], [1, 2], [4, 7]))
        >>> g.edge_weight(np.array([0, 1, 2]), np.array([1, 2, 0])).tolist()
        [4, 7, 0]
        """
        key = self.src * np.int64(self.n) + self.dst
        want = np.asarray(u, np.int64) * np.int64(self.n) + np.asarray(v, np.int64)
        pos = np.clip(np.searchsorted(key, want), 0, max(len(key) - 1, 0))
        if len(key) == 0:
            return np.zeros(len(want), np.int64)
        return np.where(key[pos] == want, self.weight[pos], 0)

    @classmethod
    def from_pairs(cls, g: Any) -> PairGraph:
        """From :class:`~connectome.pair_arrays.DirectedPairs` (sorted by (src, dst))."""
        n = int(g.n)
        src = np.ascontiguousarray(g.src, np.int64)
        dst = np.ascontiguousarray(g.dst, np.int64)
        w = np.ascontiguousarray(g.weight, np.int64)
        out_indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=out_indptr[1:])
        in_order = np.argsort(dst, kind="stable").astype(np.int64)  # stable: sources stay sorted per target
        in_indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(dst, minlength=n), out=in_indptr[1:])
        in_total = np.bincount(dst, weights=w, minlength=n).astype(np.int64)
        out_total = np.bincount(src, weights=w, minlength=n).astype(np.int64)
        return cls(n, np.asarray(g.ids, ID_DTYPE), src, dst, w, out_indptr, in_indptr, in_order, in_total, out_total)


def check_edge_kind(edge_kind: Any) -> None:
    """Refuse an unknown edge kind (``None`` means every kind)."""
    if edge_kind is not None and edge_kind not in EDGE_KINDS:
        raise InputError(f"edge_kind: unknown kind {edge_kind!r}; use one of {list(EDGE_KINDS)} or None", "edge_kind")


def check_min_synapses(min_synapses: Any, parameter: str = "min_synapses") -> int:
    """``min_synapses`` as a positive int (``None`` is 1).

    Examples
    --------
    >>> check_min_synapses(None), check_min_synapses(5)
    (1, 5)
    """
    if min_synapses is None:
        return 1
    return check_int(min_synapses, parameter, low=1, what="a positive integer (FlyWire practice: 5)")


def pair_graph(c: Connectome, *, edge_kind: str | None = "chemical", min_synapses: int | None = None,
               self_loops: bool = True, scheduler: Any = None) -> PairGraph:
    """The pair graph of ``c`` (cached on in-memory connectomes).

    Parameters
    ----------
    edge_kind : str or None
        Edge kind (default chemical synapses; ``None`` sums every kind).
    min_synapses : int, optional
        Keep pairs with at least this many synapses (summed over neuropils).
    self_loops : bool
        Keep autapses.
    """
    check_edge_kind(edge_kind)
    k = check_min_synapses(min_synapses)

    def build() -> PairGraph:
        g = directed_pairs(c, edge_kind=edge_kind, min_synapses=None if k == 1 else k, self_loops=self_loops,
                           scheduler=scheduler)
        return PairGraph.from_pairs(g)

    return c.memo(("pair_graph", edge_kind, k, bool(self_loops)), build)


def resolve_ids(c: Connectome | np.ndarray, ids: Any, parameter: str, *, allow_empty: bool = False,
                name: str | None = None) -> np.ndarray:
    """Node indices of root ``ids`` (unique, sorted), refusing unknown ids and an empty set.

    ``c`` is a connectome or the sorted array of its root ids (then ``name`` names the dataset in
    messages).

    Raises
    ------
    IdError
        Ids that are not nodes (the first five are listed) or malformed ids.
    InputError
        An empty set (unless ``allow_empty``).
    """
    if isinstance(ids, (int, np.integer, str)):
        ids = [ids]
    if isinstance(ids, pd.DataFrame):
        raise InputError(f"{parameter}: give root ids (a list, array or Series), not a DataFrame", parameter)
    arr = coerce_ids(ids if isinstance(ids, (np.ndarray, pd.Series)) else pd.Series(list(ids), dtype=object),
                     parameter)
    arr = np.unique(arr)
    if len(arr) == 0:
        if allow_empty:
            return np.zeros(0, np.int64)
        raise InputError(f"{parameter}: no neurons given (an empty set); pass at least one root id, e.g. "
                         f"cx.ids_of(c, cell_type=...)", parameter)
    known = c if isinstance(c, np.ndarray) else c.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
    pos = np.clip(np.searchsorted(known, arr), 0, max(len(known) - 1, 0))
    bad = (known[pos] != arr) if len(known) else np.ones(len(arr), bool)
    if bad.any():
        missing = arr[bad]
        shown = ", ".join(str(int(x)) for x in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        name = name or ("this graph" if isinstance(c, np.ndarray) else c.name)
        raise IdError(f"{parameter}: {len(missing)} id(s) not in {name}: {shown}{more}; check the ids "
                      "(cx.ids_of(c, ...)) and the dataset version: root ids change with proofreading", parameter)
    return pos.astype(np.int64)


def describe_filters(filters: dict[str, Any]) -> str:
    """``filters`` (:attr:`Connectome.filters`) in words, for metadata and messages.

    Examples
    --------
    >>> describe_filters({"min_synapses": 5, "edge_kind": ["chemical"]})
    "min_synapses=5, edge_kind=['chemical']"
    """
    return ", ".join(f"{k}={v!r}" for k, v in filters.items())


def graph_metadata(c: Connectome) -> dict[str, Any]:
    """What every result records about the graph it was computed on: ``dataset`` and
    ``graph_filters`` (the filters applied to ``c``, see :attr:`Connectome.filters`; ``{}`` for a
    store as loaded). A threshold of the graph and a threshold of the analysis give different
    denominators; this tells them apart.

    Examples
    --------
    >>> import connectome as cx
    >>> graph_metadata(cx.filter_edges(cx.load("celegans_cook2019_herm"), min_synapses=5))
    {'dataset': 'celegans_cook2019_herm', 'graph_filters': {'min_synapses': 5}}
    """
    return {"dataset": c.name, "graph_filters": c.filters}


def label_columns(c: Connectome, labels: Any) -> list[str]:
    """The node columns to show: ``labels`` (checked), or :data:`DEFAULT_LABELS` present in ``c``."""
    have = c.label_columns
    if labels is None:
        return [x for x in DEFAULT_LABELS if x in have]
    if isinstance(labels, str):
        labels = [labels]
    out = []
    for col in labels:
        if col not in have:
            raise ColumnError("nodes", col, have, "(labels= names node columns to show)")
        out.append(col)
    return out
