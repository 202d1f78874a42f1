"""Null models of a directed connectome, sampled from index arrays.

``"er"``
    Erdős–Rényi G(n, m): the same number of nodes and edges, placed uniformly.
``"reciprocal_er"``
    Reciprocity-preserving ER (Song et al. 2005): the same numbers of mutual
    and of one-way dyads, placed uniformly; one-way dyads get a random direction.
``"degree"``
    Degree-preserving directed rewiring (Maslov & Sneppen 2002): edge swaps
    (a→b, c→d) → (a→d, c→b) keep every in- and out-degree and never create a
    self-loop or a duplicate edge. Reciprocity is not kept: swaps break mutual
    pairs, which inflates the z-scores of the triads made of them.
``"degree_reciprocal"``
    Reciprocity-preserving degree rewiring: mutual pairs are swapped among
    themselves and one-way edges among themselves, never turning a one-way
    edge into a mutual pair. Every node keeps its in- and out-degree and its
    number of mutual partners, and the graph its number of mutual pairs.
``"block"``
    Cell-type block model: for every (pre type, post type) block, the same
    number of edges placed uniformly among the block's neuron pairs.

Autapses are dropped before sampling (they take no part in dyad or triad
statistics). Every sampler takes a ``numpy.random.Generator`` so samples are
reproducible from a seed.

Examples
--------
>>> import numpy as np
>>> from connectome.pair_arrays import from_arrays
>>> g = from_arrays(4, [0, 1, 2, 3], [1, 2, 3, 0])
>>> s = sample_null(g, "degree", np.random.default_rng(0))
>>> np.bincount(s.src, minlength=4).tolist(), np.bincount(s.dst, minlength=4).tolist()
([1, 1, 1, 1], [1, 1, 1, 1])
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .pair_arrays import DirectedPairs, from_arrays
from .errors import InputError, NullModelError

logger = logging.getLogger(__name__)

__all__ = ["NULL_MODELS", "sample_null", "rewire", "rewire_reciprocal", "check_rewirable"]

NULL_MODELS = ("er", "reciprocal_er", "degree", "degree_reciprocal", "block")


def _check_model(model: str) -> None:
    if model not in NULL_MODELS:
        raise InputError(f"null: unknown null model {model!r}; use one of {list(NULL_MODELS)}", "null")


def _ordered_pairs(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct ordered pairs (i != j) as keys i * n + j, uniformly."""
    total = n * (n - 1)
    if k > total:
        raise NullModelError(f"cannot place {k} edges among {n} nodes (at most {total} without self-loops)")
    if k == 0:
        return np.zeros(0, np.int64)
    if total <= 20_000_000 or k > total // 4:
        idx = rng.choice(total, size=k, replace=False)
    else:
        idx = np.zeros(0, np.int64)
        while len(idx) < k:
            extra = rng.integers(0, total, size=int((k - len(idx)) * 1.05) + 16)
            idx = pd.unique(np.concatenate([idx, extra]))
        idx = idx[:k]
    i = idx // (n - 1)
    j = idx % (n - 1)
    j = j + (j >= i)
    return i * np.int64(n) + j


