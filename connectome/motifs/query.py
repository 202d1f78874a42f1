"""Parse a DotMotif query and check it against a connectome's attributes.

DotMotif's own parser (the field's package) reads the text: edges ``A -> B``,
negative edges ``A !> B``, edge constraints ``[weight >= 5]``, named edges
``A -> B as ab`` with ``ab.weight >= 5``, node constraints
``A.cell_type == "KC"``, comparisons between nodes ``A.size > B.size``, macros
and ``===`` automorphism notation. This module turns the result into a plain
:class:`MotifQuery` and reports problems with the project's errors: syntax
errors with line and column, unknown attributes with the list of those that
exist, values that are not literals, constraints DotMotif would lose, and
patterns that would be unbounded.

Brackets take any edge column of the store (``[neuropil == "AL_L"]``,
``[nt_type == "GABA"]``, ``[synapse_count >= 5]``): the grammar is DotMotif's,
with bracket keys widened from letters to names with underscores (DotMotif's
own grammar refuses ``synapse_count`` there). Edge types (``-+``, ``-|``) are
refused: DotMotif's in-memory executors ignore them.

Queries are bounded before DotMotif sees them (:class:`QueryLimits`): DotMotif
expands macros eagerly, and nested macros multiply (each level of
``m1(a,b) { m0(a,b) m0(b,a) m0(a,b) }`` triples the expansion), so a few
hundred characters could otherwise take minutes and gigabytes. The length is
checked first; then DotMotif's own grammar parses the text and the expanded size
is computed on that parse tree before any macro is expanded (one tokenizer: a
quote or comment cannot hide a macro from the bound);
:func:`parse_query_isolated` also runs DotMotif in a child process with a time
and memory budget, for servers.

Examples
--------
>>> q = parse_query('A -> B [weight >= 5]\\nB -> C\\nA.cell_type == "AVA"\\nC !> A')
>>> q.nodes, [(e.u, e.v) for e in q.edges], [(e.u, e.v) for e in q.negative]
(['A', 'B', 'C'], [('A', 'B'), ('B', 'C')], [('C', 'A')])
>>> parse_query("A -> B as ab\\nab.weight >= 5\\n").edges[0].constraint_items()
[('weight', '>=', 5)]
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import operator
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    DependencyError,
    InputError,
    QueryError,
    QuerySyntaxError,
    QueryTimeoutError,
    QueryTooLargeError,
)
from .symmetry import symmetry_pairs
from ..validate import check_int, check_number

__all__ = [
    "MotifEdge",
    "MotifQuery",
    "QueryLimits",
    "DEFAULT_QUERY_LIMITS",
    "parse_query",
    "parse_query_isolated",
    "check_limits",
    "query_warnings",
    "OPERATORS",
    "EDGE_ATTRIBUTES",
    "EdgeComparison",
]

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

#: Pair-level edge attributes: ``weight`` (DotMotif's name) and its alias ``synapse_count`` are the sum of
#: synapse counts over the rows of a neuron pair that the edge's row-level constraints select. Every other
#: edge column of the store (``neuropil``, ``nt_type``, ``edge_kind``, ...) is row-level.
EDGE_ATTRIBUTES = ("weight", "synapse_count")

_MiB = 1 << 20


# ---------------------------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class QueryLimits:
    """Upper bounds on the size of a motif query, checked before and after DotMotif parses it.

    The defaults are far above any motif a connectome study asks for and far
    below what would let one query exhaust a machine. Raise one by passing your
    own ``QueryLimits`` (the others keep their defaults), e.g.
    ``cx.find_motifs(c, q, limits=cx.QueryLimits(max_nodes=64))``.

    Parameters
    ----------
    max_query_chars : int
        Characters of query text (default 20,000; DotMotif's parser takes about
        1 s per 10,000 characters).
    max_nodes : int
        Motif nodes (default 32).
    max_edges : int
        Motif edges, negative edges included (default 128).
    max_constraints : int
        Constraints: each value of a node or edge constraint and each comparison
        between two nodes or edges counts one (default 256).
    max_macro_depth : int
        Macro nesting depth: a macro that calls no macro has depth 1, one that
        calls it depth 2, ... (default 8).
    max_expanded_statements : int
        Statements after macro expansion, counted on DotMotif's parse tree before
        any macro is expanded: DotMotif expands every macro definition eagerly, so the
        count is the sum over all definitions and the top level (default 10,000).

    Raises
    ------
    InputError
        A limit that is not a positive integer.

    Examples
    --------
    >>> DEFAULT_QUERY_LIMITS.max_nodes, DEFAULT_QUERY_LIMITS.max_macro_depth
    (32, 8)
    >>> QueryLimits(max_nodes=64).max_nodes
    64
    >>> q = "m0(a,b) { a -> b }\\n" + "".join(
    ...     f"m{i}(a,b) {{ m{i-1}(a,b) m{i-1}(b,a) m{i-1}(a,b) }}\\n" for i in range(1, 16)) + "m15(A,B)\\n"
    >>> parse_query(q)
    Traceback (most recent call last):
    ...
    connectome.errors.QueryTooLargeError: motif query: macro nesting depth is 9 (macro m8, line 9), over the limit max_macro_depth=8; to allow it, pass limits=QueryLimits(max_macro_depth=9)
    """

    max_query_chars: int = 20_000
    max_nodes: int = 32
    max_edges: int = 128
    max_constraints: int = 256
    max_macro_depth: int = 8
    max_expanded_statements: int = 10_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"QueryLimits.{f.name} must be a positive integer, not {v!r}", f.name)


#: The limits used when ``limits=None``.
DEFAULT_QUERY_LIMITS = QueryLimits()


def _resolve_limits(limits: QueryLimits | None) -> QueryLimits:
    if limits is None:
        return DEFAULT_QUERY_LIMITS
    if not isinstance(limits, QueryLimits):
        raise InputError(f"limits must be a connectome.QueryLimits or None, not {type(limits).__name__}", "limits")
    return limits


def _too_large(what: str, value: int, name: str, limit: int, where: str = "", at_least: bool = False) -> QueryTooLargeError:
    shown = f"at least {value:,}" if at_least else f"{value:,}"
    return QueryTooLargeError(
        f"motif query: {what} is {shown}{where}, over the limit {name}={limit}; "
        f"to allow it, pass limits=QueryLimits({name}={value})", "query")


# ---------------------------------------------------------------------------------------------- static scan
@dataclass
class _Macro:
    name: str
    line: int
    size: int = 0
    depth: int = 1


def _statements(node: Any) -> int:
    """Statements a parsed block adds before macro expansion: each relation, comparison operator and
    ``===`` counts one (an over-count: a constraint in brackets is part of its edge's statement)."""
    import lark

    n = 0
    for sub in node.iter_subtrees():
        if sub.data in ("relation", "automorphism_notation") or str(sub.data).startswith("iter_op"):
            n += 1
        n += sum(1 for c in sub.children if isinstance(c, lark.Token) and c.type == "OPERATOR")
    return n


def _tree_bound(tree: Any, limits: QueryLimits) -> tuple[int, int]:
    """Bound a query from DotMotif's parse tree, before DotMotif expands anything; return the bound on
    statements after expansion and the deepest macro nesting.

    The tree is the one DotMotif's own grammar (:func:`_lark`) makes, so the tokens seen here are
    exactly the parser's (strings, quoted keys and comments cannot hide a macro from this count). A
    macro's expanded size is its own statements plus the expanded sizes of the macros it calls,
    resolved as DotMotif resolves them: to the latest definition before the call, so no recursion is
    possible. DotMotif stores every definition expanded, so the total is the sum over all definitions
    plus the top level's expansion.
    """
    defs: dict[str, _Macro] = {}
    total = 0
    top = 0

    def over(current: _Macro | None, line: int | None) -> None:
        value = total + top + (current.size if current else 0)
        if value > limits.max_expanded_statements:
            where = f" (macro {current.name}, line {current.line})" if current else (
                f" (line {line})" if line is not None else "")
            raise _too_large("the number of statements after macro expansion", value, "max_expanded_statements",
                             limits.max_expanded_statements, where, at_least=True)

    def call_size(node: Any) -> tuple[int, int]:
        target = defs.get(str(node.children[0].children[0]))
        return (target.size, target.depth) if target is not None else (1, 0)

    blocks = [b for cob in tree.children if hasattr(cob, "data") for b in cob.children
              if hasattr(b, "data") and b.data == "block" and b.children]
    for block in blocks:
        stmt = block.children[0]
        if not hasattr(stmt, "data"):
            continue
        line = getattr(stmt.meta, "line", None) if not stmt.meta.empty else None
        if stmt.data == "macro":
            current = _Macro(str(stmt.children[0].children[0]), line or 0)
            for rule in stmt.children[-1].children:
                if not hasattr(rule, "data"):
                    continue
                if rule.data == "macro_call_re":
                    size, depth = call_size(rule)
                    current.size += size
                    current.depth = max(current.depth, depth + 1)
                else:
                    current.size += _statements(rule)
                over(current, line)
            if current.depth > limits.max_macro_depth:
                raise _too_large("macro nesting depth", current.depth, "max_macro_depth", limits.max_macro_depth,
                                 f" (macro {current.name}, line {current.line})")
            defs[current.name] = current
            total += current.size
        elif stmt.data == "macro_call":
            top += call_size(stmt)[0]
        else:
            top += _statements(stmt)
        over(None, line)
    depth = max([d.depth for d in defs.values()] + [0])
    return total + top, depth


def _check_length(text: str, limits: QueryLimits) -> None:
    if len(text) > limits.max_query_chars:
        raise _too_large("the query's length in characters", len(text), "max_query_chars", limits.max_query_chars)


def _check_bound(bound: tuple[int, int], limits: QueryLimits) -> None:
    """Check a cached query's expansion bound (from :func:`_tree_bound`) against other ``limits``."""
    total, depth = bound
    if depth > limits.max_macro_depth:
        raise _too_large("macro nesting depth", depth, "max_macro_depth", limits.max_macro_depth)
    if total > limits.max_expanded_statements:
        raise _too_large("the number of statements after macro expansion", total, "max_expanded_statements",
                         limits.max_expanded_statements, at_least=True)


def _static_check(text: str, limits: QueryLimits) -> tuple[int, int]:
    """Bound the query before DotMotif expands anything (length first, then :func:`_tree_bound` on
    DotMotif's own parse tree); return the bound on statements after expansion and the deepest
    macro nesting."""
    _check_length(text, limits)
    return _tree_bound(_lark().parse(text if "\n" in text else text + "\n"), limits)


def _n_constraints(q: MotifQuery) -> int:
    n = sum(len(vals) for cons in q.node_constraints.values() for ops in cons.values() for vals in ops.values())
    n += sum(len(vals) for cons in q.dynamic_node_constraints.values() for ops in cons.values()
             for vals in ops.values())
    n += sum(len(e.constraint_items()) for e in q.edges + q.negative)
    n += len(q.edge_comparisons)
    return n


def check_limits(q: MotifQuery, limits: QueryLimits | None = None) -> None:
    """Check a parsed query's nodes, edges and constraints against ``limits`` (None: the defaults).

    Raises
    ------
    QueryTooLargeError
        A count over its limit (the message names the limit and how to raise it).

    Examples
    --------
    >>> q = parse_query("A -> B\\nB -> C\\nC -> A\\n")
    >>> check_limits(q, QueryLimits(max_edges=2))
    Traceback (most recent call last):
    ...
    connectome.errors.QueryTooLargeError: motif query: the number of edges (negative edges included) is 3, over the limit max_edges=2; to allow it, pass limits=QueryLimits(max_edges=3)
    """
    lim = _resolve_limits(limits)
    if len(q.nodes) > lim.max_nodes:
        raise _too_large("the number of motif nodes", len(q.nodes), "max_nodes", lim.max_nodes)
    n_edges = len(q.edges) + len(q.negative)
    if n_edges > lim.max_edges:
        raise _too_large("the number of edges (negative edges included)", n_edges, "max_edges", lim.max_edges)
    n_cons = _n_constraints(q)
    if n_cons > lim.max_constraints:
        raise _too_large("the number of constraints", n_cons, "max_constraints", lim.max_constraints)


# ---------------------------------------------------------------------------------------------- the query
@dataclass(frozen=True)
class MotifEdge:
    """One edge of the motif and its constraints ``{attribute: {op: [values]}}`` (frozen)."""

    u: str
    v: str
    constraints: tuple = ()

    def constraint_items(self) -> list[tuple[str, str, Any]]:
        return [(k, op, val) for k, ops in self.constraints for op, vals in ops for val in vals]


@dataclass(frozen=True)
class EdgeComparison:
    """A comparison between two motif edges' attributes, ``(u -> v).key op (x -> y).other_key``
    (DotMotif's ``ab.weight > bc.weight``)."""

    u: str
    v: str
    key: str
    op: str
    x: str
    y: str
    other_key: str

    def __str__(self) -> str:
        return f"({self.u} -> {self.v}).{self.key} {self.op} ({self.x} -> {self.y}).{self.other_key}"


@dataclass
class MotifQuery:
    """A parsed motif: nodes in order of appearance, positive and negative edges,
    static and dynamic constraints, comparisons between edges, and the
    symmetry-breaking pairs of ``exclude_automorphisms`` (picklable).

    ``automorphism_pairs`` holds ``(v, w)``: a match keeps ``root_id(v) < root_id(w)``
    (see :mod:`connectome.motifs.symmetry`); ``ignore_direction`` makes every
    edge undirected, as DotMotif's option of that name.
    """

    text: str
    nodes: list[str]
    edges: list[MotifEdge]
    negative: list[MotifEdge]
    node_constraints: dict[str, dict[str, dict[str, list]]] = field(default_factory=dict)
    dynamic_node_constraints: dict[str, dict[str, dict[str, list]]] = field(default_factory=dict)
    edge_comparisons: list[EdgeComparison] = field(default_factory=list)
    automorphism_pairs: list[tuple[str, str]] = field(default_factory=list)
    exclude_automorphisms: bool = False
    ignore_direction: bool = False

    def edge_keys(self) -> set[str]:
        """Every edge attribute the query reads (``synapse_count`` reported as ``weight``)."""
        keys = {_weight_alias(k) for e in self.edges + self.negative for k, _, _ in e.constraint_items()}
        keys |= {_weight_alias(k) for c in self.edge_comparisons for k in (c.key, c.other_key)}
        return keys


def row_columns(edge_columns: Iterable[str] | None) -> list[str]:
    """The row-level edge columns a query can constrain: every edge column but the ids and the count.

    Examples
    --------
    >>> row_columns(["pre_root_id", "post_root_id", "synapse_count", "edge_kind", "neuropil"])
    ['edge_kind', 'neuropil']
    """
    if edge_columns is None:
        return []
    return [c for c in edge_columns if c not in ("pre_root_id", "post_root_id", "synapse_count", "weight")]


def _weight_alias(key: str) -> str:
    return "weight" if key == "synapse_count" else key


def dotmotif() -> Any:
    """Import DotMotif (its 0.18 release leaves its grammar file open at import; that
    ResourceWarning is silenced here so ``-W error`` runs stay clean)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            import dotmotif as dm
    except ImportError as exc:  # pragma: no cover - dotmotif is a dependency

        raise DependencyError("motif queries need the 'dotmotif' package (pip install dotmotif)") from exc
    return dm


def _freeze(constraints: dict) -> tuple:
    return tuple(sorted((str(k), tuple(sorted((op, tuple(vals)) for op, vals in ops.items())))
                        for k, ops in constraints.items() if ops))


def _location(text: str, exc: Any) -> tuple[int | None, int | None]:
    line = getattr(exc, "line", None)
    col = getattr(exc, "column", None)
    if line is None or line < 1:  # unexpected end of input
        lines = text.rstrip("\n").split("\n")
        return len(lines), len(lines[-1]) + 1
    return line, col


_LITERAL_WORDS = {"True": True, "False": False}


def _flatten_rules(rules: list) -> list:
    out = []
    for rule in rules:
        if isinstance(rule, tuple):
            out.append(rule)
        else:
            out.extend(rule)
    return out


_EDGE_CLAUSE = "edge_clause             : value_or_quoted_value op value_or_quoted_value"


@functools.lru_cache(maxsize=1)
def _lark() -> Any:
    """DotMotif's own grammar, read from the installed package, with two changes: bracket keys may
    be names with underscores (``[synapse_count >= 5]``, ``[nt_type == "GABA"]``; DotMotif's keys
    there are letters only), and positions are kept for error messages."""
    dotmotif()
    import lark
    import dotmotif.parsers.v2 as v2

    with open(os.path.join(os.path.dirname(v2.__file__), "grammar.lark")) as fh:
        grammar = fh.read()
    if _EDGE_CLAUSE not in grammar:  # pragma: no cover - a DotMotif release with another grammar

        raise DependencyError("motif queries: this DotMotif release has a grammar this version of connectome "
                              "does not know; install dotmotif 0.18 (pip install 'dotmotif==0.18.*')")
    grammar = grammar.replace(_EDGE_CLAUSE, "edge_clause             : edge_key op value_or_quoted_value\n"
                                            "?edge_key               : EDGE_KEY | NUMBER | DOUBLE_QUOTED_STRING\n"
                                            "EDGE_KEY                : /[a-zA-Z_][a-zA-Z0-9_]*/")
    return lark.Lark(grammar, propagate_positions=True)


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'" else key


def _where(text: str, name: str) -> tuple[int | None, int | None]:
    """1-based line and column of the first use of ``name`` as a word outside comments."""
    pat = re.compile(r"(?<![\w.])" + re.escape(name) + r"(?!\w)")
    for i, line in enumerate(text.split("\n"), 1):
        m = pat.search(line.split("#", 1)[0])
        if m:
            return i, m.start() + 1
    return None, None


def _located(text: str, message: str, names: Iterable[str] = ()) -> QueryError:
    """A :class:`QuerySyntaxError` at the first name of ``names`` (or quoted in ``message``) found in the text."""
    candidates = list(names) + re.findall(r"'([A-Za-z_][\w-]*)'", message) + \
        re.findall(r"\b(?:Entity|entity|edge|node)\s+([A-Za-z_][\w-]*)", message)
    for name in candidates:
        line, col = _where(text, name)
        if line is not None:
            return QuerySyntaxError(message, line, col)
    return QueryError(message, "query")


@functools.lru_cache(maxsize=1)
def _parser_class() -> type:
    """DotMotif's v2 parser with guards: values must be literals (checked before DotMotif would
    ``eval`` them), constraints DotMotif would lose or misplace are refused, and DotMotif's own
    exceptions become :class:`QueryError` with a line and column."""
    dotmotif()
    import lark
    from dotmotif.parsers.v2 import DotMotifTransformer, ParserV2

    def literal(tok: Any) -> None:
        if isinstance(tok, lark.Token) and tok.type == "WORD" and str(tok) not in _LITERAL_WORDS:
            raise QuerySyntaxError(
                f"motif query: value {str(tok)!r} is not a literal; values are numbers, quoted strings "
                f"or True/False: quote strings, e.g. \"{tok}\"", tok.line, tok.column)

    class Transformer(DotMotifTransformer):
        def edge_clause(self, tup: Any) -> Any:
            literal(tup[2])
            key, op, val = super().edge_clause(tup)
            return _unquote(key), op, val

        def relation(self, tup: Any) -> Any:
            rel = super().relation(tup)
            if rel["type"] != "SYN":
                sign = {"EXC": "-+ (excitatory)", "INH": "-| or -- (inhibitory)"}.get(rel["type"], rel["type"])
                raise QueryError(
                    f"motif query: edge types such as {sign} are not supported (DotMotif's in-memory executors "
                    "ignore them, so they would be dropped silently); write -> or !> and constrain the "
                    "transmitter, e.g. A -> B [nt_type == \"GABA\"]", "query")
            return rel

        def named_edge(self, tup: Any) -> Any:
            name = str(tup[-1])
            if name in self.named_edges:
                raise QueryError(f"motif query: the edge name {name!r} is given to two edges; give each edge "
                                 "its own name", "query")
            return super().named_edge(tup)

        def node_constraint(self, tup: Any) -> Any:
            if len(tup) == 4:
                literal(tup[3])
            return super().node_constraint(tup)

        def macro_node_constraint(self, tup: Any) -> Any:
            if len(tup) == 4:
                literal(tup[3])
            return super().macro_node_constraint(tup)

        def named_edge_macro(self, tup: Any) -> Any:
            rule = super().named_edge_macro(tup)
            attrs = rule[4]
            if isinstance(attrs, dict):  # DotMotif's macro expansion expects (key, op, value) triples here
                attrs = [(k, op, val) for k, ops in attrs.items() for op, vals in ops.items() for val in vals]
            return rule[:4] + (attrs, rule[5])

        def edge(self, tup: Any) -> Any:
            u, rel, v = str(tup[0]), tup[1], str(tup[2])
            attrs = tup[3] if len(tup) == 4 else {}
            if attrs and self.G.has_edge(u, v):
                for d in self.G.get_edge_data(u, v).values():
                    if d["exists"] == rel["exists"] and d.get("constraints") != attrs:
                        arrow = "->" if rel["exists"] else "!>"
                        raise QueryError(
                            f"motif query: edge {u} {arrow} {v} is written more than once with different "
                            f"constraints ({_show(d.get('constraints') or {})} and {_show(attrs)}); DotMotif "
                            "keeps only the first, so write them all on one edge, e.g. "
                            "[weight >= 5, weight < 10], or name it (as e) and constrain e", "query")
            return super().edge(tup)

        def macro_call_re(self, tup: Any) -> Any:
            callname, _ = tup
            macro = self.macros.get(callname)
            if macro is not None:
                for rule in _flatten_rules(macro["rules"]):
                    lost = (rule[0] == "node_constraint" or (rule[0] == "named_edge" and rule[4])
                            or (rule[0] != "named_edge" and len(rule) == 4 and rule[3]))
                    if lost:
                        raise QueryError(
                            f"motif query: macro {callname!r} has constraints and is called inside another "
                            "macro; DotMotif loses or misplaces the constraints of nested macro calls, so "
                            f"call {callname!r} at the top level, or write its constraints in the calling "
                            "macro", "query")
            return super().macro_call_re(tup)

        def macro_call(self, tup: Any) -> Any:
            """DotMotif maps the first node of a comparison inside a macro to the call's arguments but
            not the second (``m(x, y) { x.size > y.size }`` compares with a node named ``y``); the
            second is mapped here before DotMotif expands the call."""
            callname, args = tup
            macro = self.macros.get(callname)
            call_args = [args] if isinstance(args, str) else list(args)
            if macro is None or len(macro["args"]) != len(call_args):
                return super().macro_call(tup)
            margs = [str(a) for a in macro["args"]]
            rules = _flatten_rules(macro["rules"])
            named = {r[5] for r in rules if r[0] == "named_edge"}
            fixed = []
            for rule in rules:
                if rule[0] == "node_constraint" and len(rule) == 6 and rule[1] not in named:
                    that = str(rule[4])
                    if that not in margs:
                        raise QueryError(
                            f"motif query: macro {callname!r} compares {rule[1]}.{rule[2]} with {that}.{rule[5]}, "
                            f"but {that} is not an argument of the macro ({', '.join(margs)}); pass it as one",
                            "query")
                    rule = rule[:4] + (call_args[margs.index(that)],) + rule[5:]
                fixed.append(rule)
            self.macros[callname] = {**macro, "rules": fixed}
            try:
                return super().macro_call(tup)
            finally:
                self.macros[callname] = macro

    class Parser(ParserV2):
        def __init__(self, validators: Any = None, limits: QueryLimits | None = None,
                     bound: list | None = None) -> None:
            super().__init__(validators=validators)
            self.limits = _resolve_limits(limits)
            self.bound = bound

        def parse(self, dm: str) -> Any:
            tree = _lark().parse(dm)
            # bound the expansion on the parser's own tree, before DotMotif expands a macro
            stats = _tree_bound(tree, self.limits)
            if self.bound is not None:
                self.bound[:] = stats
            t = Transformer(validators=self.validators)
            try:
                result = t.transform(tree)
            except lark.exceptions.VisitError as exc:
                orig = exc.orig_exc
                if isinstance(orig, (QueryError, MemoryError)):
                    raise
                meta = getattr(getattr(exc, "obj", None), "meta", None)
                line, col = getattr(meta, "line", None), getattr(meta, "column", None)
                msg = f"motif query: {_dotmotif_message(orig)}"
                if line is not None:
                    raise QuerySyntaxError(msg, line, col) from None
                raise _located(dm, msg) from None
            except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
                raise _located(dm, f"motif query: {_dotmotif_message(exc)}") from None
            clash = sorted(set(t.named_edges) & {str(v) for v in t.G.nodes})
            if clash:
                raise _located(dm, f"motif query: {clash[0]!r} names both a node and an edge; rename the edge "
                                   f"(A -> B as e_{clash[0]})", [clash[0]])
            return result

    return Parser


def _dotmotif_message(exc: BaseException) -> str:
    """DotMotif's exception as a sentence (a bare ``KeyError('cd')`` names an unknown edge or node)."""
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and re.fullmatch(r"[\w-]+", exc.args[0]):
        return f"{exc.args[0]!r} is neither a node nor a named edge of the motif"
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _show(cons: Any) -> str:
    if isinstance(cons, dict):
        items = [(k, op, v) for k, ops in cons.items() for op, vals in ops.items() for v in vals]
    else:
        items = list(cons)
    return "[" + ", ".join(f"{k} {op} {v!r}" for k, op, v in items) + "]"


