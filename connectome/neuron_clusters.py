"""Cluster neurons on their connectivity similarity: Ward or average linkage (scipy), Leiden (igraph).

``cx.cluster`` computes :func:`connectome.similarity` and clusters on it:

``"ward"``, ``"average"``
    Hierarchical clustering (``scipy.cluster.hierarchy.linkage``) of the dense
    block of the chosen neurons (at most ``max_hierarchical``, default 20,000).
    Distances: for cosine, ``sqrt(2 (1 - cos))`` — the Euclidean distance of the
    unit-length vectors, so Ward's criterion is well defined; for the other
    metrics ``1 - similarity`` (Ward then runs on a non-Euclidean distance, as
    is common; the metadata says so). Cut into ``n_clusters`` clusters or at
    ``threshold``.
``"leiden"``
    The Leiden algorithm (Traag et al. 2019) of ``igraph``
    (``Graph.community_leiden``, modularity, run until stable) on the
    undirected graph of each neuron's ``top_k`` most similar neurons, weighted
    by similarity; ``resolution`` sets the cluster size. Works at FlyWire
    scale (never a dense matrix); needs the ``igraph`` package.

Neurons with an empty connectivity vector (no partners under the settings) are
not clustered: their cluster is missing (``<NA>``), their number is logged and
in the metadata. Clusters are numbered 0, 1, ... from the largest.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> motor = cx.ids_of(c, super_class="motor")
>>> r = cx.cluster(c, motor, method="ward", n_clusters=6)
>>> r.labels.columns.tolist(), int(r.labels["cluster"].nunique())
(['root_id', 'cluster'], 6)
>>> annotated = r.annotate(c)          # the clusters as a node column
>>> int(annotated.node_table()["cluster"].notna().sum()) == len(motor)
True
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .connectivity_similarity import (
    _check_choice,
    _ids,
    _row_nnz,
    connectivity_profiles,
    is_unlabelled,
    similarity,
)
from .errors import ColumnError, DependencyError, InputError
from .graph import Connectome
from .schema import ID_DTYPE, ROOT_ID
from .validate import check_int

logger = logging.getLogger(__name__)

__all__ = ["cluster", "ClusterResult", "adjusted_rand_index", "check_cluster_args", "METHODS", "MAX_HIERARCHICAL", "MAX_PLOT"]

METHODS = ("ward", "average", "leiden")
#: Largest neuron set clustered hierarchically (a dense n x n block); use "leiden" above.
MAX_HIERARCHICAL = 20_000
#: Largest neuron set drawn in a heatmap.
MAX_PLOT = 5_000


def adjusted_rand_index(a: Any, b: Any) -> float:
    """Adjusted Rand index of two labelings (Hubert & Arabie 1985), as scikit-learn computes it.

    Examples
    --------
    >>> adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> round(adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]), 3)
    -0.5
    """
    a = pd.factorize(pd.Series(list(a), dtype=object))[0]
    b = pd.factorize(pd.Series(list(b), dtype=object))[0]
    if len(a) != len(b):
        raise InputError(f"labelings differ in length ({len(a)} vs {len(b)})", "labels")
    n = len(a)
    if n < 2:
        return 1.0
    table = pd.crosstab(a, b).to_numpy().astype(np.float64)

    def comb2(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    index = comb2(table)
    sa, sb = comb2(table.sum(1)), comb2(table.sum(0))
    expected = sa * sb / (n * (n - 1) / 2)
    top = (sa + sb) / 2
    if top == expected:  # both labelings trivial (one cluster, or all singletons)
        return 1.0
    return float((index - expected) / (top - expected))


@dataclass
class ClusterResult:
    """Clusters of neurons and how they were found.

    Attributes
    ----------
    labels : pandas.DataFrame
        ``root_id`` and ``cluster`` (``Int64``; missing for neurons without partners).
    column : str
        Name of the node column :meth:`annotate` writes.
    linkage : numpy.ndarray or None
        scipy linkage matrix (hierarchical methods; rows follow ``labels``
        without the unclustered neurons).
    similarity : pandas.DataFrame or None
        The dense similarity block (hierarchical) or the top-k table (Leiden).
    meta : dict
        Parameters, counts, warnings.
    """

    labels: pd.DataFrame
    column: str
    linkage: np.ndarray | None
    similarity: pd.DataFrame | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        """Number of clusters found."""
        return int(self.labels["cluster"].nunique())

    def annotate(self, c: Connectome, *, overwrite: bool = False) -> Connectome:
        """``c`` with the clusters as node column :attr:`column` (missing for neurons not clustered).

        Examples
        --------
        >>> import connectome as cx
        >>> c = cx.load("celegans_cook2019_herm")
        >>> r = cx.cluster(c, cx.ids_of(c, cell_type=["AVA", "AVB", "DA"]), method="average", n_clusters=2)
        >>> "cluster" in r.annotate(c).label_columns
        True
        """
        return c.with_node_columns(self.labels.rename(columns={"cluster": self.column}), overwrite=overwrite)

    def adjusted_rand(self, c: Connectome, column: str) -> float:
        """Adjusted Rand index of the clusters against a node label column (clustered, labelled neurons only).

        Examples
        --------
        >>> import connectome as cx
        >>> c = cx.load("celegans_cook2019_herm")
        >>> r = cx.cluster(c, cx.ids_of(c, super_class="motor"), method="ward", n_clusters=6)
        >>> 0 < r.adjusted_rand(c, "cell_type") <= 1
        True
        """
        nodes = c.node_table()
        if column not in nodes.columns:
            raise ColumnError("nodes", column, c.label_columns)
        lab = nodes.set_index(ROOT_ID)[column]
        df = self.labels.dropna(subset=["cluster"])
        truth = lab.reindex(df[ROOT_ID].to_numpy())
        keep = ~is_unlabelled(truth.reset_index(drop=True))
        return adjusted_rand_index(df["cluster"].to_numpy()[keep], truth.to_numpy()[keep])

    def plot(self, path: str | os.PathLike | None = None, *, label: str | None = None,
             c: Connectome | None = None, max_neurons: int = MAX_PLOT) -> Any:
        """A dendrogram over a similarity heatmap (hierarchical) or a heatmap ordered by cluster (Leiden).

        Parameters
        ----------
        path : path, optional
            Write a PNG there.
        label, c : optional
            Name the neurons by this node column of ``c`` (up to 100 are named).
        max_neurons : int
            Refuse larger sets (a heatmap of more neurons has more rows than pixels).

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        df = self.labels.dropna(subset=["cluster"]).reset_index(drop=True)
        n = len(df)
        if n > max_neurons:
            raise InputError(f"max_neurons: {n:,} clustered neurons are above {max_neurons:,} for a heatmap; "
                             "cluster fewer neurons or raise max_neurons", "max_neurons")
        sim = self._dense_block(df[ROOT_ID].to_numpy())
        names = None
        if label is not None and c is not None and n <= 100:
            names = c.node_table().set_index(ROOT_ID)[label].reindex(df[ROOT_ID].to_numpy()).astype(str).to_numpy()
        if self.linkage is not None:
            from scipy.cluster.hierarchy import dendrogram

            fig = plt.figure(figsize=(9, 10))
            ax_d = fig.add_axes((0.1, 0.78, 0.75, 0.18))
            d = dendrogram(self.linkage, ax=ax_d, no_labels=True, color_threshold=self.meta.get("cut_height"),
                           above_threshold_color="0.6")
            ax_d.set_axis_off()
            order = np.asarray(d["leaves"])
            ax_h = fig.add_axes((0.1, 0.08, 0.75, 0.68))
        else:
            fig = plt.figure(figsize=(9, 8.5))
            order = np.lexsort((df[ROOT_ID].to_numpy(), df["cluster"].to_numpy()))
            ax_h = fig.add_axes((0.1, 0.08, 0.75, 0.84))
        img = ax_h.imshow(sim[np.ix_(order, order)], cmap="viridis", vmin=0, vmax=1, interpolation="nearest",
                          aspect="auto")
        if names is not None:
            ax_h.set_yticks(range(n), names[order], fontsize=6)
            ax_h.set_xticks([])
        else:
            ax_h.set_xticks([])
            ax_h.set_yticks([])
        clusters = df["cluster"].to_numpy()[order]
        bounds = np.flatnonzero(clusters[1:] != clusters[:-1]) + 0.5
        for b in bounds:
            ax_h.axhline(b, color="white", lw=0.4)
            ax_h.axvline(b, color="white", lw=0.4)
        cax = fig.add_axes((0.87, 0.08, 0.02, 0.3))
        fig.colorbar(img, cax=cax, label=f"{self.meta.get('metric', 'cosine')} similarity")
        fig.suptitle(f"{self.meta.get('dataset', '')}: {self.meta.get('method')} clusters "
                     f"({self.n_clusters} clusters, {n:,} neurons, direction {self.meta.get('direction')}"
                     + (f", by {self.meta['by']}" if self.meta.get("by") else "") + ")", fontsize=10)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig

    def _dense_block(self, ids: np.ndarray) -> np.ndarray:
        s = self.similarity
        if s is None:
            raise InputError("this result holds no similarity to draw", "similarity")
        if "similar_root_id" in s.columns:  # a top-k table: scatter it into a block (0 where not among the top k)
            pos = pd.Series(np.arange(len(ids)), index=ids)
            keep = s[ROOT_ID].isin(pos.index) & s["similar_root_id"].isin(pos.index)
            t = s[keep]
            out = np.zeros((len(ids), len(ids)))
            i, j = pos[t[ROOT_ID]].to_numpy(), pos[t["similar_root_id"]].to_numpy()
            out[i, j] = t["similarity"].to_numpy()
            out = np.maximum(out, out.T)
            np.fill_diagonal(out, 1.0)
            return out
        return np.nan_to_num(s.loc[ids, ids].to_numpy(), nan=0.0)


