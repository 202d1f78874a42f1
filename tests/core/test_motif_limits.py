"""Motif query limits (issue 18, items 1 and 13): query-size bombs are refused from the text alone,
DotMotif runs in a child process with a time and memory budget for servers, and values in
constraints must be literals (DotMotif ``eval``s bare words)."""

from __future__ import annotations

import multiprocessing
import pickle
import re
import time
import uuid

import pandas as pd
import pytest
import connectome as cx
from connectome.errors import InputError, QueryError, QuerySyntaxError, QueryTimeoutError, QueryTooLargeError
from connectome.motifs import DEFAULT_QUERY_LIMITS, QueryLimits, parse_query, parse_query_isolated
from connectome.motifs import query as query_module

BIG = QueryLimits(max_macro_depth=1_000, max_expanded_statements=10**12)


def bomb(levels: int, calls: int = 3) -> str:
    """Issue 18's query: m_i calls m_{i-1} ``calls`` times, so the expansion is calls**(levels-1)."""
    lines = ["m0(a,b) { a -> b }"]
    for i in range(1, levels):
        body = "  ".join(f"m{i - 1}(a,b)" if k % 2 == 0 else f"m{i - 1}(b,a)" for k in range(calls))
        lines.append(f"m{i}(a,b) {{ {body} }}")
    lines.append(f"m{levels - 1}(A,B)")
    return "\n".join(lines) + "\n"


def unique(text: str) -> str:
    """The same query with a comment that makes it miss the parse cache."""
    return f"# {uuid.uuid4().hex}\n{text}"


def tiny_graph() -> cx.Connectome:
    e = pd.DataFrame({"pre_root_id": [1, 2, 3], "post_root_id": [2, 3, 1], "synapse_count": [1, 10, 5]})
    return cx.from_edges(e)


# ---------------------------------------------------------------------------------------------- bombs
@pytest.mark.timeout(60)
def test_issue_bomb_is_refused_in_well_under_a_second():
    q = bomb(16)
    assert len(q) < 700
    c = tiny_graph()
    parse_query("A -> B\n")  # DotMotif's import and grammar are not counted
    parse_query_isolated("A -> B\n", timeout=60)  # nor the forkserver's start
    for call, budget in ((lambda: parse_query(q), 0.5), (lambda: cx.find_motifs(c, q, timeout=1), 0.5),
                         (lambda: cx.count_motifs(c, q), 0.5), (lambda: parse_query_isolated(q, timeout=1), 4.0)):
        t = time.perf_counter()
        with pytest.raises(QueryTooLargeError, match=r"macro nesting depth is 9 \(macro m8, line 9\), over the "
                                                     r"limit max_macro_depth=8; to allow it, pass "
                                                     r"limits=QueryLimits\(max_macro_depth=9\)"):
            call()
        assert time.perf_counter() - t < budget


# issue 29 item 8: a quote the old text pre-check read differently from DotMotif's grammar (an escaped
# quote in a bracket key) hid everything up to the next quote from it; the bound is now computed on
# DotMotif's own parse tree, so no spelling can make the two disagree
@pytest.mark.timeout(60)
@pytest.mark.parametrize("first", ['A[""k\\"x""] == 1', 'A["k\\"x"] == 1', 'A["k\\"x"] == B["y"]',
                                   "A['k\\'x'] == 1", 'A[\'k"x\'] == 1', 'A["k\'x"] == 1',
                                   'A.name == "}"', "# m(a,b) { \""])
def test_quote_mismatch_cannot_hide_a_bomb_from_the_bound(first):
    q = first + "\n" + bomb(16) + 'A.name == "z"\n'
    bound, depth = query_module._static_check(q, BIG)  # first: the old pre-check saw (0, 0) here
    assert depth == 16 and bound >= 3 ** 15
    parse_query("A -> B\n")  # DotMotif's import and grammar are not counted
    parse_query_isolated("A -> B\n", timeout=60)  # nor the forkserver's start
    # its expansion (3**15 statements) would take minutes and gigabytes: refused after the parse alone
    for call, budget in ((lambda: parse_query(unique(q)), 1.5),
                         (lambda: parse_query_isolated(unique(q), timeout=30), 4.0)):
        t = time.perf_counter()
        with pytest.raises(QueryTooLargeError, match=r"macro nesting depth is 9 \(macro m8, line \d+\), over the "
                                                     r"limit max_macro_depth=8"):
            call()
        assert time.perf_counter() - t < budget


