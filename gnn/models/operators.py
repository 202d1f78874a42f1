"""Graph operators the models multiply with, built once per graph and device.

- ``"gcn"``: ``D^-1/2 (S + I) D^-1/2`` for ``S`` the undirected, unweighted graph
  (a CSR tensor for ``GCNConv(normalize=False)``);
- ``"undirected"``: ``S`` as a CSR tensor (for ``SAGEConv``'s mean aggregation);
- ``"out_mean"`` / ``"in_mean"``: synapse-weighted means over out- / in-partners,
  weights ``log1p(synapses)`` normalised per row (:class:`~connectome.gnn.sparse.SparseAdjacency`);
- ``"synapses"``: the synapse matrix itself (scipy, as given), for a model that builds what it
  needs from it once per graph (:class:`~connectome.gnn.models.partner_sage.PartnerSAGE` its partner-type profiles).

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> a = sp.csr_array(np.array([[0, 9.0, 0], [0, 0, 1.0], [0, 0, 0]]))
>>> ops = build_operators(a, ["out_mean", "gcn"])
>>> ops["out_mean"].matrix.to_dense()[1].tolist()
[0.0, 0.0, 1.0]
>>> sorted(ops)
['gcn', 'out_mean']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..sparse import SparseAdjacency, csr_tensor

__all__ = ["OPERATORS", "build_operators"]

OPERATORS = ("gcn", "undirected", "out_mean", "in_mean", "synapses")


def _row_normalize(m: Any) -> Any:
    import scipy.sparse as sp

    m = sp.csr_array(m, dtype=np.float64)
    s = np.asarray(m.sum(axis=1)).ravel()
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    return sp.diags_array(inv) @ m


def _undirected(adjacency: Any) -> Any:
    import scipy.sparse as sp

    b = sp.csr_array(adjacency, dtype=np.float64)
    b = ((b + b.T) > 0).astype(np.float64)
    b.setdiag(0)
    b.eliminate_zeros()
    return sp.csr_array(b)


def build_operators(adjacency: Any, names: Iterable[str], device: Any = "cpu") -> dict[str, Any]:
    """The operators in ``names`` for ``adjacency`` (synapses, pre → post, no self-loops)."""
    import scipy.sparse as sp

    out: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        if name == "gcn":
            s = _undirected(adjacency) + sp.eye_array(adjacency.shape[0])
            d = np.asarray(s.sum(axis=1)).ravel() ** -0.5
            out[name] = csr_tensor(sp.diags_array(d) @ s @ sp.diags_array(d), device)
        elif name == "undirected":
            out[name] = csr_tensor(_undirected(adjacency), device)
        elif name in ("out_mean", "in_mean"):
            w = sp.csr_array(adjacency, dtype=np.float64)
            w.data = np.log1p(w.data)
            if name == "in_mean":
                w = sp.csr_array(w.T)
            out[name] = SparseAdjacency.from_scipy(_row_normalize(w), device)
        elif name == "synapses":
            out[name] = adjacency
        else:
            raise KeyError(f"unknown operator {name!r}; known: {OPERATORS}")
    return out
