"""Triad motif over/under-representation against null models.

:func:`motif_significance` samples ``n`` null graphs (each a Dask task with its
own seed derived from ``seed``), takes the triad census of each, and compares
with the observed census: null mean and standard deviation, z-scores and
empirical p-values. For ``"er"`` and ``"reciprocal_er"`` the expected census
is also given in closed form (``analytic_mean``; Song et al. 2005).

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

logger = logging.getLogger(__name__)

__all__ = ["MotifSignificance", "motif_significance", "analytic_census", "null_graph"]


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
        Everything else that defines the run (edge kind, threshold, swaps, by).
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
        z = t["z"].replace([np.inf, -np.inf], np.nan).fillna(0.0)
        ax2.bar(x, z, color=np.where(z >= 0, "C3", "C0"))
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


def null_graph(c: Connectome, null: str = "degree", seed: int = 0, *, edge_kind: str | None = "chemical",
               min_synapses: int | None = None, by: str = "cell_type", swaps: float = 10.0) -> Connectome:
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
    null : {"degree", "degree_reciprocal", "er", "reciprocal_er", "block"}
        The null model (see :mod:`connectome.nulls`).
    seed : int
    edge_kind, min_synapses, by, swaps :
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
    g, labels = _null_inputs(c, null, edge_kind, min_synapses, by, swaps)
    return _as_connectome(c, g, null, int(seed), labels, swaps, edge_kind)


def _null_inputs(c: Connectome, null: str, edge_kind: str | None, min_synapses: int | None, by: str, swaps: float,
                 scheduler: Any = None) -> tuple[DirectedPairs, np.ndarray | None]:
    """The pair graph a null model samples from, and the block labels (``null="block"``), checked."""
    if null not in NULL_MODELS:
        raise InputError(f"null: unknown null model {null!r}; use one of {list(NULL_MODELS)}", "null")
    if swaps <= 0:
        raise InputError(f"swaps must be positive, not {swaps!r}", "swaps")
    labels = _block_labels(c, by) if null == "block" else None
    g = directed_pairs(c, edge_kind=edge_kind, min_synapses=min_synapses, self_loops=False, scheduler=scheduler)
    if null == "degree":
        check_rewirable(g)  # fail early, saying why, if no swap can ever be made
    return g, labels


def _block_labels(c: Connectome, by: str) -> np.ndarray:
    nodes = c.node_table()
    if by not in nodes.columns or by == ROOT_ID:
        raise ColumnError("nodes", by, [x for x in nodes.columns if x != ROOT_ID], "Choose the label of the blocks.")
    codes, _ = pd.factorize(nodes[by].astype(object), use_na_sentinel=False)
    return codes.astype(np.int64)


def motif_significance(
    c: Connectome,
    null: str = "degree",
    n: int = 100,
    seed: int = 0,
    *,
    edge_kind: str | None = "chemical",
    min_synapses: int | None = None,
    by: str = "cell_type",
    swaps: float = 10.0,
    scheduler: Any = None,
    progress: bool | None = None,
) -> MotifSignificance:
    """Triad census of ``c`` against ``n`` samples of a null model.

    Parameters
    ----------
    c : Connectome
    null : {"degree", "degree_reciprocal", "er", "reciprocal_er", "block"}
        The null model (see :mod:`connectome.nulls`). ``"degree"`` keeps in-
        and out-degrees but breaks mutual pairs; ``"degree_reciprocal"`` also
        keeps every node's mutual partners count and the number of mutual pairs.
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
    scheduler : optional
        Dask scheduler; a LocalCluster spreads the samples over process workers.
    progress : bool, optional
        Progress bar over samples.

    Returns
    -------
    MotifSignificance
    """
    check_int(n, "n", low=1, what="a positive number of samples")
    g, labels = _null_inputs(c, null, edge_kind, min_synapses, by, swaps, scheduler)
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
    params = {"dataset": c.name, "edge_kind": edge_kind, "min_synapses": min_synapses, "swaps": swaps,
              "by": by if null == "block" else None, "nodes": g.n, "edges": g.m}
    return MotifSignificance(table, pd.DataFrame(samples, columns=list(TRIAD_NAMES)), null, int(n), int(seed), params,
                             seeds=seeds, _source=(c, g, labels))


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