def _unordered_pairs(n: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``k`` distinct unordered pairs {i, j} (i < j), uniformly, in random order."""
    total = n * (n - 1) // 2
    if k > total:
        raise NullModelError(f"cannot place {k} dyads among {n} nodes (at most {total})")
    if k == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if total <= 20_000_000 or k > total // 4:
        idx = rng.choice(total, size=k, replace=False)
        # unrank idx into (i, j), i < j, row-major over the upper triangle
        i = (n - 2 - np.floor(np.sqrt(-8.0 * idx + 4.0 * n * (n - 1) - 7) / 2.0 - 0.5)).astype(np.int64)
        j = (idx + i + 1 - n * (n - 1) // 2 + (n - i) * ((n - i) - 1) // 2).astype(np.int64)
        return i, j
    keys = np.zeros(0, np.int64)
    while len(keys) < k:
        a = rng.integers(0, n, size=int((k - len(keys)) * 1.05) + 16)
        b = rng.integers(0, n, size=len(a))
        ok = a != b
        lo, hi = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
        keys = pd.unique(np.concatenate([keys, lo * np.int64(n) + hi]))
    keys = keys[:k]
    return keys // n, keys % n


def _er(g: DirectedPairs, rng: np.random.Generator) -> DirectedPairs:
    keys = _ordered_pairs(g.n, g.m, rng)
    return from_arrays(g.n, keys // g.n, keys % g.n, ids=g.ids)


def _reciprocal_er(g: DirectedPairs, rng: np.random.Generator) -> DirectedPairs:
    fwd = g.src * np.int64(g.n) + g.dst
    rev = g.dst * np.int64(g.n) + g.src
    recip = np.isin(fwd, rev, assume_unique=True)
    n_mut = int(recip.sum()) // 2
    n_asym = g.m - 2 * n_mut
    i, j = _unordered_pairs(g.n, n_mut + n_asym, rng)
    mi, mj = i[:n_mut], j[:n_mut]
    ai, aj = i[n_mut:], j[n_mut:]
    flip = rng.random(n_asym) < 0.5
    src = np.concatenate([mi, mj, np.where(flip, aj, ai)])
    dst = np.concatenate([mj, mi, np.where(flip, ai, aj)])
    return from_arrays(g.n, src, dst, ids=g.ids)


def rewire(g: DirectedPairs, rng: np.random.Generator, swaps: float = 10.0) -> DirectedPairs:
    """Degree-preserving rewiring with ``swaps × m`` attempted Maslov–Sneppen swaps.

    Raises
    ------
    NullModelError
        No swap can be made (e.g. a star, a complete graph, or fewer than two edges).
    """
    from .kernels import rewire_directed  # lazy: imports numba

    if g.m < 2:
        raise NullModelError(f"degree-preserving rewiring needs at least 2 edges; this graph has {g.m}")
    src = g.src.copy()
    dst = g.dst.copy()
    attempts = max(int(swaps * g.m), 1)
    seed = int(rng.integers(0, 2**31 - 1))
    accepted = rewire_directed(src, dst, np.int64(g.n), np.int64(attempts), seed)
    if accepted == 0:
        if _no_swap_possible(g):
            raise NullModelError(_IMPOSSIBLE)
        logger.warning("no swap accepted in %d attempts; raise swaps", attempts)
    rate = accepted / attempts
    if rate < 0.01:
        logger.warning("only %.2f%% of swaps were accepted; the null graph may stay close to the data", 100 * rate)
    return from_arrays(g.n, src, dst, ids=g.ids)


def _mutual(g: DirectedPairs) -> np.ndarray:
    """Which edges of ``g`` have their reverse in ``g``."""
    fwd = g.src * np.int64(g.n) + g.dst
    rev = g.dst * np.int64(g.n) + g.src
    return np.isin(fwd, rev, assume_unique=True)


def rewire_reciprocal(g: DirectedPairs, rng: np.random.Generator, swaps: float = 10.0) -> DirectedPairs:
    """Reciprocity-preserving degree rewiring with ``swaps × m`` attempted swaps (see ``"degree_reciprocal"``).

    Examples
    --------
    >>> import numpy as np
    >>> from connectome.pair_arrays import from_arrays
    >>> g = from_arrays(6, [0, 1, 2, 3, 4, 5, 0, 2], [1, 0, 3, 2, 5, 4, 2, 4])
    >>> s = rewire_reciprocal(g, np.random.default_rng(0))
    >>> int(_mutual(s).sum()) // 2, np.bincount(s.src, minlength=6).tolist() == np.bincount(g.src, minlength=6).tolist()
    (3, True)

    Raises
    ------
    NullModelError
        No swap can be made in either class of edges.
    """
    from .kernels import rewire_reciprocal as kernel  # lazy: imports numba

    mutual = _mutual(g)
    one_way = ~mutual
    up = mutual & (g.src < g.dst)  # each mutual pair once
    asrc, adst = g.src[one_way].copy(), g.dst[one_way].copy()
    mu, mv = g.src[up].copy(), g.dst[up].copy()
    if len(asrc) < 2 and len(mu) < 2:
        raise NullModelError("reciprocity-preserving rewiring needs at least 2 one-way edges or 2 mutual pairs; "
                             f"this graph has {len(asrc)} and {len(mu)}")
    attempts = max(int(swaps * g.m), 1)
    seed = int(rng.integers(0, 2**31 - 1))
    accepted = kernel(asrc, adst, mu, mv, np.int64(g.n), np.int64(attempts), seed)
    if accepted == 0:
        raise NullModelError("reciprocity-preserving rewiring made no swap: every swap would create a self-loop "
                             "or an edge that exists (the graph is too dense or star-like); use null='reciprocal_er'")
    if accepted / attempts < 0.01:
        logger.warning("only %.2f%% of swaps were accepted; the null graph may stay close to the data",
                       100 * accepted / attempts)
    return from_arrays(g.n, np.concatenate([asrc, mu, mv]), np.concatenate([adst, mv, mu]), ids=g.ids)


def check_rewirable(g: DirectedPairs) -> None:
    """Raise :class:`NullModelError`, saying why, if no degree-preserving swap exists.

    Examples
    --------
    >>> from connectome.pair_arrays import from_arrays
    >>> check_rewirable(from_arrays(4, [0, 0, 0], [1, 2, 3]))  # a star
    Traceback (most recent call last):
    ...
    connectome.errors.NullModelError: degree-preserving rewiring is impossible here: ...
    """
    g = g.without_self_loops()
    if g.m < 2:
        raise NullModelError(f"degree-preserving rewiring needs at least 2 edges; this graph has {g.m}")
    if _no_swap_possible(g):
        raise NullModelError(_IMPOSSIBLE)


_IMPOSSIBLE = ("degree-preserving rewiring is impossible here: every swap (a→b, c→d) → (a→d, c→b) would "
               "create a self-loop or a duplicate edge (the graph is too dense or star-like); "
               "use null='reciprocal_er' or null='er' instead")


def _no_swap_possible(g: DirectedPairs) -> bool:
    """Exhaustive check (small graphs) that no valid swap exists."""
    if g.m > 3000:
        return False
    edges = set(zip(g.src.tolist(), g.dst.tolist()))
    pairs = list(edges)
    for x, (a, b) in enumerate(pairs):
        for c, d in pairs[x + 1:]:
            if a != c and b != d and a != d and c != b and (a, d) not in edges and (c, b) not in edges:
                return False
    return True


def _block(g: DirectedPairs, rng: np.random.Generator, labels: np.ndarray) -> DirectedPairs:
    n = g.n
    codes = np.asarray(labels, dtype=np.int64)
    if len(codes) != n:
        raise InputError(f"labels must have one entry per node ({n}), not {len(codes)}", "labels")
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    bs, bd = codes[g.src], codes[g.dst]

    def draw(block: np.ndarray, k: int) -> np.ndarray:
        return order[starts[block] + (rng.random(k) * sizes[block]).astype(np.int64)]

    src = draw(bs, g.m)
    dst = draw(bd, g.m)
    # dense blocks: exact sampling without replacement inside the block
    nb = int(codes.max()) + 1 if n else 0
    block_key = bs * nb + bd
    uniq, inv, counts = np.unique(block_key, return_inverse=True, return_counts=True)
    u_s, u_d = uniq // nb, uniq % nb
    possible = sizes[u_s] * sizes[u_d] - np.where(u_s == u_d, sizes[u_s], 0)
    dense = counts > possible // 2
    if np.any(counts > possible):
        raise NullModelError("a block holds more edges than neuron pairs; are the labels per node?")
    ok = ~dense[inv]
    for _ in range(200):
        key = src * np.int64(n) + dst
        bad = ok & ((src == dst) | pd.Series(np.where(ok, key, -1 - np.arange(len(key)))).duplicated().to_numpy())
        if not bad.any():
            break
        k = int(bad.sum())
        src[bad] = draw(bs[bad], k)
        dst[bad] = draw(bd[bad], k)
    else:  # pragma: no cover - would need pathological blocks
        raise NullModelError("block model sampling did not converge; blocks are too dense")
    dense_blocks = np.flatnonzero(dense)
    if len(dense_blocks):
        # all neuron pairs of the dense blocks (fewer than 2 m in total), random keys,
        # and per block the `count` pairs with the smallest keys: uniform subsets, exactly
        s_size = sizes[u_s[dense_blocks]]
        d_size = sizes[u_d[dense_blocks]]
        span = s_size * d_size
        blk = np.repeat(np.arange(len(dense_blocks)), span)
        r = np.arange(int(span.sum())) - np.repeat(np.cumsum(span) - span, span)
        ps = order[starts[u_s[dense_blocks]][blk] + r // d_size[blk]]
        pd_ = order[starts[u_d[dense_blocks]][blk] + r % d_size[blk]]
        allowed = ps != pd_
        blk, ps, pd_ = blk[allowed], ps[allowed], pd_[allowed]
        rank = np.lexsort((rng.random(len(blk)), blk))
        blk, ps, pd_ = blk[rank], ps[rank], pd_[rank]
        first = np.searchsorted(blk, np.arange(len(dense_blocks)))
        pos = np.arange(len(blk)) - first[blk]
        take = pos < counts[dense_blocks][blk]
        rows = np.flatnonzero(np.isin(inv, dense_blocks))
        rows = rows[np.argsort(np.searchsorted(dense_blocks, inv[rows]), kind="stable")]
        src[rows] = ps[take]
        dst[rows] = pd_[take]
    return from_arrays(n, src, dst, ids=g.ids)


def sample_null(g: DirectedPairs, model: str, rng: np.random.Generator, *, labels: np.ndarray | None = None,
                swaps: float = 10.0) -> DirectedPairs:
    """One sample of null ``model`` for graph ``g`` (autapses removed first).

    Parameters
    ----------
    g : DirectedPairs
    model : {"er", "reciprocal_er", "degree", "degree_reciprocal", "block"}
    rng : numpy.random.Generator
    labels : array of int, optional
        Block (cell type) code of each node; required for ``"block"``.
    swaps : float
        Attempted swaps per edge for ``"degree"`` and ``"degree_reciprocal"``.

    Examples
    --------
    >>> import numpy as np
    >>> from connectome.pair_arrays import from_arrays
    >>> g = from_arrays(5, [0, 1, 1, 3], [1, 0, 2, 4])
    >>> s = sample_null(g, "reciprocal_er", np.random.default_rng(1))
    >>> s.m
    4
    """
    _check_model(model)
    g = g.without_self_loops()
    if model == "er":
        return _er(g, rng)
    if model == "reciprocal_er":
        return _reciprocal_er(g, rng)
    if model == "degree":
        return rewire(g, rng, swaps=swaps)
    if model == "degree_reciprocal":
        return rewire_reciprocal(g, rng, swaps=swaps)
    if labels is None:
        raise InputError("null='block' needs node labels (by=...)", "by")
    return _block(g, rng, labels)