def _check_int(value: Any, parameter: str, low: int = 1) -> int:
    return check_int(value, parameter, low=low, what=f"an integer >= {low}")


def _renumber(raw: np.ndarray) -> np.ndarray:
    """Cluster numbers 0, 1, ... from the largest cluster (ties: first seen)."""
    codes, uniq = pd.factorize(raw)
    sizes = np.bincount(codes)
    order = np.lexsort((np.arange(len(uniq)), -sizes))
    rank = np.empty(len(uniq), np.int64)
    rank[order] = np.arange(len(uniq))
    return rank[codes]


def cluster(
    c: Connectome,
    ids: Any = None,
    *,
    method: str = "ward",
    n_clusters: int | None = None,
    threshold: float | None = None,
    resolution: float = 1.0,
    top_k: int = 20,
    direction: str = "both",
    by: str | None = None,
    metric: str = "cosine",
    min_synapses: int = 1,
    edge_kind: str | None = "chemical",
    unlabelled: str | None = None,
    seed: int = 0,
    column: str = "cluster",
    plot: str | os.PathLike | None = None,
    max_hierarchical: int = MAX_HIERARCHICAL,
    scheduler: Any = None,
    progress: bool | None = None,
) -> ClusterResult:
    """Cluster neurons on their connectivity similarity.

    Parameters
    ----------
    c : Connectome
    ids : sequence of int, optional
        Neurons to cluster (default every neuron; hierarchical methods take at
        most ``max_hierarchical``).
    method : {"ward", "average", "leiden"}
        See the module notes.
    n_clusters : int, optional
        Hierarchical methods: cut into this many clusters.
    threshold : float, optional
        Hierarchical methods: cut at this distance instead.
    resolution : float
        Leiden: higher values give more, smaller clusters (modularity's resolution).
    top_k : int
        Leiden: each neuron is joined to its ``top_k`` most similar neurons.
    direction, by, metric, min_synapses, edge_kind, unlabelled
        The similarity (see :func:`connectome.similarity`).
    seed : int
        Leiden's random seed (the same seed gives the same clusters).
    column : str
        Node column written by :meth:`ClusterResult.annotate`.
    plot : path, optional
        Also write the dendrogram/heatmap PNG there (up to 5,000 neurons).

    Returns
    -------
    ClusterResult
        ``.labels`` (root_id, cluster), ``.annotate(c)``, ``.plot(path)``,
        ``.adjusted_rand(c, column)``, ``.meta``.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> neurons = cx.ids_of(c, cell_category="neuron")
    >>> r = cx.cluster(c, neurons, method="leiden", resolution=1.0, seed=0)
    >>> r.n_clusters > 1, r.meta["method"]
    (True, 'leiden')
    >>> cx.cluster(c, neurons, method="ward")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: n_clusters: method='ward' needs n_clusters= (e.g. 10) or threshold= (a distance) to cut the tree
    """
    n_clusters, top_k = check_cluster_args(method, n_clusters, threshold, resolution, top_k)
    meta: dict[str, Any] = {"dataset": c.name, "method": method, "metric": metric, "direction": direction, "by": by,
                            "min_synapses": min_synapses, "edge_kind": edge_kind, "warnings": []}
    if method == "leiden":
        prof = connectivity_profiles(c, direction=direction, by=by, min_synapses=min_synapses, edge_kind=edge_kind,
                                     unlabelled=unlabelled, scheduler=scheduler)
        sim = similarity(c, ids, direction=direction, by=by, metric=metric, min_synapses=min_synapses,
                         top_k=top_k, candidates=ids, edge_kind=edge_kind, unlabelled=unlabelled,
                         scheduler=scheduler, progress=progress, _profiles=prof)
        smeta = sim.attrs["similarity"]
        all_ids = _query_ids(c, ids)
        live_mask = _row_nnz(prof.rows(all_ids)) > 0
        labels, extra = _leiden(all_ids[live_mask], sim, resolution, seed)
        meta.update(extra, resolution=float(resolution), top_k=top_k, seed=seed)
        link = None
    else:
        all_ids = _query_ids(c, ids)
        if len(all_ids) > max_hierarchical:
            raise InputError(f"ids: {len(all_ids):,} neurons are above max_hierarchical={max_hierarchical:,} for "
                             f"method={method!r} (a dense block); use method='leiden' or cluster fewer neurons",
                             "ids")
        sim = similarity(c, all_ids, direction=direction, by=by, metric=metric, min_synapses=min_synapses,
                         edge_kind=edge_kind, unlabelled=unlabelled, max_dense=max_hierarchical ** 2,
                         scheduler=scheduler, progress=progress)
        smeta = sim.attrs["similarity"]
        s = sim.to_numpy()
        live_mask = ~np.isnan(np.diag(s))
        labels, link, extra = _hierarchical(s[np.ix_(live_mask, live_mask)], method, metric, n_clusters, threshold)
        meta.update(extra)
    meta["warnings"] += smeta.get("warnings", [])
    n_out = int((~live_mask).sum())
    meta.update({"neurons": int(len(all_ids)), "clustered": int(live_mask.sum()), "not_clustered": n_out,
                 "similarity": {k: v for k, v in smeta.items() if k != "warnings"}})
    if n_out:
        msg = f"{n_out:,} neurons have no partners under these settings and were not clustered (cluster <NA>)"
        logger.warning("%s", msg)
        meta["warnings"].append(msg)
    out = pd.Series(pd.NA, index=range(len(all_ids)), dtype="Int64")
    out[np.flatnonzero(live_mask)] = labels
    res = ClusterResult(pd.DataFrame({ROOT_ID: all_ids, "cluster": out.array}), column,  # Int64: never 2.0
                        link, sim, meta)
    if plot is not None:
        res.plot(plot)
    return res


