"""Connectivity statistics that papers report, from the edge table, never as a dense matrix.

Everything is computed on the directed neuron-pair graph (:mod:`connectome.pair_arrays`)
with sparse arrays: counts and density, degree and synapse-count
distributions, reciprocity by pairs and by synapses, connection probability
by type, directed clustering (Fagiolo 2007, as ``networkx.clustering``),
rich-club coefficients (as ``networkx.rich_club_coefficient``), strongly and
weakly connected components, and shortest path lengths (exact on small
graphs, from a stated random sample of sources on large ones).

Examples
--------
>>> import connectome as cx
>>> s = cx.stats(cx.load("celegans_cook2019_herm"))
>>> s["nodes"], round(s["reciprocity"]["pairs"], 3)
(473, 0.276)
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from .pair_arrays import DirectedPairs, coded_undirected, directed_pairs
from .errors import InputError
from .triads import triangle_stats
from .typelevel import collapse
from .validate import check_int
from .graph import Connectome
from .schema import ROOT_ID

logger = logging.getLogger(__name__)

__all__ = [
    "stats", "degree_distribution", "synapse_count_distribution", "reciprocity", "connection_probability",
    "clustering", "rich_club", "components", "path_lengths", "EXACT_PATHS_MAX_NODES",
]

#: Graphs with at most this many nodes get exact path-length statistics by default.
EXACT_PATHS_MAX_NODES = 5000


def _pairs(c: Connectome | DirectedPairs, edge_kind: str | None, min_synapses: int | None,
           scheduler: Any = None) -> DirectedPairs:
    if isinstance(c, DirectedPairs):
        return c
    return directed_pairs(c, edge_kind=edge_kind, min_synapses=min_synapses, self_loops=False, scheduler=scheduler)


def _csr(g: DirectedPairs) -> Any:
    import scipy.sparse as sp

    return sp.csr_array((np.ones(g.m, np.int8), (g.src, g.dst)), shape=(g.n, g.n))


def degree_distribution(c: Connectome, direction: str = "out", *, edge_kind: str | None = "chemical",
                        min_synapses: int | None = None) -> pd.DataFrame:
    """How many neurons have each number of partners (autapses excluded).

    Parameters
    ----------
    direction : {"out", "in", "total"}
        Out-degree, in-degree, or their sum.

    Returns
    -------
    pandas.DataFrame
        ``degree``, ``count`` (neurons), sorted by degree.

    Examples
    --------
    >>> import connectome as cx
    >>> d = cx.degree_distribution(cx.load("celegans_cook2019_herm"), "in")
    >>> int(d["count"].sum())
    473
    """
    if direction not in ("out", "in", "total"):
        raise InputError(f"direction must be 'out', 'in' or 'total', not {direction!r}", "direction")
    g = _pairs(c, edge_kind, min_synapses)
    out_d = np.bincount(g.src, minlength=g.n)
    in_d = np.bincount(g.dst, minlength=g.n)
    deg = {"out": out_d, "in": in_d, "total": out_d + in_d}[direction]
    counts = np.bincount(deg)
    keep = counts > 0
    return pd.DataFrame({"degree": np.flatnonzero(keep), "count": counts[keep]})


def synapse_count_distribution(c: Connectome, *, edge_kind: str | None = "chemical") -> pd.DataFrame:
    """How many neuron pairs have each synapse count (summed over neuropils).

    Examples
    --------
    >>> import connectome as cx
    >>> d = cx.synapse_count_distribution(cx.load("celegans_cook2019_herm"))
    >>> int(d.iloc[0]["synapse_count"]), int(d["pairs"].sum())
    (1, 4879)
    """
    g = directed_pairs(c, edge_kind=edge_kind, self_loops=True)
    vals, counts = np.unique(g.weight, return_counts=True)
    return pd.DataFrame({"synapse_count": vals, "pairs": counts})


def reciprocity(c: Connectome | DirectedPairs, *, edge_kind: str | None = "chemical",
                min_synapses: int | None = None) -> dict[str, float]:
    """Reciprocity by pairs and by synapses, with the Erdős–Rényi expectation.

    Returns
    -------
    dict
        ``pairs``: fraction of connected ordered pairs whose reverse pair is also
        connected (``networkx.overall_reciprocity``); ``synapses``: fraction of
        synapses on such pairs; ``expected_er``: the density (what ``pairs``
        would be by chance); ``ratio``: ``pairs / expected_er``.

    Examples
    --------
    >>> import connectome as cx
    >>> r = cx.reciprocity(cx.load("celegans_cook2019_herm"))
    >>> bool(r["pairs"] > r["expected_er"])
    True
    """
    g = _pairs(c, edge_kind, min_synapses)
    if g.m == 0:
        return {"pairs": float("nan"), "synapses": float("nan"), "expected_er": 0.0, "ratio": float("nan")}
    fwd = g.src * np.int64(g.n) + g.dst
    rev = g.dst * np.int64(g.n) + g.src
    recip = np.isin(fwd, rev, assume_unique=True)
    density = g.m / (g.n * (g.n - 1)) if g.n > 1 else 0.0
    pairs = float(recip.mean())
    return {"pairs": pairs, "synapses": float(g.weight[recip].sum() / g.weight.sum()),
            "expected_er": density, "ratio": pairs / density if density else float("nan")}


def connection_probability(c: Connectome, by: str = "cell_type", *, min_synapses: int | None = None,
                           edge_kind: str | None = "chemical") -> pd.DataFrame:
    """Type × type connection probability (pre types as rows, post types as columns).

    See :func:`connectome.collapse` for the counts behind it.

    Examples
    --------
    >>> import connectome as cx
    >>> p = cx.connection_probability(cx.load("celegans_cook2019_herm"), by="super_class", min_synapses=5)
    >>> bool(0 < p.loc["sensory", "interneuron"] < 1)
    True
    """
    t = collapse(c, by=by, min_synapses=min_synapses, edge_kind=edge_kind)
    return t.pivot(index=f"pre_{by}", columns=f"post_{by}", values="connection_probability").fillna(0.0)


def clustering(c: Connectome | DirectedPairs, *, edge_kind: str | None = "chemical",
               min_synapses: int | None = None, scheduler: Any = None) -> pd.Series:
    """Directed clustering coefficient of every neuron (Fagiolo 2007), as ``networkx.clustering``.

    Returns
    -------
    pandas.Series
        Indexed by root id.

    Examples
    --------
    >>> import connectome as cx, networkx as nx
    >>> c = cx.load("celegans_witvliet2021_8")
    >>> ours = cx.clustering(c)
    >>> ref = nx.clustering(cx.to_networkx(c, edge_kind="chemical"))
    >>> bool(max(abs(ours[k] - v) for k, v in ref.items()) < 1e-12)
    True
    """
    g = _pairs(c, edge_kind, min_synapses, scheduler)
    weights, _, o = triangle_stats(g, scheduler=scheduler)
    dt = (o.out_only + o.in_only + 2 * o.mutual).astype(np.float64)
    db = o.mutual.astype(np.float64)
    denom = dt * (dt - 1) - 2 * db
    with np.errstate(divide="ignore", invalid="ignore"):
        cc = np.where(weights > 0, weights / denom, 0.0)
    return pd.Series(cc, index=pd.Index(g.ids, name=ROOT_ID), name="clustering")


def rich_club(c: Connectome | DirectedPairs, *, edge_kind: str | None = "chemical",
              min_synapses: int | None = None) -> pd.Series:
    """Rich-club coefficient φ(k) of the undirected graph (as ``networkx.rich_club_coefficient``,
    ``normalized=False``): the density among neurons with more than k partners.

    Examples
    --------
    >>> import connectome as cx
    >>> rc = cx.rich_club(cx.load("celegans_cook2019_herm"))
    >>> rc.index.name, bool(rc.iloc[-1] >= rc.iloc[0])
    ('k', True)
    """
    g = _pairs(c, edge_kind, min_synapses)
    indptr, indices, _ = coded_undirected(g)
    deg = np.diff(indptr)
    rows = np.repeat(np.arange(g.n), deg)
    upper = rows < indices
    min_deg = np.minimum(deg[rows[upper]], deg[indices[upper]])
    m = int(upper.sum())
    if m == 0:
        return pd.Series([], dtype=float, index=pd.Index([], name="k"), name="rich_club")
    hist = np.bincount(deg)
    nk = g.n - np.cumsum(hist)  # nodes with degree > k
    ek = m - np.cumsum(np.bincount(min_deg, minlength=len(hist)))[: len(hist)]  # edges among them
    k = np.flatnonzero(nk > 1)  # a prefix: nk decreases
    phi = 2.0 * ek[k] / (nk[k] * (nk[k] - 1.0))
    return pd.Series(phi, index=pd.Index(k, name="k"), name="rich_club")


def components(c: Connectome | DirectedPairs, *, edge_kind: str | None = "chemical",
               min_synapses: int | None = None) -> dict[str, Any]:
    """Strongly and weakly connected components (sizes; isolated neurons count as components).

    Examples
    --------
    >>> import connectome as cx
    >>> comp = cx.components(cx.load("celegans_cook2019_herm"))
    >>> comp["weak"]["largest"] >= comp["strong"]["largest"]
    True
    """
    from scipy.sparse.csgraph import connected_components

    g = _pairs(c, edge_kind, min_synapses)
    a = _csr(g)
    out: dict[str, Any] = {}
    for kind in ("strong", "weak"):
        ncomp, labels = connected_components(a, directed=True, connection=kind)
        sizes = np.sort(np.bincount(labels))[::-1]
        out[kind] = {"count": int(ncomp), "largest": int(sizes[0]) if len(sizes) else 0,
                     "largest_fraction": float(sizes[0] / g.n) if g.n else 0.0,
                     "sizes": sizes[:10].tolist()}
    return out


def path_lengths(c: Connectome | DirectedPairs, *, sample: int | None = None, seed: int = 0,
                 edge_kind: str | None = "chemical", min_synapses: int | None = None,
                 chunk: int = 64) -> dict[str, Any]:
    """Directed shortest path lengths (hops): exact on small graphs, sampled on large ones.

    Parameters
    ----------
    sample : int, optional
        Number of source neurons drawn at random (seeded). Default: all
        sources when the graph has at most :data:`EXACT_PATHS_MAX_NODES`
        nodes, else 256. The answer states which it is.
    seed : int
        Seed for the sample of sources.
    chunk : int
        Sources per call of the breadth-first kernel (64 searches advance together, one bit each
        in a word per node: memory ``4 × n`` words, whatever ``chunk``).

    Returns
    -------
    dict
        ``exact``, ``sources``, ``mean`` and ``median`` over reachable ordered
        pairs, ``diameter`` (longest shortest path seen), ``reachable_fraction``,
        and ``distribution`` ({hops: pairs}).

    Examples
    --------
    >>> import connectome as cx
    >>> p = cx.path_lengths(cx.load("celegans_witvliet2021_8"))
    >>> p["exact"], p["sources"]
    (True, 219)
    """
    from .kernels import hop_counts  # lazy: imports numba

    g = _pairs(c, edge_kind, min_synapses)
    check_int(sample, "sample", low=1, optional=True, what="a positive number of sources")
    check_int(chunk, "chunk", low=1, what="a positive number of sources per batch")
    if sample is None:
        sample = g.n if g.n <= EXACT_PATHS_MAX_NODES else 256
    exact = sample >= g.n
    sources = np.arange(g.n) if exact else np.sort(np.random.default_rng(seed).choice(g.n, size=sample,
                                                                                      replace=False))
    a = _csr(g)
    hist = np.zeros(g.n + 1, np.int64)
    indptr, indices = a.indptr.astype(np.int64), a.indices.astype(np.int64)
    for i in range(0, len(sources), chunk):
        hist += hop_counts(indptr, indices, g.n, sources[i:i + chunk].astype(np.int64))
    hist = np.trim_zeros(hist, "b") if hist.any() else np.zeros(1, np.int64)
    total = int(hist.sum())
    possible = len(sources) * (g.n - 1)
    dist = {int(k): int(v) for k, v in enumerate(hist) if v}
    if total:
        cum = np.cumsum(hist)
        median = float(np.searchsorted(cum, (total + 1) / 2))
        mean = float((np.arange(len(hist)) * hist).sum() / total)
        diameter = int(np.flatnonzero(hist)[-1])
    else:
        median = mean = float("nan")
        diameter = 0
    return {"exact": bool(exact), "sources": int(len(sources)), "mean": mean, "median": median,
            "diameter": diameter, "reachable_fraction": total / possible if possible else float("nan"),
            "distribution": dist}


def _summary(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"mean": float("nan"), "median": float("nan"), "max": 0}
    return {"mean": float(np.mean(x)), "median": float(np.median(x)), "max": int(np.max(x))}


def stats(c: Connectome, *, edge_kind: str | None = "chemical", min_synapses: int | None = None,
          path_samples: int | None = None, seed: int = 0, scheduler: Any = None) -> dict[str, Any]:
    """The connectivity statistics of ``c`` in one JSON-friendly dict.

    Parameters
    ----------
    edge_kind, min_synapses :
        Which neuron pairs count as connected (default chemical synapses, any count).
    path_samples : int, optional
        Sources for path lengths (default: exact up to
        :data:`EXACT_PATHS_MAX_NODES` nodes, else 256 sampled sources).
    seed : int
        Seed of the source sample.

    Returns
    -------
    dict
        ``nodes``, ``edges`` (connected ordered pairs, autapses excluded),
        ``autapses``, ``density``, ``degree`` (in/out summaries),
        ``synapses`` (total and per pair), ``reciprocity``, ``clustering``
        (average directed clustering), ``components``, ``rich_club`` (φ at
        the degree quartiles), ``path_lengths``, and the parameters used.
    """
    g_all = directed_pairs(c, edge_kind=edge_kind, min_synapses=min_synapses, self_loops=True, scheduler=scheduler)
    g = g_all.without_self_loops()
    out_d = np.bincount(g.src, minlength=g.n)
    in_d = np.bincount(g.dst, minlength=g.n)
    cc = clustering(g, scheduler=scheduler)
    rc = rich_club(g)
    qs = sorted({int(np.percentile(out_d + in_d, q)) for q in (25, 50, 75, 90)})
    return {
        "dataset": c.name,
        "params": {"edge_kind": edge_kind, "min_synapses": min_synapses, "path_samples": path_samples, "seed": seed},
        "nodes": int(g.n),
        "edges": int(g.m),
        "autapses": int(g_all.m - g.m),
        "density": float(g.m / (g.n * (g.n - 1))) if g.n > 1 else 0.0,
        "degree": {"out": _summary(out_d), "in": _summary(in_d)},
        "synapses": {"total": int(g_all.weight.sum()), "per_pair": _summary(g.weight),
                     "pairs_with_5_or_more": int((g.weight >= 5).sum())},
        "reciprocity": reciprocity(g),
        "clustering": {"average": float(cc.mean()) if len(cc) else float("nan"),
                       "nonzero_fraction": float((cc > 0).mean()) if len(cc) else float("nan")},
        "components": components(g),
        "rich_club": {str(k): float(rc.get(k, float("nan"))) for k in qs if k in rc.index},
        "path_lengths": path_lengths(g, sample=path_samples, seed=seed),
    }
