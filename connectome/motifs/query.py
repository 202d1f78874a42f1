"""Parse a DotMotif query and check it against a connectome's attributes.

DotMotif's own parser (the field's package) reads the text: edges ``A -> B``,
negative edges ``A !> B``, edge constraints ``[weight >= 5]``, node
constraints ``A.cell_type == "KC"``, comparisons between nodes
``A.size > B.size``, macros and ``===`` automorphism notation. This module
turns the result into a plain :class:`MotifQuery` and reports problems with
the project's errors: syntax errors with line and column, unknown attributes
with the list of those that exist, and patterns that would be unbounded.

Examples
--------
>>> q = parse_query('A -> B [weight >= 5]\\nB -> C\\nA.cell_type == "AVA"\\nC !> A')
>>> q.nodes, [(e.u, e.v) for e in q.edges], [(e.u, e.v) for e in q.negative]
(['A', 'B', 'C'], [('A', 'B'), ('B', 'C')], [('C', 'A')])
"""

from __future__ import annotations

import copy
import functools
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import QueryError, QuerySyntaxError, QueryTooLargeError

__all__ = ["MotifEdge", "MotifQuery", "parse_query", "OPERATORS", "EDGE_ATTRIBUTES"]

#: DotMotif's comparison semantics (``x`` is the graph's value, ``y`` the query's).
OPERATORS = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "in": lambda x, y: x in y,
    "!in": lambda x, y: x not in y,
    "contains": lambda x, y: y in x,
    "!contains": lambda x, y: y not in x,
}

#: Edge attributes a query can constrain: ``weight`` is DotMotif's name for the synapse count.
EDGE_ATTRIBUTES = ("weight", "synapse_count")


@dataclass(frozen=True)
class MotifEdge:
    """One edge of the motif and its constraints ``{attribute: {op: [values]}}``."""

    u: str
    v: str
    constraints: tuple = ()

    def constraint_items(self) -> list[tuple[str, str, Any]]:
        return [(k, op, val) for k, ops in self.constraints for op, vals in ops for val in vals]


@dataclass
class MotifQuery:
    """A parsed motif: nodes in order of appearance, positive and negative edges,
    static and dynamic constraints, and DotMotif's automorphism pairs."""

    text: str
    nodes: list[str]
    edges: list[MotifEdge]
    negative: list[MotifEdge]
    node_constraints: dict[str, dict[str, dict[str, list]]] = field(default_factory=dict)
    dynamic_node_constraints: dict[str, dict[str, dict[str, list]]] = field(default_factory=dict)
    dynamic_edge_constraints: dict = field(default_factory=dict)
    automorphism_pairs: list[tuple[str, str]] = field(default_factory=list)
    exclude_automorphisms: bool = False