def check_cluster_args(method: str, n_clusters: int | None = None, threshold: float | None = None,
                       resolution: float = 1.0, top_k: int = 20) -> tuple[int | None, int]:
    """Check the clustering options of :func:`cluster` before any work (a service checks a job with it).

    Returns
    -------
    (n_clusters, top_k)
        As checked integers.

    Examples
    --------
    >>> check_cluster_args("average", n_clusters=4)
    (4, 20)
    >>> check_cluster_args("leiden", n_clusters=4)
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: n_clusters/threshold: Leiden does not take a number of clusters; set resolution= (higher: more clusters), or use method='ward' or 'average'
    """
    _check_choice(method, METHODS, "method")
    if method == "leiden":
        if n_clusters is not None or threshold is not None:
            raise InputError("n_clusters/threshold: Leiden does not take a number of clusters; set resolution= "
                             "(higher: more clusters), or use method='ward' or 'average'", "n_clusters")
        top_k = _check_int(top_k, "top_k")
        if not isinstance(resolution, (int, float, np.floating)) or isinstance(resolution, bool) or resolution <= 0:
            raise InputError(f"resolution must be a positive number, not {resolution!r}", "resolution")
    else:
        if (n_clusters is None) == (threshold is None):
            raise InputError(f"n_clusters: method={method!r} needs n_clusters= (e.g. 10) or threshold= (a distance) "
                             "to cut the tree" + ("" if n_clusters is None else ", not both"), "n_clusters")
        if n_clusters is not None:
            n_clusters = _check_int(n_clusters, "n_clusters")
    return n_clusters, top_k


