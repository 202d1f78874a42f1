"""Paths between neuron sets: all shortest paths, all simple paths of at most k hops, path counts
(neuPrint ``fetch_shortest_paths`` / ``fetch_paths``, Codex pathways).

- :func:`shortest_paths` — for every (source, target) pair, **all** shortest paths from the
  source to the target over pairs with at least ``min_synapses`` synapses per hop;
  ``weight=None`` counts hops, ``weight="inverse_synapses"`` makes a hop cost
  ``1 / synapses`` (strong connections are short), ties within a relative 1e-9.
- :func:`paths` — every simple path (no neuron twice) of at most ``max_hops`` hops from a
  source to a target; a path may pass through other targets (as ``networkx.all_simple_paths``).
- :func:`count_paths` — the number of such paths per (source, target, hops), without
  materialising them (shortest paths are counted by dynamic programming on the shortest-path DAG).

The result is tidy: one row per (path, hop) with ``path_id``, ``hop`` (0 at the source),
``root_id``, ``synapse_count`` (of the hop arriving at this neuron; missing at hop 0) and node
labels. Paths are ordered by source, then lexicographically by their neurons' root ids.

Bounded: memory is O(nodes + edges) per worker plus the paths returned; ``limit`` keeps the
first paths in that order; without a limit more than ``max_paths`` paths (default 1,000,000)
raise :class:`~connectome.errors.QueryTooLargeError` (shortest paths are counted before they
are enumerated, so this is cheap); ``timeout`` raises
:class:`~connectome.errors.QueryTimeoutError`. Sources are split into blocks that run as Dask
tasks (threads, a LocalCluster or a scheduler address; compiled kernels release the GIL).

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> p = cx.shortest_paths(c, cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AVAL"), min_synapses=5)
>>> p.groupby("path_id")["name"].agg(" > ".join).tolist()
['ASHL > AVAL']
>>> cx.count_paths(c, cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AVAL"), max_hops=2, min_synapses=5)["paths"].tolist()
[1, 5]
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, QueryTimeoutError, QueryTooLargeError
from .graph import Connectome
from .pathgraph import PairGraph, check_min_synapses, graph_metadata, label_columns, pair_graph, resolve_ids
from .progress import progress_bar
from .scheduler import compute, get_scheduler, share
from .schema import ID_DTYPE, ROOT_ID, SYNAPSE_COUNT
from .signs import signed_pairs
from .validate import check_int

logger = logging.getLogger(__name__)

__all__ = ["shortest_paths", "paths", "count_paths", "DEFAULT_MAX_PATHS", "MAX_SIMPLE_HOPS", "MAX_SHORTEST_HOPS"]

#: Without a ``limit``, more paths than this are refused (QueryTooLargeError).
DEFAULT_MAX_PATHS = 1_000_000
#: Longest simple paths searched (their number grows exponentially with the hops).
MAX_SIMPLE_HOPS = 16
#: Largest finite ``max_hops`` of a shortest-path search (use ``None`` for no bound).
MAX_SHORTEST_HOPS = 256
_WEIGHTS = (None, "inverse_synapses")
_TIE = 1e-9
_STEPS = 20_000_000  # DFS steps between deadline checks (~0.1 s)


@dataclass(frozen=True)
class _Host:
    """The thresholded graph without autapses, as the kernels want it (shared with Dask tasks)."""

    n: int
    ids: np.ndarray
    indptr: np.ndarray
    idx: np.ndarray
    syn: np.ndarray
    w: np.ndarray
    in_indptr: np.ndarray
    in_src: np.ndarray
    in_w: np.ndarray

    @property
    def m(self) -> int:
        return int(len(self.idx))

    def csr(self) -> Any:
        import scipy.sparse as sp

        return sp.csr_array((self.w, self.idx, self.indptr), shape=(self.n, self.n))


def _host(c: Connectome, edge_kind: str | None, min_synapses: int, weight: str | None) -> _Host:
    def build() -> _Host:
        g: PairGraph = pair_graph(c, edge_kind=edge_kind, min_synapses=min_synapses)
        keep = g.src != g.dst
        src, dst, syn = g.src[keep], g.dst[keep], g.weight[keep]
        w = (1.0 / syn) if weight == "inverse_synapses" else np.ones(len(syn))
        indptr = np.zeros(g.n + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=g.n), out=indptr[1:])
        order = np.argsort(dst, kind="stable")
        in_indptr = np.zeros(g.n + 1, np.int64)
        np.cumsum(np.bincount(dst, minlength=g.n), out=in_indptr[1:])
        return _Host(g.n, g.ids, indptr, dst.astype(np.int64), syn.astype(np.int64), w.astype(np.float64),
                     in_indptr, src[order].astype(np.int64), w[order].astype(np.float64))

    return c.memo(("path_host", edge_kind, min_synapses, weight), build)


# ---------------------------------------------------------------------- checks
def _check_hops(max_hops: Any, *, required: bool, top: int) -> int | None:
    if max_hops is None:
        if required:
            raise InputError(f"max_hops: give the longest path in hops (1..{top}), e.g. max_hops=3", "max_hops")
        return None
    check_int(max_hops, "max_hops", low=1, what="a positive number of hops")
    if max_hops > top:
        hint = ("the number of simple paths grows exponentially with their length; ask for shorter paths "
                "or count shortest paths with count_paths(..., shortest=True)" if top == MAX_SIMPLE_HOPS
                else "leave max_hops=None for no bound")
        raise InputError(f"max_hops={int(max_hops)} is more than {top}; {hint}", "max_hops")
    return int(max_hops)


def _check_positive(value: Any, name: str, integer: bool = True) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok or value <= 0:
        raise InputError(f"{name} must be a positive {'integer' if integer else 'number'}, not {value!r}", name)


def _check_weight(weight: Any) -> None:
    if weight not in _WEIGHTS:
        raise InputError(f"weight must be None (hops) or 'inverse_synapses', not {weight!r}", "weight")


# ---------------------------------------------------------------------- per block
@dataclass
class _Found:
    """What one block of sources found."""

    src: np.ndarray           # source index of each path
    nodes: np.ndarray         # flat node indices
    starts: np.ndarray        # path i = nodes[starts[i]:starts[i+1]]
    full: bool = False        # a capacity stopped it (more paths exist)
    counts: pd.DataFrame | None = None


def _targets(n: int, tgt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    is_t = np.zeros(n, np.bool_)
    is_t[tgt] = True
    tindex = np.full(n, -1, np.int64)
    tindex[tgt] = np.arange(len(tgt))
    return is_t, tindex


def _distances(h: _Host, s: int, is_t: np.ndarray, n_t: int, max_hops: int | None, weighted: bool,
               dist: np.ndarray, order: np.ndarray, csr: Any = None) -> tuple[np.ndarray, int]:
    from . import path_kernels as K  # lazy: imports numba

    if not weighted:
        nv = K.bfs(h.indptr, h.idx, s, is_t, n_t - int(is_t[s]), h.n if max_hops is None else max_hops, dist, order)
        return dist, int(nv)
    from scipy.sparse.csgraph import dijkstra

    d = dijkstra(csr if csr is not None else h.csr(), directed=True, indices=s)
    reached = np.flatnonzero(np.isfinite(d))
    o = reached[np.argsort(d[reached], kind="stable")]
    fd = np.where(np.isfinite(d), d, -1.0)
    order[: len(o)] = o
    return fd, int(len(o))


def _shortest_block(h: _Host, sources: np.ndarray, tgt: np.ndarray, max_hops: int | None, weighted: bool,
                    count: bool, cap: int, deadline: float | None) -> _Found:
    from . import path_kernels as K  # lazy: imports numba

    is_t, _ = _targets(h.n, tgt)
    dist_i = np.full(h.n, -1, np.int64)
    order = np.zeros(h.n, np.int64)
    marked = np.zeros(h.n, np.bool_)
    sigma = np.zeros(h.n, np.int64)
    sigma_f = np.zeros(h.n, np.float64)
    hmax = np.zeros(h.n, np.int64)
    csr = h.csr() if weighted else None
    tol = _TIE if weighted else 0.0
    hop_cap = h.n if max_hops is None else max_hops
    path = np.zeros(h.n + 1, np.int64)
    ptr = np.zeros(h.n + 1, np.int64)
    out_src, out_nodes, out_starts, rows = [], [], [], []
    total = 0
    full = False
    for s in sources:
        if deadline is not None and time.time() > deadline:
            raise QueryTimeoutError("shortest paths: time budget exhausted")
        dist, nv = _distances(h, int(s), is_t, len(tgt), max_hops, weighted, dist_i, order, csr)
        vis = order[:nv]
        reached_t = vis[is_t[vis] & (dist[vis] > 0)]
        if len(reached_t):
            K.dag_sigma(h.in_indptr, h.in_src, h.in_w, dist, order, nv, sigma, sigma_f, hmax, tol)
            if count:
                if weighted and max_hops is not None:
                    raise InputError("max_hops: counting weighted shortest paths within a hop bound is not "
                                     "supported; leave max_hops=None or use weight=None", "max_hops")
                if float(sigma_f[reached_t].max()) > 2**62:
                    raise QueryTooLargeError("count_paths: more than 2**62 shortest paths to a target; the count "
                                             "does not fit in 64 bits")
                hops_t = np.full(len(reached_t), -1, np.int64) if weighted else dist[reached_t].astype(np.int64)
                rows.append(pd.DataFrame({"source": s, "target": reached_t, "hops": hops_t,
                                          "cost": dist[reached_t].astype(np.float64),
                                          "paths": sigma[reached_t]}))
            else:
                expected = float(sigma_f[reached_t].sum())
                left = cap - total
                if expected > left and not weighted:
                    full = True
                if left <= 0:
                    full = True
                    break
                room = int(min(expected, left))
                longest = min(int(hmax[reached_t].max()), hop_cap) + 1
                K.mark_dag(h.in_indptr, h.in_src, h.in_w, dist, order, nv, is_t, marked, tol)
                nodes = np.zeros(max(room * min(longest, h.n), 1), np.int64)
                starts = np.zeros(room + 1, np.int64)
                npaths, nnodes, stopped = K.dag_paths(h.indptr, h.idx, h.w, dist, marked, is_t, int(s), tol, hop_cap,
                                                      path, ptr, nodes, starts, room, len(nodes))
                full = full or bool(stopped and npaths >= left)
                out_src.append(np.full(npaths, s, np.int64))
                out_nodes.append(nodes[:nnodes])
                out_starts.append(starts[1:npaths + 1] + sum(len(x) for x in out_nodes[:-1]))
                total += int(npaths)
                marked[vis] = False
            sigma[vis] = 0
            sigma_f[vis] = 0.0
        if not weighted:
            dist_i[vis] = -1
        if not count and total >= cap:
            full = full or total >= cap
            break
    return _assemble(out_src, out_nodes, out_starts, full, rows)


def _assemble(out_src: list, out_nodes: list, out_starts: list, full: bool, rows: list) -> _Found:
    src = np.concatenate(out_src) if out_src else np.zeros(0, np.int64)
    nodes = np.concatenate(out_nodes) if out_nodes else np.zeros(0, np.int64)
    starts = np.concatenate([[0]] + out_starts).astype(np.int64) if out_starts else np.zeros(1, np.int64)
    counts = pd.concat(rows, ignore_index=True) if rows else None
    return _Found(src, nodes, starts, full, counts)


def _reach(h: _Host, tgt: np.ndarray, k: int) -> np.ndarray:
    """Fewest hops from each node through a successor to a target (-1 if more than k or none)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    rev = sp.csr_array((np.ones(h.m), h.in_src, h.in_indptr), shape=(h.n, h.n))  # row v: its in-edges
    d = dijkstra(rev, directed=True, unweighted=True, indices=tgt, limit=k, min_only=True)
    d = np.where(np.isfinite(d), d, np.inf)
    # strictly through a successor: 1 + min over successors
    succ_min = np.full(h.n, np.inf)
    if h.m:
        src_of = np.repeat(np.arange(h.n), np.diff(h.indptr))
        np.minimum.at(succ_min, src_of, d[h.idx] + 1)
    out = np.where(succ_min <= k, succ_min, -1)
    return out.astype(np.int64)


