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

Edge constraints follow the store's multi-row semantics: a neuron pair has
several rows (per neuropil; chemical synapses and gap junctions), a constraint
on a row-level column (``neuropil``, ``nt_type``, ``edge_kind``, any user
column) selects rows of the pair, ``weight`` (alias ``synapse_count``) is the
sum of synapse counts over the selected rows, and the pair is an edge of the
relation when at least one row is selected and the weight constraints hold on
that sum. Queries without row-level constraints never read the rows: their
relations come from the pair totals. With ``ignore_direction`` the rows of
both directions belong to one unordered pair and every relation is symmetric.

Node masks, distinctness, symmetry breaking (``exclude_automorphisms``) and
comparisons between nodes and between edges are filters applied as soon as
their nodes are bound. Bindings are
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

from ..pair_arrays import DirectedPairs, csr_arrays, directed_pairs
from ..errors import InputError, QueryMemoryError, QueryTimeoutError, QueryTooLargeError
from ..graph import Connectome
from ..schema import EDGE_KIND, EDGE_KINDS, ID_DTYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT
from .query import OPERATORS, MotifEdge, MotifQuery, _key_of, _weight_alias

logger = logging.getLogger(__name__)

__all__ = ["Host", "Plan", "Step", "parse_memory", "DEFAULT_MEMORY"]