def _query_ids(c: Connectome, ids: Any) -> np.ndarray:
    all_ids = c.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
    return _ids(c, ids, "ids", all_ids)


def _hierarchical(s: np.ndarray, method: str, metric: str, n_clusters: int | None,
                  threshold: float | None) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = s.shape[0]
    if n < 2:
        raise InputError(f"ids: {n} neuron(s) with partners; clustering needs at least 2", "ids")
    s = np.clip((s + s.T) / 2, 0.0, 1.0)
    np.fill_diagonal(s, 1.0)
    if metric == "cosine":
        d = np.sqrt(2.0 * (1.0 - s))
        kind = "sqrt(2 (1 - cosine)), the Euclidean distance of unit vectors"
    else:
        d = 1.0 - s
        kind = f"1 - {metric}" + (" (not Euclidean: Ward's criterion is approximate)" if method == "ward" else "")
    np.fill_diagonal(d, 0.0)
    link = linkage(squareform(d, checks=False), method=method)
    if n_clusters is not None:
        if n_clusters > n:
            raise InputError(f"n_clusters: {n_clusters} clusters asked of {n} neurons with partners", "n_clusters")
        raw = fcluster(link, t=n_clusters, criterion="maxclust")
        cut = float(link[-n_clusters, 2]) if n_clusters > 1 else None
    else:
        raw = fcluster(link, t=float(threshold), criterion="distance")
        cut = float(threshold)
    return _renumber(raw), link, {"distance": kind, "n_clusters": int(len(np.unique(raw))), "cut_height": cut}


