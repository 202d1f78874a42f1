"""Match neurons across hemispheres or datasets: graph matching, bisected graph matching, similarity.

``cx.match(a, b, ...)`` pairs the neurons of two node sets, each neuron with at
most one partner, and gives every pair a score:

``"gm"``
    Graph matching of the two induced subgraphs: the permutation that best
    aligns their edges, ``max tr(A P B^T P^T)``, found by FAQ (Vogelstein et al.
    2015; the Frank–Wolfe method of graspologic's ``graph_match`` and of
    ``scipy.optimize.quadratic_assignment``), here on sparse adjacencies.
``"bisected"``
    Bisected graph matching (Pedigo et al. 2023, eLife), for two hemispheres
    of one connectome: also aligns the contralateral subgraphs, ``max tr(A_LL P
    A_RR^T P^T) + tr(A_LR^T P A_RL P)`` — an edge from left ``i`` to right ``j``
    should be mirrored by an edge from right ``P(i)`` to left ``P^-1(j)``.
``"similarity"``
    Hungarian assignment (``scipy.optimize.linear_sum_assignment``) on the
    connectivity similarity of :func:`connectome.similarity`, typically with
    partners collapsed to labels (``by="cell_type"``), which works across
    datasets whose neurons share no ids.

The two sets are two connectomes (``match(a, b)``), the two hemispheres of one
(``match(c, side="side")``: ``left``/``L`` against ``right``/``R``; other values
such as ``center`` are left out and counted), or two id sets of one
(``match(c, ids_a=..., ids_b=...)``).

**Seeds** (known pairs) are kept as given. **Unequal sizes**: the smaller set is
padded with dummy nodes (graspologic's "naive" padding) and neurons matched to a
dummy are reported unmatched — never forced onto a partner. With
``"similarity"``, pairs that share no partner feature (score 0) are unmatched too.

Scores: for graph matching, a pair's **edge agreement**: the synapses of its
edges (within the sets, and across them for ``"bisected"``) preserved by the
matching, ``2 * sum min(w_a, w_b) / (strength_a + strength_b)`` in ``[0, 1]``;
for ``"similarity"``, the similarity.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> m = cx.match(c, side="side", method="bisected", seed=0)
>>> m.pairs.columns.tolist()
['a_root_id', 'b_root_id', 'score', 'seed']
>>> names = c.node_table().set_index("root_id")["name"]
>>> names[m.pair_of(cx.ids_of(c, name="AVAL")[0])]
'AVAR'
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .connectivity_similarity import (
    MAX_DENSE,
    Profiles,
    _check_choice,
    _check_min_synapses,
    align_profiles,
    connectivity_profiles,
    is_unlabelled,
    score_dense,
    similarity,
)
from .errors import ColumnError, InputError
from .graph import Connectome
from .match_attributes import DEFAULT_WEIGHT, attribute_similarity, check_attributes, choose_weight
from .progress import progress_iter
from .schema import ID_DTYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT, coerce_ids
from .typelevel import pair_totals
from .validate import check_int, check_number, check_pair_budget

logger = logging.getLogger(__name__)

__all__ = ["match", "match_sets", "MatchResult", "METHODS", "WEIGHTS", "LEFT", "RIGHT"]

METHODS = ("gm", "bisected", "similarity")
WEIGHTS = ("synapse_count", "log", "binary")
#: ``side`` values of the first (a) and second (b) hemisphere, compared lower-case.
LEFT = ("left", "l")
RIGHT = ("right", "r")


# ----------------------------------------------------------------------------- result
@dataclass
class MatchResult:
    """Pairs of matched neurons, the neurons left unmatched, and how the matching was made.

    Attributes
    ----------
    pairs : pandas.DataFrame
        ``a_root_id``, ``b_root_id``, ``score``, ``seed`` (True for given pairs).
    unmatched_a, unmatched_b : numpy.ndarray of int64
        Neurons of each set without a partner.
    meta : dict
        Method, parameters, objective, iterations, time, warnings.
    """

    pairs: pd.DataFrame
    unmatched_a: np.ndarray
    unmatched_b: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    _nodes_a: pd.DataFrame | None = field(default=None, repr=False)
    _nodes_b: pd.DataFrame | None = field(default=None, repr=False)

    def pair_of(self, root_id: int) -> int | None:
        """The partner of a neuron of either set (``None`` when unmatched)."""
        rid = int(root_id)
        hit = self.pairs.loc[self.pairs["a_root_id"] == rid, "b_root_id"]
        if len(hit):
            return int(hit.iloc[0])
        hit = self.pairs.loc[self.pairs["b_root_id"] == rid, "a_root_id"]
        return int(hit.iloc[0]) if len(hit) else None

    def truth(self, column: str) -> pd.DataFrame:
        """True pairs from a node column: a neuron of set a and one of set b with the same value.

        Missing and placeholder values (``-1``, ``unk``, ...) and values held by
        more than one neuron on a side are not pairs.
        """
        if self._nodes_a is None or self._nodes_b is None:
            raise InputError("truth: this result keeps no node tables; pass the true pairs as a DataFrame", "truth")
        sides = []
        for nodes, name in ((self._nodes_a, "a"), (self._nodes_b, "b")):
            if column not in nodes.columns:
                raise ColumnError(f"nodes of set {name}", column, [c for c in nodes.columns if c != ROOT_ID])
            v = nodes[column]
            bad = is_unlabelled(v) | v.astype(object).isin([-1, "-1"]).to_numpy()
            t = pd.DataFrame({ROOT_ID: nodes[ROOT_ID].to_numpy()[~bad], "key": v.astype(str).to_numpy()[~bad]})
            sides.append(t[~t["key"].duplicated(keep=False)])
        m = sides[0].merge(sides[1], on="key", suffixes=("_a", "_b"))
        return pd.DataFrame({"a_root_id": m[f"{ROOT_ID}_a"].to_numpy(dtype=ID_DTYPE),
                             "b_root_id": m[f"{ROOT_ID}_b"].to_numpy(dtype=ID_DTYPE)})

    def accuracy(self, truth: str | pd.DataFrame, *, exclude_seeds: bool = True) -> dict[str, Any]:
        """The fraction of true pairs recovered.

        Parameters
        ----------
        truth : str or DataFrame
            A node column that both sets share (``pair_id`` of the larva, ``name``
            across C. elegans datasets; see :meth:`truth`), or the true pairs
            (``a_root_id``, ``b_root_id``).
        exclude_seeds : bool
            Leave the given pairs out of the count (default; the usual way to
            report seeded matching).

        Returns
        -------
        dict
            ``true_pairs`` (counted), ``correct``, ``accuracy``.

        Examples
        --------
        >>> import connectome as cx
        >>> c = cx.load("celegans_cook2019_herm")
        >>> c = c.with_node_columns(c.node_table()[["root_id"]].assign(
        ...     pair=c.node_table()["name"].str.replace(r"[LR]$", "", regex=True)))
        >>> m = cx.match(c, side="side", method="bisected", seed=0)
        >>> round(m.accuracy("pair")["accuracy"], 2) > 0.5
        True
        """
        t = self.truth(truth) if isinstance(truth, str) else truth
        if not isinstance(t, pd.DataFrame) or not {"a_root_id", "b_root_id"} <= set(t.columns):
            raise InputError("truth must be a node column name or a DataFrame with a_root_id, b_root_id", "truth")
        got = self.pairs
        if exclude_seeds:
            seeded = set(got.loc[got["seed"], "a_root_id"].astype(ID_DTYPE).tolist())
            t = t[~t["a_root_id"].astype(ID_DTYPE).isin(seeded)]
        # Python ints, not a reindex: a truth pair the matching left out would make the ids float64
        found = dict(zip(got["a_root_id"].to_numpy(dtype=ID_DTYPE).tolist(),
                         got["b_root_id"].to_numpy(dtype=ID_DTYPE).tolist()))
        correct = sum(found.get(a) == b for a, b in zip(t["a_root_id"].to_numpy(dtype=ID_DTYPE).tolist(),
                                                        t["b_root_id"].to_numpy(dtype=ID_DTYPE).tolist()))
        n = int(len(t))
        return {"true_pairs": n, "correct": correct, "accuracy": correct / n if n else float("nan")}


# ----------------------------------------------------------------------------- inputs
def _ids_in(ids: Any, known: np.ndarray, parameter: str, where: str) -> np.ndarray:
    if isinstance(ids, (int, np.integer, str)):
        ids = [ids]
    arr = np.asarray(coerce_ids(pd.Series(list(ids)), parameter), dtype=ID_DTYPE) if len(ids) else np.zeros(0, ID_DTYPE)
    arr = pd.unique(arr)
    if len(arr) == 0:
        raise InputError(f"{parameter}: the id set is empty; give at least one root id", parameter)
    bad = ~np.isin(arr, known)
    if bad.any():
        raise InputError(f"{parameter}: {int(bad.sum())} id(s) are not neurons of {where}, e.g. {int(arr[bad][0])}",
                         parameter)
    return np.asarray(arr, dtype=ID_DTYPE)


def _hemispheres(c: Connectome, side: str | bool) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    cols = c.label_columns
    if side is True:
        side = next((s for s in ("side", "hemisphere") if s in cols), None)
        if side is None:
            raise ColumnError("nodes", "side", cols, "Pass side= the column that holds left/right.")
    if not isinstance(side, str) or side not in cols:
        raise ColumnError("nodes", str(side), cols, "Pass side= the column that holds left/right (side, hemisphere).")
    n = c.node_table([ROOT_ID, side])
    v = n[side].astype(object).where(n[side].notna(), "").astype(str).str.strip().str.lower()
    left, right = v.isin(LEFT).to_numpy(), v.isin(RIGHT).to_numpy()
    if not left.any() or not right.any():
        raise InputError(f"side: column {side!r} has no {'left' if not left.any() else 'right'} neurons "
                         f"(values: {sorted(set(v))[:10]}); left is one of {LEFT}, right one of {RIGHT}", "side")
    other = v[~(left | right)].value_counts().to_dict()
    return (n[ROOT_ID].to_numpy(dtype=ID_DTYPE)[left], n[ROOT_ID].to_numpy(dtype=ID_DTYPE)[right],
            {"side_column": side, "left_out": {k or "<missing>": int(x) for k, x in other.items()}})


def _seed_pairs(seeds: Any, ids_a: np.ndarray, ids_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if seeds is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if isinstance(seeds, pd.DataFrame):
        if not {"a_root_id", "b_root_id"} <= set(seeds.columns):
            raise InputError("seeds: a DataFrame needs columns a_root_id and b_root_id", "seeds")
        sa, sb = seeds["a_root_id"].to_list(), seeds["b_root_id"].to_list()
    else:
        try:
            sa, sb = zip(*[tuple(p) for p in seeds]) if len(seeds) else ((), ())
        except (TypeError, ValueError):
            raise InputError("seeds: give (a_root_id, b_root_id) pairs, or a DataFrame with those columns",
                             "seeds") from None
    sa = np.asarray(coerce_ids(pd.Series(list(sa), dtype=object), "seeds"), dtype=ID_DTYPE)
    sb = np.asarray(coerce_ids(pd.Series(list(sb), dtype=object), "seeds"), dtype=ID_DTYPE)
    for arr, ids, name in ((sa, ids_a, "a"), (sb, ids_b, "b")):
        bad = ~np.isin(arr, ids)
        if bad.any():
            raise InputError(f"seeds: {int(bad.sum())} seed id(s) are not neurons of set {name}, e.g. "
                             f"{int(arr[bad][0])}; a seed pair is (a neuron of a, a neuron of b)", "seeds")
        dup = pd.Series(arr).duplicated()
        if dup.any():
            raise InputError(f"seeds: neuron {int(arr[dup.to_numpy()][0])} of set {name} is in more than one seed "
                             "pair", "seeds")
    pos_a = pd.Series(np.arange(len(ids_a)), index=ids_a)
    pos_b = pd.Series(np.arange(len(ids_b)), index=ids_b)
    return pos_a[sa].to_numpy(np.int64), pos_b[sb].to_numpy(np.int64)


def _adjacency(c: Connectome, weight: str, min_synapses: int, edge_kind: str | None, scheduler: Any) -> Any:
    """Weighted CSR over all nodes of ``c`` (rows/cols in root-id order) and its ids."""
    import scipy.sparse as sp

    ids = c.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
    p = pair_totals(c, edge_kind=edge_kind, scheduler=scheduler)
    if min_synapses > 1:
        p = p[p[SYNAPSE_COUNT] >= min_synapses]
    w = p[SYNAPSE_COUNT].to_numpy(np.float64)
    w = {"synapse_count": w, "log": np.log1p(w), "binary": np.ones_like(w)}[weight]
    m = sp.csr_array((w, (np.searchsorted(ids, p[PRE].to_numpy(ID_DTYPE)), np.searchsorted(ids, p[POST].to_numpy(
        ID_DTYPE)))), shape=(len(ids), len(ids)))
    m.sum_duplicates()
    return m, ids


def _block(m: Any, ids: np.ndarray, rows: np.ndarray, cols: np.ndarray, n: int) -> Any:
    """``m`` restricted to ``rows x cols`` (root ids), zero-padded to ``n x n``."""
    import scipy.sparse as sp

    r = np.searchsorted(ids, rows)
    cc = np.searchsorted(ids, cols)
    sub = sp.csr_array(m[r][:, cc]).tocoo()
    out = sp.csr_array((sub.data, (sub.row, sub.col)), shape=(n, n))
    out.sum_duplicates()
    return out


def match_sets(a: Connectome, b: Connectome | None = None, *, ids_a: Any = None, ids_b: Any = None,
               side: str | bool | None = None, seeds: Any = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """The two node sets of :func:`match` and the seed pairs, checked (no matching is done).

    Returns
    -------
    (set_a, set_b, seeds_a, seeds_b, meta)
        Sorted root ids of each set; the seeds as positions in them; ``meta``
        with the hemisphere column (``side=``) and the other dataset's name.

    Raises
    ------
    InputError
        As :func:`match`: empty or overlapping sets, unknown ids, bad seeds.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> left, right, sa, sb, meta = match_sets(c, side="side")
    >>> len(left) > 100, meta["side_column"], len(sa)
    (True, 'side', 0)
    """
    meta: dict[str, Any] = {}
    if not isinstance(a, Connectome):
        raise InputError(f"a must be a Connectome, not {type(a).__name__}", "a")
    if b is None:
        if side is not None and ((ids_a is None) != (ids_b is None)):
            raise InputError("ids_b: give both ids_a and ids_b (with side=: a subset of each hemisphere), or neither",
                             "ids_b" if ids_b is None else "ids_a")
        if side is not None:
            set_a, set_b, extra = _hemispheres(a, side)
            meta.update(extra)
            if ids_a is not None:  # subsets of the two hemispheres
                all_ids = a.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
                for ids, hemi, name, what in ((ids_a, set_a, "ids_a", "left"), (ids_b, set_b, "ids_b", "right")):
                    sub = _ids_in(ids, all_ids, name, a.name)
                    off = np.setdiff1d(sub, hemi)
                    if len(off):
                        raise InputError(f"{name}: {len(off)} neuron(s) are not on the {what} side ({side!r}), e.g. "
                                         f"{int(off[0])}; with side=, ids_a are left neurons and ids_b right ones",
                                         name)
                set_a, set_b = (_ids_in(ids_a, all_ids, "ids_a", a.name), _ids_in(ids_b, all_ids, "ids_b", a.name))
        elif ids_a is not None and ids_b is not None:
            all_ids = a.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
            set_a = _ids_in(ids_a, all_ids, "ids_a", a.name)
            set_b = _ids_in(ids_b, all_ids, "ids_b", a.name)
            both = np.intersect1d(set_a, set_b)
            if len(both):
                raise InputError(f"ids_b: {len(both)} neuron(s) are in both sets, e.g. {int(both[0])}; the sets "
                                 "must not overlap", "ids_b")
        else:
            raise InputError("b: give a second connectome, or side= (e.g. side='side') to match the hemispheres of "
                             "a, or ids_a= and ids_b=", "b")
    else:
        if not isinstance(b, Connectome):
            raise InputError(f"b must be a Connectome, not {type(b).__name__}", "b")
        if side is not None:
            raise InputError("side: matches the hemispheres of one connectome; with two connectomes pass ids_a/ids_b",
                             "side")
        all_a = a.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
        all_b = b.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
        set_a = all_a if ids_a is None else _ids_in(ids_a, all_a, "ids_a", a.name)
        set_b = all_b if ids_b is None else _ids_in(ids_b, all_b, "ids_b", b.name)
        meta["dataset_b"] = b.name
    set_a, set_b = np.sort(set_a), np.sort(set_b)
    sa, sb = _seed_pairs(seeds, set_a, set_b)
    return set_a, set_b, sa, sb, meta


# ----------------------------------------------------------------------------- FAQ on sparse matrices
def _faq(a: Any, b: Any, cc: Any, dd: Any, seeds_a: np.ndarray, seeds_b: np.ndarray, p0: np.ndarray,
         max_iter: int, tol: float, sim: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Frank–Wolfe (FAQ) for ``max tr(A P B^T P^T) + tr(C^T P D P) + <S, P>`` over permutations with fixed seeds.

    ``a``, ``b`` (``n x n``), ``cc``, ``dd`` (``n x n``, or ``None``) are sparse;
    ``sim`` (dense ``n x n``, already weighted, or ``None``) is the linear term;
    ``p0`` is the start for the free block (``n - s`` square, doubly stochastic).
    Returns the permutation ``perm`` (``perm[i]`` = b index of a node ``i``)
    and the iterations run.
    """
    from scipy.optimize import linear_sum_assignment

    n = a.shape[0]
    free_a = np.setdiff1d(np.arange(n), seeds_a)
    free_b = np.setdiff1d(np.arange(n), seeds_b)
    # reorder: seeds first, in seed order, then the free nodes
    oa = np.concatenate([seeds_a, free_a])
    ob = np.concatenate([seeds_b, free_b])
    a = a[oa][:, oa]
    b = b[ob][:, ob]
    bisected = cc is not None
    if bisected:
        cc = cc[oa][:, ob]
        dd = dd[ob][:, oa]
    if sim is not None:
        sim = sim[np.ix_(oa, ob)]
    s = len(seeds_a)
    at, bt = a.T.tocsr(), b.T.tocsr()
    if bisected:
        cct, ddt = cc.T.tocsr(), dd.T.tocsr()
    p = np.zeros((n, n))
    p[np.arange(s), np.arange(s)] = 1.0
    p[s:, s:] = p0

    def grad_and_value(p: np.ndarray) -> tuple[np.ndarray, float]:
        """Gradient and objective at a doubly stochastic ``p`` (sparse x dense products only)."""
        apbt = a @ (b @ p.T).T                      # A P B^T
        g = apbt + at @ (bt @ p.T).T                # + A^T P B
        f = float((apbt * p).sum())                 # tr(A P B^T P^T)
        if bisected:
            dp = dd @ p                             # D P
            ctp = cct @ p                           # C^T P
            g = g + cc @ dp.T + ddt @ ctp.T         # C P^T D^T + D^T P^T C
            f += float((ctp * dp.T).sum())          # tr(C^T P D P)
        if sim is not None:
            g = g + sim                             # <S, P>
            f += float((sim * p).sum())
        return g, f

    def value_of_permutation(cols: np.ndarray) -> float:
        perm = np.concatenate([np.arange(s), s + cols])
        return _objective(a, b, cc if bisected else None, dd if bisected else None, perm, sim)

    it = 0
    for it in range(1, max_iter + 1):
        g_full, f_p = grad_and_value(p)
        g = g_full[s:, s:]
        _, cols = linear_sum_assignment(g, maximize=True)
        q = np.zeros((n, n))
        q[np.arange(s), np.arange(s)] = 1.0
        q[s + np.arange(n - s), s + cols] = 1.0
        r = q - p
        # f(P + t R) = f(P) + t lin + t^2 quad, lin = <grad, R>, and f(Q) = f(P) + lin + quad
        lin = float((g_full * r).sum())
        quad = value_of_permutation(cols) - f_p - lin
        t = 1.0
        if quad < 0 and 0 <= -lin / (2 * quad) <= 1:
            t = -lin / (2 * quad)
        elif lin + quad <= 0:
            t = 0.0
        step = t * r
        p = p + step
        if np.linalg.norm(step) / np.sqrt(max(n - s, 1)) < tol:
            break
    _, cols = linear_sum_assignment(p[s:, s:], maximize=True)
    perm_sorted = np.concatenate([np.arange(s), s + cols])  # in the reordered indices
    perm = np.empty(n, np.int64)
    perm[oa] = ob[perm_sorted]
    return perm, it