def dotmotif() -> Any:
    """Import DotMotif (its 0.18 release leaves its grammar file open at import; that
    ResourceWarning is silenced here so ``-W error`` runs stay clean)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            import dotmotif as dm
    except ImportError as exc:  # pragma: no cover - dotmotif is a dependency
        from ..errors import DependencyError

        raise DependencyError("motif queries need the 'dotmotif' package (pip install dotmotif)") from exc
    return dm


def _freeze(constraints: dict) -> tuple:
    return tuple(sorted((k, tuple(sorted((op, tuple(vals)) for op, vals in ops.items())))
                        for k, ops in constraints.items()))


def _location(text: str, exc: Any) -> tuple[int | None, int | None]:
    line = getattr(exc, "line", None)
    col = getattr(exc, "column", None)
    if line is None or line < 1:  # unexpected end of input
        lines = text.rstrip("\n").split("\n")
        return len(lines), len(lines[-1]) + 1
    return line, col


def parse_query(text: str, *, exclude_automorphisms: bool = False) -> MotifQuery:
    """Parse DotMotif text into a :class:`MotifQuery` (parsed queries are cached by text).

    Raises
    ------
    QuerySyntaxError
        The text does not parse (with 1-based line and column).
    QueryError
        The text parses but is inconsistent (e.g. ``A -> B`` and ``A !> B``).

    Examples
    --------
    >>> parse_query("A -> B\\nB -> ")
    Traceback (most recent call last):
    ...
    connectome.errors.QuerySyntaxError: motif query: unexpected end of input (line 2, column 6)
    """
    if not isinstance(text, str) or not text.strip():
        raise QueryError("query: give a DotMotif motif, e.g. 'A -> B\\nB -> C'", "query")
    return copy.deepcopy(_parse_cached(text, bool(exclude_automorphisms)))


@functools.lru_cache(maxsize=256)
def _parse_cached(text: str, exclude_automorphisms: bool) -> MotifQuery:
    import lark

    Motif = dotmotif().Motif
    # DotMotif treats a one-line string as a possible file name; motifs are always text here
    source = text if "\n" in text else text + "\n"
    try:
        m = Motif(source, exclude_automorphisms=exclude_automorphisms)
    except lark.exceptions.UnexpectedEOF as exc:
        line, col = _location(source, exc)
        raise QuerySyntaxError("motif query: unexpected end of input", line, col) from None
    except lark.exceptions.UnexpectedCharacters as exc:
        line, col = _location(source, exc)
        raise QuerySyntaxError(f"motif query: unexpected character {exc.char!r}", line, col) from None
    except lark.exceptions.UnexpectedToken as exc:
        line, col = _location(source, exc)
        raise QuerySyntaxError(f"motif query: unexpected {exc.token!s}", line, col) from None
    except lark.exceptions.VisitError as exc:
        raise QueryError(f"motif query: {exc.orig_exc}", "query") from None
    except (KeyError, ValueError) as exc:
        msg = exc.args[0] if exc.args else str(exc)
        raise QueryError(f"motif query: {msg}", "query") from None
    except Exception as exc:  # DotMotif validators raise their own exception types
        raise QueryError(f"motif query: {exc}", "query") from None
    g = m.to_nx()
    nodes = [str(x) for x in g.nodes]
    pos, neg = [], []
    for u, v, attrs in g.edges(data=True):
        e = MotifEdge(str(u), str(v), _freeze(attrs.get("constraints", {}) or {}))
        (pos if attrs.get("exists", True) else neg).append(e)
    autos = [(str(a), str(b)) for a, b in m.list_automorphisms()] if exclude_automorphisms else []
    return MotifQuery(
        text=text, nodes=nodes, edges=pos, negative=neg,
        node_constraints={str(k): v for k, v in m.list_node_constraints().items() if v},
        dynamic_node_constraints={str(k): v for k, v in m.list_dynamic_node_constraints().items() if v},
        dynamic_edge_constraints=dict(m.list_dynamic_edge_constraints()),
        automorphism_pairs=autos, exclude_automorphisms=exclude_automorphisms,
    )


def validate_query(q: MotifQuery, node_columns: Iterable[str]) -> None:
    """Check attributes and boundedness against a connectome's node columns.

    Raises
    ------
    QueryError
        An attribute that does not exist (the message lists those that do).
    QueryTooLargeError
        A motif node joined by no positive edge and without any constraint:
        every neuron would match it.
    """
    cols = sorted(set(node_columns))
    for node, cons in list(q.node_constraints.items()) + list(q.dynamic_node_constraints.items()):
        for key in cons:
            if key not in cols:
                raise QueryError(f"motif query: node attribute {key!r} (on {node}) does not exist; "
                                 f"node attributes: {', '.join(cols)}", "query")
    for node, cons in q.dynamic_node_constraints.items():
        for ops in cons.values():
            for pairs in ops.values():
                for other, key in pairs:
                    if key not in cols:
                        raise QueryError(f"motif query: node attribute {key!r} (on {other}) does not exist; "
                                         f"node attributes: {', '.join(cols)}", "query")
    for e in q.edges:
        for key, _, _ in e.constraint_items():
            if key not in EDGE_ATTRIBUTES:
                raise QueryError(f"motif query: edge attribute {key!r} (on {e.u} -> {e.v}) does not exist; "
                                 f"edge attributes: {', '.join(EDGE_ATTRIBUTES)} (weight = synapse count)",
                                 "query")
    if q.dynamic_edge_constraints:
        raise QueryError("motif query: comparisons between two edges' attributes are not supported; "
                         "compare an edge attribute with a value instead", "query")
    on_edges = {x for e in q.edges for x in (e.u, e.v)}
    for node in q.nodes:
        if node not in on_edges and node not in q.node_constraints:
            raise QueryTooLargeError(
                f"motif query: node {node} is joined to the motif by no positive edge and has no constraint, "
                f"so every neuron would match it; add an edge to {node} or a constraint such as "
                f"{node}.cell_type == \"...\"", "query")