def _parse(text: str, exclude_automorphisms: bool, ignore_direction: bool = False,
           limits: QueryLimits | None = None) -> tuple[MotifQuery, tuple[int, int]]:
    """Run DotMotif on ``text`` (its length already bounded): the expansion is bounded by
    ``limits`` on DotMotif's parse tree before any macro is expanded (:func:`_tree_bound`); return
    the converted query and the bound (statements after expansion, macro depth)."""
    import lark

    Motif = dotmotif().Motif
    # DotMotif treats a one-line string as a possible file name; motifs are always text here
    source = text if "\n" in text else text + "\n"
    bound: list = [0, 0]
    try:
        m = Motif(source, exclude_automorphisms=exclude_automorphisms,
                  parser=functools.partial(_parser_class(), limits=limits, bound=bound))
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
        if isinstance(exc.orig_exc, MemoryError):
            raise MemoryError from None
        if isinstance(exc.orig_exc, QueryError):
            raise exc.orig_exc from None
        raise _located(source, f"motif query: {_dotmotif_message(exc.orig_exc)}") from None
    except MemoryError:
        raise
    except QueryError:
        raise
    except Exception as exc:  # DotMotif's validators and post-processing raise their own exception types
        raise _located(source, f"motif query: {_dotmotif_message(exc)}") from None
    return _convert(text, m, exclude_automorphisms, ignore_direction), (bound[0], bound[1])