def _objective(a: Any, b: Any, cc: Any, dd: Any, perm: np.ndarray, sim: np.ndarray | None = None) -> float:
    """``tr(A P B^T P^T) + tr(C^T P D P) + <S, P>`` for the permutation ``perm`` (a node i -> b node perm[i])."""
    bp = b[perm][:, perm]  # bp[i, j] = B[perm i, perm j]
    f = float(a.multiply(bp).sum())
    if cc is not None:
        inv = np.empty_like(perm)
        inv[perm] = np.arange(len(perm))
        dp = dd[perm][:, inv]  # (P D P)[i, j] = D[perm i, perm^-1 j]
        f += float(cc.multiply(dp).sum())
    if sim is not None:
        f += float(sim[np.arange(len(perm)), perm].sum())
    return f


def _agreement(a: Any, b: Any, cc: Any, dd: Any, perm: np.ndarray) -> np.ndarray:
    """Per a node: synapses of its edges kept by the matching, Dice-style, in [0, 1] (NaN without edges)."""
    bp = b[perm][:, perm]
    kept = np.asarray(a.minimum(bp).sum(axis=1)).ravel() + np.asarray(a.minimum(bp).sum(axis=0)).ravel()
    sa = np.asarray(a.sum(axis=1)).ravel() + np.asarray(a.sum(axis=0)).ravel()
    sb = np.asarray(bp.sum(axis=1)).ravel() + np.asarray(bp.sum(axis=0)).ravel()
    if cc is not None:
        inv = np.empty_like(perm)
        inv[perm] = np.arange(len(perm))
        dp = dd[perm][:, inv]
        m = cc.minimum(dp)
        kept = kept + np.asarray(m.sum(axis=1)).ravel() + np.asarray(m.sum(axis=0)).ravel()
        sa = sa + np.asarray(cc.sum(axis=1)).ravel() + np.asarray(cc.sum(axis=0)).ravel()
        sb = sb + np.asarray(dp.sum(axis=1)).ravel() + np.asarray(dp.sum(axis=0)).ravel()
    tot = sa + sb
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, 2 * kept / np.where(tot > 0, tot, 1), np.nan)


