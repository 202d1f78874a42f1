"""Compiled (numba) kernels behind :func:`connectome.similarity`: sparse row-by-row scores.

For each query row, the kernels walk the query's non-zero features and, through
the transposed candidate matrix, every candidate that shares one of them; they
accumulate the shared-feature sums in dense per-candidate buffers (touched
entries only), turn them into a score, and either keep the ``k`` best (a small
heap) or write a dense row. Candidates that share no feature score 0 under every
metric here, so nothing else needs to be visited. Work per row is the sum of the
candidate counts of its features; no ``N x N`` array is ever made.

Every kernel releases the GIL, so Dask's threaded scheduler runs blocks in parallel.

Metrics (``metric`` code): 0 cosine (rows pre-normalised to unit length, the
score is the dot product), 1 jaccard (binary supports: shared / union), 2
vertex_normalized (Jarrell et al. 2012 as navis computes it, from per-row sums
``aux[:, 0]`` = total weight and ``aux[:, 1]`` = sum of ``g(x) = x - c1 x
exp(-c2 x)``).

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> q = sp.csr_array(np.array([[1.0, 1.0, 0.0]]))
>>> t = sp.csr_array(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])).T.tocsr()
>>> aux = np.zeros((3, 2)); qaux = np.array([[2.0, 0.0]]); taux = np.array([[1.0, 0], [1, 0], [2, 0]])
>>> idx = np.zeros((1, 2), np.int64); val = np.zeros((1, 2)); cnt = np.zeros(1, np.int64)
>>> topk_block(q.indptr, q.indices, q.data, t.indptr, t.indices, t.data, qaux, taux,
...            np.array([-1]), 1, 0.5, 1.0, 0, 1, 2, idx, val, cnt)
>>> idx.tolist(), val.tolist(), cnt.tolist()
([[2, 0]], [[1.0, 0.5]], [2])
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["topk_block", "dense_block", "COSINE", "JACCARD", "VERTEX"]

COSINE, JACCARD, VERTEX = 0, 1, 2


@numba.njit(nogil=True, cache=True, inline="always")
def _g(x, c1, c2):
    return x - c1 * x * np.exp(-c2 * x)


@numba.njit(nogil=True, cache=True)
def _accumulate(r, q_indptr, q_indices, q_data, tt_indptr, tt_indices, tt_data, metric, c1, c2,
                acc1, acc2, acc3, touched):
    """Shared-feature sums of query row ``r`` against every candidate it touches; returns their count.

    Every contribution to ``acc1`` is positive (weights are positive), so a zero
    entry marks a candidate not yet touched; :func:`_reset` zeroes the touched
    entries again after the row is scored.
    """
    m = 0
    if metric == 0:
        for p in range(q_indptr[r], q_indptr[r + 1]):
            f = q_indices[p]
            a = q_data[p]
            for s in range(tt_indptr[f], tt_indptr[f + 1]):
                j = tt_indices[s]
                if acc1[j] == 0.0:
                    touched[m] = j
                    m += 1
                acc1[j] += a * tt_data[s]
    elif metric == 1:
        for p in range(q_indptr[r], q_indptr[r + 1]):
            f = q_indices[p]
            for s in range(tt_indptr[f], tt_indptr[f + 1]):
                j = tt_indices[s]
                if acc1[j] == 0.0:
                    touched[m] = j
                    m += 1
                acc1[j] += 1.0
    else:
        for p in range(q_indptr[r], q_indptr[r + 1]):
            f = q_indices[p]
            a = q_data[p]
            for s in range(tt_indptr[f], tt_indptr[f + 1]):
                j = tt_indices[s]
                b = tt_data[s]
                if acc1[j] == 0.0:
                    touched[m] = j
                    m += 1
                mn = min(a, b)
                mx = max(a, b)
                acc1[j] += mn - c1 * mx * np.exp(-c2 * mn) + c1 * (mn + mx)
                acc2[j] += _g(mn, c1, c2)
                acc3[j] += mn
    return m


@numba.njit(nogil=True, cache=True)
def _reset(m, touched, acc1, acc2, acc3, metric):
    for t in range(m):
        j = touched[t]
        acc1[j] = 0.0
        if metric == 2:
            acc2[j] = 0.0
            acc3[j] = 0.0


@numba.njit(nogil=True, cache=True)
def _score(j, metric, c1, c2, qa0, qa1, t_aux, acc1, acc2, acc3):
    if metric == 0:
        return acc1[j]
    if metric == 1:
        union = qa0 + t_aux[j, 0] - acc1[j]
        return acc1[j] / union if union > 0 else 0.0
    tot = qa0 + t_aux[j, 0]
    vs = -c1 * tot + acc1[j]
    smax = qa1 + t_aux[j, 1] - acc2[j]
    smin = -c1 * (tot - acc3[j])
    if smin < smax:
        return (vs - smin) / (smax - smin)
    return 0.0


@numba.njit(nogil=True, cache=True)
def _worse(v1, j1, v2, j2):
    """Entry 1 ranks below entry 2: a lower score, or the same score and a higher index."""
    return v1 < v2 or (v1 == v2 and j1 > j2)


@numba.njit(nogil=True, cache=True)
def _sift_down(hv, hj, size, i):
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        w = left
        right = left + 1
        if right < size and _worse(hv[right], hj[right], hv[left], hj[left]):
            w = right
        if _worse(hv[w], hj[w], hv[i], hj[i]):
            hv[w], hv[i] = hv[i], hv[w]
            hj[w], hj[i] = hj[i], hj[w]
            i = w
        else:
            return


@numba.njit(nogil=True, cache=True)
def _sift_up(hv, hj, i):
    while i > 0:
        parent = (i - 1) // 2
        if _worse(hv[i], hj[i], hv[parent], hj[parent]):
            hv[i], hv[parent] = hv[parent], hv[i]
            hj[i], hj[parent] = hj[parent], hj[i]
            i = parent
        else:
            return


@numba.njit(nogil=True, cache=True)
def topk_block(q_indptr, q_indices, q_data, tt_indptr, tt_indices, tt_data, q_aux, t_aux, self_t,
               metric, c1, c2, lo, hi, k, out_idx, out_val, out_cnt):
    """The ``k`` best-scoring candidates of query rows ``lo .. hi-1``.

    ``out_idx``/``out_val`` (``hi - lo`` x ``k``) receive candidate indices and
    scores, best first (ties: lower candidate index first); ``out_cnt`` how many
    were found (candidates sharing at least one feature, the query's own
    candidate ``self_t[r]`` excluded). Scores of 0 are never kept.
    """
    nt = t_aux.shape[0]
    acc1 = np.zeros(nt)
    acc2 = np.zeros(nt)
    acc3 = np.zeros(nt)
    touched = np.empty(nt, np.int64)
    hv = np.empty(k)
    hj = np.empty(k, np.int64)
    for r in range(lo, hi):
        m = _accumulate(r, q_indptr, q_indices, q_data, tt_indptr, tt_indices, tt_data, metric, c1, c2,
                        acc1, acc2, acc3, touched)
        size = 0
        for t in range(m):
            j = touched[t]
            if j == self_t[r]:
                continue
            v = _score(j, metric, c1, c2, q_aux[r, 0], q_aux[r, 1], t_aux, acc1, acc2, acc3)
            if not v > 0.0:
                continue
            if size < k:
                hv[size] = v
                hj[size] = j
                _sift_up(hv, hj, size)
                size += 1
            elif _worse(hv[0], hj[0], v, j):
                hv[0] = v
                hj[0] = j
                _sift_down(hv, hj, size, 0)
        _reset(m, touched, acc1, acc2, acc3, metric)
        row = r - lo
        out_cnt[row] = size
        # pop the heap, worst first, into the row from the back
        n = size
        while n > 0:
            out_val[row, n - 1] = hv[0]
            out_idx[row, n - 1] = hj[0]
            n -= 1
            hv[0] = hv[n]
            hj[0] = hj[n]
            _sift_down(hv, hj, n, 0)


@numba.njit(nogil=True, cache=True)
def dense_block(q_indptr, q_indices, q_data, tt_indptr, tt_indices, tt_data, q_aux, t_aux,
                metric, c1, c2, lo, hi, out):
    """Scores of query rows ``lo .. hi-1`` against every candidate, written into ``out`` (zeros elsewhere)."""
    nt = t_aux.shape[0]
    acc1 = np.zeros(nt)
    acc2 = np.zeros(nt)
    acc3 = np.zeros(nt)
    touched = np.empty(nt, np.int64)
    for r in range(lo, hi):
        m = _accumulate(r, q_indptr, q_indices, q_data, tt_indptr, tt_indices, tt_data, metric, c1, c2,
                        acc1, acc2, acc3, touched)
        for t in range(m):
            j = touched[t]
            out[r - lo, j] = _score(j, metric, c1, c2, q_aux[r, 0], q_aux[r, 1], t_aux, acc1, acc2, acc3)
        _reset(m, touched, acc1, acc2, acc3, metric)
