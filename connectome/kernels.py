"""Compiled (numba) kernels behind the census, null models and motif queries.

Imported only by the modules that need them (numba compiles on first call and
caches the machine code next to this file). Every kernel releases the GIL, so
Dask's threaded scheduler runs them in parallel.

Examples
--------
>>> import numpy as np
>>> indptr = np.array([0, 2, 3, 3]); indices = np.array([1, 2, 2])
>>> has_edges(indptr, indices, np.array([0, 1, 2]), np.array([2, 0, 1])).tolist()
[True, False, False]
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["triangles", "has_edges", "expand", "hop_counts"]


@numba.njit(nogil=True, cache=True)
def _swap(c):
    return ((c & 1) << 1) | ((c >> 1) & 1)


@numba.njit(nogil=True, cache=True)
def triangles(indptr, indices, codes, lo, hi, lut, per_node):
    """Classify the triangles whose lowest-rank vertex is in [lo, hi).

    ``indptr/indices/codes`` hold the rank-oriented undirected adjacency (each
    neighbour ranks above its row; codes 1 out, 2 in, 3 mutual). Returns
    (triangle class counts, closed wedge counts by class, asymmetric and mutual
    dyads on triangles); if ``per_node`` has rows, adds per-node Fagiolo
    triangle weights (column 0) and undirected triangle counts (column 1).
    """
    tri = np.zeros(16, np.int64)
    wedge = np.zeros(16, np.int64)
    asym = 0
    mut = 0
    track = per_node.shape[0] > 0
    for u in range(lo, hi):
        us = indptr[u]
        ue = indptr[u + 1]
        for p in range(us, ue):
            v = indices[p]
            cuv = codes[p]
            i = us
            j = indptr[v]
            je = indptr[v + 1]
            while i < ue and j < je:
                a = indices[i]
                b = indices[j]
                if a < b:
                    i += 1
                elif a > b:
                    j += 1
                else:
                    cuw = codes[i]
                    cvw = codes[j]
                    tri[lut[cuv | (cuw << 2) | (cvw << 4)]] += 1
                    wedge[lut[cuv | (cuw << 2)]] += 1
                    wedge[lut[_swap(cuv) | (cvw << 2)]] += 1
                    wedge[lut[_swap(cuw) | (_swap(cvw) << 2)]] += 1
                    nm = (cuv == 3) + (cuw == 3) + (cvw == 3)
                    mut += nm
                    asym += 3 - nm
                    if track:
                        s = (1 + (cuv == 3)) * (1 + (cuw == 3)) * (1 + (cvw == 3))
                        per_node[u, 0] += s
                        per_node[v, 0] += s
                        per_node[a, 0] += s
                        per_node[u, 1] += 1
                        per_node[v, 1] += 1
                        per_node[a, 1] += 1
                    i += 1
                    j += 1
    return tri, wedge, asym, mut


@numba.njit(nogil=True, cache=True)
def _row_has(indptr, indices, s, d):
    lo = indptr[s]
    hi = indptr[s + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        x = indices[mid]
        if x < d:
            lo = mid + 1
        elif x > d:
            hi = mid
        else:
            return True
    return False


@numba.njit(nogil=True, cache=True)
def has_edges(indptr, indices, src, dst):
    """For each i: is ``dst[i]`` among the (sorted) neighbours of ``src[i]``?"""
    out = np.empty(len(src), np.bool_)
    for i in range(len(src)):
        out[i] = _row_has(indptr, indices, src[i], dst[i])
    return out


@numba.njit(nogil=True, cache=True)
def expand(indptr, indices, anchor):
    """Join rows with their neighbours: (row index, neighbour) for each row's anchor."""
    total = 0
    for i in range(len(anchor)):
        total += indptr[anchor[i] + 1] - indptr[anchor[i]]
    rows = np.empty(total, np.int64)
    nbrs = np.empty(total, np.int64)
    k = 0
    for i in range(len(anchor)):
        a = anchor[i]
        for p in range(indptr[a], indptr[a + 1]):
            rows[k] = i
            nbrs[k] = indices[p]
            k += 1
    return rows, nbrs