def _random_doubly_stochastic(n: int, rng: np.random.Generator, iters: int = 50) -> np.ndarray:
    k = rng.uniform(size=(n, n))
    for _ in range(iters):  # Sinkhorn balancing
        k /= k.sum(axis=1, keepdims=True)
        k /= k.sum(axis=0, keepdims=True)
    return k


def _graph_match(a: Any, b: Any, cc: Any, dd: Any, seeds_a: np.ndarray, seeds_b: np.ndarray, *, n_init: int,
                 max_iter: int, tol: float, seed: int, progress: bool | None,
                 sim: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    n = a.shape[0]
    m = n - len(seeds_a)
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, int] | None = None
    runs = []
    for i in progress_iter(range(n_init), total=n_init, desc="graph matching", unit="init", progress=progress):
        bary = np.full((m, m), 1.0 / max(m, 1))
        p0 = bary if i == 0 else (bary + _random_doubly_stochastic(m, rng)) / 2
        perm, iters = _faq(a, b, cc, dd, seeds_a, seeds_b, p0, max_iter, tol, sim)
        f = _objective(a, b, cc, dd, perm, sim)
        runs.append({"init": "barycenter" if i == 0 else "randomized", "objective": f, "iterations": iters})
        if best is None or f > best[0]:
            best = (f, perm, i)
    assert best is not None
    return best[1], {"objective": best[0], "best_init": best[2], "inits": runs}


