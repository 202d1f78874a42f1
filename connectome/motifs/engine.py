"""Executing a motif query as set-at-a-time relational joins over the edge table.

The edge relation (neuron pairs with synapse counts) is held as sorted CSR
arrays in both directions; every distinct edge-constraint set of the query
gets its own filtered relation, and every node constraint becomes a boolean
mask over nodes. A *plan* binds the motif's nodes one at a time:

``seed``
    the rows of the most selective edge relation (a scan, partitioned by its
    source node into blocks that run as Dask tasks);
``extend``
    an equi-join of the current bindings with an edge relation on a bound
    node, producing the next node's candidates;
``check`` / ``anti``
    semi-joins and anti-joins for the other motif edges (and negative edges)
    between bound nodes;
``cross``
    a product with the candidates of a constrained node that no edge joins.

Node masks, distinctness, DotMotif's automorphism rule and comparisons between
nodes are filters applied as soon as their nodes are bound. Bindings are
processed in chunks of bounded size, so memory stays flat however many
matches there are; counts never materialise matches.

Examples
--------
>>> import connectome as cx
>>> from connectome.motifs.engine import Host
>>> from connectome.motifs.query import parse_query
>>> h = Host.build(cx.load("celegans_cook2019_herm"), parse_query("A -> B\\nB -> A"))
>>> h.run(h.plan(), mode="count")
1338
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..adjacency import DirectedPairs, csr_arrays, directed_pairs
from ..errors import QueryTimeoutError, QueryTooLargeError
from ..graph import Connectome
from ..schema import ROOT_ID
from .query import OPERATORS, MotifEdge, MotifQuery

logger = logging.getLogger(__name__)

__all__ = ["Host", "Plan", "Step"]

CHUNK_ROWS = 2_000_000
_NUMERIC_OPS = {"==", "=", "!=", ">=", "<=", ">", "<"}


class _LimitReached(Exception):
    pass


@dataclass
class Relation:
    """One edge relation in both directions (CSR by source and by target)."""

    out_ptr: np.ndarray
    out_idx: np.ndarray
    in_ptr: np.ndarray
    in_idx: np.ndarray

    @property
    def nnz(self) -> int:
        return int(len(self.out_idx))

    @classmethod
    def from_pairs(cls, n: int, src: np.ndarray, dst: np.ndarray) -> Relation:
        op, oi, _ = csr_arrays(n, src, dst)
        ip, ii, _ = csr_arrays(n, dst, src)
        return cls(op, oi, ip, ii)


def _apply_op(values: np.ndarray, op: str, value: Any) -> np.ndarray:
    """DotMotif's comparison ``op(x, value)`` over an array of graph values (None = missing)."""
    fn = OPERATORS[op]
    if (op in _NUMERIC_OPS and isinstance(value, (int, float)) and not isinstance(value, bool)
            and values.dtype.kind in "iuf"):
        with np.errstate(invalid="ignore"):
            res = fn(values, value)
        if values.dtype.kind == "f":  # missing (NaN) compares like None in DotMotif
            res = np.where(np.isnan(values), op == "!=", res)
        return np.asarray(res, dtype=bool)
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=bool)
    for i, x in enumerate(list(uniques) + [None]):
        try:
            table[i] = bool(fn(x, value))
        except TypeError:
            table[i] = False
    return table[codes]  # code -1 (missing) picks the last entry, evaluated on None


def _node_values(nodes: pd.DataFrame, key: str) -> np.ndarray:
    s = nodes[key]
    if s.dtype.kind in "iuf":
        return s.to_numpy()
    obj = s.astype(object)
    return obj.where(s.notna(), None).to_numpy()


def _constraint_key(e: MotifEdge) -> tuple:
    return tuple(sorted((k if k != "synapse_count" else "weight", op, v) for k, op, v in e.constraint_items()))


@dataclass
class Step:
    """One step of a plan; see the module docstring."""

    kind: str
    var: str
    anchor: str | None = None
    rel: tuple = ()
    direction: str = "out"
    loop: tuple | None = None
    checks: list = field(default_factory=list)
    antis: list = field(default_factory=list)
    distinct: list = field(default_factory=list)
    order: list = field(default_factory=list)
    dynamic: list = field(default_factory=list)


@dataclass
class Plan:
    """Steps in execution order; ``steps[0]`` is the seed (or a cross over a mask)."""

    steps: list[Step]
    variables: list[str]