# ----------------------------------------------------------------------------- edge hash set
# Open addressing with linear probing and backward-shift deletion (no tombstones),
# keys are src * n + dst (>= 0); empty slots hold -1.


@numba.njit(nogil=True, cache=True)
def _slot(key, mask):
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64(h >> np.uint64(32)) & mask


@numba.njit(nogil=True, cache=True)
def _find(table, mask, key):
    i = _slot(key, mask)
    while True:
        k = table[i]
        if k == key:
            return i
        if k == -1:
            return -1
        i = (i + 1) & mask


@numba.njit(nogil=True, cache=True)
def _insert(table, mask, key):
    i = _slot(key, mask)
    while table[i] != -1:
        if table[i] == key:
            return False
        i = (i + 1) & mask
    table[i] = key
    return True


@numba.njit(nogil=True, cache=True)
def _delete(table, mask, key):
    i = _find(table, mask, key)
    if i < 0:
        return
    table[i] = -1
    j = i
    while True:
        j = (j + 1) & mask
        k = table[j]
        if k == -1:
            return
        h = _slot(k, mask)
        # move k into the hole at i if its home slot h is not in (i, j] (cyclically)
        if (i <= j and (h <= i or h > j)) or (i > j and (h <= i and h > j)):
            table[i] = k
            table[j] = -1
            i = j


@numba.njit(nogil=True, cache=True)
def rewire_directed(src, dst, n, attempts, seed):
    """Maslov–Sneppen swaps in place: (a→b, c→d) → (a→d, c→b).

    Every in- and out-degree is kept; a swap that would make a self-loop or a
    duplicate edge is rejected (the chain stays put). Returns accepted swaps.
    """
    np.random.seed(seed)
    m = len(src)
    cap = 1
    while cap < 2 * m + 16:
        cap *= 2
    mask = cap - 1
    table = np.full(cap, -1, np.int64)
    for e in range(m):
        _insert(table, mask, src[e] * n + dst[e])
    accepted = 0
    if m < 2:
        return accepted
    for _ in range(attempts):
        i = np.random.randint(m)
        j = np.random.randint(m)
        a = src[i]
        b = dst[i]
        c = src[j]
        d = dst[j]
        if a == c or b == d or a == d or c == b:
            continue
        k1 = a * n + d
        k2 = c * n + b
        if _find(table, mask, k1) >= 0 or _find(table, mask, k2) >= 0:
            continue
        _delete(table, mask, a * n + b)
        _delete(table, mask, c * n + d)
        _insert(table, mask, k1)
        _insert(table, mask, k2)
        dst[i] = d
        dst[j] = b
        accepted += 1
    return accepted