# ----------------------------------------------------------------------------- the public function
def match(
    a: Connectome,
    b: Connectome | None = None,
    *,
    ids_a: Any = None,
    ids_b: Any = None,
    side: str | bool | None = None,
    seeds: Any = None,
    method: str = "gm",
    by: str | None = None,
    direction: str = "both",
    metric: str = "cosine",
    weight: str = "log",
    min_synapses: int = 1,
    edge_kind: str | None = "chemical",
    unlabelled: str | None = None,
    vocabulary: str = "shared",
    similarity_weight: float | None = None,
    attributes: Any = None,
    attribute_weight: float | str | None = None,
    n_init: int = 1,
    max_iter: int = 30,
    tol: float = 0.01,
    seed: int = 0,
    max_pairs: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> MatchResult:
    """Pair the neurons of two connectomes, or of two node sets of one, and score each pair.

    Parameters
    ----------
    a : Connectome
    b : Connectome, optional
        A second connectome. Without it, the sets are two parts of ``a``:
        its hemispheres (``side=``) or ``ids_a`` and ``ids_b``.
    ids_a, ids_b : sequence of int, optional
        The neurons to match on each side (default: all of ``a`` and ``b``).
    side : str or True, optional
        A node column of ``a`` holding left/right (``side``, ``hemisphere``;
        ``True`` picks the first that exists): left neurons are set a, right set b
        (with ``ids_a``/``ids_b``: those neurons of each side).
    seeds : DataFrame or sequence of pairs, optional
        Known pairs ``(a_root_id, b_root_id)``, kept in the result.
    method : {"gm", "bisected", "similarity"}
        See the module notes. ``"bisected"`` needs two sets of one connectome.
    by, direction, metric, unlabelled, vocabulary
        The similarity of ``method="similarity"`` (see :func:`connectome.similarity`).
        With ``"gm"``/``"bisected"``, ``by=`` adds a linear term to the graph
        matching objective (see ``similarity_weight``).
    similarity_weight : float, optional
        Graph matching with ``by=``: maximise ``edges(P) + lam <S, P>``, where
        ``S`` is each candidate pair's partner-type similarity (cosine of the
        partners collapsed to ``by``; across the hemispheres of one connectome
        (``side=``) the partner's side is kept relative to the neuron, so that
        an ipsilateral partner type on the left corresponds to the same type
        ipsilateral on the right) plus 1 where the two neurons carry the same
        ``by`` label. ``lam = similarity_weight x |A| |B| / n`` (Frobenius norms
        of the weighted adjacencies, plus ``|C| |D|`` for ``bisected``), so the
        weight does not depend on the graph's size or edge weights. Default 0.1
        with ``by=`` (on the larva hemispheres it recovers more pairs than
        either term alone; ``benchmarks/RESULTS.md``), 0 without.
    attributes : str, list of str or dict, optional
        Graph matching: node columns a homologous pair should share (lineage,
        class, axon laterality, synapse counts per compartment...), added to
        the objective as ``attribute_weight x scale x T``, where ``T`` is the
        mean per-column agreement of a candidate pair in ``[0, 1]`` (equal
        labels; ``exp(-dz^2 / 2)`` of standardised numbers, ``log1p`` first
        when none is negative) and ``scale = (|A| |B| + |C| |D|) / n`` as for
        ``similarity_weight``. Unknown values (``unk``, missing) earn nothing;
        across the hemispheres (``side=``) side tokens in labels (``CM4-dm_l``
        / ``CM4-dm_r``) are neutralised first. A dict maps a column to
        ``"label"`` or ``"numeric"`` to override the kind read from its type.
        See :mod:`connectome.match_attributes`. Wiring alone cannot separate
        neurons whose edges are near copies; on the larva's hemispheres this
        term is what recovers the pairs the edges swap (``benchmarks/RESULTS.md``).
    attribute_weight : float or "auto", optional
        Weight of the attribute term: default 3 (chosen on the larva benchmark);
        ``"auto"`` picks it from 0, 1, 2, 3, 5, 8 by two-fold cross-validation
        on the seeds (at least 10 pairs; the held-out seeds recovered decide,
        ties to the smaller weight; recorded in ``meta["attributes"]``).
    weight : {"log", "synapse_count", "binary"}
        Edge weights for graph matching: ``log(1 + synapses)`` (default: on the
        larva hemispheres it recovers more true pairs than raw counts or 1;
        ``benchmarks/RESULTS.md``), synapses, or 1.
    min_synapses : int
        Neuron pairs with fewer synapses are not connected.
    edge_kind : str or None
        Edge kind (default chemical; ``None`` sums all kinds).
    n_init : int
        Graph matching restarts: the first from the barycenter, the others from
        random doubly stochastic starts; the best objective wins.
    max_iter, tol
        FAQ iterations and the step size (Frobenius norm / sqrt(n)) that stops it;
        graspologic's defaults.
    seed : int
        Seeds the random starts.
    max_pairs : int, optional
        Refuse, before any work, sets whose dense ``n x n`` block (``n`` = the larger set; every method
        holds such blocks) has more entries (:class:`~connectome.errors.PairBudgetError`); default: no
        bound. The service passes its ``max_job_pairs``.

    Returns
    -------
    MatchResult
        ``.pairs`` (``a_root_id``, ``b_root_id``, ``score``, ``seed``),
        ``.unmatched_a``, ``.unmatched_b``, ``.accuracy(truth)``, ``.meta``.

    Raises
    ------
    InputError
        Empty sets, ids or seeds that are not neurons of their set, a seed
        neuron in two pairs, ``bisected`` across two connectomes, label
        vocabularies that differ under ``vocabulary="strict"``; ``attributes``
        with ``method="similarity"``, an attribute column without a known value
        in a set, ``attribute_weight`` without ``attributes``, ``"auto"`` with
        fewer than 10 seed pairs.

    Examples
    --------
    >>> import connectome as cx
    >>> herm = cx.load("celegans_cook2019_herm")
    >>> adult = cx.load("celegans_witvliet2021_8")
    >>> ids = cx.ids_of(herm, cell_category="neuron")
    >>> m = cx.match(herm, adult, ids_a=ids, ids_b=cx.ids_of(adult, cell_category="neuron"),
    ...              method="similarity", by="cell_type", unlabelled="drop")
    >>> m.accuracy("name")["accuracy"] > 0.3
    True

    Attributes a pair should share, here its neurotransmitter and class, with
    the weight chosen on 20 seed pairs (the names give the true pairs):

    >>> t = herm.node_table()
    >>> left = t[t.side == "left"].set_index("cell_type").root_id
    >>> right = t[t.side == "right"].set_index("cell_type").root_id
    >>> known = left.index.intersection(right.index).unique()[:20]
    >>> seeds = list(zip(left[known], right[known]))
    >>> m = cx.match(herm, side="side", method="bisected", seeds=seeds,
    ...              attributes=["nt_type", "super_class"], attribute_weight="auto")
    >>> m.meta["attributes"]["weight"] in (0.0, 1.0, 2.0, 3.0, 5.0, 8.0), m.meta["attributes"]["mirrored_sides"]
    (True, True)
    >>> cx.match(herm, side="side", seeds=[(1, 2)])
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: seeds: 1 seed id(s) are not neurons of set a, e.g. 1; a seed pair is (a neuron of a, a neuron of b)
    """
    _check_choice(method, METHODS, "method")
    _check_choice(weight, WEIGHTS, "weight")
    min_synapses = _check_min_synapses(min_synapses)
    for v, name, low in ((n_init, "n_init", 1), (max_iter, "max_iter", 1)):
        check_int(v, name, low=low, what=f"an integer >= {low}")
    if not isinstance(a, Connectome):
        raise InputError(f"a must be a Connectome, not {type(a).__name__}", "a")
    t0 = time.perf_counter()
    meta: dict[str, Any] = {"method": method, "dataset_a": a.name, "warnings": []}
    _check_attribute_options(attributes, attribute_weight, method)
    if b is not None and isinstance(b, Connectome) and method == "bisected":
        raise InputError("method: 'bisected' needs the edges between the two sets, which two connectomes do not "
                         "have; match the hemispheres of one connectome (side=) or use method='gm'", "method")
    set_a, set_b, sa, sb, extra = match_sets(a, b, ids_a=ids_a, ids_b=ids_b, side=side, seeds=seeds)
    meta.update(extra)
    one = b is None
    cb = a if b is None else b
    na, nb = len(set_a), len(set_b)
    if max_pairs is not None:
        n = max(na, nb)
        check_pair_budget(n, n, check_int(max_pairs, "max_pairs", low=1), parameter="ids_b" if side is None else "side",
                          what=f"set a ({na:,}) x set b ({nb:,}), held as a dense {n:,} x {n:,} block",
                          fix="match smaller sets (e.g. one super_class or cell_type at a time)")
    meta.update({"n_a": na, "n_b": nb, "seeds": int(len(sa))})
    if na != nb:
        msg = (f"the sets differ in size ({na:,} vs {nb:,}): the smaller is padded, and {abs(na - nb):,} neurons of "
               f"the larger stay unmatched")
        logger.info("%s", msg)
        meta["padding"] = "naive"

    if method == "similarity":
        pairs, extra = _by_similarity(a, cb if not one else None, set_a, set_b, sa, sb, by=by, direction=direction,
                                      metric=metric, min_synapses=min_synapses, edge_kind=edge_kind,
                                      unlabelled=unlabelled, vocabulary=vocabulary, scheduler=scheduler,
                                      progress=progress)
        meta.update(extra)
        meta["warnings"] += extra.pop("warnings_", [])
    else:
        n = max(na, nb)
        ma, ida = _adjacency(a, weight, min_synapses, edge_kind, scheduler)
        mb, idb = (ma, ida) if one else _adjacency(cb, weight, min_synapses, edge_kind, scheduler)
        A = _block(ma, ida, set_a, set_a, n)
        B = _block(mb, idb, set_b, set_b, n)
        C = D = None
        if method == "bisected":
            C = _block(ma, ida, set_a, set_b, n)  # a -> b edges
            D = _block(ma, ida, set_b, set_a, n)  # b -> a edges
        if A.nnz == 0 or B.nnz == 0:
            msg = f"set {'a' if A.nnz == 0 else 'b'} has no edges among its neurons: graph matching has nothing to align"
            logger.warning("%s", msg)
            meta["warnings"].append(msg)
        sim = None
        if by is not None:
            sim, sim_meta = _similarity_term(a, None if one else cb, set_a, set_b, n, A, B, C, D, by=by,
                                             side_column=meta.get("side_column"), weight_=similarity_weight,
                                             direction=direction, metric=metric, min_synapses=min_synapses,
                                             edge_kind=edge_kind, unlabelled=unlabelled, vocabulary=vocabulary,
                                             scheduler=scheduler)
            meta["warnings"] += sim_meta.pop("warnings", [])
            meta["similarity_term"] = sim_meta
        elif similarity_weight:
            raise InputError("similarity_weight: needs by= (the label column whose partner types make the similarity "
                             "term), e.g. by='cell_type'", "similarity_weight")
        solve = dict(n_init=n_init, max_iter=max_iter, tol=tol, seed=seed)
        if attributes is not None:
            sim, attr_meta = _with_attributes(a, cb, set_a, set_b, n, A, B, C, D, sim, sa, sb, attributes=attributes,
                                              weight_=attribute_weight,
                                              side_column=meta.get("side_column") if one else None,
                                              solve=solve, progress=progress)
            meta["warnings"] += attr_meta.pop("warnings", [])
            meta["attributes"] = attr_meta
        perm, extra = _graph_match(A, B, C, D, sa, sb, progress=progress, sim=sim, **solve)
        score = _agreement(A, B, C, D, perm)
        meta.update(extra, weight=weight, n_init=n_init, max_iter=max_iter, tol=tol, seed=seed)
        rows = np.arange(n)
        real = (rows < na) & (perm < nb)
        pairs = pd.DataFrame({"a": rows[real], "b": perm[real], "score": score[real]})
    seeded = set(zip(sa.tolist(), sb.tolist()))
    out = pd.DataFrame({
        "a_root_id": set_a[pairs["a"].to_numpy(np.int64)],
        "b_root_id": set_b[pairs["b"].to_numpy(np.int64)],
        "score": pairs["score"].to_numpy(np.float64),
        "seed": [(x, y) in seeded for x, y in zip(pairs["a"].tolist(), pairs["b"].tolist())],
    }).sort_values("a_root_id", ignore_index=True)
    un_a = np.setdiff1d(set_a, out["a_root_id"].to_numpy(dtype=ID_DTYPE))
    un_b = np.setdiff1d(set_b, out["b_root_id"].to_numpy(dtype=ID_DTYPE))
    meta.update({"matched": int(len(out)), "unmatched_a": int(len(un_a)), "unmatched_b": int(len(un_b)),
                 "min_synapses": min_synapses, "edge_kind": edge_kind, "seconds": time.perf_counter() - t0})
    nodes_a = a.node_table()
    nodes_b = cb.node_table()
    return MatchResult(out, un_a, un_b, meta, nodes_a[nodes_a[ROOT_ID].isin(set_a)].reset_index(drop=True),
                       nodes_b[nodes_b[ROOT_ID].isin(set_b)].reset_index(drop=True))


def _scale(A: Any, B: Any, C: Any, D: Any, n: int) -> float:
    """``(|A| |B| + |C| |D|) / n`` (Frobenius norms): the size of the edge term, per node."""

    def fro(m: Any) -> float:
        return float(np.sqrt((m.data ** 2).sum())) if m is not None else 0.0

    return (fro(A) * fro(B) + fro(C) * fro(D)) / max(n, 1)


def _check_attribute_options(attributes: Any, weight_: Any, method: str) -> None:
    if attributes is None:
        if weight_ is not None:
            raise InputError("attribute_weight: needs attributes= (the node columns a pair should share)",
                             "attribute_weight")
        return
    if method == "similarity":
        raise InputError("attributes: used by graph matching (method 'gm' or 'bisected'); method='similarity' "
                         "assigns on connectivity similarity alone", "attributes")
    if weight_ is not None and weight_ != "auto":
        if isinstance(weight_, str):
            raise InputError(f"attribute_weight: a number >= 0 or 'auto', not {weight_!r}", "attribute_weight")
        check_number(weight_, "attribute_weight", low=0.0)


def _attribute_term(a: Connectome, cb: Connectome, set_a: np.ndarray, set_b: np.ndarray, n: int, A: Any, B: Any,
                    C: Any, D: Any, *, attributes: Any, side_column: str | None) -> tuple[np.ndarray, dict[str, Any]]:
    """The attribute term at weight 1: ``scale x T``, zero-padded to ``n x n`` (and its metadata)."""
    ta, tb = a.node_table(), cb.node_table()
    reserved = [ROOT_ID] + ([side_column] if side_column else [])
    spec = check_attributes(attributes, list(ta.columns), list(tb.columns), reserved=reserved)
    t, meta = attribute_similarity(ta, tb, set_a, set_b, spec, mirror_sides=side_column is not None)
    term = np.zeros((n, n))
    term[:len(set_a), :len(set_b)] = t
    return term * _scale(A, B, C, D, n), meta


def _with_attributes(a: Connectome, cb: Connectome, set_a: np.ndarray, set_b: np.ndarray, n: int, A: Any, B: Any,
                     C: Any, D: Any, sim: np.ndarray | None, sa: np.ndarray, sb: np.ndarray, *, attributes: Any,
                     weight_: float | str | None, side_column: str | None, solve: dict[str, Any],
                     progress: bool | None
                     ) -> tuple[np.ndarray, dict[str, Any]]:
    """``sim`` plus the weighted attribute term (``n x n``); the weight chosen on the seeds with ``"auto"``."""
    term, meta = _attribute_term(a, cb, set_a, set_b, n, A, B, C, D, attributes=attributes, side_column=side_column)
    base = np.zeros((n, n)) if sim is None else sim
    if weight_ == "auto":
        def run(w: float, seeds_a: np.ndarray, seeds_b: np.ndarray) -> np.ndarray:
            return _graph_match(A, B, C, D, seeds_a, seeds_b, progress=False, sim=base + w * term, **solve)[0]

        w, cv = choose_weight(run, sa, sb, seed=solve["seed"], progress=progress)
        meta["cross_validation"] = cv
    else:
        w = DEFAULT_WEIGHT if weight_ is None else float(weight_)
    meta.update(weight=float(w), chosen="auto" if weight_ == "auto" else ("default" if weight_ is None else "given"))
    logger.info("graph matching with %d attribute column(s), weight %s", len(meta["columns"]), w)
    return base + w * term, meta


def _similarity_term(a: Connectome, b: Connectome | None, set_a: np.ndarray, set_b: np.ndarray, n: int, A: Any,
                     B: Any, C: Any, D: Any, *, by: str, side_column: str | None, weight_: float | None,
                     direction: str, metric: str, min_synapses: int, edge_kind: str | None, unlabelled: str | None,
                     vocabulary: str, scheduler: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """The weighted linear term ``lam S`` (``n x n``, zero-padded) of graph matching with ``by=``."""
    w = 0.1 if weight_ is None else check_number(weight_, "similarity_weight", low=0.0)
    cb = a if b is None else b
    for c, name in ((a, "a"), (cb, "b")):
        if by not in c.label_columns:
            raise ColumnError(f"nodes of {c.name}", by, c.label_columns, "(by= names the partner label column)")
    warnings: list[str] = []
    if unlabelled is None:
        unlabelled = "pool"
        warnings.append(f"similarity term: partners without a {by!r} label are pooled into one pseudo-type "
                        "(unlabelled='pool'); pass unlabelled= to choose")
    kw = {"direction": direction, "min_synapses": min_synapses, "edge_kind": edge_kind, "scheduler": scheduler}
    mirrored = b is None and side_column is not None
    if mirrored:  # partner type and the partner's side, relative to the neuron (ipsi/contra) by swapping L and R
        nodes = a.node_table([ROOT_ID, by, side_column])
        lab = nodes[by].astype(object)
        un = is_unlabelled(lab)
        if unlabelled == "drop":
            lab = lab.where(~un, None)
        elif unlabelled == "pool":
            lab = lab.where(~un, "<unlabelled>")
        else:
            lab = lab.where(~un, "id:" + nodes[ROOT_ID].astype(str))
        sv = nodes[side_column].astype(object).where(nodes[side_column].notna(), "").astype(str).str.strip().str.lower()
        hemi = np.where(sv.isin(LEFT), "L", np.where(sv.isin(RIGHT), "R", "M"))
        key = (lab.astype(str) + "\x1f" + hemi).where(lab.notna(), None)
        col = "_match_partner_type"
        c2 = a.with_node_columns(pd.DataFrame({ROOT_ID: nodes[ROOT_ID].to_numpy(), col: key.to_numpy()}))
        prof = connectivity_profiles(c2, by=col, unlabelled="drop", **kw)
        feats = prof.features.reset_index(drop=True)
        swap = {"L": "R", "R": "L"}

        def mirror(k: str) -> str:
            base, _, h = str(k).rpartition("\x1f")
            return f"{base}\x1f{swap.get(h, h)}" if base else str(k)

        pos = {(d, str(k)): i for i, (d, k) in enumerate(zip(feats["direction"], feats["key"]))}
        target = np.array([pos.get((d, mirror(k)), -1) for d, k in zip(feats["direction"], feats["key"])])
        xa = prof.rows(set_a)
        xb_raw = prof.rows(set_b).tocoo()
        keep = target[xb_raw.col] >= 0
        import scipy.sparse as sp

        xb = sp.csr_array((xb_raw.data[keep], (xb_raw.row[keep], target[xb_raw.col[keep]])), shape=xb_raw.shape)
    else:
        pa = connectivity_profiles(a, by=by, unlabelled=unlabelled, **kw)
        pb = pa if b is None else connectivity_profiles(cb, by=by, unlabelled=unlabelled, **kw)
        if b is None:
            xa, xb = pa.rows(set_a), pa.rows(set_b)
        else:
            ma, mb, _, report = align_profiles(pa, pb, vocabulary)
            if report["only_a"] or report["only_b"]:
                warnings.append(f"similarity term: {len(report['only_a'])} partner label(s) only in {a.name}, "
                                f"{len(report['only_b'])} only in {cb.name}; vocabulary={vocabulary!r}")
            xa = Profiles(ma, pa.ids, pa.features).rows(set_a)
            xb = Profiles(mb, pb.ids, pb.features).rows(set_b)

    cos = np.nan_to_num(score_dense(xa, xb, metric=metric, scheduler=scheduler, progress=False), nan=0.0)
    la = a.node_table([ROOT_ID, by]).set_index(ROOT_ID)[by].reindex(set_a)
    lb = cb.node_table([ROOT_ID, by]).set_index(ROOT_ID)[by].reindex(set_b)
    ok_a = ~is_unlabelled(la)
    same = (la.astype(str).to_numpy()[:, None] == lb.astype(str).to_numpy()[None, :]) & ok_a[:, None]
    s = np.zeros((n, n))
    s[:len(set_a), :len(set_b)] = cos + same

    lam = w * _scale(A, B, C, D, n)
    meta = {"by": by, "similarity_weight": w, "lambda": lam, "mirrored_sides": mirrored, "unlabelled": unlabelled,
            "direction": direction, "metric": metric, "same_label_pairs": int(same.sum()), "warnings": warnings}
    for msg in warnings:
        logger.warning("%s", msg)
    logger.info("graph matching with a %s similarity term (lambda %.3g)", by, lam)
    return lam * s, meta


def _by_similarity(a: Connectome, b: Connectome | None, set_a: np.ndarray, set_b: np.ndarray, sa: np.ndarray,
                   sb: np.ndarray, **kw: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    from scipy.optimize import linear_sum_assignment

    if kw["by"] is None:
        msg = ("method='similarity' without by=: neurons are compared on their partners' ids, which differ across "
               "hemispheres and datasets; pass by= a label column (e.g. 'cell_type') to compare partner types")
        logger.warning("%s", msg)
        warns = [msg]
    else:
        warns = []
    s = similarity(a, set_a, candidates=set_b, other=b, max_dense=max(MAX_DENSE, len(set_a) * len(set_b)), **kw)
    warns += s.attrs["similarity"].get("warnings", [])
    m = np.nan_to_num(s.reindex(index=set_a, columns=set_b).to_numpy(), nan=0.0)
    free_a = np.setdiff1d(np.arange(len(set_a)), sa)
    free_b = np.setdiff1d(np.arange(len(set_b)), sb)
    r, cidx = linear_sum_assignment(m[np.ix_(free_a, free_b)], maximize=True)
    ra, rb = free_a[r], free_b[cidx]
    sc = m[ra, rb]
    zero = sc <= 0
    if zero.any():
        msg = f"{int(zero.sum()):,} assigned pairs share no partner feature (similarity 0): left unmatched"
        logger.info("%s", msg)
    pa = np.concatenate([sa, ra[~zero]])
    pb = np.concatenate([sb, rb[~zero]])
    meta = {k: v for k, v in s.attrs["similarity"].items() if k in ("by", "direction", "metric", "unlabelled",
                                                                     "vocabulary", "only_in_c", "only_in_other")}
    meta["zero_similarity_unmatched"] = int(zero.sum())
    meta["warnings_"] = warns
    return pd.DataFrame({"a": pa, "b": pb, "score": m[pa, pb]}), meta