def _simple_block(h: _Host, sources: np.ndarray, tgt: np.ndarray, reach: np.ndarray, k: int, count: bool, cap: int,
                  deadline: float | None) -> _Found:
    from . import path_kernels as K  # lazy: imports numba

    _, tindex = _targets(h.n, tgt)
    on_path = np.zeros(h.n, np.bool_)
    path = np.zeros(k + 2, np.int64)
    ptr = np.zeros(k + 2, np.int64)
    cap_paths = 0 if count else cap
    nodes = np.zeros(max(cap_paths * (k + 1), 1), np.int64)
    starts = np.zeros(cap_paths + 1, np.int64)
    out_src, out_nodes, out_starts, rows = [], [], [], []
    total = 0
    full = False
    for s in sources:
        counts = np.zeros((len(tgt), k + 1), np.int64)
        state = np.zeros(5, np.int64)
        left = cap_paths - total
        while True:
            status = K.simple_paths(h.indptr, h.idx, int(s), tindex, reach, k, on_path, path, ptr, state, nodes,
                                    starts, max(left, 0), len(nodes), counts, count, _STEPS)
            if status == 1 and deadline is not None and time.time() > deadline:
                on_path[:] = False
                raise QueryTimeoutError("paths: time budget exhausted")
            if status != 1:
                break
        if status == 2:
            full = True
            on_path[:] = False
        npaths = int(state[1])
        if count:
            t_i, hops = np.nonzero(counts)
            if len(t_i):
                rows.append(pd.DataFrame({"source": s, "target": tgt[t_i], "hops": hops.astype(np.int64),
                                          "cost": hops.astype(np.float64), "paths": counts[t_i, hops]}))
        else:
            nn = int(state[2])
            out_src.append(np.full(npaths, s, np.int64))
            out_nodes.append(nodes[:nn].copy())
            out_starts.append(starts[1:npaths + 1].copy() + sum(len(x) for x in out_nodes[:-1]))
            total += npaths
            if full or total >= cap:
                break
        if deadline is not None and time.time() > deadline:
            raise QueryTimeoutError("paths: time budget exhausted")
    return _assemble(out_src, out_nodes, out_starts, full, rows)