def _check_value(where: str, value: Any) -> None:
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    raise QueryError(f"motif query: value {value!r} of {where} is not a literal; values are numbers, quoted "
                     "strings or True/False (quote strings)", "query")


def _convert(text: str, m: Any, exclude_automorphisms: bool, ignore_direction: bool = False) -> MotifQuery:
    g = m.to_nx()
    nodes = [str(x) for x in g.nodes]
    node_set = set(nodes)
    edge_cons = {(str(u), str(v)): cons for (u, v), cons in m.list_edge_constraints().items()}
    pairs = {(str(u), str(v)) for u, v in g.edges()}
    for (u, v), cons in edge_cons.items():
        if any(ops for ops in cons.values()) and (u, v) not in pairs:
            raise QueryError(f"motif query: the constraint {_show(cons)} is placed by DotMotif on {u} -> {v}, "
                             "which is not an edge of the motif; write it on a named edge at the top level",
                             "query")
        for key, ops in cons.items():
            for vals in ops.values():
                for val in vals:
                    _check_value(f"edge {u} -> {v} ({key})", val)
    pos, neg = [], []
    for u, v, attrs in g.edges(data=True):
        e = MotifEdge(str(u), str(v), _freeze(edge_cons.get((str(u), str(v)), {}) or {}))
        (pos if attrs.get("exists", True) else neg).append(e)
    node_constraints = {str(k): v for k, v in m.list_node_constraints().items() if v}
    for node, cons in node_constraints.items():
        if node not in node_set:
            raise QueryError(f"motif query: constraint on {node}, which is neither a node nor a named edge "
                             "of the motif", "query")
        for key, ops in cons.items():
            for vals in ops.values():
                for val in vals:
                    _check_value(f"{node}.{key}", val)
    dynamic = {str(k): v for k, v in m.list_dynamic_node_constraints().items() if v}
    for node, cons in dynamic.items():
        for key, ops in cons.items():
            for op, others in ops.items():
                for other, okey in others:
                    for x in (node, other):
                        if str(x) not in node_set:
                            raise QueryError(f"motif query: the comparison {node}.{key} {op} {other}.{okey} "
                                             f"names {x}, which is not a node of the motif", "query")
    for a, b in getattr(m, "_automorphisms", []):
        for x in (str(a), str(b)):
            if x not in node_set:
                raise _located(text, f"motif query: {a} === {b} names {x}, which is not a node of the motif", [x])
    comparisons = _edge_comparisons(text, m, pos, neg)
    autos: list[tuple[str, str]] = []
    if exclude_automorphisms:
        autos = symmetry_pairs(
            nodes, [(e.u, e.v, _key_of(e)) for e in pos], [(e.u, e.v, _key_of(e)) for e in neg],
            node_constraints=node_constraints,
            node_comparisons=[(a, k, op, b, ok) for a, cons in dynamic.items() for k, ops in cons.items()
                              for op, others in ops.items() for b, ok in others],
            edge_comparisons=[(c.u, c.v, _weight_alias(c.key), c.op, c.x, c.y, _weight_alias(c.other_key))
                              for c in comparisons],
            ignore_direction=ignore_direction)
    return MotifQuery(
        text=text, nodes=nodes, edges=pos, negative=neg,
        node_constraints=node_constraints,
        dynamic_node_constraints=dynamic,
        edge_comparisons=comparisons,
        automorphism_pairs=autos, exclude_automorphisms=exclude_automorphisms,
        ignore_direction=ignore_direction,
    )