@pytest.mark.timeout(60)
@pytest.mark.parametrize("levels,calls", [(6, 12), (8, 4), (4, 30), (3, 1000)])
def test_scaled_bombs_within_the_depth_limit_are_refused_by_their_expansion(levels, calls):
    q = bomb(levels, calls)
    t = time.perf_counter()
    with pytest.raises(QueryTooLargeError, match="statements after macro expansion is at least .* over the limit "
                                                 r"max_expanded_statements=10000; to allow it, pass "
                                                 r"limits=QueryLimits\(max_expanded_statements="):
        parse_query(q)
    # the bound is computed on DotMotif's parse tree (issue 29 item 8): parsing is linear in the text,
    # about 1 s per 10,000 characters (more on a loaded machine), and no macro is expanded
    assert time.perf_counter() - t < 1.0 + len(q) / 2_000


def test_redefinition_and_definitions_never_called_count():
    """DotMotif expands every definition eagerly and resolves a call to the latest definition
    before it, so redefining a macro in terms of itself doubles it: the bound follows."""
    q = "m(a,b) { a -> b }\n" + "m(a,b) { m(a,b) m(b,a) }\n" * 14 + "A -> B\n"
    with pytest.raises(QueryTooLargeError, match="max_macro_depth=8"):
        parse_query(q)
    with pytest.raises(QueryTooLargeError, match="max_expanded_statements=10000"):
        parse_query(q, limits=QueryLimits(max_macro_depth=100))
    total, depth = query_module._static_check(q, BIG)
    assert depth == 15 and total >= 2 ** 14


def test_the_static_bound_is_an_upper_bound_of_dotmotifs_expansion():
    """The bound counted from the text is >= the rules DotMotif really stores, on queries of every shape."""
    query_module.dotmotif()  # the quiet import first
    from dotmotif.parsers.v2 import DotMotifTransformer, dm_parser

    queries = [
        bomb(6), bomb(4, 7), "A -> B [weight >= 5, weight < 9]\nB -> C\nA.cell_type == \"AVA\"\nC !> A\n",
        'pair(x, y) {\n x -> y [weight >= 3, weight < 9]\n x.size > 2\n}\npair(A, B)\npair(B, C)\nA !> C\n',
        "m(x, y) {\n x -> y as e\n e.weight >= 5\n}\nm(A, B)\nm(B, C)\n",
        "# a comment with m(a,b) { and braces }\nm(a,b) { a -> b  # m(b, a) {\n}\nm(A, B)\n",
        'A -> B\nA.name == "m(a,b) { a -> b }"\n',
    ]
    for q in queries:
        t = DotMotifTransformer()
        t.transform(dm_parser.parse(q))
        stored = sum(len(query_module._flatten_rules(m["rules"])) for m in t.macros.values())
        top = len(list(t.G.edges)) + sum(len(v) for c in t.node_constraints.values() for o in c.values()
                                         for v in o.values())
        bound, _ = query_module._static_check(q, BIG)
        assert bound >= stored + top, q
        parse_query(q)  # and ordinary queries pass the default limits


# ---------------------------------------------------------------------------------------------- each limit
def chain(n: int) -> str:
    return "".join(f"N{i} -> N{i + 1}\n" for i in range(n - 1))


def dense(n_edges: int) -> str:
    pairs = [(i, j) for i in range(12) for j in range(12) if i != j][:n_edges]
    return "".join(f"N{i} -> N{j}\n" for i, j in pairs)


def constrained(n: int) -> str:
    return "A -> B [" + ", ".join(f"weight >= {k % 7}" for k in range(n)) + "]\n"


def nested(depth: int) -> str:
    lines = ["m1(a,b) { a -> b }"] + [f"m{i}(a,b) {{ m{i - 1}(a,b) }}" for i in range(2, depth + 1)]
    return "\n".join(lines) + f"\nm{depth}(A,B)\n"


def expanded(calls: int) -> str:
    """1 + 100 + 100 * calls statements."""
    return ("m0(a,b) { a -> b }\nm1(a,b) { " + " ".join(["m0(a,b)"] * 100) + " }\n"
            + "m1(A,B)\n" * calls)


def padded(n_chars: int) -> str:
    q = "A -> B\n"
    return q + "#" + "x" * (n_chars - len(q) - 2) + "\n"


LIMITS = {  # field: (query just at the limit, query just over it, value found over it)
    "max_nodes": (chain(32), chain(33), 33),
    "max_edges": (dense(128), dense(129), 129),
    "max_constraints": (constrained(256), constrained(257), 257),
    "max_macro_depth": (nested(8), nested(9), 9),
    "max_expanded_statements": (expanded(98), expanded(99), None),
    "max_query_chars": (padded(20_000), padded(20_001), 20_001),
}