def _run_block(kind: str, h: _Host, sources: np.ndarray, tgt: np.ndarray, extra: Any, hops: int | None,
               weighted: bool, count: bool, cap: int, deadline: float | None) -> _Found:
    if kind == "shortest":
        return _shortest_block(h, sources, tgt, hops, weighted, count, cap, deadline)
    return _simple_block(h, sources, tgt, extra, int(hops or 0), count, cap, deadline)


def _workers(sched: Any) -> int:
    if isinstance(sched, str):
        import os

        return max(1, min(8, os.cpu_count() or 2))
    try:
        return max(1, len(sched.scheduler_info()["workers"]))
    except Exception:  # pragma: no cover - informational only
        return 2


def _execute(kind: str, h: _Host, src: np.ndarray, tgt: np.ndarray, extra: Any, hops: int | None, weighted: bool,
             count: bool, cap: int, timeout: float | None, started: float, blocks: int | None, scheduler: Any,
             progress: bool | None) -> list[_Found]:
    import dask

    deadline = None if timeout is None else started + float(timeout)
    label = "shortest paths" if kind == "shortest" else "paths"
    try:
        if blocks is None:
            blocks = 1 if (len(src) == 1 or h.m * len(src) < 5_000_000) else min(len(src), 64)
        blocks = max(1, min(int(blocks), len(src)))
        if blocks == 1:
            return [_run_block(kind, h, src, tgt, extra, hops, weighted, count, cap, deadline)]
        sched = get_scheduler(scheduler)
        shared = share(h, sched)
        parts = np.array_split(src, blocks)
        wave = max(2, 2 * _workers(sched))
        out: list[_Found] = []
        found = 0
        with progress_bar(total=len(parts), desc=label, unit="block", progress=progress) as bar:
            for i in range(0, len(parts), wave):
                tasks = [dask.delayed(_run_block, pure=True)(kind, shared, p, tgt, extra, hops, weighted, count, cap,
                                                             deadline) for p in parts[i:i + wave]]
                res = compute(*tasks, scheduler=sched)
                out.extend(res)
                bar.update(len(tasks))
                if not count:
                    found += sum(len(r.src) for r in res)
                    if found >= cap:
                        break
        return out
    except QueryTimeoutError:
        raise QueryTimeoutError(
            f"{label} ran past the time budget of {timeout} s; raise min_synapses, lower max_hops, give fewer "
            "sources, pass a limit, or raise timeout") from None