def _key_of(e: MotifEdge) -> tuple:
    """An edge's constraints as a canonical, hashable key (``synapse_count`` read as ``weight``)."""
    return tuple(sorted(((_weight_alias(k), op, v) for k, op, v in e.constraint_items()), key=repr))


def _edge_comparisons(text: str, m: Any, pos: list[MotifEdge], neg: list[MotifEdge]) -> list[EdgeComparison]:
    """DotMotif's dynamic edge constraints as :class:`EdgeComparison` s, checked: both edges must be positive
    edges of the motif (a negative edge has no synapses to compare)."""
    positive = {(e.u, e.v) for e in pos}
    negative = {(e.u, e.v) for e in neg}
    out = []
    for (u, v), cons in m.list_dynamic_edge_constraints().items():
        for key, ops in cons.items():
            for op, targets in ops.items():
                for x, y, okey in targets:
                    c = EdgeComparison(str(u), str(v), str(key), str(op), str(x), str(y), str(okey))
                    for a, b in ((c.u, c.v), (c.x, c.y)):
                        if (a, b) in positive:
                            continue
                        what = "a negative edge, which has no synapses to compare" if (a, b) in negative else \
                            "not an edge of the motif"
                        raise _located(text, f"motif query: the comparison {c} reads {a} -> {b}, {what}; compare "
                                             "positive edges", [a, b])
                    out.append(c)
    return out