@pytest.mark.parametrize("name", list(LIMITS))
def test_each_limit_is_refused_with_its_name_value_and_way_out(name):
    at, over, value = LIMITS[name]
    limit = getattr(DEFAULT_QUERY_LIMITS, name)
    parse_query(at)  # just at the limit: fine
    with pytest.raises(QueryTooLargeError) as info:
        parse_query(over)
    msg = str(info.value)
    assert f"over the limit {name}={limit}; to allow it, pass limits=QueryLimits({name}=" in msg
    if value is not None:
        assert f" is {value:,}" in msg
    raised = QueryLimits(**{name: 10 * limit})
    parse_query(over, limits=raised)  # raising that limit lets it through


def test_raised_limits_let_a_bigger_query_through_find_and_count():
    c = cx.from_edges(pd.DataFrame({"pre_root_id": range(1, 41), "post_root_id": range(2, 42),
                                    "synapse_count": 1}))
    q = chain(41)
    with pytest.raises(QueryTooLargeError, match="max_nodes=32"):
        cx.find_motifs(c, q)
    got = cx.find_motifs(c, q, limits=QueryLimits(max_nodes=41))
    assert got.shape == (1, 41) and list(got.iloc[0]) == list(range(1, 42))
    assert cx.count_motifs(c, q, limits=cx.QueryLimits(max_nodes=64)) == 1
    # a parsed query passed in is checked against the limits too
    parsed = parse_query(q, limits=QueryLimits(max_nodes=41))
    with pytest.raises(QueryTooLargeError, match="max_nodes=32"):
        cx.count_motifs(c, parsed)
    assert parse_query(bomb(10), limits=BIG).nodes == ["A", "B"]


def test_limits_are_validated():
    with pytest.raises(cx.errors.InputError, match="QueryLimits.max_nodes must be a positive integer, not 0"):
        QueryLimits(max_nodes=0)
    with pytest.raises(cx.errors.InputError, match="limits must be a connectome.QueryLimits or None"):
        parse_query("A -> B\n", limits={"max_nodes": 3})
    with pytest.raises(AttributeError):  # frozen
        DEFAULT_QUERY_LIMITS.max_nodes = 3  # type: ignore[misc]


@pytest.mark.timeout(120)
def test_parsing_counts_against_the_time_budget():
    c = tiny_graph()
    q = unique(bomb(13))  # allowed with raised limits, and slow to expand (seconds)
    t = time.perf_counter()
    with pytest.raises(QueryTimeoutError, match=r"parsing used the whole time budget of 0.2 s"):
        cx.count_motifs(c, q, timeout=0.2, limits=BIG)
    assert time.perf_counter() - t < 30


# ---------------------------------------------------------------------------------------------- isolation
def forkserver_children() -> list:
    import psutil
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if pid is None:
        return []
    deadline = time.time() + 5
    while True:
        kids = [p for p in psutil.Process(pid).children() if p.status() != psutil.STATUS_ZOMBIE]
        if not kids or time.time() > deadline:
            return kids
        time.sleep(0.05)


def test_isolated_parse_equals_in_process_parse_and_is_cached():
    for text, auto in [("A -> B [weight >= 5]\nB -> C\nA.cell_type == \"AVA\"\nC !> A\n", False),
                       ("A -> B\nB -> A\n", True),
                       ("m(x, y) {\n x -> y as e\n e.weight >= 5\n}\nm(A, B)\nm(B, C)\n", False)]:
        text = unique(text)
        iso = parse_query_isolated(text, exclude_automorphisms=auto, timeout=60)
        assert iso == parse_query(text, exclude_automorphisms=auto)
        assert pickle.loads(pickle.dumps(iso)) == iso
        # cached in this process: no child is started again, so even a tiny budget is enough
        assert parse_query_isolated(text, exclude_automorphisms=auto, timeout=1e-9) == iso
    c = cx.load("celegans_cook2019_herm")
    q = parse_query_isolated("A -> B [weight >= 20]\nB -> A\n", timeout=60)
    assert cx.count_motifs(c, q) == cx.count_motifs(c, "A -> B [weight >= 20]\nB -> A\n")