class Host:
    """The host graph of one query: relations, node masks, node values."""

    def __init__(self, n: int, ids: np.ndarray, base: Relation, weights: np.ndarray,
                 relations: dict[tuple, Relation], masks: dict[str, np.ndarray],
                 values: dict[str, np.ndarray], query: MotifQuery) -> None:
        self.n = n
        self.ids = ids
        self.base = base
        self.weights = weights
        self.relations = relations
        self.masks = masks
        self.values = values
        self.query = query

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, c: Connectome, q: MotifQuery, *, edge_kind: str | None = "chemical",
              scheduler: Any = None) -> Host:
        """Relations and masks of ``q`` over ``c``'s directed pair graph."""
        g = directed_pairs(c, edge_kind=edge_kind, self_loops=True, scheduler=scheduler)
        nodes = c.node_table()
        return cls.from_pairs(g, nodes, q)

    @classmethod
    def from_pairs(cls, g: DirectedPairs, nodes: pd.DataFrame, q: MotifQuery) -> Host:
        base = Relation.from_pairs(g.n, g.src, g.dst)
        relations: dict[tuple, Relation] = {(): base}
        for e in q.edges + q.negative:  # a constrained negative edge forbids only the edges that match
            key = _constraint_key(e)
            if key in relations:
                continue
            keep = np.ones(g.m, dtype=bool)
            for _, op, val in key:
                keep &= _apply_op(g.weight, op, val)
            relations[key] = Relation.from_pairs(g.n, g.src[keep], g.dst[keep])
        masks: dict[str, np.ndarray] = {}
        for var, cons in q.node_constraints.items():
            mask = np.ones(g.n, dtype=bool)
            for key, ops in cons.items():
                vals = _node_values(nodes, key)
                for op, targets in ops.items():
                    for t in targets:
                        mask &= _apply_op(vals, op, t)
            masks[var] = mask
        values = {}
        for var, cons in q.dynamic_node_constraints.items():
            for key, ops in cons.items():
                values[key] = _node_values(nodes, key)
                for pairs in ops.values():
                    for _, other_key in pairs:
                        values[other_key] = _node_values(nodes, other_key)
        ids = nodes[ROOT_ID].to_numpy(dtype=np.uint64)
        return cls(g.n, ids, base, g.weight, relations, masks, values, q)

    # ------------------------------------------------------------------ planning
    def _size(self, var: str) -> int:
        m = self.masks.get(var)
        return self.n if m is None else int(m.sum())

    def _seed_size(self, e: MotifEdge) -> int:
        rel = self.relations[_constraint_key(e)]
        if e.u == e.v:
            return rel.nnz
        mu, mv = self.masks.get(e.u), self.masks.get(e.v)
        if mu is None and mv is None:
            return rel.nnz
        rows = np.repeat(np.arange(self.n), np.diff(rel.out_ptr))
        ok = np.ones(rel.nnz, dtype=bool)
        if mu is not None:
            ok &= mu[rows]
        if mv is not None:
            ok &= mv[rel.out_idx]
        return int(ok.sum())

    def _candidates(self, var: str, loop: tuple | None = None) -> np.ndarray:
        """Nodes allowed for ``var`` by its mask and, for a motif self-loop, by the relation's autapses."""
        m = self.masks.get(var)
        cand = np.arange(self.n) if m is None else np.flatnonzero(m)
        if loop is not None:
            from ..kernels import has_edges

            rel = self.relations[loop]
            cand = cand[has_edges(rel.out_ptr, rel.out_idx, cand, cand)]
        return cand

    def plan(self) -> Plan:
        """Greedy join order: the most selective edge first, then the node with the
        most edges to bound nodes (smallest relation as the join key)."""
        q = self.query
        edges = [e for e in q.edges if e.u != e.v]
        loops = [e for e in q.edges if e.u == e.v]
        steps: list[Step] = []
        bound: list[str] = []
        if edges:
            first = min(edges, key=self._seed_size)
            steps.append(Step("seed", first.v, anchor=first.u, rel=_constraint_key(first), direction="out"))
            bound = [first.u, first.v]
            used = {id(first)}
        else:
            used = set()
        while len(bound) < len(q.nodes):
            best = None
            for var in q.nodes:
                if var in bound:
                    continue
                links = [e for e in edges if id(e) not in used and
                         ((e.u == var and e.v in bound) or (e.v == var and e.u in bound))]
                if not links:
                    continue
                anchor_edge = min(links, key=lambda e: self.relations[_constraint_key(e)].nnz)
                score = (-len(links), self.relations[_constraint_key(anchor_edge)].nnz, self._size(var))
                if best is None or score < best[0]:
                    best = (score, var, anchor_edge)
            if best is not None:
                _, var, e = best
                if e.v == var:
                    steps.append(Step("extend", var, anchor=e.u, rel=_constraint_key(e), direction="out"))
                else:
                    steps.append(Step("extend", var, anchor=e.v, rel=_constraint_key(e), direction="in"))
                used.add(id(e))
            else:
                looped = {e.u: _constraint_key(e) for e in loops if e.u not in bound}
                free = [v for v in q.nodes if v not in bound and (v in self.masks or v in looped)]
                if not free:
                    rest = [v for v in q.nodes if v not in bound]
                    raise QueryTooLargeError(
                        f"motif query: nodes {', '.join(rest)} are not joined to {', '.join(bound) or 'the rest'} "
                        "by any positive edge and none of them has a constraint, so every match would pair "
                        "with every neuron or edge there; join them with an edge or constrain one of them",
                        "query")
                var = min(free, key=lambda v: self._candidates(v, looped.get(v)).size)
                steps.append(Step("cross", var, loop=looped.get(var)))
            bound.append(steps[-1].var)
        variables = [steps[0].anchor, steps[0].var] if steps[0].kind == "seed" else [steps[0].var]
        variables += [s.var for s in steps[1:]]
        self._attach_filters(steps, variables, edges, loops, used)
        return Plan(steps, variables)

    def _attach_filters(self, steps: list[Step], variables: list[str], edges: list[MotifEdge],
                        loops: list[MotifEdge], used: set) -> None:
        q = self.query
        pos_of = {v: (0 if i < 2 and steps[0].kind == "seed" else (i - 1 if steps[0].kind == "seed" else i))
                  for i, v in enumerate(variables)}

        def step_for(*vs: str) -> Step:
            return steps[max(pos_of[v] for v in vs)]

        for i, v in enumerate(variables):
            st = steps[pos_of[v]]
            st.distinct.extend((v, w) for w in variables[:i])
        for e in edges:
            if id(e) not in used:
                step_for(e.u, e.v).checks.append((e.u, e.v, _constraint_key(e)))
        for e in loops:
            step_for(e.u).checks.append((e.u, e.u, _constraint_key(e)))
        for e in q.negative:
            step_for(e.u, e.v).antis.append((e.u, e.v, _constraint_key(e)))
        for a, b in q.automorphism_pairs:
            step_for(a, b).order.append((a, b))
        for var, cons in q.dynamic_node_constraints.items():
            for key, ops in cons.items():
                for op, pairs in ops.items():
                    for other, other_key in pairs:
                        step_for(var, other).dynamic.append((var, key, op, other, other_key))

    # ------------------------------------------------------------------ execution
    def seed_blocks(self, plan: Plan, k: int) -> list[tuple[int, int]]:
        """About ``k`` source-node ranges with similar numbers of seed rows."""
        st = plan.steps[0]
        if st.kind != "seed":
            return [(0, self.n)]
        ptr = self.relations[st.rel].out_ptr
        cuts = np.searchsorted(ptr, ptr[-1] * np.arange(1, k) / k)
        bounds = np.unique(np.concatenate([[0], np.clip(cuts, 0, self.n), [self.n]]))
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]

    def run(self, plan: Plan, *, mode: str = "count", lo: int = 0, hi: int | None = None,
            limit: int | None = None, deadline: float | None = None, chunk_rows: int = CHUNK_ROWS) -> Any:
        """Run ``plan`` for seeds in [lo, hi): an int (count) or dict of index arrays (find)."""
        hi = self.n if hi is None else hi
        state = {"count": 0, "parts": [], "found": 0}
        first = plan.steps[0]
        try:
            if first.kind == "seed":
                rel = self.relations[first.rel]
                a, b = int(rel.out_ptr[lo]), int(rel.out_ptr[hi])
                src_all = np.repeat(np.arange(lo, hi, dtype=np.int64), np.diff(rel.out_ptr[lo:hi + 1]))
                for s in range(a, b, chunk_rows):
                    e = min(s + chunk_rows, b)
                    bind = {first.anchor: src_all[s - a:e - a], first.var: rel.out_idx[s:e]}
                    bind = self._filter(first, bind, both=True)
                    self._process(plan, 1, bind, state, mode, limit, deadline, chunk_rows)
            else:
                cand = self._candidates(first.var, first.loop)
                cand = cand[(cand >= lo) & (cand < hi)]
                bind = self._filter(first, {first.var: cand})
                self._process(plan, 1, bind, state, mode, limit, deadline, chunk_rows)
        except _LimitReached:
            pass
        if mode == "count":
            return state["count"]
        parts = state["parts"]
        return {v: (np.concatenate([p[v] for p in parts]) if parts else np.zeros(0, np.int64))
                for v in plan.variables}

    def _process(self, plan: Plan, i: int, bind: dict, state: dict, mode: str, limit: int | None,
                 deadline: float | None, chunk_rows: int) -> None:
        n_rows = len(next(iter(bind.values())))
        if n_rows == 0:
            return
        if deadline is not None and time.time() > deadline:
            raise QueryTimeoutError("motif query ran past its time budget")
        if i == len(plan.steps):
            if mode == "count":
                state["count"] += n_rows
            else:
                if limit is not None and state["found"] + n_rows >= limit:
                    keep = limit - state["found"]
                    state["parts"].append({k: v[:keep] for k, v in bind.items()})
                    state["found"] = limit
                    raise _LimitReached
                state["parts"].append(bind)
                state["found"] += n_rows
            return
        st = plan.steps[i]
        if st.kind == "extend":
            from ..kernels import expand

            rel = self.relations[st.rel]
            ptr, idx = (rel.out_ptr, rel.out_idx) if st.direction == "out" else (rel.in_ptr, rel.in_idx)
            anchor = bind[st.anchor]
            deg = ptr[anchor + 1] - ptr[anchor]
            total = int(deg.sum())
            if total > chunk_rows and n_rows > 1:
                cum = np.cumsum(deg)
                cuts = np.unique(np.searchsorted(cum, np.arange(chunk_rows, total, chunk_rows)))
                cuts = cuts[(cuts > 0) & (cuts < n_rows)]
                for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [n_rows]])):
                    self._process(plan, i, {k: v[a:b] for k, v in bind.items()}, state, mode, limit,
                                  deadline, chunk_rows)
                return
            rows, nbrs = expand(ptr, idx, anchor)
            new = {k: v[rows] for k, v in bind.items()}
            new[st.var] = nbrs
        else:  # cross
            cand = self._candidates(st.var, st.loop)
            if n_rows * len(cand) > chunk_rows and n_rows > 1:
                step = max(1, chunk_rows // max(len(cand), 1))
                for a in range(0, n_rows, step):
                    self._process(plan, i, {k: v[a:a + step] for k, v in bind.items()}, state, mode, limit,
                                  deadline, chunk_rows)
                return
            new = {k: np.repeat(v, len(cand)) for k, v in bind.items()}
            new[st.var] = np.tile(cand, n_rows)
        new = self._filter(st, new)
        self._process(plan, i + 1, new, state, mode, limit, deadline, chunk_rows)

    def _filter(self, st: Step, bind: dict, both: bool = False) -> dict:
        from ..kernels import has_edges

        keep = np.ones(len(bind[st.var]), dtype=bool)
        for v in ([st.anchor, st.var] if both else [st.var]):
            m = self.masks.get(v)
            if m is not None:
                keep &= m[bind[v]]
        for a, b in st.distinct:
            keep &= bind[a] != bind[b]
        for a, b in st.order:
            keep &= bind[a] <= bind[b]  # node index order is root id order
        if not keep.all():
            bind = {k: v[keep] for k, v in bind.items()}
        for a, b, key in st.checks:
            if len(bind[st.var]) == 0:
                break
            rel = self.relations[key]
            ok = has_edges(rel.out_ptr, rel.out_idx, bind[a], bind[b])
            bind = {k: v[ok] for k, v in bind.items()}
        for a, b, key in st.antis:
            if len(bind[st.var]) == 0:
                break
            rel = self.relations[key]
            ok = ~has_edges(rel.out_ptr, rel.out_idx, bind[a], bind[b])
            bind = {k: v[ok] for k, v in bind.items()}
        for a, key, op, b, key_b in st.dynamic:
            if len(bind[st.var]) == 0:
                break
            ok = _compare_pairs(self.values[key][bind[a]], self.values[key_b][bind[b]], op)
            bind = {k: v[ok] for k, v in bind.items()}
        return bind


def _compare_pairs(x: np.ndarray, y: np.ndarray, op: str) -> np.ndarray:
    """Elementwise DotMotif comparison between two nodes' attribute values."""
    if op in _NUMERIC_OPS and x.dtype.kind in "iuf" and y.dtype.kind in "iuf":
        with np.errstate(invalid="ignore"):
            res = np.asarray(OPERATORS[op](x, y), dtype=bool)
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            res &= ~(np.isnan(x.astype(float)) | np.isnan(y.astype(float)))
        return res
    fn = OPERATORS[op]
    out = np.empty(len(x), dtype=bool)
    for i, (a, b) in enumerate(zip(x, y)):
        if a is None or b is None:  # DotMotif: a missing attribute fails the comparison
            out[i] = False
            continue
        try:
            out[i] = bool(fn(a, b))
        except TypeError:
            out[i] = False
    return out