# ---------------------------------------------------------------------------------------------- cache
class _Cache:
    """Parsed queries, each with its expansion bound, by (text, exclude_automorphisms, ignore_direction);
    thread-safe LRU (servers parse from threads)."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._d: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[MotifQuery, tuple[int, int]] | None:
        with self._lock:
            q = self._d.get(key)
            if q is not None:
                self._d.move_to_end(key)
            return q

    def put(self, key: tuple, q: tuple[MotifQuery, tuple[int, int]]) -> None:
        with self._lock:
            self._d[key] = q
            self._d.move_to_end(key)
            while len(self._d) > self.maxsize:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


_CACHE = _Cache()


def _check_text(text: Any) -> None:
    if not isinstance(text, str) or not text.strip():
        raise QueryError("query: give a DotMotif motif, e.g. 'A -> B\\nB -> C'", "query")


def parse_query(text: str, *, exclude_automorphisms: bool = False, ignore_direction: bool = False,
                limits: QueryLimits | None = None) -> MotifQuery:
    """Parse DotMotif text into a :class:`MotifQuery` (parsed queries are cached by text).

    The text is bounded by ``limits`` before DotMotif expands anything (length,
    then macro nesting depth and statements after macro expansion, computed on
    DotMotif's parse tree), and the parsed motif after (nodes, edges, constraints).

    Parameters
    ----------
    text : str
        DotMotif text.
    exclude_automorphisms : bool
        Compute the symmetry-breaking pairs that keep one match per automorphism class
        (:mod:`connectome.motifs.symmetry`).
    ignore_direction : bool
        Every edge is undirected (DotMotif's ``ignore_direction``): ``A -> B`` matches a pair
        connected either way, ``A !> B`` forbids both directions.
    limits : QueryLimits, optional
        Size limits; None uses :data:`DEFAULT_QUERY_LIMITS`.

    Raises
    ------
    QuerySyntaxError
        The text does not parse, or a value is not a literal (with 1-based line and column).
    QueryError
        The text parses but is inconsistent (e.g. ``A -> B`` and ``A !> B``), or has
        a constraint DotMotif would lose (a constrained macro called inside another macro).
    QueryTooLargeError
        The query is over one of ``limits``.

    Examples
    --------
    >>> parse_query("A -> B\\nB -> ")
    Traceback (most recent call last):
    ...
    connectome.errors.QuerySyntaxError: motif query: unexpected end of input (line 2, column 6)
    >>> parse_query('A -> B\\nA.cell_type == KC\\n')
    Traceback (most recent call last):
    ...
    connectome.errors.QuerySyntaxError: motif query: value 'KC' is not a literal; values are numbers, quoted strings or True/False: quote strings, e.g. "KC" (line 2, column 16)
    >>> len(parse_query("A -> B\\nB -> C\\n", limits=QueryLimits(max_nodes=3)).nodes)
    3
    """
    _check_text(text)
    lim = _resolve_limits(limits)
    _check_length(text, lim)
    key = (text, bool(exclude_automorphisms), bool(ignore_direction))
    hit = _CACHE.get(key)
    if hit is None:
        hit = _parse(text, bool(exclude_automorphisms), bool(ignore_direction), lim)
        _CACHE.put(key, hit)
    q, bound = hit
    _check_bound(bound, lim)
    check_limits(q, lim)
    return copy.deepcopy(q)


# ---------------------------------------------------------------------------------------------- isolation
_CTX_LOCK = threading.Lock()
_CTX: Any = None


_LAUNCH = threading.local()


def _context() -> Any:
    """The forkserver context (never fork: servers call this from threads), with this module and
    DotMotif preloaded in the server so that a child starts in milliseconds.

    A child started by multiprocessing re-imports the parent's ``__main__`` script (a server's
    entry point) before it runs; the parse child needs nothing from it, so the preparation data
    of the processes started here leaves it out (only in the thread that starts them)."""
    global _CTX
    with _CTX_LOCK:
        if _CTX is None:
            import multiprocessing
            from multiprocessing import spawn

            original = spawn.get_preparation_data
            if not getattr(original, "_connectome_wrapped", False):
                def get_preparation_data(name: str) -> dict:
                    data = original(name)
                    if getattr(_LAUNCH, "active", False):
                        data.pop("init_main_from_path", None)
                        data.pop("init_main_from_name", None)
                    return data

                get_preparation_data._connectome_wrapped = True  # type: ignore[attr-defined]
                spawn.get_preparation_data = get_preparation_data
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["connectome.motifs.query", "dotmotif"])
            _CTX = ctx
        return _CTX


def _address_space() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        return None
    return None  # pragma: no cover


def _child(conn: Any, text: str, exclude_automorphisms: bool, memory_bytes: int | None,
           ignore_direction: bool = False, limits: QueryLimits | None = None) -> None:
    """Parse in a child process under an address-space limit; send back ("ok", query) or an error."""
    try:
        try:
            if memory_bytes is not None:
                import resource

                base = _address_space()
                if base is not None:
                    cap = base + int(memory_bytes)
                    _, hard = resource.getrlimit(resource.RLIMIT_AS)
                    if hard != resource.RLIM_INFINITY:
                        cap = min(cap, hard)
                    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
            msg: tuple = ("ok", _parse(text, exclude_automorphisms, ignore_direction, limits))
        except MemoryError:
            msg = ("memory", None)
        except QuerySyntaxError as exc:
            full = str(exc)
            suffix = f" (line {exc.line}, column {exc.column})" if exc.line is not None else ""
            base_msg = full[:-len(suffix)] if suffix and full.endswith(suffix) else full
            msg = ("syntax", (base_msg, exc.line, exc.column))
        except QueryTooLargeError as exc:
            msg = ("too_large", str(exc))
        except QueryError as exc:
            msg = ("error", str(exc))
        except Exception as exc:  # anything else DotMotif raises is the query's fault
            msg = ("error", f"motif query: {exc}")
        conn.send(msg)
    except MemoryError:  # pragma: no cover - could not even report it: the parent reads the exit
        pass
    finally:
        conn.close()


def parse_query_isolated(text: str, *, exclude_automorphisms: bool = False, ignore_direction: bool = False,
                         limits: QueryLimits | None = None,
                         timeout: float, memory_bytes: int | None = 512 * _MiB) -> MotifQuery:
    """:func:`parse_query` with DotMotif run in a child process under a time and memory budget.

    For servers: the static checks of ``limits`` run here, then DotMotif parses
    in a child started from a ``forkserver`` (never a plain fork, which is
    unsafe in a multi-threaded process) with its address space capped by
    ``resource.setrlimit(RLIMIT_AS)``; the child is killed when ``timeout``
    passes. Successful results are cached in this process by
    ``(text, exclude_automorphisms, ignore_direction)``, shared with :func:`parse_query`, so a
    repeated query starts no child. The :class:`MotifQuery` returned can be
    passed to :func:`~connectome.motifs.find_motifs` and
    :func:`~connectome.motifs.count_motifs`.

    Parameters
    ----------
    text, exclude_automorphisms, ignore_direction, limits
        As :func:`parse_query`.
    timeout : float
        Seconds the parse may take, from the child's start (the first call in a
        process also starts the forkserver, which is not counted).
    memory_bytes : int or None
        Address space the child may add to what it starts with (default 512 MiB;
        Linux). None: no memory limit.

    Raises
    ------
    QuerySyntaxError, QueryError
        As :func:`parse_query` (the same messages, line and column).
    QueryTooLargeError
        Over ``limits``, or the parse ran out of ``memory_bytes``.
    QueryTimeoutError
        The parse ran past ``timeout``; the child is killed.

    Examples
    --------
    >>> q = parse_query_isolated("A -> B [weight >= 5]\\nB -> A\\n", timeout=30)
    >>> q == parse_query("A -> B [weight >= 5]\\nB -> A\\n")
    True
    """
    _check_text(text)
    lim = _resolve_limits(limits)
    check_number(timeout, "timeout", low=0, low_open=True, finite=False, what="a positive number of seconds")
    memory_bytes = check_int(memory_bytes, "memory_bytes", low=1, optional=True, what="a positive integer or None")
    _check_length(text, lim)
    key = (text, bool(exclude_automorphisms), bool(ignore_direction))
    hit = _CACHE.get(key)
    if hit is None:
        hit = _parse_in_child(text, bool(exclude_automorphisms), float(timeout), memory_bytes,
                              bool(ignore_direction), lim)
        _CACHE.put(key, hit)
    q, bound = hit
    _check_bound(bound, lim)
    check_limits(q, lim)
    return copy.deepcopy(q)


def _parse_in_child(text: str, exclude_automorphisms: bool, timeout: float, memory_bytes: int | None,
                    ignore_direction: bool = False,
                    limits: QueryLimits | None = None) -> tuple[MotifQuery, tuple[int, int]]:
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, text, exclude_automorphisms, memory_bytes, ignore_direction, limits),
                       name="connectome-motif-parse", daemon=True)
    msg: Any = None
    timed_out = False
    try:
        _LAUNCH.active = True
        try:
            proc.start()
        finally:
            _LAUNCH.active = False
        send.close()
        if recv.poll(timeout):
            try:
                msg = recv.recv()
            except (EOFError, OSError):  # the child died without a word
                msg = None
        else:
            timed_out = True
    finally:
        send.close()
        recv.close()
        if proc.pid is not None:  # started
            if proc.is_alive():
                proc.kill()
            proc.join()
            proc.close()
    if timed_out:
        raise QueryTimeoutError(
            f"motif query: parsing ran past its time budget of {timeout} s; simplify the query "
            "(fewer macros, shorter text) or raise the time budget")
    if msg is None or msg[0] == "memory":
        mem = "no limit" if memory_bytes is None else f"{memory_bytes:,} bytes"
        raise QueryTooLargeError(
            f"motif query: parsing ran out of its memory budget ({mem}); simplify the query "
            "(fewer macros, shorter text) or raise memory_bytes", "query")
    kind, payload = msg
    if kind == "ok":
        return payload
    if kind == "syntax":
        raise QuerySyntaxError(*payload)
    if kind == "too_large":
        raise QueryTooLargeError(payload, "query")
    raise QueryError(payload, "query")


def validate_query(q: MotifQuery, node_columns: Iterable[str], edge_columns: Iterable[str] | None = None,
                   edge_kind: str | None = "chemical") -> None:
    """Check attributes and boundedness against a connectome's node and edge columns.

    Parameters
    ----------
    q : MotifQuery
    node_columns : iterable of str
        Node attributes that exist (``Connectome.label_columns``).
    edge_columns : iterable of str, optional
        The edge table's columns (``Connectome.edge_columns``); every one but the two ids can
        be constrained. None: only ``weight`` / ``synapse_count``.
    edge_kind : str or None
        The host graph's edge kind; a query that constrains ``edge_kind`` needs ``None``.

    Raises
    ------
    QueryError
        An attribute that does not exist (the message lists those that do), or
        ``edge_kind`` constrained while the host holds one kind only.
    QueryTooLargeError
        A motif node joined by no positive edge and without any constraint:
        every neuron would match it.

    Examples
    --------
    >>> q = parse_query('A -> B [neuropil == "AL_L", weight >= 5]\\n')
    >>> validate_query(q, [], ["pre_root_id", "post_root_id", "synapse_count", "edge_kind"])
    Traceback (most recent call last):
    ...
    connectome.errors.QueryError: motif query: edge attribute 'neuropil' (on A -> B) does not exist; edge attributes: weight (= synapse_count, summed over the pair's selected rows), edge_kind
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
    row_cols = row_columns(edge_columns)
    known = ["weight (= synapse_count, summed over the pair's selected rows)"] + row_cols

    def check(key: str, where: str) -> None:
        if key not in EDGE_ATTRIBUTES and key not in row_cols:
            raise QueryError(f"motif query: edge attribute {key!r} ({where}) does not exist; "
                             f"edge attributes: {', '.join(known)}", "query")

    for e in q.edges + q.negative:
        for key, _, _ in e.constraint_items():
            check(key, f"on {e.u} -> {e.v}")
    for c in q.edge_comparisons:
        check(c.key, f"in {c}")
        check(c.other_key, f"in {c}")
    if edge_kind is not None and "edge_kind" in q.edge_keys():
        raise QueryError(f"motif query: the query constrains edge_kind, but edge_kind={edge_kind!r} keeps only "
                         f"{edge_kind} rows in the host graph; pass edge_kind=None to search every kind "
                         "(chemical synapses and gap junctions) and select them in the query", "edge_kind")
    on_edges = {x for e in q.edges for x in (e.u, e.v)}
    for node in q.nodes:
        if node not in on_edges and node not in q.node_constraints:
            raise QueryTooLargeError(
                f"motif query: node {node} is joined to the motif by no positive edge and has no constraint, "
                f"so every neuron would match it; add an edge to {node} or a constraint such as "
                f"{node}.cell_type == \"...\"", "query")


# ---------------------------------------------------------------------------------------------- warnings
def _weight_interval(ops: Iterable[tuple[str, Any]]) -> tuple[float, float, bool]:
    """The integers >= 1 that satisfy every ``(op, value)``: (lowest, highest, a non-integer ``==``)."""
    import math

    lo, hi, odd = 1.0, math.inf, False
    for op, v in ops:
        if op in (">=",):
            lo = max(lo, math.ceil(v))
        elif op == ">":
            lo = max(lo, math.floor(v) + 1)
        elif op == "<=":
            hi = min(hi, math.floor(v))
        elif op == "<":
            hi = min(hi, math.ceil(v) - 1)
        elif op in ("==", "="):
            if float(v) != int(v):
                odd = True
            lo, hi = max(lo, math.ceil(v)), min(hi, math.floor(v))
    return lo, hi, odd


def query_warnings(q: MotifQuery, nodes: Any) -> list[str]:
    """Constraints of ``q`` that make a count say nothing about the graph: a node label value that no
    neuron has (``A.primary_type == "ovIN"`` matches nothing; ``!=`` such a value holds for every
    neuron), and ``weight`` constraints that always or never hold (synapse counts are integers >= 1:
    ``weight >= -5`` and ``weight > 0`` always hold, ``weight < 0`` or ``weight >= 10, weight < 5``
    never). ``nodes`` is the node table (at least the constrained columns).

    Examples
    --------
    >>> import connectome as cx
    >>> nodes = cx.load("celegans_cook2019_herm").node_table()
    >>> query_warnings(parse_query('A -> B [weight < 0]\\nA.cell_type == "AVA"\\n'), nodes)
    ['motif query: the constraint weight < 0 on A -> B never holds (synapse counts are integers >= 1), so the edge matches no pair']
    """
    from ..filters import unknown_labels_message

    out: list[str] = []
    for node, cons in q.node_constraints.items():
        for key, ops in cons.items():
            if key not in nodes.columns:
                continue
            for op, vals in ops.items():
                if op not in ("==", "=", "!="):
                    continue
                for val in vals:
                    if not isinstance(val, str):
                        continue
                    msg = unknown_labels_message(nodes, key, val)
                    if msg is None:
                        continue
                    effect = "matches no neuron" if op != "!=" else "holds for every neuron"
                    out.append(f"motif query: the node constraint {node}.{key} {op} {val!r} {effect}: {msg}")
    for e in q.edges + q.negative:
        arrow = "->" if e in q.edges else "!>"
        by_key: dict[str, list[tuple[str, Any]]] = {}
        for key, op, val in e.constraint_items():
            if key in EDGE_ATTRIBUTES and isinstance(val, (int, float)) and not isinstance(val, bool):
                by_key.setdefault(key, []).append((op, val))
        for key, ops in by_key.items():
            shown = ", ".join(f"{key} {op} {v!r}" for op, v in ops)
            lo, hi, odd = _weight_interval(ops)
            if odd or lo > hi:
                out.append(f"motif query: the constraint {shown} on {e.u} {arrow} {e.v} never holds (synapse counts "
                           f"are integers >= 1), so the edge {'matches no pair' if arrow == '->' else 'forbids nothing'}")
                continue
            for op, v in ops:
                if (op == ">=" and v <= 1) or (op == ">" and v < 1) or (op == "!=" and (v < 1 or float(v) != int(v))):
                    out.append(f"motif query: the constraint {key} {op} {v!r} on {e.u} {arrow} {e.v} always holds "
                               "(synapse counts are integers >= 1); did you mean another threshold?")
    return out
