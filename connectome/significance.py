"""Triad motif over/under-representation against null models.

:func:`motif_significance` samples ``n`` null graphs (each a Dask task with its
own seed derived from ``seed``), takes the triad census of each, and compares
with the observed census: null mean and standard deviation, z-scores and
empirical p-values. For ``"er"`` and ``"reciprocal_er"`` the expected census
is also given in closed form (``analytic_mean``; Song et al. 2005).

The default null is ``"degree_reciprocal"``: every in- and out-degree *and*
every mutual pair count kept. Connectomes are far more reciprocal than chance,
and the plain ``"degree"`` null breaks mutual pairs, so it inflates the
triads made of them and can reverse a conclusion (feed-forward loops, 030T,
under- instead of over-represented). Every result records its null
(``params["null"]``), the reciprocal pairs of the data and of the null
(``params["reciprocal_pairs"]``), and, when ``null="degree"`` leaves the data
far more reciprocal than its own samples (more than twice their mean and more
than 3 standard deviations above it), a warning in ``params["warnings"]`` and
the log.

Examples
--------
>>> import connectome as cx
>>> r = cx.motif_significance(cx.load("celegans_witvliet2021_8"), null="reciprocal_er", n=5, seed=1)
>>> list(r.table.columns)
['motif', 'observed', 'null_mean', 'null_std', 'z', 'p_over', 'p_under', 'analytic_mean']
>>> bool(r.table.set_index("motif").loc["030T", "z"] > 0)  # feed-forward loops are over-represented
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .build import from_edges
from .pair_arrays import DirectedPairs, directed_pairs
from .errors import ColumnError, InputError
from .scheduler import compute, get_scheduler, share
from .validate import check_int
from .graph import Connectome
from .nulls import NULL_MODELS, check_rewirable, sample_null
from .progress import progress_bar
from .schema import ROOT_ID
from .triads import _TRICODES, TRIAD_NAMES, census_of
from .unlabelled import check_unlabelled, group_by_label

logger = logging.getLogger(__name__)

__all__ = ["MotifSignificance", "motif_significance", "analytic_census", "null_graph", "mutual_pairs",
           "DEFAULT_NULL"]

#: The null model used when none is named: degree- and reciprocity-preserving rewiring.
DEFAULT_NULL = "degree_reciprocal"

#: Mutual dyads in each triad class (networkx order): ``102`` has one, ``201`` two, ``300`` three.
_MUTUAL_DYADS = np.array([0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 2, 1, 1, 1, 2, 3], dtype=np.float64)

#: ``null="degree"`` is said to break reciprocity when the data have more than this many times the
#: null's mean reciprocal pairs *and* lie more than ``_RECIPROCITY_Z`` null standard deviations above it.
_RECIPROCITY_RATIO = 2.0
_RECIPROCITY_Z = 3.0


def mutual_pairs(census: Any, n: int) -> Any:
    """Number of mutual (reciprocal) neuron pairs, from a triad census of ``n`` nodes.

    Every dyad lies in ``n - 2`` triads, so the mutual pairs are the census
    weighted by each class's mutual dyads, divided by ``n - 2``: the null
    samples' reciprocity comes from the censuses already drawn, at no cost.
    ``census`` may be one census (16 values) or one per row.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> int(mutual_pairs(cx.triad_census(c).to_numpy(), c.n_nodes)), int(cx.dyad_census(c)["mutual"])
    (669, 669)
    """
    x = np.asarray(census, dtype=np.float64)
    if n < 3:
        return np.zeros(x.shape[:-1]) if x.ndim > 1 else 0.0
    return x @ _MUTUAL_DYADS / (n - 2)


def analytic_census(n: int, p_mutual: float, p_one_way: float) -> np.ndarray:
    """Expected triad census when dyads are independent.

    Parameters
    ----------
    n : int
        Number of nodes.
    p_mutual : float
        Probability that a dyad is mutual.
    p_one_way : float
        Probability that a dyad is one-way *in a given direction* (so a dyad
        is asymmetric with probability ``2 * p_one_way``).

    Examples
    --------
    >>> e = analytic_census(10, 0.0, 0.0)
    >>> float(e[0]), float(e[1:].sum())
    (120.0, 0.0)
    """
    p_null = 1.0 - p_mutual - 2.0 * p_one_way
    if p_null < -1e-12:
        raise InputError("dyad probabilities exceed 1", "p_mutual")

    def dyad(bits: int) -> float:
        return {0: p_null, 1: p_one_way, 2: p_one_way, 3: p_mutual}[bits]

    probs = np.zeros(16)
    for code in range(64):
        p = dyad(code & 3) * dyad((code >> 2) & 3) * dyad((code >> 4) & 3)
        probs[_TRICODES[code] - 1] += p
    return probs * (n * (n - 1) * (n - 2) / 6.0)


def _null_census(g: DirectedPairs, model: str, seed: int, labels: np.ndarray | None, swaps: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return census_of(sample_null(g, model, rng, labels=labels, swaps=swaps), blocks=1)


@dataclass
class MotifSignificance:
    """Observed triad census against a null model.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per triad class: ``motif``, ``observed``, ``null_mean``,
        ``null_std``, ``z``, ``p_over`` (P[null ≥ observed]), ``p_under``
        (P[null ≤ observed]), ``analytic_mean`` (closed form where known).
    censuses : pandas.DataFrame
        The census of every null sample (rows) by triad class (columns).
    null, n, seed : model name, number of samples, seed.
    params : dict
        Everything else that defines the run (edge kind, threshold, swaps, by),
        the ``null`` again, ``reciprocal_pairs`` (``observed``, ``null_mean``,
        ``null_std``: mutual neuron pairs of the data and of the null samples) and
        ``warnings`` (e.g. a plain degree null on a far more reciprocal graph).
    seeds : list of int
        The seed of each sample: :meth:`samples` rebuilds sample ``i`` from it.
    """

    table: pd.DataFrame
    censuses: pd.DataFrame
    null: str
    n: int
    seed: int
    params: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    _source: Any = field(default=None, repr=False, compare=False)

    def samples(self, i: int) -> Connectome:
        """Null sample ``i`` as a :class:`~connectome.Connectome` (the graph whose census is ``censuses.iloc[i]``).

        Its nodes and labels are the data's; its edges are the null model's,
        carrying the data's synapse counts in random order (see :func:`null_graph`).

        Examples
        --------
        >>> import connectome as cx
        >>> c = cx.load("celegans_witvliet2021_8")
        >>> sig = cx.motif_significance(c, null="degree", n=3, seed=4)
        >>> g = sig.samples(1)
        >>> int(cx.triad_census(g)["030T"]) == int(sig.censuses.loc[1, "030T"])
        True
        """
        if self._source is None:
            raise InputError("samples: this result no longer holds its connectome (it was rebuilt from a "
                             "dictionary); call cx.null_graph(c, null=..., seed=sig.seeds[i]) instead", "i")
        check_int(i, "i", low=0, high=len(self.seeds) - 1, what=f"a sample number from 0 to {len(self.seeds) - 1}")
        c, g, labels = self._source
        return _as_connectome(c, g, self.null, self.seeds[int(i)], labels, self.params["swaps"],
                              self.params["edge_kind"])

    def plot(self, path: str | Path | None = None, *, exclude: tuple[str, ...] = ("003",)) -> Any:
        """Motif profile: observed vs null mean ± std (log scale) and z-scores.

        Returns the matplotlib Figure; writes a PNG when ``path`` is given.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        t = self.table[~self.table["motif"].isin(exclude)]
        x = np.arange(len(t))
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
        ax1.errorbar(x, t["null_mean"], yerr=t["null_std"], fmt="o", color="0.4", capsize=3,
                     label=f"{self.null} null (mean ± std, n={self.n})")
        ax1.plot(x, t["observed"], "D", color="C3", label="observed")
        ax1.set_yscale("symlog", linthresh=1)
        ax1.set_ylabel("triads")
        ax1.legend(loc="best", fontsize=8)
        raw = t["z"].to_numpy(dtype=np.float64)
        infinite = np.isinf(raw)
        finite = np.where(np.isfinite(raw), raw, 0.0)
        # an infinite z (observed > 0 where every null sample has the same count, e.g. 300 under ER) is
        # drawn as a full bar clipped at the axis limit and marked, never as an empty bar
        lim = max(float(np.abs(finite).max()) if len(finite) else 0.0, 1.0) * 1.15
        z = np.where(infinite, np.sign(raw) * lim, finite)
        bars = ax2.bar(x, z, color=np.where(z >= 0, "C3", "C0"))
        for i in np.flatnonzero(infinite):
            bars[i].set_hatch("//")
            bars[i].set_edgecolor("k")
            up = raw[i] > 0
            ax2.annotate("+inf" if up else "−inf", (x[i], z[i]), xytext=(0, 2 if up else -2),
                         textcoords="offset points", ha="center", va="bottom" if up else "top", fontsize=8)
        if infinite.any():
            ax2.set_ylim(min(-lim, float(z.min())) * 1.12, max(lim, float(z.max())) * 1.12)
        ax2.axhline(0, color="k", lw=0.6)
        ax2.set_ylabel("z-score")
        ax2.set_xticks(x, t["motif"], rotation=45)
        title = self.params.get("dataset", "")
        fig.suptitle(f"Triad motif profile {title} vs {self.null} null".strip())
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (table records plus parameters)."""
        t = self.table.replace([np.inf, -np.inf], np.nan).astype(object)
        t = t.where(t.notna(), None)
        return {"null": self.null, "n": self.n, "seed": self.seed, "params": self.params,
                "table": t.to_dict("records")}


def _as_connectome(c: Connectome, g: DirectedPairs, null: str, seed: int, labels: np.ndarray | None, swaps: float,
                   edge_kind: str | None) -> Connectome:
    """The null sample of ``g`` drawn with ``seed`` (as in :func:`motif_significance`), as a Connectome."""
    s = sample_null(g, null, np.random.default_rng(seed), labels=labels, swaps=swaps)
    weights = np.random.default_rng([seed, 1]).permutation(g.weight)
    edges = pd.DataFrame({"pre_root_id": g.ids[s.src], "post_root_id": g.ids[s.dst], "synapse_count": weights,
                          "edge_kind": edge_kind or "chemical"})
    return from_edges(edges, c.node_table(), name=f"{c.name} ({null} null, seed {seed})",
                      manifest={"source": {"kind": "null-model", "null": null, "seed": int(seed), "swaps": swaps,
                                           "of": c.name, "edge_kind": edge_kind}})


def null_graph(c: Connectome, null: str = DEFAULT_NULL, seed: int = 0, *, edge_kind: str | None = "chemical",
               min_synapses: int | None = None, by: str = "cell_type", swaps: float = 10.0,
               unlabelled: str | None = None) -> Connectome:
    """One sample of a null model of ``c``, as a :class:`~connectome.Connectome` to inspect.

    The sample is drawn over the neuron pairs that :func:`motif_significance`
    uses (``edge_kind``, ``min_synapses``, autapses dropped); ``seed`` seeds
    it directly (``sig.samples(i)`` is ``null_graph(c, ..., seed=sig.seeds[i])``).
    Nodes and their labels are the data's. Edges are the null model's; each
    carries one of the data's pair synapse counts, in random order, so the
    weight distribution is the data's. The manifest names the model and seed.

    Parameters
    ----------
    c : Connectome
    null : {"degree_reciprocal", "degree", "er", "reciprocal_er", "block"}
        The null model (see :mod:`connectome.nulls`); default ``"degree_reciprocal"``.
    seed : int
    edge_kind, min_synapses, by, swaps, unlabelled :
        As :func:`motif_significance`.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_witvliet2021_8")
    >>> g = cx.null_graph(c, null="degree_reciprocal", seed=1)
    >>> def degrees(x):
    ...     p = cx.pair_totals(x)
    ...     p = p[p.pre_root_id != p.post_root_id]
    ...     return p.pre_root_id.value_counts().sort_index(), p.post_root_id.value_counts().sort_index()
    >>> all(a.equals(b) for a, b in zip(degrees(g), degrees(c)))   # every in- and out-degree
    True
    >>> cx.reciprocity(g)["pairs"] == cx.reciprocity(c)["pairs"]   # and the reciprocity
    True
    >>> g.manifest.source["null"], g.n_nodes == c.n_nodes
    ('degree_reciprocal', True)
    """
    check_int(seed, "seed", low=0)
    g, labels, _ = _null_inputs(c, null, edge_kind, min_synapses, by, swaps, unlabelled=unlabelled,
                                where="null_graph")
    return _as_connectome(c, g, null, int(seed), labels, swaps, edge_kind)


def _null_inputs(c: Connectome, null: str, edge_kind: str | None, min_synapses: int | None, by: str, swaps: float,
                 scheduler: Any = None, unlabelled: str | None = None, where: str = "motif_significance"
                 ) -> tuple[DirectedPairs, np.ndarray | None, dict[str, Any]]:
    """The pair graph a null model samples from, the block labels (``null="block"``) and what was done
    with unlabelled neurons, checked."""
    if null not in NULL_MODELS:
        raise InputError(f"null: unknown null model {null!r}; use one of {list(NULL_MODELS)}", "null")
    if swaps <= 0:
        raise InputError(f"swaps must be positive, not {swaps!r}", "swaps")
    check_unlabelled(unlabelled)
    g = directed_pairs(c, edge_kind=edge_kind, min_synapses=min_synapses, self_loops=False, scheduler=scheduler)
    labels, info = None, {}
    if null == "block":
        labels, keep, grouping = _block_labels(c, by, unlabelled, f"{where}(null='block')")
        info = {**grouping.meta, "warnings": grouping.warnings}
        if not keep.all():  # unlabelled="drop": the unlabelled neurons leave the graph (data and null alike)
            g = _restrict(g, keep)
            labels = labels[keep]
    if null == "degree":
        check_rewirable(g)  # fail early, saying why, if no swap can ever be made
    return g, labels, info


def _restrict(g: DirectedPairs, keep: np.ndarray) -> DirectedPairs:
    """``g`` on the nodes where ``keep`` is true (their edges among themselves)."""
    new = np.cumsum(keep) - 1
    e = keep[g.src] & keep[g.dst]
    return DirectedPairs(int(keep.sum()), new[g.src[e]], new[g.dst[e]], g.weight[e], g.ids[keep])


def _block_labels(c: Connectome, by: str, unlabelled: str | None, where: str) -> tuple[np.ndarray, np.ndarray, Any]:
    """Block code of every node, which nodes stay, and the grouping (unlabelled neurons: see :mod:`.unlabelled`)."""
    nodes = c.node_table()
    if by not in nodes.columns or by == ROOT_ID:
        raise ColumnError("nodes", by, [x for x in nodes.columns if x != ROOT_ID], "Choose the label of the blocks.")
    grouping = group_by_label(nodes[by], nodes[ROOT_ID].to_numpy(), by=by, unlabelled=unlabelled,
                              where=where, what="neurons")
    keep = ~(grouping.unlabelled & (grouping.choice == "drop"))
    codes, _ = pd.factorize(grouping.groups.where(keep, "").astype(object), use_na_sentinel=False)
    return codes.astype(np.int64), keep, grouping


def motif_significance(
    c: Connectome,
    null: str = DEFAULT_NULL,
    n: int = 100,
    seed: int = 0,
    *,
    edge_kind: str | None = "chemical",
    min_synapses: int | None = None,
    by: str = "cell_type",
    swaps: float = 10.0,
    unlabelled: str | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> MotifSignificance:
    """Triad census of ``c`` against ``n`` samples of a null model.

    Parameters
    ----------
    c : Connectome
    null : {"degree_reciprocal", "degree", "er", "reciprocal_er", "block"}
        The null model (see :mod:`connectome.nulls`). The default,
        ``"degree_reciprocal"``, keeps every in- and out-degree, every node's
        mutual partners count and the number of mutual pairs. ``"degree"`` keeps
        the degrees but breaks mutual pairs, which inflates the triads made of
        them; on a graph far more reciprocal than its samples (more than twice
        their mean reciprocal pairs and 3 standard deviations above) it warns.
    n : int
        Number of null samples (each one Dask task).
    seed : int
        Seed; the same seed gives the same samples on every scheduler.
    edge_kind, min_synapses :
        Which pairs count as connected (see :func:`connectome.triad_census`).
    by : str
        Node label defining the blocks of ``null="block"``.
    swaps : float
        Attempted swaps per edge for ``null="degree"`` and ``"degree_reciprocal"``.
    unlabelled : {"pool", "drop", "keep"}, optional
        Neurons without a ``by`` label under ``null="block"`` (see
        :mod:`connectome.unlabelled`): one block of their own (default, said
        with their count in the log and ``params``), left out of the graph
        (data and null), or each a block of its own.
    scheduler : optional
        Dask scheduler; a LocalCluster spreads the samples over process workers.
    progress : bool, optional
        Progress bar over samples.

    Returns
    -------
    MotifSignificance
        ``params`` records the null, the reciprocal pairs of the data and of the
        null samples, and any warning.

    Examples
    --------
    >>> import connectome as cx
    >>> sig = cx.motif_significance(cx.load("celegans_witvliet2021_8"), n=3, seed=0)
    >>> sig.null, sig.params["warnings"]
    ('degree_reciprocal', [])
    """
    check_int(n, "n", low=1, what="a positive number of samples")
    g, labels, grouping = _null_inputs(c, null, edge_kind, min_synapses, by, swaps, scheduler, unlabelled)
    observed = census_of(g, scheduler=scheduler)
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(int(n))]
    samples = _run_samples(g, null, seeds, labels, swaps, scheduler, progress)
    mean = samples.mean(axis=0)
    std = samples.std(axis=0, ddof=1) if n > 1 else np.zeros(16)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0, (observed - mean) / std, np.where(observed == mean, 0.0, np.sign(observed - mean) * np.inf))
    p_over = (1 + (samples >= observed).sum(axis=0)) / (n + 1)
    p_under = (1 + (samples <= observed).sum(axis=0)) / (n + 1)
    analytic = _analytic(g, null)
    table = pd.DataFrame({"motif": list(TRIAD_NAMES), "observed": observed.astype(np.int64), "null_mean": mean,
                          "null_std": std, "z": z, "p_over": p_over, "p_under": p_under,
                          "analytic_mean": analytic})
    recip, warnings = _reciprocity_check(observed, samples, g.n, null)
    params = {"dataset": c.name, "null": null, "edge_kind": edge_kind, "min_synapses": min_synapses,
              "swaps": swaps, "by": by if null == "block" else None, "nodes": g.n, "edges": g.m,
              "reciprocal_pairs": recip, "warnings": grouping.get("warnings", []) + warnings}
    params.update({k: v for k, v in grouping.items() if k != "warnings"})
    return MotifSignificance(table, pd.DataFrame(samples, columns=list(TRIAD_NAMES)), null, int(n), int(seed), params,
                             seeds=seeds, _source=(c, g, labels))


def _reciprocity_check(observed: np.ndarray, samples: np.ndarray, n: int, null: str) -> tuple[dict, list[str]]:
    """Reciprocal pairs of the data and of the null samples, and a warning where a degree null breaks them."""
    obs = float(mutual_pairs(observed, n))
    per = np.atleast_1d(mutual_pairs(samples, n))
    mean = float(per.mean()) if len(per) else 0.0
    std = float(per.std(ddof=1)) if len(per) > 1 else 0.0
    recip = {"observed": int(round(obs)), "null_mean": mean, "null_std": std}
    if null != "degree":
        return recip, []
    z = (obs - mean) / std if std > 0 else (np.inf if obs > mean else 0.0)
    if not (obs > _RECIPROCITY_RATIO * mean and z > _RECIPROCITY_Z):
        return recip, []
    ratio = f"{obs / mean:,.1f}x" if mean > 0 else "infinitely many times"
    msg = (f"null='degree' breaks mutual pairs: the data have {int(round(obs)):,} reciprocal pairs, its samples "
           f"{mean:,.1f} ± {std:,.1f} on average ({ratio} the null's, z = {z:,.1f}); triads with mutual pairs "
           "(102, 111D/U, 201, 120D/U/C, 210, 300) are inflated and feed-forward motifs (030T, 030C) can flip "
           "sign: use null='degree_reciprocal' (the default), which keeps them")
    logger.warning("%s", msg)
    return recip, [msg]


def _analytic(g: DirectedPairs, null: str) -> np.ndarray:
    n = g.n
    pairs = n * (n - 1) / 2.0
    if null == "er" and n > 1:
        p = g.m / (n * (n - 1.0))
        return analytic_census(n, p * p, p * (1 - p))
    if null == "reciprocal_er" and n > 1:
        fwd = g.src * np.int64(n) + g.dst
        rev = g.dst * np.int64(n) + g.src
        n_mut = int(np.isin(fwd, rev, assume_unique=True).sum()) // 2
        n_asym = g.m - 2 * n_mut
        return analytic_census(n, n_mut / pairs, n_asym / (2 * pairs))
    return np.full(16, np.nan)


def _run_samples(g: DirectedPairs, null: str, seeds: list[int], labels: np.ndarray | None, swaps: float,
                 scheduler: Any, progress: bool | None) -> np.ndarray:
    import dask

    sched = get_scheduler(scheduler)
    distributed = not isinstance(sched, str)
    shared = share(g, sched)
    out: list[np.ndarray] = []
    batch = max(2, 4 * _workers(sched)) if distributed else 2
    if sched == "sync":
        batch = 1
    with progress_bar(total=len(seeds), desc=f"{null} null samples", unit="sample", progress=progress) as bar:
        for k in range(0, len(seeds), batch):
            tasks = [dask.delayed(_null_census, pure=True)(shared, null, s, labels, swaps)
                     for s in seeds[k:k + batch]]
            out.extend(compute(*tasks, scheduler=sched))
            bar.update(len(tasks))
    return np.vstack(out).astype(np.float64)


def _workers(client: Any) -> int:
    try:
        return max(1, len(client.scheduler_info()["workers"]))
    except Exception:  # pragma: no cover - informational only
        return 2