# ---------------------------------------------------------------------- results
def _table(c: Connectome, h: _Host, found: list[_Found], limit: int | None, labels: Any) -> tuple[pd.DataFrame, bool, int]:
    src = np.concatenate([f.src for f in found]) if found else np.zeros(0, np.int64)
    lens, flat = [], []
    for f in found:
        lens.append(np.diff(f.starts)[: len(f.src)])
        flat.append(f.nodes[: int(f.starts[len(f.src)])] if len(f.src) else f.nodes[:0])
    lens_a = np.concatenate(lens) if lens else np.zeros(0, np.int64)
    nodes = np.concatenate(flat) if flat else np.zeros(0, np.int64)
    more = any(f.full for f in found)
    n_paths = len(src)
    if limit is not None and n_paths > limit:
        keep_nodes = int(lens_a[:limit].sum())
        lens_a, nodes, n_paths, more = lens_a[:limit], nodes[:keep_nodes], limit, True
    path_id = np.repeat(np.arange(n_paths), lens_a)
    first = np.zeros(len(nodes), bool)
    first[np.cumsum(lens_a) - lens_a] = True
    hop = np.arange(len(nodes)) - np.repeat(np.cumsum(lens_a) - lens_a, lens_a)
    prev = np.roll(nodes, 1)
    syn = _hop_synapses(h, prev, nodes)
    out = pd.DataFrame({"path_id": path_id.astype(np.int64), "hop": hop.astype(np.int64),
                        ROOT_ID: h.ids[nodes].astype(ID_DTYPE),
                        SYNAPSE_COUNT: pd.array(np.where(first, 0, syn), dtype="Int64")})
    out.loc[first, SYNAPSE_COUNT] = pd.NA
    cols = label_columns(c, labels)
    if cols:
        lut = c.node_table([ROOT_ID] + cols).set_index(ROOT_ID)
        for col in cols:
            out[col] = lut[col].reindex(out[ROOT_ID].to_numpy()).to_numpy()
    return out, more, n_paths