def _leiden(ids: np.ndarray, topk: pd.DataFrame, resolution: float, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        import igraph as ig
    except ImportError as exc:
        raise DependencyError(f"method='leiden' needs the igraph package ({exc}); install it with "
                              "`pip install igraph`, or use method='ward' or 'average'") from None
    import random

    pos = pd.Series(np.arange(len(ids)), index=ids)
    t = topk[topk[ROOT_ID].isin(pos.index) & topk["similar_root_id"].isin(pos.index)]
    a = pos[t[ROOT_ID]].to_numpy()
    b = pos[t["similar_root_id"]].to_numpy()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    e = pd.DataFrame({"lo": lo, "hi": hi, "w": t["similarity"].to_numpy()})
    e = e[e.lo != e.hi].groupby(["lo", "hi"], sort=True)["w"].max().reset_index()  # symmetric kNN graph
    g = ig.Graph(n=len(ids), edges=list(zip(e["lo"].tolist(), e["hi"].tolist())), directed=False)
    g.es["weight"] = e["w"].tolist()
    ig.set_random_number_generator(random.Random(seed))
    try:
        part = g.community_leiden(objective_function="modularity", weights="weight", resolution=float(resolution),
                                  n_iterations=-1)
    finally:
        ig.set_random_number_generator(random)
    membership = np.asarray(part.membership)
    return _renumber(membership), {"n_clusters": int(len(np.unique(membership))), "modularity": float(part.modularity),
                                   "knn_edges": int(len(e)), "igraph": ig.__version__}