CHUNK_ROWS = 2_000_000
#: Default memory budget of one motif query (1 GiB): the partial bindings, candidate arrays and (for
#: ``find``) the matches it holds at once; the host graph's relations are not counted.
DEFAULT_MEMORY = 1 << 30
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000 ** 2, "mb": 1000 ** 2, "g": 1000 ** 3, "gb": 1000 ** 3,
          "t": 1000 ** 4, "tb": 1000 ** 4, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_memory(value: Any, name: str = "memory") -> int:
    """A memory size in bytes from an int or a string such as ``"64MiB"``, ``"2GiB"``, ``"500MB"``.

    Examples
    --------
    >>> parse_memory("2GiB"), parse_memory("64 MiB"), parse_memory("1.5kB"), parse_memory(4096)
    (2147483648, 67108864, 1500, 4096)
    >>> parse_memory("lots")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: memory must be a number of bytes or a size such as "512MiB" or "2GiB", not 'lots'
    """
    import re

    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        out = int(value)
    elif isinstance(value, str) and (m := re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", value)) \
            and m.group(2).lower() in _UNITS:
        out = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    else:
        raise InputError(f'{name} must be a number of bytes or a size such as "512MiB" or "2GiB", not {value!r}',
                         name)
    if out <= 0:
        raise InputError(f"{name} must be positive, not {value!r}", name)
    return out


def _mib(n: float) -> str:
    if n < 1 << 20:
        return f"{n / (1 << 10):,.1f} KiB" if n >= 1 << 10 else f"{int(n)} bytes"
    return f"{n / (1 << 20):,.1f} MiB"


def _nbytes(bind: dict) -> int:
    return int(sum(v.nbytes for v in bind.values()))


def _row_bytes(n_cols: int) -> int:
    """Bytes one expanded binding row costs while a step runs: the new columns, the join's row and
    neighbour arrays, the filter's mask and its filtered copy."""
    return 16 * n_cols + 24
_NUMERIC_OPS = {"==", "=", "!=", ">=", "<=", ">", "<"}


class _LimitReached(Exception):
    pass


@dataclass
class Relation:
    """One edge relation in both directions (CSR by source and by target).

    ``weight`` holds each pair's synapses (summed over the selected rows) in
    out-CSR order; ``row_start`` / ``row_end`` / ``row_ids``, when kept, give
    each pair's selected rows (indices into :class:`EdgeRows`), for comparisons
    between edges on row-level columns.
    """

    out_ptr: np.ndarray
    out_idx: np.ndarray
    in_ptr: np.ndarray
    in_idx: np.ndarray
    weight: np.ndarray | None = None
    row_start: np.ndarray | None = None
    row_end: np.ndarray | None = None
    row_ids: np.ndarray | None = None
    _keys: np.ndarray | None = field(default=None, repr=False)

    @property
    def nnz(self) -> int:
        return int(len(self.out_idx))

    @classmethod
    def from_pairs(cls, n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray | None = None,
                   rows: tuple | None = None) -> Relation:
        """From pairs sorted by (src, dst), with per-pair weights and selected rows aligned."""
        op, oi, _ = csr_arrays(n, src, dst)
        # by target: a stable sort on the target alone keeps sources ascending (radix sort below 2**16 nodes)
        order = np.argsort(dst.astype(np.uint16) if n <= 1 << 16 else dst, kind="stable")
        ii = src[order].astype(np.int64)
        ip = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(dst, minlength=n), out=ip[1:])
        start, end, ids = rows if rows is not None else (None, None, None)
        return cls(op, oi, ip, ii, weight, start, end, ids)

    def positions(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Index (out-CSR order) of each pair ``(a[i], b[i])``, which must be in the relation."""
        if self._keys is None:
            n = len(self.out_ptr) - 1
            src = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.out_ptr))
            self._keys = src * np.int64(n) + self.out_idx
        n = len(self.out_ptr) - 1
        return np.searchsorted(self._keys, a.astype(np.int64) * np.int64(n) + b)


class Coded:
    """A non-numeric column factorised once: ``codes`` (-1 = missing) into ``uniques``."""

    def __init__(self, codes: np.ndarray, uniques: list) -> None:
        self.codes = codes
        self.uniques = uniques

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, idx: Any) -> Coded:
        return Coded(self.codes[idx], self.uniques)

    def objects(self) -> np.ndarray:
        """The values as an object array (None where missing)."""
        table = np.empty(len(self.uniques) + 1, dtype=object)
        table[:len(self.uniques)] = self.uniques
        table[-1] = None
        return table[self.codes]


def _listlike(x: Any) -> bool:
    return isinstance(x, (list, tuple, np.ndarray))


def column_values(s: pd.Series) -> np.ndarray | Coded:
    """A node or edge column as numbers (missing = NaN) or as :class:`Coded` values; list-valued
    entries (lists, or the arrays Parquet gives back) become tuples, so that DotMotif's ``in`` /
    ``contains`` read them as lists and every value stays hashable.

    Examples
    --------
    >>> v = column_values(pd.Series([["a", "b"], None, ["c"]]))
    >>> v.objects().tolist()
    [('a', 'b'), None, ('c',)]
    >>> column_values(pd.Series([1, None], dtype="Int64")).tolist()
    [1.0, nan]
    """
    if s.dtype.kind in "iuf" and not isinstance(s.dtype, pd.ArrowDtype):
        if s.dtype.kind != "f" and bool(s.isna().any()):
            return s.to_numpy(dtype=float, na_value=np.nan)
        return s.to_numpy()
    if pd.api.types.is_string_dtype(s.dtype) and s.dtype != object or isinstance(s.dtype, pd.CategoricalDtype):
        codes, uniques = pd.factorize(s, use_na_sentinel=True)  # no Python string per row
        return Coded(np.asarray(codes, dtype=np.int64), [None if pd.isna(u) else u for u in np.asarray(uniques,
                                                                                                     dtype=object)])
    obj = s.astype(object)
    if s.dtype == object or isinstance(s.dtype, pd.ArrowDtype):  # only these can hold lists
        if bool(obj.map(_listlike).any()):
            obj = obj.map(lambda x: tuple(x.tolist() if isinstance(x, np.ndarray) else x) if _listlike(x)
                          else (None if pd.isna(x) else x))
            codes, uniques = pd.factorize(obj, use_na_sentinel=True)
            return Coded(np.asarray(codes, dtype=np.int64), list(uniques))
    codes, uniques = pd.factorize(obj.where(s.notna().to_numpy(), None), use_na_sentinel=True)
    return Coded(np.asarray(codes, dtype=np.int64), list(uniques))


def _apply_op(values: np.ndarray | Coded, op: str, value: Any) -> np.ndarray:
    """DotMotif's comparison ``op(x, value)`` over an array of graph values (None = missing)."""
    fn = OPERATORS[op]
    if not isinstance(values, Coded):
        if (op in _NUMERIC_OPS and isinstance(value, (int, float)) and not isinstance(value, bool)
                and values.dtype.kind in "iuf"):
            with np.errstate(invalid="ignore"):
                res = fn(values, value)
            if values.dtype.kind == "f":  # missing (NaN) compares like None in DotMotif
                res = np.where(np.isnan(values), op == "!=", res)
            return np.asarray(res, dtype=bool)
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
        values = Coded(np.asarray(codes, dtype=np.int64), list(uniques))
    table = np.empty(len(values.uniques) + 1, dtype=bool)
    for i, x in enumerate(list(values.uniques) + [None]):
        try:
            table[i] = bool(fn(x, value))
        except TypeError:
            table[i] = False
    return table[values.codes]  # code -1 (missing) picks the last entry, evaluated on None


def _node_values(nodes: pd.DataFrame, key: str) -> np.ndarray:
    v = column_values(nodes[key])
    return v.objects() if isinstance(v, Coded) else v


def _constraint_key(e: MotifEdge) -> tuple:
    return _key_of(e)


@dataclass
class EdgeRows:
    """The host's edge rows (one edge kind, or all): node indices, synapse counts, and the
    row-level columns a query reads; sorted by (src, dst)."""

    src: np.ndarray
    dst: np.ndarray
    count: np.ndarray
    columns: dict[str, np.ndarray | Coded]


def _base_rows(c: Connectome, edge_kind: str | None, scheduler: Any) -> tuple[np.ndarray, ...]:
    ids = c.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE)
    cols = [PRE, POST, SYNAPSE_COUNT] + ([EDGE_KIND] if EDGE_KIND in c.edge_columns else [])
    e = c.edge_table(cols, scheduler=scheduler)
    pos = np.arange(len(e))
    if edge_kind is not None:
        pos = pos[(e[EDGE_KIND] == edge_kind).to_numpy()] if EDGE_KIND in e.columns else pos
    src = np.searchsorted(ids, e[PRE].to_numpy(dtype=ID_DTYPE)[pos]).astype(np.int64)
    dst = np.searchsorted(ids, e[POST].to_numpy(dtype=ID_DTYPE)[pos]).astype(np.int64)
    cnt = e[SYNAPSE_COUNT].to_numpy(dtype=np.int64)[pos]
    key = src * np.int64(len(ids)) + dst
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        order = np.argsort(key, kind="stable")
        pos, src, dst, cnt = pos[order], src[order], dst[order], cnt[order]
    return pos, src, dst, cnt