def _hop_synapses(h: _Host, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Synapses of edges ``u[i] -> v[i]`` (0 where there is none)."""
    if h.m == 0:
        return np.zeros(len(u), np.int64)
    src_of = np.repeat(np.arange(h.n, dtype=np.int64), np.diff(h.indptr))
    key = src_of * np.int64(h.n) + h.idx
    want = u.astype(np.int64) * np.int64(h.n) + v
    pos = np.clip(np.searchsorted(key, want), 0, len(key) - 1)
    return np.where(key[pos] == want, h.syn[pos], 0)


def _prepare(c: Connectome, sources: Any, targets: Any, edge_kind: str | None, min_synapses: Any, weight: Any
             ) -> tuple[_Host, np.ndarray, np.ndarray, int]:
    _check_weight(weight)
    k = check_min_synapses(min_synapses)
    h = _host(c, edge_kind, k, weight)
    src = resolve_ids(h.ids, sources, "sources", name=c.name)
    tgt = resolve_ids(h.ids, targets, "targets", name=c.name)
    return h, src, tgt, k


def _common_checks(limit: Any, timeout: Any, max_paths: Any) -> None:
    _check_positive(limit, "limit")
    _check_positive(timeout, "timeout", integer=False)
    _check_positive(max_paths, "max_paths")


def _add_signs(c: Connectome, out: pd.DataFrame, edge_kind: str | None, min_synapses: int, signs: Any
               ) -> dict[str, Any]:
    """Add ``signed_synapses`` (of each hop) and ``path_sign`` (product of the hops' signs)."""
    sp = signed_pairs(c, signs, edge_kind=edge_kind, min_synapses=min_synapses)
    g = sp.graph
    idx = np.searchsorted(g.ids, out[ROOT_ID].to_numpy(dtype=ID_DTYPE)).astype(np.int64)
    hop = out["hop"].to_numpy()
    prev = np.roll(idx, 1)
    key = g.src * np.int64(g.n) + g.dst
    want = prev * np.int64(g.n) + idx
    pos = np.clip(np.searchsorted(key, want), 0, max(len(key) - 1, 0))
    val = np.where((hop > 0) & (key[pos] == want if len(key) else False), sp.signed[pos] if len(key) else 0.0, np.nan)
    out["signed_synapses"] = val
    sgn = np.where(hop > 0, np.sign(np.nan_to_num(val)), 1.0)
    pid = out["path_id"].to_numpy()
    prod = pd.Series(sgn).groupby(pid).prod()
    out["path_sign"] = prod.reindex(pid).to_numpy().astype(np.int64) if len(out) else np.zeros(0, np.int64)
    return sp.metadata()


def _finish(c: Connectome, h: _Host, found: list[_Found], limit: int | None, max_paths: int, labels: Any,
            params: dict[str, Any], what: str, signed: bool = False, signs: Any = None) -> pd.DataFrame:
    more = any(f.full for f in found) or sum(len(f.src) for f in found) > max_paths
    if limit is None and more:
        raise QueryTooLargeError(
            f"{what}: more than max_paths={max_paths:,} paths; pass limit= to keep the first ones, raise "
            "min_synapses or lower max_hops, count them with cx.count_paths, or raise max_paths")
    out, truncated, n = _table(c, h, found, limit, labels)
    meta: dict[str, Any] = {}
    if signed:
        meta = _add_signs(c, out, params["edge_kind"], params["min_synapses"], signs)
    out.attrs = {**params, **graph_metadata(c), "paths": int(n), "truncated": bool(truncated), **meta}
    if truncated:
        logger.warning("%s: stopped at limit=%s paths; more exist", what, limit)
    return out


def shortest_paths(
    c: Connectome,
    sources: Any,
    targets: Any,
    min_synapses: int | None = 1,
    max_hops: int | None = None,
    weight: str | None = None,
    *,
    edge_kind: str | None = "chemical",
    limit: int | None = None,
    max_paths: int = DEFAULT_MAX_PATHS,
    timeout: float | None = None,
    labels: Any = None,
    signed: bool = False,
    signs: Any = None,
    blocks: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """All shortest paths from each source to each target.

    Parameters
    ----------
    c : Connectome
    sources, targets : int or sequence of int
        Root ids. For every pair (s, t) with s ≠ t and t reachable, every shortest s → t path is
        returned (``networkx.all_shortest_paths`` for each pair). Paths may pass through other
        sources or targets.
    min_synapses : int
        Each hop needs at least this many synapses (summed over neuropils; FlyWire: 5).
    max_hops : int, optional
        Ignore paths longer than this (hops); ``None``: no bound. With a ``weight``, the lightest
        paths are found over the whole graph and those with more hops are left out.
    weight : {None, "inverse_synapses"}
        ``None``: a path's length is its hops. ``"inverse_synapses"``: a hop costs
        ``1 / synapses`` of its pair, so the shortest path prefers strong connections (ties within
        a relative 1e-9 count as equal).
    edge_kind : str or None
        Edge kind (default chemical; ``None`` sums every kind).
    limit : int, optional
        Keep the first ``limit`` paths (by source, then lexicographically); ``.attrs["truncated"]``
        says whether more exist.
    max_paths : int
        Without ``limit``, more paths than this raise QueryTooLargeError.
    timeout : float, optional
        Time budget in seconds (QueryTimeoutError past it).
    labels : list of str, optional
        Node columns to add (default: name, cell type, class … where present; ``[]`` for none).
    signed : bool
        Add ``signed_synapses`` (Σ sign × synapses of the hop's pair) and ``path_sign`` (the
        product of the hops' signs: +1 excitatory, −1 inhibitory, 0 when a hop has sign 0); see
        :mod:`connectome.signs`. ``signs`` is the transmitter → sign table.
    blocks, scheduler, progress
        Dask blocks of sources (default from the work), scheduler, progress bar.

    Returns
    -------
    pandas.DataFrame
        ``path_id``, ``hop``, ``root_id``, ``synapse_count`` (of the hop into this neuron; NA at
        hop 0), labels. ``.attrs``: parameters, ``paths``, ``truncated``.

    Raises
    ------
    IdError
        Unknown ids (the first five listed).
    InputError
        An empty source or target set, ``max_hops`` ≤ 0 or above 256, an unknown ``weight``.
    QueryTooLargeError, QueryTimeoutError

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> p = cx.shortest_paths(c, cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AS1"), min_synapses=3)
    >>> p.attrs["paths"], p.groupby("path_id")["name"].agg(" > ".join).tolist()[:2]
    (9, ['ASHL > AVAL > DA1 > AS1', 'ASHL > AVAL > VA6 > AS1'])
    >>> w = cx.shortest_paths(c, cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AS1"), min_synapses=3,
    ...                       weight="inverse_synapses")
    >>> " > ".join(w["name"])
    'ASHL > AVDR > AVAR > VA6 > AS1'
    """
    started = time.time()
    _common_checks(limit, timeout, max_paths)
    hops = _check_hops(max_hops, required=False, top=MAX_SHORTEST_HOPS)
    h, src, tgt, k = _prepare(c, sources, targets, edge_kind, min_synapses, weight)
    cap = (int(limit) if limit is not None else int(max_paths)) + 1  # one more: tells whether more exist
    found = _execute("shortest", h, src, tgt, None, hops, weight is not None, False, cap, timeout, started, blocks,
                     scheduler, progress)
    params = {"kind": "shortest", "min_synapses": k, "max_hops": hops, "weight": weight, "edge_kind": edge_kind,
              "limit": limit, "sources": int(len(src)), "targets": int(len(tgt))}
    return _finish(c, h, found, limit, max_paths, labels, params, "shortest_paths", signed, signs)


def paths(
    c: Connectome,
    sources: Any,
    targets: Any,
    max_hops: int = 3,
    min_synapses: int | None = 1,
    limit: int | None = None,
    *,
    edge_kind: str | None = "chemical",
    max_paths: int = DEFAULT_MAX_PATHS,
    timeout: float | None = None,
    labels: Any = None,
    signed: bool = False,
    signs: Any = None,
    blocks: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """All simple paths of at most ``max_hops`` hops from a source to a target.

    The same paths as ``networkx.all_simple_paths(G, s, t, cutoff=max_hops)`` for every pair
    (s ≠ t) on the graph of pairs with at least ``min_synapses`` synapses. Parameters, result and
    errors as :func:`shortest_paths`; ``max_hops`` is required and at most 16.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> p = cx.paths(c, cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AVAL"), max_hops=2, min_synapses=5)
    >>> p.groupby("path_id")["name"].agg(" > ".join).tolist()[:3]
    ['ASHL > AIBL > AVAL', 'ASHL > AVAL', 'ASHL > ADLL > AVAL']
    >>> p[p.path_id == 2][["name", "synapse_count"]].astype(str).values.tolist()
    [['ASHL', '<NA>'], ['ADLL', '6'], ['AVAL', '9']]
    >>> s = cx.paths(c, cx.ids_of(c, name="AVAL"), cx.ids_of(c, name="VA8"), max_hops=2, min_synapses=5, signed=True)
    >>> s.groupby("path_id")["path_sign"].first().tolist()  # AVAL > AVAR > VA8, AVAL > VA8: cholinergic
    [1, 1]
    """
    started = time.time()
    _common_checks(limit, timeout, max_paths)
    hops = _check_hops(max_hops, required=True, top=MAX_SIMPLE_HOPS)
    h, src, tgt, k = _prepare(c, sources, targets, edge_kind, min_synapses, None)
    cap = (int(limit) if limit is not None else int(max_paths)) + 1  # one more: tells whether more exist
    reach = _reach(h, tgt, int(hops))
    found = _execute("simple", h, src, tgt, reach, hops, False, False, cap, timeout, started, blocks, scheduler,
                     progress)
    params = {"kind": "simple", "min_synapses": k, "max_hops": hops, "weight": None, "edge_kind": edge_kind,
              "limit": limit, "sources": int(len(src)), "targets": int(len(tgt))}
    return _finish(c, h, found, limit, max_paths, labels, params, "paths", signed, signs)


def count_paths(
    c: Connectome,
    sources: Any,
    targets: Any,
    max_hops: int | None = 3,
    min_synapses: int | None = 1,
    *,
    shortest: bool = False,
    weight: str | None = None,
    edge_kind: str | None = "chemical",
    timeout: float | None = None,
    blocks: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Number of paths per (source, target, hops), without materialising them.

    Parameters
    ----------
    shortest : bool
        ``False`` (default): simple paths of at most ``max_hops`` hops (as :func:`paths`).
        ``True``: shortest paths (as :func:`shortest_paths`), counted on the shortest-path DAG
        in O(edges) per source however many there are; ``max_hops`` may then be ``None``.
    weight : {None, "inverse_synapses"}
        For ``shortest=True`` (see :func:`shortest_paths`); rows then have ``hops`` -1 and the
        path ``cost``.

    Other parameters as :func:`paths`.

    Returns
    -------
    pandas.DataFrame
        ``source_root_id``, ``target_root_id``, ``hops``, ``cost`` (hops, or the summed
        ``1 / synapses``), ``paths``; pairs without a path are left out. ``.attrs["total"]`` is the
        sum.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> n = cx.count_paths(c, cx.ids_of(c, super_class="sensory"), cx.ids_of(c, cell_type="AVA"), max_hops=2,
    ...                    min_synapses=5)
    >>> n.attrs["total"] == len(cx.paths(c, cx.ids_of(c, super_class="sensory"), cx.ids_of(c, cell_type="AVA"),
    ...                                  max_hops=2, min_synapses=5).path_id.unique())
    True
    >>> cx.count_paths(c, cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AS1"), None, 3, shortest=True)["paths"].tolist()
    [9]
    """
    started = time.time()
    _check_positive(timeout, "timeout", integer=False)
    if not isinstance(shortest, (bool, np.bool_)):
        raise InputError(f"shortest must be True or False, not {shortest!r}", "shortest")
    if weight is not None and not shortest:
        raise InputError("weight: only shortest paths have a weighted length; pass shortest=True or weight=None",
                         "weight")
    hops = _check_hops(max_hops, required=not shortest, top=MAX_SHORTEST_HOPS if shortest else MAX_SIMPLE_HOPS)
    if shortest and weight is not None and hops is not None:
        raise InputError("max_hops: counting weighted shortest paths within a hop bound is not supported; leave "
                         "max_hops=None or use weight=None", "max_hops")
    h, src, tgt, k = _prepare(c, sources, targets, edge_kind, min_synapses, weight)
    if shortest:
        found = _execute("shortest", h, src, tgt, None, hops, weight is not None, True, 0, timeout, started, blocks,
                         scheduler, progress)
    else:
        reach = _reach(h, tgt, int(hops))
        found = _execute("simple", h, src, tgt, reach, hops, False, True, 0, timeout, started, blocks, scheduler,
                         progress)
    parts = [f.counts for f in found if f.counts is not None]
    cols = {"source": np.int64, "target": np.int64, "hops": np.int64, "cost": np.float64, "paths": np.int64}
    t = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({k2: np.zeros(0, v) for k2, v in cols.items()})
    t = t.sort_values(["source", "target", "hops"], ignore_index=True)
    out = pd.DataFrame({"source_root_id": h.ids[t["source"].to_numpy(np.int64)],
                        "target_root_id": h.ids[t["target"].to_numpy(np.int64)],
                        "hops": t["hops"].to_numpy(np.int64), "cost": t["cost"].to_numpy(np.float64),
                        "paths": t["paths"].to_numpy(np.int64)})
    out.attrs = {**graph_metadata(c), "kind": "shortest" if shortest else "simple", "min_synapses": k,
                 "max_hops": hops, "weight": weight, "edge_kind": edge_kind, "total": int(out["paths"].sum())}
    return out
