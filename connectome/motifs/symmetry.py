"""Symmetry breaking for ``exclude_automorphisms=True``: one match per distinct subgraph.

Two matches are the same subgraph when one is the other composed with an
automorphism of the motif: a permutation of motif nodes that maps positive
edges to positive edges and negative edges to negative edges with the same
constraints, keeps every node's constraints, and maps the comparisons between
nodes and between edges onto themselves. The matches of one subgraph are then
reduced to one by conditions ``bind[v] < bind[w]`` on root ids, built along a
stabiliser chain (Grochow & Kellis 2007): for each motif node ``v`` in turn,
``v`` must have the smallest root id of its orbit under the automorphisms that
fix the nodes already handled. Every class of matches keeps exactly one member.

DotMotif 0.18 instead takes every pair of nodes that some automorphism of the
bare edge structure swaps and requires ``A <= B`` for each pair: for a 3-cycle
that asks ``A <= B <= C``, which none of the three rotations of half of the
host's 3-cycles satisfies, and it ignores node and edge constraints and
negative edges when it looks for symmetry.

Examples
--------
>>> symmetry_pairs(["A", "B", "C"], [("A", "B", ()), ("B", "C", ()), ("C", "A", ())])
[('A', 'B'), ('A', 'C')]
>>> symmetry_pairs(["A", "B", "C"], [("A", "B", ()), ("A", "C", ())])
[('B', 'C')]
>>> symmetry_pairs(["A", "B", "C"], [("A", "B", ()), ("A", "C", ())], node_constraints={"B": {"t": {"==": ["x"]}}})
[]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

__all__ = ["symmetry_pairs"]

_FLIP = {"<": ">", "<=": ">="}
_SYMMETRIC = {"==", "!="}


def _norm_cmp(left: tuple, lkey: str, op: str, right: tuple, rkey: str) -> tuple[tuple, str, str, tuple, str]:
    """``x < y`` is written ``y > x``, so that the two spellings of one comparison look alike."""
    if op in _FLIP:
        return right, rkey, _FLIP[op], left, lkey
    return left, lkey, op, right, rkey


def _frozen(cons: Any) -> str:
    if not cons:
        return ""
    items = sorted((str(k), op, repr(v)) for k, ops in cons.items() for op, vals in ops.items() for v in vals)
    return repr(items)


def _structure(nodes: list[str], edges: Iterable[tuple], negative: Iterable[tuple],
               node_constraints: dict, node_comparisons: Iterable[tuple], edge_comparisons: Iterable[tuple],
               ignore_direction: bool) -> Any:
    """The motif as one labelled digraph: motif nodes, edges labelled by kind and constraints, and one
    auxiliary node per comparison joined to the nodes it reads (so that automorphisms must keep it)."""
    import networkx as nx

    h = nx.DiGraph()
    for v in nodes:
        h.add_node(v, label=("node", _frozen(node_constraints.get(v))))
    labels: dict[tuple, list] = defaultdict(list)
    for kind, group in (("pos", edges), ("neg", negative)):
        for u, v, key in group:
            labels[(u, v)].append((kind, repr(key)))
            if ignore_direction and u != v:
                labels[(v, u)].append((kind, repr(key)))
    for i, (a, akey, op, b, bkey) in enumerate(node_comparisons):
        (a,), akey, op, (b,), bkey = _norm_cmp((a,), akey, op, (b,), bkey)
        aux = ("cmp", i)
        sym = op in _SYMMETRIC and akey == bkey
        h.add_node(aux, label=("node-cmp", akey, op, bkey, sym))
        labels[(a, aux)].append("s" if sym else "l")
        labels[(b, aux)].append("s" if sym else "r")
    for i, (u, v, akey, op, x, y, bkey) in enumerate(edge_comparisons):
        (u, v), akey, op, (x, y), bkey = _norm_cmp((u, v), akey, op, (x, y), bkey)
        aux = ("edge-cmp", i)
        sym = op in _SYMMETRIC and akey == bkey
        h.add_node(aux, label=("edge-cmp", akey, op, bkey, sym))
        left, right = ("s", "s") if sym else ("l", "r")
        for node, end in ((u, "u"), (v, "v")):
            labels[(node, aux)].append(left + ("" if ignore_direction else end))
        for node, end in ((x, "u"), (y, "v")):
            labels[(node, aux)].append(right + ("" if ignore_direction else end))
    for (u, v), lab in labels.items():
        h.add_edge(u, v, label=tuple(sorted(map(repr, lab))))
    return h


def _same(a: dict, b: dict) -> bool:
    return a.get("label") == b.get("label") and a.get("mark") == b.get("mark")


def symmetry_pairs(nodes: list[str], edges: Iterable[tuple], negative: Iterable[tuple] = (), *,
                   node_constraints: dict | None = None, node_comparisons: Iterable[tuple] = (),
                   edge_comparisons: Iterable[tuple] = (), ignore_direction: bool = False) -> list[tuple[str, str]]:
    """Conditions ``(v, w)`` (``bind[v] < bind[w]``) that keep one match per automorphism class.

    Parameters
    ----------
    nodes : list of str
        Motif nodes; the stabiliser chain follows this order.
    edges, negative : iterable of (u, v, constraint_key)
        Positive and negative motif edges with a hashable key of their constraints.
    node_constraints : dict, optional
        ``{node: {attribute: {op: [values]}}}``.
    node_comparisons : iterable of (a, key, op, b, other_key)
        Comparisons between two nodes' attributes.
    edge_comparisons : iterable of (u, v, key, op, x, y, other_key)
        Comparisons between two edges' attributes.
    ignore_direction : bool
        Edges are undirected.

    Returns
    -------
    list of (str, str)
    """
    from networkx.algorithms.isomorphism import DiGraphMatcher

    edges, negative = list(edges), list(negative)
    h = _structure(list(nodes), edges, negative, node_constraints or {}, list(node_comparisons),
                   list(edge_comparisons), ignore_direction)
    sig = {v: (h.nodes[v]["label"], sorted(d["label"] for *_, d in h.out_edges(v, data=True)),
               sorted(d["label"] for *_, d in h.in_edges(v, data=True))) for v in nodes}
    fixed: list[str] = []
    pairs: list[tuple[str, str]] = []
    for v in nodes:
        orbit = []
        for w in nodes:
            if w == v or w in fixed or sig[w] != sig[v]:
                continue
            g1, g2 = h.copy(), h.copy()
            for f in fixed:
                g1.nodes[f]["mark"] = g2.nodes[f]["mark"] = ("fixed", f)
            g1.nodes[v]["mark"] = g2.nodes[w]["mark"] = "image"
            if DiGraphMatcher(g1, g2, node_match=_same, edge_match=_same).is_isomorphic():
                orbit.append(w)
        pairs.extend((v, w) for w in orbit)
        fixed.append(v)
    return pairs
