"""Compiled (numba) kernels behind :mod:`connectome.pathways` and :mod:`connectome.layers`.

Imported only by the modules that need them; every kernel releases the GIL, so Dask's
threaded scheduler runs sources (or traversal iterations) in parallel. Graphs are CSR arrays
of :class:`connectome.pathgraph.PairGraph` (node indices in root-id order).

Examples
--------
>>> import numpy as np
>>> indptr = np.array([0, 2, 3, 3]); idx = np.array([1, 2, 2])
>>> dist = np.full(3, -1, np.int64); order = np.zeros(3, np.int64)
>>> nv = bfs(indptr, idx, 0, np.array([False, False, True]), 1, 5, dist, order)
>>> dist.tolist(), order[:nv].tolist()
([0, 1, 1], [0, 1, 2])
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["bfs", "mark_dag", "dag_sigma", "dag_paths", "simple_paths", "traverse"]


@numba.njit(nogil=True, cache=True)
def bfs(indptr, idx, s, is_target, n_targets, max_hops, dist, order):
    """Breadth-first search from ``s`` (``dist`` must be -1 everywhere; filled, and reset by the caller
    from ``order[:nv]``). Stops once every target but ``s`` is reached or at ``max_hops``. Returns ``nv``."""
    dist[s] = 0
    order[0] = s
    head = 0
    tail = 1
    found = 0
    if n_targets == 0:
        return 1
    while head < tail:
        u = order[head]
        head += 1
        du = dist[u]
        if du >= max_hops:
            continue
        for p in range(indptr[u], indptr[u + 1]):
            v = idx[p]
            if dist[v] < 0:
                dist[v] = du + 1
                order[tail] = v
                tail += 1
                if is_target[v]:
                    found += 1
                    if found == n_targets:
                        return tail
    return tail


@numba.njit(nogil=True, cache=True)
def _on_dag(du, w, dv, tol):
    d = du + w - dv
    if d < 0:
        d = -d
    lim = dv if dv > 1.0 else 1.0
    return d <= tol * lim


@numba.njit(nogil=True, cache=True)
def mark_dag(in_indptr, in_src, in_w, dist, order, nv, is_target, marked, tol):
    """Mark the nodes on a shortest path from the search's source to some target: targets
    reached (dist > 0) and, going backwards in order of distance, their shortest-path predecessors."""
    for i in range(nv - 1, -1, -1):
        v = order[i]
        if is_target[v] and dist[v] > 0:
            marked[v] = True
        if not marked[v]:
            continue
        dv = dist[v]
        for p in range(in_indptr[v], in_indptr[v + 1]):
            u = in_src[p]
            du = dist[u]
            if du >= 0 and du < dv and _on_dag(du, in_w[p], dv, tol):
                marked[u] = True


@numba.njit(nogil=True, cache=True)
def dag_sigma(in_indptr, in_src, in_w, dist, order, nv, sigma, sigma_f, hmax, tol):
    """Number of shortest paths from ``order[0]`` to every reached node (int64 and float64), and the
    most hops of any of them (``hmax``)."""
    s = order[0]
    sigma[s] = 1
    sigma_f[s] = 1.0
    hmax[s] = 0
    for i in range(1, nv):
        v = order[i]
        dv = dist[v]
        acc = 0
        accf = 0.0
        hm = 0
        for p in range(in_indptr[v], in_indptr[v + 1]):
            u = in_src[p]
            du = dist[u]
            if du >= 0 and du < dv and _on_dag(du, in_w[p], dv, tol):
                acc += sigma[u]
                accf += sigma_f[u]
                if hmax[u] + 1 > hm:
                    hm = hmax[u] + 1
        sigma[v] = acc
        sigma_f[v] = accf
        hmax[v] = hm


@numba.njit(nogil=True, cache=True)
def dag_paths(indptr, idx, w, dist, marked, is_target, s, tol, max_hops, path, ptr, nodes, starts, cap_paths,
              cap_nodes):
    """Every shortest path from ``s`` to a marked target, in lexicographic order of node indices.

    Writes paths into ``nodes`` (flat) with ``starts`` (path i is ``nodes[starts[i]:starts[i+1]]``).
    Returns ``(paths, nodes used, full)``; ``full`` when a capacity stopped it.
    """
    n_paths = 0
    n_nodes = 0
    depth = 0
    path[0] = s
    ptr[0] = indptr[s]
    starts[0] = 0
    while depth >= 0:
        u = path[depth]
        p = ptr[depth]
        if p == indptr[u + 1]:
            depth -= 1
            continue
        ptr[depth] = p + 1
        v = idx[p]
        if not marked[v] or dist[v] <= dist[u] or not _on_dag(dist[u], w[p], dist[v], tol):
            continue
        h = depth + 1
        if h > max_hops:
            continue
        if is_target[v]:
            if n_paths >= cap_paths or n_nodes + h + 1 > cap_nodes:
                return n_paths, n_nodes, True
            for j in range(h):
                nodes[n_nodes + j] = path[j]
            nodes[n_nodes + h] = v
            n_nodes += h + 1
            n_paths += 1
            starts[n_paths] = n_nodes
        depth = h
        path[h] = v
        ptr[h] = indptr[v]
    return n_paths, n_nodes, False


@numba.njit(nogil=True, cache=True)
def simple_paths(indptr, idx, s, tindex, reach, k, on_path, path, ptr, state, nodes, starts, cap_paths, cap_nodes,
                 counts, count_only, max_steps):
    """Simple paths of at most ``k`` hops from ``s`` to targets (``tindex[v] >= 0``), depth first in
    lexicographic order of node indices, resumable.

    ``reach[v]``: fewest hops from ``v`` (strictly, through a successor) to a target, -1 if none: a
    branch is cut when no target is within the hops left. ``state`` = (depth, paths, nodes, steps,
    started). ``counts[tindex, hops]`` is incremented for each path; paths are written only when
    ``count_only`` is false. Returns 0 when done, 1 when ``max_steps`` ran out (call again to resume),
    2 when a capacity is full.
    """
    depth = state[0]
    n_paths = state[1]
    n_nodes = state[2]
    steps = 0
    if state[4] == 0:
        depth = 0
        path[0] = s
        ptr[0] = indptr[s]
        on_path[s] = True
        starts[0] = 0
        state[4] = 1
    while depth >= 0:
        if steps >= max_steps:
            state[0] = depth
            state[1] = n_paths
            state[2] = n_nodes
            state[3] += steps
            return 1
        steps += 1
        u = path[depth]
        p = ptr[depth]
        if p == indptr[u + 1]:
            on_path[u] = False
            depth -= 1
            continue
        ptr[depth] = p + 1
        v = idx[p]
        if on_path[v]:
            continue
        h = depth + 1
        t = tindex[v]
        if t >= 0:
            if not count_only:
                if n_paths >= cap_paths or n_nodes + h + 1 > cap_nodes:
                    ptr[depth] = p  # resume here
                    state[0] = depth
                    state[1] = n_paths
                    state[2] = n_nodes
                    state[3] += steps
                    return 2
                for j in range(h):
                    nodes[n_nodes + j] = path[j]
                nodes[n_nodes + h] = v
                n_nodes += h + 1
                starts[n_paths + 1] = n_nodes
            n_paths += 1
            counts[t, h] += 1
        r = reach[v]
        if h < k and r >= 0 and r <= k - h:
            depth = h
            path[h] = v
            ptr[h] = indptr[v]
            on_path[v] = True
    state[0] = -1
    state[1] = n_paths
    state[2] = n_nodes
    state[3] += steps
    return 0


@numba.njit(nogil=True, cache=True)
def _mix(a, b):
    x = (a * np.uint64(0x9E3779B97F4A7C15)) ^ (b + np.uint64(0xBF58476D1CE4E5B9))
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@numba.njit(nogil=True, cache=True)
def traverse(indptr, idx, p_edge, in_total, threshold, seeds, max_steps, rule, seed, it_lo, it_hi, hist):
    """Probabilistic traversals (Schlegel et al. 2021), iterations ``it_lo..it_hi-1``.

    ``rule`` 0 (summed): an unvisited neuron is activated with probability
    ``min(1, synapses from visited neurons / (threshold × its total input))``; ``p_edge`` holds
    synapses. ``rule`` 1 (per edge, as navis ``TraversalModel``): each edge from a visited neuron
    is traversed with probability ``p_edge`` (``min(1, w / (threshold × input))``) and the neuron
    is activated when one succeeds. Seeds are layer 1. Each iteration draws from its own stream
    (``seed``, iteration), so results do not depend on how iterations are split.
    ``hist[v, layer]`` counts iterations in which ``v`` was reached at ``layer`` (0: never).

    Signed traversals (:func:`connectome.flow_layers` with ``signed=True``): rule 0 gets signed
    synapses in ``p_edge`` (inhibitory input lowers the sum; a probability ≤ 0 never activates);
    rule 1 gets ``-q`` for an inhibitory edge, which blocks the activation at that step with
    probability ``q``. Unsigned inputs take exactly the arithmetic of before.
    """
    n = len(in_total)
    layer = np.zeros(n, np.int64)
    acc = np.zeros(n, np.float64)
    inh = np.zeros(n, np.float64)  # rule 1, signed: log of the probability that no inhibitory edge blocks
    cand = np.zeros(n, np.int64)
    incand = np.zeros(n, np.bool_)
    new = np.zeros(n, np.int64)
    nxt = np.zeros(n, np.int64)
    for it in range(it_lo, it_hi):
        np.random.seed(np.int64(_mix(np.uint64(seed), np.uint64(it)) >> np.uint64(33)))
        layer[:] = 0
        acc[:] = 0.0
        inh[:] = 0.0
        incand[:] = False
        n_new = 0
        for i in range(len(seeds)):
            v = seeds[i]
            if layer[v] == 0:
                layer[v] = 1
                new[n_new] = v
                n_new += 1
        n_cand = 0
        for step in range(2, max_steps + 1):
            for i in range(n_new):
                u = new[i]
                for p in range(indptr[u], indptr[u + 1]):
                    v = idx[p]
                    if layer[v] != 0:
                        continue
                    if rule == 0:
                        acc[v] += p_edge[p]
                    else:
                        q = p_edge[p]
                        if q < 0.0:
                            inh[v] += np.log1p(q) if q > -1.0 else -np.inf
                        else:
                            acc[v] += np.log1p(-q) if q < 1.0 else -np.inf
                    if not incand[v]:
                        incand[v] = True
                        cand[n_cand] = v
                        n_cand += 1
            if n_cand == 0:
                break
            n_next = 0
            keep = 0
            for i in range(n_cand):
                v = cand[i]
                if rule == 0:
                    prob = acc[v] / (threshold * in_total[v])
                else:
                    prob = 1.0 - np.exp(acc[v])
                    if inh[v] != 0.0:
                        prob *= np.exp(inh[v])
                if np.random.random() < prob:
                    nxt[n_next] = v
                    n_next += 1
                    incand[v] = False
                else:
                    cand[keep] = v
                    keep += 1
            n_cand = keep
            for i in range(n_next):
                layer[nxt[i]] = step
                new[i] = nxt[i]
            n_new = n_next
        for v in range(n):
            hist[v, layer[v]] += 1