def edge_rows(c: Connectome, edge_kind: str | None, columns: list[str], scheduler: Any = None) -> EdgeRows:
    """The rows of ``c``'s edge table a query reads (cached on in-memory connectomes)."""
    pos, src, dst, cnt = c.memo(("motif_rows", edge_kind), lambda: _base_rows(c, edge_kind, scheduler))
    vals = {}
    for col in columns:
        vals[col] = c.memo(("motif_row_values", edge_kind, col),
                           lambda col=col: column_values(c.edge_table([col], scheduler=scheduler)[col].iloc[pos]))
    return EdgeRows(src, dst, cnt, vals)


def _split_key(key: tuple) -> tuple[list, list]:
    rows = [(k, op, v) for k, op, v in key if k != "weight"]
    weights = [(k, op, v) for k, op, v in key if k == "weight"]
    return rows, weights


def _symmetric(n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """Unordered pairs from ordered ones: both directions summed, then mirrored; sorted by (src, dst)."""
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    key = lo * np.int64(n) + hi
    order = np.argsort(key, kind="stable")
    key, w = key[order], weight[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
    start = np.flatnonzero(first)
    uk = key[start]
    uw = np.add.reduceat(w, start) if len(key) else w
    a, b = uk // n, uk % n
    off = a != b
    s2, d2, w2 = np.r_[a, b[off]], np.r_[b, a[off]], np.r_[uw, uw[off]]
    order = np.argsort(s2 * np.int64(n) + d2, kind="stable")
    return s2[order], d2[order], w2[order]


def build_relation(n: int, key: tuple, g: DirectedPairs, rows: EdgeRows | None, undirected: bool,
                   keep_rows: bool) -> Relation:
    """The relation of one constraint set: select rows, sum per pair, keep the pairs whose sums pass."""
    row_items, weight_items = _split_key(key)
    if not row_items and not keep_rows:  # pair totals: no row is read
        src, dst, w = g.src, g.dst, g.weight
        if undirected:
            src, dst, w = _symmetric(n, src, dst, w)
        keep = np.ones(len(src), dtype=bool)
        for _, op, val in weight_items:
            keep &= _apply_op(w, op, val)
        if keep.all():
            return Relation.from_pairs(n, src, dst, w)
        return Relation.from_pairs(n, src[keep], dst[keep], w[keep])
    assert rows is not None
    sel = np.ones(len(rows.src), dtype=bool)
    for k, op, val in row_items:
        sel &= _apply_op(rows.columns[k], op, val)
    ids = np.flatnonzero(sel)
    s, d, cnt = rows.src[ids], rows.dst[ids], rows.count[ids]
    if undirected:
        s, d = np.minimum(s, d), np.maximum(s, d)
    pk = s * np.int64(n) + d
    if undirected and len(pk) > 1:
        order = np.argsort(pk, kind="stable")
        pk, ids, cnt = pk[order], ids[order], cnt[order]
    first = np.r_[True, pk[1:] != pk[:-1]] if len(pk) else np.zeros(0, bool)
    start = np.flatnonzero(first)
    end = np.r_[start[1:], len(pk)].astype(np.int64)
    w = np.add.reduceat(cnt, start) if len(pk) else cnt
    ps, pd_ = pk[start] // n, pk[start] % n
    keep = np.ones(len(start), dtype=bool)
    for _, op, val in weight_items:
        keep &= _apply_op(w, op, val)
    ps, pd_, w, start, end = ps[keep], pd_[keep], w[keep], start[keep], end[keep]
    if undirected:
        off = ps != pd_
        ps, pd_ = np.r_[ps, pd_[off]], np.r_[pd_, ps[off]]
        w, start, end = np.r_[w, w[off]], np.r_[start, start[off]], np.r_[end, end[off]]
        order = np.argsort(ps * np.int64(n) + pd_, kind="stable")
        ps, pd_, w, start, end = ps[order], pd_[order], w[order], start[order], end[order]
    return Relation.from_pairs(n, ps, pd_, w, (start, end, ids) if keep_rows else None)


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
    edge_cmp: list = field(default_factory=list)


@dataclass
class Plan:
    """Steps in execution order; ``steps[0]`` is the seed (or a cross over a mask)."""

    steps: list[Step]
    variables: list[str]


class Host:
    """The host graph of one query: relations, node masks, node values."""

    def __init__(self, n: int, ids: np.ndarray, base: Relation | None, weights: np.ndarray,
                 relations: dict[tuple, Relation], masks: dict[str, np.ndarray],
                 values: dict[str, np.ndarray], query: MotifQuery, rows: EdgeRows | None = None) -> None:
        self.n = n
        self.ids = ids
        self.base = base
        self.weights = weights
        self.relations = relations
        self.masks = masks
        self.values = values
        self.query = query
        self.rows = rows

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, c: Connectome, q: MotifQuery, *, edge_kind: str | None = "chemical",
              scheduler: Any = None) -> Host:
        """Relations and masks of ``q`` over ``c``'s directed pair graph (and its edge rows, when the
        query reads a row-level column)."""
        if edge_kind is not None and edge_kind not in EDGE_KINDS:
            raise InputError(f"edge_kind: unknown kind {edge_kind!r}; use one of {list(EDGE_KINDS)} or None",
                             "edge_kind")
        g = directed_pairs(c, edge_kind=edge_kind, self_loops=True, scheduler=scheduler)
        nodes = c.node_table()
        row_cols = sorted(k for k in q.edge_keys() if k != "weight")
        rows = edge_rows(c, edge_kind, row_cols, scheduler) if row_cols else None
        return cls.from_pairs(g, nodes, q, rows)

    @classmethod
    def from_pairs(cls, g: DirectedPairs, nodes: pd.DataFrame, q: MotifQuery, rows: EdgeRows | None = None) -> Host:
        by_edge = {(e.u, e.v): _constraint_key(e) for e in q.edges}
        keep_rows = set()
        for c in q.edge_comparisons:
            for a, b, attr in ((c.u, c.v, c.key), (c.x, c.y, c.other_key)):
                if _weight_alias(attr) != "weight":
                    keep_rows.add(by_edge[(a, b)])
        relations: dict[tuple, Relation] = {}
        for key in [_constraint_key(e) for e in q.edges + q.negative]:
            # a constrained negative edge forbids only the pairs that match it
            if key not in relations:
                relations[key] = build_relation(g.n, key, g, rows, q.ignore_direction, key in keep_rows)
        masks: dict[str, np.ndarray] = {}
        for var, cons in q.node_constraints.items():
            mask = np.ones(g.n, dtype=bool)
            for key, ops in cons.items():
                vals = column_values(nodes[key])
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
        ids = nodes[ROOT_ID].to_numpy(dtype=ID_DTYPE)
        return cls(g.n, ids, relations.get(()), g.weight, relations, masks, values, q, rows)

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
            from ..kernels import has_edges  # lazy: imports numba

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
        by_edge = {(e.u, e.v): _constraint_key(e) for e in q.edges}
        for c in q.edge_comparisons:
            step_for(c.u, c.v, c.x, c.y).edge_cmp.append(
                (c.u, c.v, by_edge[(c.u, c.v)], _weight_alias(c.key), c.op,
                 c.x, c.y, by_edge[(c.x, c.y)], _weight_alias(c.other_key)))

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
            limit: int | None = None, deadline: float | None = None, chunk_rows: int = CHUNK_ROWS,
            memory: int | None = None) -> Any:
        """Run ``plan`` for seeds in [lo, hi): an int (count) or dict of index arrays (find).

        ``memory`` (bytes) bounds what the run holds at once: chunks shrink so that every level of
        the recursion fits, and :class:`~connectome.errors.QueryMemoryError` is raised when even one
        binding row (or, for ``find``, the matches kept) would not fit."""
        hi = self.n if hi is None else hi
        state = {"count": 0, "parts": [], "found": 0, "held": 0, "budget": memory, "levels": len(plan.steps)}
        first = plan.steps[0]
        try:
            if first.kind == "seed":
                rel = self.relations[first.rel]
                a, b = int(rel.out_ptr[lo]), int(rel.out_ptr[hi])
                step = min(chunk_rows, self._rows_fit(state, 0, 2, "the seed edges"))
                for s in range(a, b, step):
                    e = min(s + step, b)
                    src = np.searchsorted(rel.out_ptr, np.arange(s, e, dtype=np.int64), side="right") - 1
                    bind = {first.anchor: src, first.var: rel.out_idx[s:e]}
                    bind = self._filter(first, bind, both=True)
                    self._hold(plan, 1, bind, state, mode, limit, deadline, chunk_rows)
            else:
                cand = self._candidates(first.var, first.loop)
                cand = cand[(cand >= lo) & (cand < hi)]
                self._check_bytes(state, cand.nbytes * 3, 0, f"the {len(cand):,} candidates of {first.var}")
                bind = self._filter(first, {first.var: cand})
                self._hold(plan, 1, bind, state, mode, limit, deadline, chunk_rows)
        except _LimitReached:
            pass  # the caller asked for at most `limit` matches: stopping here is what it asked for
        if mode == "count":
            return state["count"]
        parts = state["parts"]
        return {v: (np.concatenate([p[v] for p in parts]) if parts else np.zeros(0, np.int64))
                for v in plan.variables}

    @staticmethod
    def _check_bytes(state: dict, need: int, level: int, what: str) -> None:
        budget = state["budget"]
        if budget is not None and state["held"] + need > budget:
            est = state["held"] + need
            raise QueryMemoryError(
                f"motif query would hold about {_mib(est)} ({_mib(need)} for {what} at step {level + 1} of "
                f"{state['levels']}, on top of {_mib(state['held'])} already held), over its memory budget of "
                f"{_mib(budget)}; "
                "add constraints (edge weights, node labels), use a smaller motif, pass a limit, or raise "
                'memory= (e.g. memory="4GiB")', "memory", estimate_bytes=int(est), limit_bytes=int(budget))

    @staticmethod
    def _rows_fit(state: dict, level: int, n_cols: int, what: str) -> int:
        """Rows a chunk at ``level`` may have: an equal share of what is left of the budget for this
        level and every level below it; refuses when not even one row fits."""
        budget = state["budget"]
        if budget is None:
            return CHUNK_ROWS
        share = (budget - state["held"]) // max(1, state["levels"] - level + 1)
        rows = int(share // _row_bytes(n_cols))
        if rows < 1:
            Host._check_bytes(state, _row_bytes(n_cols) * (state["levels"] - level + 1), level,
                              f"one row of {what} and of each level below it")
            rows = 1  # pragma: no cover - _check_bytes raised
        return rows

    def _hold(self, plan: Plan, i: int, bind: dict, state: dict, mode: str, limit: int | None,
              deadline: float | None, chunk_rows: int) -> None:
        """:meth:`_process` with ``bind`` counted as held while the levels below it run."""
        size = _nbytes(bind)
        state["held"] += size
        try:
            self._process(plan, i, bind, state, mode, limit, deadline, chunk_rows)
        finally:
            state["held"] -= size

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
                size = _nbytes(bind)
                self._check_bytes(state, size, i - 1, f"{state['found'] + n_rows:,} matches kept")
                state["parts"].append({k: np.array(v) for k, v in bind.items()})
                state["held"] += size  # kept until the end: found matches count against the budget
                state["found"] += n_rows
            return
        st = plan.steps[i]
        if st.kind == "extend":
            from ..kernels import expand  # lazy: imports numba

            rel = self.relations[st.rel]
            ptr, idx = (rel.out_ptr, rel.out_idx) if st.direction == "out" else (rel.in_ptr, rel.in_idx)
            anchor = bind[st.anchor]
            deg = ptr[anchor + 1] - ptr[anchor]
            total = int(deg.sum())
            step = min(chunk_rows, self._rows_fit(state, i, len(bind) + 1, f"the bindings of {st.var}"))
            if total > step and n_rows > 1:
                cum = np.cumsum(deg)
                cuts = np.unique(np.searchsorted(cum, np.arange(step, total, step)))
                cuts = cuts[(cuts > 0) & (cuts < n_rows)]
                if len(cuts) == 0:  # the first binding alone is over `step`: halve, so that each part shrinks
                    cuts = np.array([n_rows // 2])
                for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [n_rows]])):
                    self._process(plan, i, {k: v[a:b] for k, v in bind.items()}, state, mode, limit,
                                  deadline, chunk_rows)
                return
            if total > step:  # one binding whose neighbours do not fit at once: its neighbours in pieces
                p0, p1 = int(ptr[anchor[0]]), int(ptr[anchor[0] + 1])
                for s in range(p0, p1, step):
                    nbrs = idx[s:min(s + step, p1)]
                    new = {k: np.repeat(v, len(nbrs)) for k, v in bind.items()}
                    new[st.var] = nbrs
                    self._hold(plan, i + 1, self._filter(st, new), state, mode, limit, deadline, chunk_rows)
                return
            rows, nbrs = expand(ptr, idx, anchor)
            new = {k: v[rows] for k, v in bind.items()}
            new[st.var] = nbrs
        else:  # cross
            cand = self._candidates(st.var, st.loop)
            self._check_bytes(state, cand.nbytes * 2, i, f"the {len(cand):,} candidates of {st.var}")
            fit = self._rows_fit(state, i, len(bind) + 1, f"the bindings of {st.var}")
            if len(cand) > fit:
                self._check_bytes(state, len(cand) * _row_bytes(len(bind) + 1) * (state["levels"] - i + 1), i,
                                  f"the {len(cand):,} candidates of {st.var} for one binding")
            chunk_rows = min(chunk_rows, fit)
            if n_rows * len(cand) > chunk_rows and n_rows > 1:
                step = max(1, chunk_rows // max(len(cand), 1))
                for a in range(0, n_rows, step):
                    self._process(plan, i, {k: v[a:a + step] for k, v in bind.items()}, state, mode, limit,
                                  deadline, chunk_rows)
                return
            new = {k: np.repeat(v, len(cand)) for k, v in bind.items()}
            new[st.var] = np.tile(cand, n_rows)
        new = self._filter(st, new)
        self._hold(plan, i + 1, new, state, mode, limit, deadline, chunk_rows)

    def _filter(self, st: Step, bind: dict, both: bool = False) -> dict:
        from ..kernels import has_edges  # lazy: imports numba

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
        for a, b, key1, attr1, op, c, d, key2, attr2 in st.edge_cmp:
            if len(bind[st.var]) == 0:
                break
            left = self._edge_values(key1, attr1, bind[a], bind[b])
            right = self._edge_values(key2, attr2, bind[c], bind[d])
            ok = _compare_multi(left, right, op)
            bind = {k: v[ok] for k, v in bind.items()}
        return bind

    def _edge_values(self, key: tuple, attr: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
        """Each bound pair's values of an edge attribute: (number of values per pair, flat values).
        ``weight`` has one (the sum over the selected rows); a row-level column has one per selected row."""
        rel = self.relations[key]
        pos = rel.positions(a, b)
        if attr == "weight":
            return np.ones(len(pos), np.int64), rel.weight[pos]
        st, en = rel.row_start[pos], rel.row_end[pos]
        cnt = en - st
        flat = np.arange(int(cnt.sum()), dtype=np.int64) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(st, cnt)
        vals = self.rows.columns[attr][rel.row_ids[flat]]
        return cnt, (vals.objects() if isinstance(vals, Coded) else vals)


def _compare_multi(left: tuple[np.ndarray, Any], right: tuple[np.ndarray, Any], op: str) -> np.ndarray:
    """Per binding: does some value of the left edge compare ``op`` with some value of the right edge?
    (One value each, the usual case, is an elementwise comparison.)"""
    (cl, xl), (cr, xr) = left, right
    if bool(np.all(cl == 1)) and bool(np.all(cr == 1)):
        return _compare_pairs(np.asarray(xl), np.asarray(xr), op)
    n = len(cl)
    tot = cl * cr
    b = np.repeat(np.arange(n), tot)
    off = np.arange(int(tot.sum()), dtype=np.int64) - np.repeat(np.cumsum(tot) - tot, tot)
    li = np.repeat(np.cumsum(cl) - cl, tot) + off // np.repeat(np.maximum(cr, 1), tot)
    ri = np.repeat(np.cumsum(cr) - cr, tot) + off % np.repeat(np.maximum(cr, 1), tot)
    res = _compare_pairs(np.asarray(xl)[li], np.asarray(xr)[ri], op)
    return np.bincount(b[res], minlength=n) > 0


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
