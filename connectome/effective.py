"""Effective (multi-hop) connectivity: how strongly sources influence every neuron over several hops.

With ``A[j, i]`` the synapses from neuron ``i`` to neuron ``j`` (summed over neuropils; with
``signed=True`` Σ sign × synapses, :mod:`connectome.signs`), the one-hop weights are

- ``normalize="post"`` (default): ``W[j, i] = A[j, i] / input(j)``, the fraction of ``j``'s
  input that comes from ``i`` (input-normalised, as in Pospisil et al. 2024, "The fly connectome
  reveals a path to the effectome", Nature);
- ``normalize="pre"``: ``W[j, i] = A[j, i] / output(i)``;
- ``normalize=None``: ``W = A``;

where ``input(j)`` and ``output(i)`` are unsigned synapse totals over the whole graph of the edge
kind (after ``min_synapses``). The influence of source set ``S`` (indicator ``e_S``, one column per
source) on neuron ``j`` is

    influence = Σ_{h=1..k} (α W)^h e_s                      (hops=k)
    influence = Σ_{h≥1} (α W)^h e_s = ((I − α W)^{-1} − I) e_s   (hops=None)

The steady state (``hops=None``) converges if and only if ``α ρ(W) < 1`` (ρ: spectral radius).
Input-normalised weights have ρ(W) ≤ 1 (often exactly 1), so ``alpha`` defaults to 1 for a finite
``k`` and to 0.9 for the steady state. Before iterating, ρ(W) is computed (the largest eigenvalue
modulus over the strongly connected components of ``W``; skipped when the cheap bound
``min(‖W‖₁, ‖W‖∞)`` already shows ``α ρ(W) < 1``) and an ``alpha`` at or above ``1/ρ(W)`` is
refused with :class:`~connectome.errors.DivergenceError`. The series is iterated until the last
term is below ``tol`` of the (finite) sum; ``converged`` is ``False``, with a warning, when
``max_iter`` ends it first. Everything is a
sparse matrix times a block of source columns: memory is nodes × block × 8 bytes, never N × N.
Blocks of sources run as Dask tasks.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> t = cx.influence(c, cx.ids_of(c, name="ASHL"), hops=2, top=3)
>>> list(t.columns)
['source_root_id', 'target_root_id', 'influence', 'rank', 'target_name', 'target_cell_type', 'target_super_class', 'target_side', 'target_nt_type']
>>> t["target_name"].tolist()
['ADLL', 'AIAL', 'ADFL']
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from .errors import DivergenceError, InputError, QueryTimeoutError, SeedError
from .graph import Connectome
from .pathgraph import check_min_synapses, graph_metadata, label_columns, pair_graph, resolve_ids
from .progress import progress_bar
from .scheduler import compute, get_scheduler, share
from .schema import ROOT_ID
from .signs import signed_pairs
from .validate import check_int, check_number

logger = logging.getLogger(__name__)

__all__ = ["influence", "influence_matrix", "MAX_HOPS"]

#: Largest finite number of hops (use ``hops=None`` for the steady state).
MAX_HOPS = 100
_BLOCK = 64  # sources per matrix block
_DENSE_EIG = 600  # strongly connected components up to this size: dense eigenvalues; larger: ARPACK
_RHO_MARGIN = 1e-9  # alpha·ρ(W) within this of 1 counts as 1 (ρ is computed to about 1e-12)


def influence_matrix(c: Connectome, *, normalize: str | None = "post", signed: bool = False, signs: Any = None,
                     edge_kind: str | None = "chemical", min_synapses: int | None = None) -> tuple[Any, dict]:
    """The one-hop weight matrix ``W`` (scipy CSR, rows = postsynaptic, columns = presynaptic neuron
    indices in root-id order) and metadata (sign table, normalisation).

    Examples
    --------
    >>> import connectome as cx, numpy as np
    >>> w, meta = influence_matrix(cx.load("celegans_cook2019_herm"))
    >>> bool(np.allclose(w.sum(axis=1)[np.asarray(w.sum(axis=1)) > 0], 1.0)), meta["normalize"]
    (True, 'post')
    """
    import scipy.sparse as sp

    if normalize not in ("post", "pre", None):
        raise InputError(f"normalize must be 'post', 'pre' or None, not {normalize!r}", "normalize")
    k = check_min_synapses(min_synapses)
    g = pair_graph(c, edge_kind=edge_kind, min_synapses=k)
    meta: dict[str, Any] = {"normalize": normalize, "signed": bool(signed), "edge_kind": edge_kind,
                            "min_synapses": k}
    if signed:
        spairs = signed_pairs(c, signs, edge_kind=edge_kind, graph=g)
        val = spairs.signed
        meta.update(spairs.metadata())
    else:
        val = g.weight.astype(np.float64)
    if normalize == "post":
        den = g.in_total[g.dst].astype(np.float64)
    elif normalize == "pre":
        den = g.out_total[g.src].astype(np.float64)
    else:
        den = np.ones(g.m)
    data = np.where(den > 0, val / np.where(den > 0, den, 1.0), 0.0)
    o = g.in_order
    w = sp.csr_array((data[o], g.src[o], g.in_indptr), shape=(g.n, g.n))
    return w, meta


def _radius(block: Any) -> float | None:
    """ρ of one strongly connected block (None when ARPACK does not converge)."""
    if block.shape[0] <= _DENSE_EIG:
        return float(np.abs(np.linalg.eigvals(block.toarray())).max())
    from scipy.sparse.linalg import ArpackNoConvergence, eigs

    try:
        vals = eigs(block, k=1, which="LM", tol=1e-12, return_eigenvectors=False)
    except ArpackNoConvergence:
        return None  # not silent: the caller logs it, notes it in .attrs["notes"] and checks convergence itself
    return float(np.abs(vals).max())


def _spectral_radius(w: Any) -> float | None:
    """ρ(W): the largest eigenvalue modulus over the strongly connected components (a component of
    one node contributes its self-loop weight), or None when it could not be computed."""
    from scipy.sparse.csgraph import connected_components

    if w.nnz == 0:
        return 0.0
    _, lab = connected_components(w, directed=True, connection="strong")
    size = np.bincount(lab)
    single = size[lab] == 1
    rho = float(np.abs(w.diagonal()[single]).max()) if single.any() else 0.0
    big = np.flatnonzero(size > 1)
    if len(big):
        order = np.argsort(lab, kind="stable")
        perm = w[order][:, order].tocsr()
        ends = np.cumsum(size)
        for comp in big:
            lo, hi = int(ends[comp] - size[comp]), int(ends[comp])
            r = _radius(perm[lo:hi, lo:hi])
            if r is None:
                return None
            rho = max(rho, r)
    return rho


def _check_alpha(w: Any, alpha: float, meta: dict[str, Any], notes: list[str]) -> tuple[float, float | None]:
    """The cheap bound on ρ(W) and ρ(W) itself (when the bound does not settle it); refuses alpha ≥ 1/ρ(W)."""
    a = abs(w)
    bound = float(min(a.sum(axis=0).max(), a.sum(axis=1).max())) if w.nnz else 0.0
    if alpha * bound < 1.0 - _RHO_MARGIN:
        return bound, None
    rho = _spectral_radius(w)
    if rho is None:
        msg = ("influence: the spectral radius of W could not be computed (ARPACK did not converge), so "
               f"alpha={alpha} is not checked against 1/ρ(W) in advance; the iteration checks its terms")
        notes.append(msg)
        logger.warning(msg)
    elif alpha * rho >= 1.0 - _RHO_MARGIN:
        raise DivergenceError(
            f"alpha={alpha:g}: the steady-state series Σ (αW)^h diverges unless alpha·ρ(W) < 1, and the spectral "
            f"radius of the one-hop weights (normalize={meta['normalize']!r}, signed={meta['signed']}, "
            f"min_synapses={meta['min_synapses']}) is ρ(W) = {rho:.6g}, so alpha must be below 1/ρ(W) = "
            f"{1.0 / rho:.6g}; lower alpha (e.g. {0.9 / rho:.3g}) or give a finite number of hops", "alpha")
    return bound, rho


def _propagate(w: Any, cols: np.ndarray, n: int, hops: int | None, alpha: float, tol: float, max_iter: int,
               deadline: float | None) -> tuple[np.ndarray, int, bool]:
    """Σ_h (αW)^h e_cols for a block of sources: (n × len(cols) array, iterations, converged)."""
    x = np.zeros((n, len(cols)))
    x[cols, np.arange(len(cols))] = 1.0
    acc = np.zeros_like(x)
    steps = hops if hops is not None else max_iter
    converged = hops is not None
    h = 0
    for h in range(1, steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            x = w @ x
        with np.errstate(over="ignore", invalid="ignore"):
            if alpha != 1.0:
                x *= alpha
            acc += x
        if deadline is not None and time.time() > deadline:
            raise QueryTimeoutError("influence: time budget exhausted")
        if hops is None:
            with np.errstate(over="ignore", invalid="ignore"):
                inc = float(np.abs(x).sum())
                tot = float(np.abs(acc).sum())
            if not (np.isfinite(inc) and np.isfinite(tot)):
                raise DivergenceError(f"influence with alpha={alpha:g}: the values are not finite after {h} "
                                      "iterations (overflow); lower alpha or use normalize='post'", "alpha")
            if inc <= tol * max(tot, 1e-300):  # the last term, relative to the (finite) sum
                converged = True
                break
    if not np.isfinite(acc).all():
        raise DivergenceError(f"influence with alpha={alpha:g}: the values are not finite after {h} "
                              "iterations (overflow); lower alpha, give fewer hops or use normalize='post'", "alpha")
    return acc, h, converged


def _top_rows(mag: np.ndarray, k: int, drop_zero: bool) -> list[np.ndarray]:
    """Per column of ``mag``: the row indices of its ``k`` largest values, largest first, ties by row (the
    first rows win, also at the k-th value); zeros left out when ``drop_zero``."""
    n = mag.shape[0]
    out = []
    for j in range(mag.shape[1]):
        col = mag[:, j]
        if k < n:
            kth = np.partition(col, n - k)[n - k]
            gt = np.flatnonzero(col > kth)
            idx = np.concatenate([gt, np.flatnonzero(col == kth)[:k - len(gt)]])
        else:
            idx = np.arange(n)
        if drop_zero:
            idx = idx[col[idx] > 0]
        out.append(idx[np.lexsort((idx, -col[idx]))])
    return out


def _block(w: Any, cols: np.ndarray, n: int, hops: int | None, alpha: float, tol: float, max_iter: int,
           deadline: float | None, targets: np.ndarray | None, top: int | None
           ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], int, bool]:
    """One block of sources reduced to the rows returned: ``(source, target, value)`` index arrays in
    (source, rank) order, so that memory is nodes × block, never sources × targets."""
    acc, its, ok = _propagate(w, cols, n, hops, alpha, tol, max_iter, deadline)
    if targets is not None:
        acc = acc[targets]  # targets × sources (zeros included)
        k = len(targets) if top is None else min(int(top), len(targets))
    else:
        k = min(int(top or 100), n)
    picked = _top_rows(np.abs(acc), k, drop_zero=targets is None)
    counts = np.array([len(p) for p in picked], dtype=np.int64)
    rows = np.concatenate(picked) if picked else np.zeros(0, np.int64)
    src = np.repeat(cols, counts)
    val = acc[rows, np.repeat(np.arange(len(cols)), counts)]
    tgt = rows if targets is None else targets[rows]
    return (src, tgt, val), its, ok


def influence(
    c: Connectome,
    sources: Any,
    targets: Any = None,
    hops: int | None = 3,
    normalize: str | None = "post",
    signed: bool = False,
    *,
    signs: Any = None,
    alpha: float | None = None,
    top: int | None = None,
    min_synapses: int | None = None,
    edge_kind: str | None = "chemical",
    tol: float = 1e-9,
    max_iter: int = 10_000,
    labels: Any = None,
    timeout: float | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Multi-hop influence of each source neuron on other neurons (see the module notes for the formula).

    Parameters
    ----------
    c : Connectome
    sources : int or sequence of int
        Source root ids (one influence vector each).
    targets : sequence of int, optional
        Report these neurons for every source (zeros included; the ``top`` strongest of them when
        ``top`` is given); default: the ``top`` neurons with the largest absolute influence per source.
    hops : int or None
        Sum over 1..``hops`` hops (at most 100), or the steady state (``None``).
    normalize : {"post", "pre", None}
        Input-normalised (default), output-normalised or raw synapse counts.
    signed : bool
        Signed weights (Σ sign × synapses / unsigned total); ``signs`` is the transmitter table.
    alpha : float, optional
        Per-hop factor α (default 1 for finite hops, 0.9 for the steady state). The steady state
        needs α < 1/ρ(W); a larger one is refused.
    top : int, optional
        Targets kept per source, the strongest (largest absolute influence) first: default 100 of all
        neurons when ``targets`` is None, every target otherwise. Only these rows are built (each block
        of 64 sources is reduced before the next), so memory is nodes × 64 plus the rows returned, never
        sources × targets: with many targets, pass ``top``.
    min_synapses : int, optional
        Pairs below this count are dropped before normalising.
    tol, max_iter
        Convergence of the steady state.
    labels : list of str, optional
        Target node columns to add as ``target_<col>`` (default: name, types … where present).
    timeout, scheduler, progress
        Time budget (QueryTimeoutError), Dask scheduler for blocks of 64 sources, progress bar.

    Returns
    -------
    pandas.DataFrame
        ``source_root_id``, ``target_root_id``, ``influence``, ``rank`` (1 = strongest, per
        source), target labels. ``.attrs``: formula parameters (``alpha``, ``hops``, ``normalize``,
        sign table), ``iterations`` and ``converged`` of the steady state (``True`` only when the last
        term fell below ``tol`` of a finite sum), ``spectral_radius`` (ρ(W), when it had to be computed)
        and ``spectral_radius_bound`` (``min(‖W‖₁, ‖W‖∞)``) of the steady state.

    Raises
    ------
    SeedError
        No source has an outgoing edge (some without: a warning, in ``.attrs["notes"]``).
    DivergenceError
        ``hops=None`` with ``alpha`` ≥ 1/ρ(W) (the message gives ρ(W) and the bound), or values that
        overflow.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> ash, ava = cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AVAL")
    >>> one = cx.influence(c, ash, ava, hops=1)["influence"].iloc[0]
    >>> round(float(one), 4)  # fraction of AVAL's input from ASHL
    0.0225
    >>> s = cx.influence(c, ash, hops=None, signed=True, top=5)
    >>> s.attrs["alpha"], s.attrs["converged"], s.attrs["sign_table"]
    (0.9, True, 'CELEGANS_SIGNS')
    """
    started = time.time()
    if hops is not None:
        check_int(hops, "hops", low=1, what="a positive number of hops or None (steady state)")
        if hops > MAX_HOPS:
            raise InputError(f"hops={int(hops)} is more than {MAX_HOPS}; use hops=None for the steady state", "hops")
    if alpha is None:
        alpha = 1.0 if hops is not None else 0.9
    check_number(alpha, "alpha", low=0, low_open=True, finite=False, what="a positive number")
    check_int(top, "top", low=1, optional=True, what="a positive integer or None")
    check_number(timeout, "timeout", low=0, low_open=True, finite=False, optional=True,
                 what="a positive number of seconds")
    w, meta = influence_matrix(c, normalize=normalize, signed=signed, signs=signs, edge_kind=edge_kind,
                               min_synapses=min_synapses)
    notes: list[str] = []
    rho_bound, rho = _check_alpha(w, float(alpha), meta, notes) if hops is None else (None, None)
    g = pair_graph(c, edge_kind=edge_kind, min_synapses=check_min_synapses(min_synapses))
    src = resolve_ids(g.ids, sources, "sources", name=c.name)
    tgt = None if targets is None else resolve_ids(g.ids, targets, "targets", name=c.name)
    dead = src[np.diff(g.out_indptr)[src] == 0]
    if len(dead):
        shown = ", ".join(str(int(x)) for x in g.ids[dead[:5]])
        msg = (f"sources: {len(dead)} of {len(src)} source(s) have no outgoing edges (min_synapses="
               f"{meta['min_synapses']}, edge_kind={edge_kind!r}), so their influence is zero: {shown}")
        if len(dead) == len(src):
            raise SeedError(msg + "; choose other sources or lower min_synapses", "sources")
        notes.append(msg)
        logger.warning(msg)
    deadline = None if timeout is None else started + float(timeout)
    blocks = [src[i:i + _BLOCK] for i in range(0, len(src), _BLOCK)]
    try:
        if len(blocks) == 1:
            res = [_block(w, blocks[0], g.n, hops, float(alpha), tol, max_iter, deadline, tgt, top)]
        else:
            import dask

            sched = get_scheduler(scheduler)
            shared = share(w, sched)
            with progress_bar(total=len(blocks), desc="influence", unit="block", progress=progress) as bar:
                tasks = [dask.delayed(_block, pure=True)(shared, b, g.n, hops, float(alpha), tol, max_iter, deadline,
                                                         tgt, top) for b in blocks]
                res = list(compute(*tasks, scheduler=sched))
                bar.update(len(tasks))
    except QueryTimeoutError:
        raise QueryTimeoutError(f"influence ran past the time budget of {timeout} s; give fewer sources or hops, "
                                "or raise timeout") from None
    s_idx = np.concatenate([r[0][0] for r in res])
    t_idx = np.concatenate([r[0][1] for r in res])
    vals = np.concatenate([r[0][2] for r in res]).astype(np.float64, copy=False)
    its = max(r[1] for r in res)
    converged = all(r[2] for r in res)
    if not converged:
        msg = (f"influence: the steady state did not converge in max_iter={max_iter} iterations (tol={tol:g}); "
               "lower alpha or raise max_iter")
        notes.append(msg)
        logger.warning(msg)
    s_ids = g.ids[s_idx]
    order = np.argsort(s_ids, kind="stable")  # blocks come in (source, rank) order
    s_ids, t_idx, vals = s_ids[order], t_idx[order], vals[order]
    starts = np.r_[0, np.flatnonzero(s_ids[1:] != s_ids[:-1]) + 1] if len(s_ids) else np.zeros(0, np.int64)
    rank = np.arange(len(s_ids)) - np.repeat(starts, np.diff(np.r_[starts, len(s_ids)])) + 1
    out = pd.DataFrame({"source_root_id": s_ids, "target_root_id": g.ids[t_idx], "influence": vals,
                        "rank": rank.astype(np.int64)})
    cols = label_columns(c, labels)
    if cols:
        lut = c.node_table([ROOT_ID] + cols).set_index(ROOT_ID)
        for col in cols:
            out[f"target_{col}"] = lut[col].reindex(out["target_root_id"].to_numpy()).to_numpy()
    out.attrs = {**graph_metadata(c), **meta, "hops": hops, "alpha": float(alpha),
                 "top": (top or 100) if tgt is None else top,
                 "iterations": int(its), "converged": bool(converged), "notes": notes,
                 "spectral_radius": rho, "spectral_radius_bound": rho_bound,
                 "formula": "sum_{h=1..hops} (alpha W)^h e_s, W[j,i] = A[j,i] / input(j) (normalize='post')"}
    return out
