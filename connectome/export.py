"""Exports: ``scipy.sparse`` adjacency with the id ↔ index map, and networkx graphs.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> adj = cx.to_csr(c)
>>> adj.matrix.shape == (c.n_nodes, c.n_nodes)
True
>>> g = cx.to_networkx(c, edge_kind="chemical")
>>> g.number_of_edges() == adj.matrix.nnz
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .typelevel import pair_totals
from .errors import InputError
from .schema import EDGE_KIND, EDGE_KINDS, ID_DTYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT, coerce_ids

if TYPE_CHECKING:  # graph.py imports this module; Connectome is named here for typing only
    from .graph import Connectome

__all__ = ["SparseGraph", "to_csr", "to_networkx"]


@dataclass(frozen=True)
class SparseGraph:
    """A sparse adjacency matrix and the root ids of its rows/columns.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
        ``matrix[i, j]`` = synapses from ``ids[i]`` to ``ids[j]`` (or 1 if unweighted).
    ids : numpy.ndarray of int64
        Root id of each row/column, sorted ascending.
    """

    matrix: Any
    ids: np.ndarray

    def index_of(self, root_ids: Any) -> np.ndarray:
        """Row/column indices of ``root_ids`` (raises for unknown ids).

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> g = SparseGraph(sp.csr_array((2, 2)), np.array([5, 9], dtype=np.int64))
        >>> g.index_of([9])
        array([1])
        """
        ids = coerce_ids(root_ids if not np.isscalar(root_ids) else [root_ids], "root_ids")
        idx = np.searchsorted(self.ids, ids)
        idx = np.clip(idx, 0, len(self.ids) - 1)
        bad = self.ids[idx] != ids if len(self.ids) else np.ones(len(ids), bool)
        if np.any(bad):
            raise InputError(f"root_ids: id {int(ids[bad][0])} is not a node of this graph", "root_ids")
        return idx

    def to_edges(self) -> pd.DataFrame:
        """Back to an edge list (pre, post, synapse_count), sorted by ids."""
        coo = self.matrix.tocoo()
        df = pd.DataFrame({PRE: self.ids[coo.row], POST: self.ids[coo.col], SYNAPSE_COUNT: coo.data.astype("int64")})
        return df.sort_values([PRE, POST], ignore_index=True)


def to_csr(c: Connectome, *, weight: str | None = SYNAPSE_COUNT, edge_kind: str | None = "chemical",
           scheduler: Any = None) -> SparseGraph:
    """Sparse adjacency (CSR) over all nodes, with the id ↔ index map.

    Parameters
    ----------
    weight : "synapse_count" or None
        Entries are synapse counts (summed over neuropils) or 1.
    edge_kind : str or None
        Edge kind to include (default chemical; ``None`` sums all kinds).

    Returns
    -------
    SparseGraph
        ``.matrix`` (``scipy.sparse.csr_array``, int64) and ``.ids`` (int64).

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> g = cx.to_csr(c)
    >>> int(g.matrix.sum()) == int(cx.pair_totals(c)["synapse_count"].sum())
    True
    """
    import scipy.sparse as sp

    if weight not in (SYNAPSE_COUNT, None):
        raise InputError(f"weight must be 'synapse_count' or None, not {weight!r}", "weight")
    ids = c.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
    pairs = pair_totals(c, edge_kind=edge_kind, scheduler=scheduler)
    row = np.searchsorted(ids, pairs[PRE].to_numpy())
    col = np.searchsorted(ids, pairs[POST].to_numpy())
    data = pairs[SYNAPSE_COUNT].to_numpy(dtype=np.int64) if weight else np.ones(len(pairs), np.int64)
    n = len(ids)
    mat = sp.csr_array((data, (row, col)), shape=(n, n))
    mat.sum_duplicates()
    mat.sort_indices()
    return SparseGraph(mat, ids)


def _clean(value: Any) -> Any:
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def to_networkx(c: Connectome, *, edge_kind: str | None = None, multigraph: bool = False,
                node_attributes: bool = True) -> Any:
    """A networkx graph with node labels and synapse counts as attributes.

    Parameters
    ----------
    edge_kind : str or None
        Keep only this kind (``None``: all kinds).
    multigraph : bool
        ``False`` (default): a ``DiGraph`` with one edge per (pre, post) pair,
        ``synapse_count`` summed over rows and a per-kind count (``chemical``,
        ``gap_junction``) when both kinds are present. ``True``: a
        ``MultiDiGraph`` with one edge per edge row and every column as attribute.
    node_attributes : bool
        Copy node label columns to node attributes (missing values omitted).

    Returns
    -------
    networkx.DiGraph or networkx.MultiDiGraph
        Nodes are root ids as Python ints.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> g = cx.to_networkx(c)
    >>> ava = int(cx.ids_of(c, name="AVAL")[0])
    >>> g.nodes[ava]["cell_type"]
    'AVA'
    """
    import networkx as nx

    if edge_kind is not None and edge_kind not in EDGE_KINDS:
        raise InputError(f"edge_kind: unknown kind {edge_kind!r}; use one of {list(EDGE_KINDS)} or None", "edge_kind")
    g = nx.MultiDiGraph() if multigraph else nx.DiGraph()
    g.graph.update({"name": c.name, "species": c.manifest.species})
    nodes = c.node_table()
    ids = [int(x) for x in nodes[ROOT_ID].to_numpy()]
    if node_attributes:
        cols = [col for col in nodes.columns if col != ROOT_ID]
        records = nodes[cols].astype(object).to_dict("records")
        g.add_nodes_from(
            (i, {k: _clean(v) for k, v in r.items() if _clean(v) is not None}) for i, r in zip(ids, records)
        )
    else:
        g.add_nodes_from(ids)
    e = c.edge_table()
    if edge_kind is not None:
        e = e[e[EDGE_KIND] == edge_kind]
    if multigraph:
        cols = [col for col in e.columns if col not in (PRE, POST)]
        recs = e[cols].astype(object).to_dict("records")
        g.add_edges_from(
            (int(a), int(b), {k: _clean(v) for k, v in r.items() if _clean(v) is not None})
            for a, b, r in zip(e[PRE].to_numpy(), e[POST].to_numpy(), recs)
        )
        return g
    agg = e.groupby([PRE, POST], sort=True)[[SYNAPSE_COUNT]].sum()
    if e[EDGE_KIND].nunique() > 1:
        per_kind = e.pivot_table(index=[PRE, POST], columns=EDGE_KIND, values=SYNAPSE_COUNT,
                                 aggfunc="sum", fill_value=0, observed=True)
        per_kind.columns = [str(k) for k in per_kind.columns]
        agg = agg.join(per_kind)
    cols = list(agg.columns)
    g.add_edges_from(
        (int(ab[0]), int(ab[1]), {k: int(v) for k, v in zip(cols, vals)})
        for ab, *vals in agg.itertuples(name=None)
    )
    return g