def test_isolated_errors_are_the_in_process_errors():
    for text in ["A -> B\nB => C\n", "A -> B\nB ->", "A -> B\nA !> B\n", "A -> B\nA.cell_type == KC\n"]:
        with pytest.raises(QueryError) as here:
            parse_query(text)
        with pytest.raises(QueryError) as there:
            parse_query_isolated(text, timeout=60)
        assert type(there.value) is type(here.value) and str(there.value) == str(here.value)
        assert getattr(there.value, "line", None) == getattr(here.value, "line", None)
        assert getattr(there.value, "column", None) == getattr(here.value, "column", None)
    with pytest.raises(QuerySyntaxError) as info:
        parse_query_isolated("A -> B\nB => C\n", timeout=60)
    assert (info.value.line, info.value.column) == (2, 3)
    with pytest.raises(QueryTooLargeError, match="max_nodes=32"):  # post-parse limits apply too
        parse_query_isolated(chain(33), timeout=60)


@pytest.mark.timeout(120)
def test_isolated_parse_past_its_budget_is_killed():
    q = unique(bomb(15))  # allowed with raised limits; expanding it takes far more than a second
    t = time.perf_counter()
    with pytest.raises(QueryTimeoutError, match=r"parsing ran past its time budget of 0.5 s"):
        parse_query_isolated(q, limits=BIG, timeout=0.5)
    assert time.perf_counter() - t < 10
    assert forkserver_children() == []
    assert multiprocessing.active_children() == [] or all(
        p.name != "connectome-motif-parse" for p in multiprocessing.active_children())


@pytest.mark.timeout(120)
def test_isolated_parse_over_its_memory_is_refused():
    q = unique(bomb(14))
    with pytest.raises(QueryTooLargeError, match=r"parsing ran out of its memory budget \(1,048,576 bytes\)"):
        parse_query_isolated(q, limits=BIG, timeout=100, memory_bytes=1 << 20)
    assert forkserver_children() == []


def test_isolated_arguments_are_checked():
    with pytest.raises(cx.errors.InputError, match="timeout must be a positive number"):
        parse_query_isolated("A -> B\n", timeout=0)
    with pytest.raises(cx.errors.InputError, match="memory_bytes must be a positive integer or None"):
        parse_query_isolated("A -> B\n", timeout=1, memory_bytes=-1)


# ---------------------------------------------------------------------------------------------- literals
@pytest.mark.parametrize("text,value,line,column", [
    ("A -> B\nA.cell_type == KC\n", "KC", 2, 16),
    ("A -> B [weight > open]\n", "open", 1, 18),
    ("A -> B\nA.x == exit\n", "exit", 2, 8),
    ("A -> B\nB.x in globals\n", "globals", 2, 8),
    ("m(x, y) {\n x -> y [weight >= print]\n}\nm(A, B)\n", "print", 2, 20),
    ("m(x, y) {\n x -> y\n x.t == breakpoint\n}\nm(A, B)\n", "breakpoint", 3, 9),
])
def test_values_must_be_literals_and_nothing_is_evaluated(monkeypatch, text, value, line, column):
    query_module.dotmotif()  # the quiet import first
    import dotmotif.parsers.v2 as v2

    seen: list = []
    original = v2.untype_string
    monkeypatch.setattr(v2, "untype_string", lambda s: seen.append(str(s)) or original(s))
    with pytest.raises(QuerySyntaxError, match=f"value '{value}' is not a literal; .* quote strings, "
                                               f"e.g. \"{value}\"") as info:
        parse_query(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert value not in seen  # refused before DotMotif could eval it


def test_code_is_never_run_and_literals_work():
    with pytest.raises(QuerySyntaxError):
        parse_query('A -> B\nA.x == __import__("os")\n')
    q = parse_query('A -> B\nA.x == "__import__(\'os\').getcwd()"\nB.flag == True\nA.y != False\nB.z >= -2.5\n')
    assert q.node_constraints == {"A": {"x": {"==": ["__import__('os').getcwd()"]}, "y": {"!=": [False]}},
                                  "B": {"flag": {"==": [True]}, "z": {">=": [-2.5]}}}
    c = cx.load("celegans_cook2019_herm")
    assert len(cx.find_motifs(c, 'A -> B [weight >= 5]\nA.cell_type == "AVA"\n')) > 0


# ---------------------------------------------------------------------------------------------- memory budget
# issue 29 item 1: a 16-node chain took the library to 5.8 GB; the bindings are now bounded as the query runs.
def random_graph(n: int = 20_000, m: int = 200_000, seed: int = 0) -> cx.Connectome:
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    ids = 648518346349538157 + np.arange(n, dtype=np.int64)
    e = pd.DataFrame({"pre_root_id": ids[a[a != b]], "post_root_id": ids[b[a != b]], "synapse_count": 1})
    return cx.from_edges(e.drop_duplicates(["pre_root_id", "post_root_id"]))


def _chain_under_budget(conn, mode: str, nodes: int, memory: str, timeout: float) -> None:
    """Child process: the peak memory a chain query adds (ru_maxrss delta, after a warm-up) and its outcome."""
    import resource

    c = random_graph()
    cx.count_motifs(c, "A -> B\nB -> C\nC -> A")  # numba kernels compiled, relations cached
    cx.find_motifs(c, "A -> B\nB -> C\nC -> A")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    fn = cx.find_motifs if mode == "find" else cx.count_motifs
    try:
        fn(c, "\n".join(f"N{i} -> N{i + 1}" for i in range(nodes - 1)), memory=memory, timeout=timeout)
        out = ("finished", None, None)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        out = (type(exc).__name__, str(exc), (getattr(exc, "estimate_bytes", None), getattr(exc, "limit_bytes",
                                                                                           None)))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    conn.send((out, grown, time.perf_counter() - t))


def run_in_child(*args) -> tuple:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_chain_under_budget, args=(child, *args))
    p.start()
    try:
        assert parent.poll(150), "the child did not answer"
        return parent.recv()
    finally:
        p.join(30)