@numba.njit(nogil=True, cache=True)
def rewire_reciprocal(asrc, adst, mu, mv, n, attempts, seed):
    """Reciprocity-preserving degree swaps in place.

    One-way edges ``asrc → adst`` swap among themselves, (a→b, c→d) → (a→d,
    c→b); mutual pairs ``{mu, mv}`` swap among themselves, ({a,b}, {c,d}) →
    ({a,d}, {c,b}) with a random orientation of the second pair. A swap is
    rejected when it would make a self-loop, an edge that exists in either
    direction (so no one-way edge becomes mutual and no pair is doubled).
    Every node keeps its one-way in- and out-degree and its number of mutual
    partners, so in- and out-degrees and the number of mutual pairs are kept.
    Returns accepted swaps.
    """
    np.random.seed(seed)
    ma = len(asrc)
    mm = len(mu)
    cap = 1
    while cap < 2 * (ma + 2 * mm) + 16:
        cap *= 2
    mask = cap - 1
    table = np.full(cap, -1, np.int64)
    for e in range(ma):
        _insert(table, mask, asrc[e] * n + adst[e])
    for e in range(mm):
        _insert(table, mask, mu[e] * n + mv[e])
        _insert(table, mask, mv[e] * n + mu[e])
    accepted = 0
    total = ma + mm
    if total == 0:
        return accepted
    for _ in range(attempts):
        one_way = np.random.randint(total) < ma
        if one_way:
            if ma < 2:
                continue
            i = np.random.randint(ma)
            j = np.random.randint(ma)
            a = asrc[i]
            b = adst[i]
            c = asrc[j]
            d = adst[j]
        else:
            if mm < 2:
                continue
            i = np.random.randint(mm)
            j = np.random.randint(mm)
            a = mu[i]
            b = mv[i]
            if np.random.randint(2) == 0:
                c = mu[j]
                d = mv[j]
            else:
                c = mv[j]
                d = mu[j]
        if a == c or b == d or a == d or c == b:
            continue
        if (_find(table, mask, a * n + d) >= 0 or _find(table, mask, d * n + a) >= 0
                or _find(table, mask, c * n + b) >= 0 or _find(table, mask, b * n + c) >= 0):
            continue
        _delete(table, mask, a * n + b)
        _delete(table, mask, c * n + d)
        _insert(table, mask, a * n + d)
        _insert(table, mask, c * n + b)
        if one_way:
            adst[i] = d
            adst[j] = b
        else:
            _delete(table, mask, b * n + a)
            _delete(table, mask, d * n + c)
            _insert(table, mask, d * n + a)
            _insert(table, mask, b * n + c)
            mu[i] = a
            mv[i] = d
            mu[j] = c
            mv[j] = b
        accepted += 1
    return accepted


_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@numba.njit(nogil=True, cache=True)
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & _M1)
    x = (x & _M2) + ((x >> np.uint64(2)) & _M2)
    x = (x + (x >> np.uint64(4))) & _M4
    return np.int64((x * _H01) >> np.uint64(56))


@numba.njit(nogil=True, cache=True)
def hop_counts(indptr, indices, n, sources):
    """How many (source, target) pairs lie at each directed hop distance (index 0 stays 0).

    A breadth-first search from every source, 64 sources at a time: each node holds a 64-bit word
    of the sources that reached it, so one pass over the frontier's edges advances 64 searches.
    A source's own distance 0 is not counted; unreachable targets are not counted.

    Examples
    --------
    >>> indptr = np.array([0, 1, 2, 3, 3]); indices = np.array([1, 2, 3])   # a chain 0 -> 1 -> 2 -> 3
    >>> hop_counts(indptr, indices, 4, np.array([0, 1])).tolist()[:4]
    [0, 2, 2, 1]
    """
    hist = np.zeros(n + 1, np.int64)
    seen = np.zeros(n, np.uint64)
    frontier = np.zeros(n, np.uint64)
    nxt = np.zeros(n, np.uint64)
    flist = np.empty(n, np.int64)
    touched = np.empty(n, np.int64)
    one = np.uint64(1)
    for base in range(0, len(sources), 64):
        k = min(64, len(sources) - base)
        nf = 0
        for j in range(k):
            s = sources[base + j]
            bit = one << np.uint64(j)
            if frontier[s] == 0:
                flist[nf] = s
                nf += 1
            seen[s] |= bit
            frontier[s] |= bit
        d = 0
        while nf > 0:
            d += 1
            nt = 0
            for i in range(nf):
                u = flist[i]
                f = frontier[u]
                for p in range(indptr[u], indptr[u + 1]):
                    v = indices[p]
                    if nxt[v] == 0:
                        touched[nt] = v
                        nt += 1
                    nxt[v] |= f
            for i in range(nf):
                frontier[flist[i]] = 0
            nf = 0
            cnt = 0
            for i in range(nt):
                v = touched[i]
                new = nxt[v] & ~seen[v]
                nxt[v] = 0
                if new != 0:
                    seen[v] |= new
                    frontier[v] = new
                    flist[nf] = v
                    nf += 1
                    cnt += _popcount(new)
            hist[d] += cnt
        seen[:] = 0
    return hist