MiB = 1 << 20


@pytest.mark.timeout(200)
def test_chain_find_over_its_memory_budget_is_refused_and_memory_stays_bounded():
    (name, msg, (est, lim)), grown, took = run_in_child("find", 16, "64MiB", 60)
    assert name == "QueryMemoryError", msg
    assert lim == 64 * MiB and est > lim
    assert took < 10
    assert re.search(r"motif query would hold about [\d.,]+ [KM]iB .* over its memory budget of 64\.0 MiB; add "
                     r"constraints .* smaller motif, pass a limit, or raise memory=", msg)
    assert grown < 2 * 64 * MiB + 64 * MiB, grown / MiB


@pytest.mark.timeout(200)
def test_chain_count_holds_no_more_than_its_budget_until_its_time_budget():
    # a count never holds its matches: an 8-node chain runs in chunks that fit 64 MiB until its timeout
    (name, msg, _), grown, took = run_in_child("count", 8, "64MiB", 3)
    assert name == "QueryTimeoutError", msg
    assert grown < 2 * 64 * MiB + 64 * MiB, grown / MiB


def test_memory_errors_carry_the_estimate_and_are_query_too_large():
    from connectome.errors import QueryMemoryError

    c = cx.load("celegans_cook2019_herm")
    with pytest.raises(QueryMemoryError, match=r"over its memory budget of 100 bytes; add constraints") as info:
        cx.count_motifs(c, "A -> B\nB -> C\nC -> D", memory=100)
    assert isinstance(info.value, QueryTooLargeError) and info.value.parameter == "memory"
    assert info.value.limit_bytes == 100 and info.value.estimate_bytes > 100
    for bad in ("lots", -1, 0, "2 parsecs", True):
        with pytest.raises(InputError, match="memory must be"):
            cx.count_motifs(c, "A -> B", memory=bad)


def brute_paths(c: cx.Connectome, k: int) -> int:
    """Directed paths through k distinct neurons, by depth-first search."""
    e = c.edge_table(["pre_root_id", "post_root_id"])
    out: dict = {}
    for a, b in zip(e["pre_root_id"], e["post_root_id"]):
        if a != b:
            out.setdefault(a, set()).add(b)

    def walk(path: list) -> int:
        if len(path) == k:
            return 1
        return sum(walk(path + [w]) for w in out.get(path[-1], ()) if w not in path)

    return sum(walk([v]) for v in list(out))


@pytest.mark.parametrize("memory", ["8KiB", "64KiB", "2GiB", None])
def test_small_budgets_still_give_the_exact_count(memory):
    # chunks shrink to fit (down to one binding's neighbours in pieces): the count is exact
    c = random_graph(300, 1_500, seed=1)
    q = "\n".join(f"N{i} -> N{i + 1}" for i in range(4))
    expected = brute_paths(c, 5)
    assert expected > 10_000
    assert cx.count_motifs(c, q, memory=memory) == expected
    paths = brute_paths(c, 3)
    if memory in ("8KiB", "64KiB"):  # find keeps its matches (24 bytes each): they do not fit
        from connectome.errors import QueryMemoryError

        with pytest.raises(QueryMemoryError, match="matches kept|the bindings of"):
            cx.find_motifs(c, "N0 -> N1\nN1 -> N2\n", memory=memory)
    else:
        assert len(cx.find_motifs(c, "N0 -> N1\nN1 -> N2\n", memory=memory)) == paths
