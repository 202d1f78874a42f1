"""Motif queries: the same matches as DotMotif's GrandIsoExecutor on real graphs; errors and guards."""

from __future__ import annotations

import pandas as pd
import pytest
import connectome as cx
from connectome.errors import QueryError, QuerySyntaxError, QueryTimeoutError, QueryTooLargeError
from connectome.motifs.query import dotmotif
from test_motif_parity import assert_one_per_class

Motif = dotmotif().Motif
from dotmotif.executors import GrandIsoExecutor  # noqa: E402  (after the quiet import above)


def host_graph(c):
    g = cx.to_networkx(c, edge_kind="chemical")
    for _, _, d in g.edges(data=True):
        d["weight"] = d["synapse_count"]
    return g


def dotmotif_matches(g, query, columns, auto):
    ref = GrandIsoExecutor(graph=g).find(Motif(query, exclude_automorphisms=auto))
    return pd.DataFrame(ref, columns=columns).astype("uint64")


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return len(a) == len(b) and set(map(tuple, a.to_numpy().tolist())) == set(map(tuple, b.to_numpy().tolist()))


def assert_like_grandiso(ours: pd.DataFrame, g, query: str, auto: bool) -> int:
    """All mappings: GrandIso's match set. exclude_automorphisms: one match of every distinct subgraph of
    GrandIso's all-mappings set (DotMotif 0.18's own reduction loses matches, see test_motif_parity)."""
    everything = dotmotif_matches(g, query, list(ours.columns), False)
    if auto:
        assert_one_per_class(rows(ours), rows(everything), query)
    else:
        assert same_rows(ours, everything), query
    return len(ours)


def suite(label: str, value: str, w: int) -> dict[str, str]:
    return {
        "feed-forward loop": f"A -> B [weight >= {w}]\nB -> C [weight >= {w}]\nA -> C [weight >= {w}]\n",
        "reciprocal pair with a negative edge": (f"A -> B [weight >= {w}]\nB -> A [weight >= {w}]\n"
                                                 f"A -> C [weight > {w + 1}]\nC !> A\n"),
        "labels == and !=": (f'A -> B [weight >= {w}]\nB -> C [weight >= {w}]\nA.{label} == "{value}"\n'
                             f'C.{label} != "{value}"\n'),
        "3-cycle": f"A -> B [weight >= {w}]\nB -> C [weight >= {w}]\nC -> A [weight >= {w}]\n",
        "open chain (no shortcut either way)": (f"A -> B [weight >= {w}]\nB -> C [weight >= {w}]\n"
                                                f"A !> C\nC !> A\n"),
        "contains / !in on labels": (f'A -> B [weight >= {w}]\nA.{label} contains "{value[:2]}"\n'
                                     f'B.{label} !in "{value}"\n'),
        "macro and weight range": ("pair(x, y) {\n x -> y [weight >= 3, weight < 9]\n}\n"
                                   "pair(A, B)\npair(B, C)\nA !> C\n"),
    }


@pytest.mark.parametrize("auto", [False, True], ids=["all-mappings", "exclude-automorphisms"])
def test_equals_dotmotif_on_celegans(auto):
    c = cx.load("celegans_cook2019_herm")
    g = host_graph(c)
    for name, q in suite("cell_type", "AVA", 4).items():
        ours = cx.find_motifs(c, q, exclude_automorphisms=auto)
        assert_like_grandiso(ours, g, q, auto)
        assert cx.count_motifs(c, q, exclude_automorphisms=auto) == len(ours), name


LARVA = {  # (uniform weight threshold, query): positive edges only, all with that threshold
    "PN feed-forward loop": (3, 'A -> B [weight >= 3]\nB -> C [weight >= 3]\nA -> C [weight >= 3]\n'
                                'A.simple_group == "PNs"\n'),
    "3-cycle": (5, "A -> B [weight >= 5]\nB -> C [weight >= 5]\nC -> A [weight >= 5]\n"),
    "reciprocal pair and a target": (10, "A -> B [weight >= 10]\nB -> A [weight >= 10]\nB -> C [weight >= 10]\n"),
}


@pytest.mark.parametrize("name", list(LARVA))
def test_equals_dotmotif_on_larva(larva_store, name):
    """GrandIso checks edge constraints only after matching, so it runs on the subgraph of edges that
    pass the query's (uniform) weight threshold: with positive edges only, the matches are the same."""
    c = cx.load(larva_store)
    w, q = LARVA[name]
    ours = cx.find_motifs(c, q, exclude_automorphisms=True, blocks=3)
    assert assert_like_grandiso(ours, host_graph(cx.filter_edges(c, min_synapses=w)), q, True) > 0


def test_dynamic_node_comparison_and_self_loops():
    c = cx.load("celegans_cook2019_herm")
    n = c.node_table()
    c2 = c.with_node_columns(pd.DataFrame({"root_id": n["root_id"], "size": range(len(n))}))
    g = host_graph(c2)
    q = "A -> B [weight >= 10]\nA.size > B.size\n"
    ours = cx.find_motifs(c2, q)
    assert same_rows(ours, dotmotif_matches(g, q, ["A", "B"], False))
    loops = cx.find_motifs(c, "A -> A\n")
    e = c.edge_table()
    autapses = e[(e["pre_root_id"] == e["post_root_id"]) & (e["edge_kind"] == "chemical")]
    assert sorted(loops["A"]) == sorted(autapses["pre_root_id"])


def test_results_have_root_ids_and_limit():
    c = cx.load("celegans_cook2019_herm")
    q = "A -> B\nB -> C\n"
    full = cx.find_motifs(c, q)
    assert str(full["A"].dtype) == "int64"
    assert set(full["A"]) <= set(c.node_table()["root_id"])
    few = cx.find_motifs(c, q, limit=7)
    assert len(few) == 7 and same_rows(few, few.merge(full))


def test_parse_errors_have_line_and_column():
    c = cx.load("celegans_cook2019_herm")
    with pytest.raises(QuerySyntaxError) as info:
        cx.find_motifs(c, "A -> B\nB => C\n")
    assert (info.value.line, info.value.column) == (2, 3)
    assert "line 2, column 3" in str(info.value)
    with pytest.raises(QuerySyntaxError, match="unexpected end of input"):
        cx.count_motifs(c, "A -> B\nB ->")
    with pytest.raises(QueryError, match="Edge existence conflict"):
        cx.count_motifs(c, "A -> B\nA !> B\n")


def test_unknown_attributes_list_what_exists():
    c = cx.load("celegans_cook2019_herm")
    with pytest.raises(QueryError, match="node attribute 'celltype' .* does not exist; node attributes: .*cell_type"):
        cx.count_motifs(c, 'A -> B\nA.celltype == "AVA"\n')
    with pytest.raises(QueryError, match=r"edge attribute 'strength' .* edge attributes: weight \(= synapse_count, "
                                          r"summed over the pair's selected rows\), edge_kind"):
        cx.count_motifs(c, "A -> B [strength > 2]\n")


def test_unbounded_queries_are_refused():
    c = cx.load("celegans_cook2019_herm")
    with pytest.raises(QueryTooLargeError, match="node C is joined to the motif by no positive edge"):
        cx.count_motifs(c, "A -> B\nC !> A\n")
    with pytest.raises(QueryTooLargeError, match="not joined .* by any positive edge"):
        cx.count_motifs(c, "A -> B\nC -> D\n")
    # a constrained node joined only by a negative edge is bounded: a product with its candidates
    q = 'A -> B [weight >= 20]\nC !> A\nC.cell_type == "AVA"\n'
    got = cx.find_motifs(c, q)
    pairs = cx.find_motifs(c, "A -> B [weight >= 20]\n")
    ava = [int(x) for x in cx.ids_of(c, cell_type="AVA")]
    e = c.edge_table()
    chem = set(zip(e.loc[e["edge_kind"] == "chemical", "pre_root_id"].astype(int),
                   e.loc[e["edge_kind"] == "chemical", "post_root_id"].astype(int)))
    want = {(int(a), int(b), x) for a, b in pairs.itertuples(index=False) for x in ava
            if x not in (int(a), int(b)) and (x, int(a)) not in chem}
    assert set(map(tuple, got.astype(int).to_numpy().tolist())) == want and len(got) == len(want) > 0


def test_time_budget():
    c = cx.load("celegans_cook2019_male")
    with pytest.raises(QueryTimeoutError, match="time budget of 1e-06 s"):
        cx.count_motifs(c, "A -> B\nB -> C\nC -> D\nD -> E\n", timeout=1e-6)
    with pytest.raises(cx.errors.InputError, match="limit must be a positive number, not 0"):
        cx.find_motifs(c, "A -> B\n", limit=0)


@pytest.mark.cluster
def test_motifs_on_process_workers(larva_store, cluster_client):
    c = cx.load(larva_store, in_memory=False)
    q = "A -> B [weight >= 4]\nB -> C [weight >= 4]\nA -> C [weight >= 4]\n"
    local = cx.find_motifs(c, q, blocks=1, scheduler="sync")
    dist = cx.find_motifs(c, q, blocks=6, scheduler=cluster_client)
    pd.testing.assert_frame_equal(local, dist)
    assert cx.count_motifs(c, q, blocks=6, scheduler=cluster_client) == len(local)


# ---------------------------------------------------------------------------------------------- every constraint form
def labelled_random_graph(seed: int = 7, n: int = 14, m: int = 70):
    import numpy as np

    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < m:
        a, b = (int(x) for x in rng.integers(1, n + 1, size=2))
        if a != b or len(pairs) % 9 == 0:  # a few autapses
            pairs.add((a, b))
    pre, post = zip(*sorted(pairs))
    e = pd.DataFrame({"pre_root_id": pre, "post_root_id": post,
                      "synapse_count": rng.integers(1, 13, size=len(pre))})
    c = cx.from_edges(e)
    ids = c.node_table()["root_id"]
    labels = pd.DataFrame({"root_id": ids, "cell_type": [["KC", "PN", "LN"][i % 3] for i in range(len(ids))],
                           "size": [(7 * i) % 11 for i in range(len(ids))]})
    return c.with_node_columns(labels)


def nx_host(c):
    g = host_graph(c)
    nodes = c.node_table().set_index("root_id")
    for v, d in g.nodes(data=True):
        d.update({k: (x.item() if hasattr(x, "item") else x) for k, x in nodes.loc[v].items()})
    return g


#: Every constraint form DotMotif accepts that the engine honours: DotMotif's GrandIso executor gives the same matches.
HONOURED = {
    "brackets, every comparison": "A -> B [weight >= 3, weight < 10, weight != 5]\nB -> C [weight > 2]\n"
                                  "A -> C [weight <= 8]\n",
    "brackets == and =": "A -> B [weight == 4]\nB -> C [weight = 6]\n",
    "synapse_count alias (named edge; DotMotif's brackets take letters only)": "A -> B as ab\nB -> A\n"
                                                                               "ab.synapse_count >= 6\n",
    "brackets in / contains on a number fail as in DotMotif": 'A -> B [weight !in "abc"]\nB -> C\n',
    "named edge": "A -> B as ab\nab.weight >= 5\n",
    "named edge, several constraints": "A -> B as ab\nB -> C as bc\nab.weight >= 3\nab.weight < 9\nbc.weight != 4\n",
    "named edge merged with brackets": "A -> B [weight < 9] as ab\nab.weight >= 5\nB -> C\n",
    "named edge in a macro": "m(x, y) {\n x -> y as e\n e.weight >= 5\n}\nm(A, B)\nm(B, C)\n",
    "brackets in a macro": "pair(x, y) {\n x -> y [weight >= 3, weight < 9]\n}\npair(A, B)\npair(B, C)\nA !> C\n",
    "node constraint in a macro": 'm(x, y) {\n x -> y [weight > 2]\n x.cell_type == "KC"\n}\nm(A, B)\nm(B, C)\n',
    "nested macro without constraints": "m(x, y) {\n x -> y\n}\nn(p, q) {\n m(p, q)\n m(q, p)\n}\nn(A, B)\n"
                                        "A -> C [weight >= 8]\n",
    "node constraints, dot and brackets": 'A -> B\nA.cell_type == "PN"\nB["size"] > 4\nB.cell_type != "PN"\n',
    "node in / contains": 'A -> B [weight > 4]\nA.cell_type in "KCLN"\nB.cell_type contains "C"\n'
                          'B.cell_type !contains "P"\nA.cell_type !in "LN"\n',
    "node comparison": "A -> B [weight >= 2]\nA.size > B.size\n",
    "automorphism notation": 'A -> B\nB -> A\nA === B\nA.cell_type == "KC"\n',
    "self-loop with a constraint": "A -> A [weight > 2]\nA -> B\n",
    # (ours, the same motif spelt so that DotMotif can run it): DotMotif's brackets take letters only,
    # and DotMotif does not map the second node of a comparison in a macro to the call's arguments
    "synapse_count in brackets": ("A -> B [synapse_count >= 6]\nB -> C [\"synapse_count\" < 9]\n",
                                  "A -> B [weight >= 6]\nB -> C [weight < 9]\n"),
    "edge-to-edge comparison": "A -> B as ab\nB -> C as bc\nab.weight > bc.weight\n",
    "edge-to-edge comparison on one edge, synapse_count alias": "A -> B as ab\nB -> A as ba\n"
                                                                "ab.synapse_count >= ba.weight\n",
    "node comparison in a macro": ("m(x, y) {\n x -> y\n x.size > y.size\n}\nm(A, B)\nm(C, B)\n",
                                   "A -> B\nC -> B\nA.size > B.size\nC.size > B.size\n"),
    "negative edge": "A -> B [weight > 3]\nB -> C [weight > 3]\nA !> C\n",
}


@pytest.mark.parametrize("name", list(HONOURED))
@pytest.mark.parametrize("auto", [False, True], ids=["all-mappings", "exclude-automorphisms"])
def test_every_constraint_form_is_honoured_like_grandiso(name, auto):
    c = labelled_random_graph()
    g = nx_host(c)
    q, ref = HONOURED[name] if isinstance(HONOURED[name], tuple) else (HONOURED[name],) * 2
    ours = cx.find_motifs(c, q, exclude_automorphisms=auto)
    assert_like_grandiso(ours, g, ref, auto)
    assert cx.count_motifs(c, q, exclude_automorphisms=auto) == len(ours)


def test_issue_12_named_edge_constraint():
    e = pd.DataFrame({"pre_root_id": [1, 2, 3], "post_root_id": [2, 3, 1], "synapse_count": [1, 10, 5]})
    got = cx.find_motifs(cx.from_edges(e), "A -> B as ab\nab.weight >= 5\n")
    assert got.astype(int).values.tolist() == [[2, 3], [3, 1]]


def rows(df: pd.DataFrame) -> set:
    return set(map(tuple, df.astype("uint64").to_numpy().tolist()))


def test_constraints_dotmotif_cannot_run_are_honoured():
    """Forms GrandIso crashes on: a constraint on a negative edge forbids only the edges that match it,
    and a named edge with brackets inside a macro."""
    c = labelled_random_graph()
    g = nx_host(c)
    base = dotmotif_matches(g, "A -> B [weight > 3]\n", ["A", "B"], False)
    for neg in ("B !> A [weight >= 6]\n", "B !> A as ba\nba.weight >= 6\n"):
        forbidden = dotmotif_matches(g, "A -> B [weight > 3]\nB -> A [weight >= 6]\n", ["A", "B"], False)
        ours = cx.find_motifs(c, "A -> B [weight > 3]\n" + neg)
        assert rows(ours) == rows(base) - rows(forbidden) and len(ours) < len(base)
    macro = "m(x, y) {\n x -> y [weight > 3] as e\n e.weight < 9\n}\nm(A, B)\nm(B, C)\n"
    plain = "A -> B [weight > 3, weight < 9]\nB -> C [weight > 3, weight < 9]\n"
    assert rows(cx.find_motifs(c, macro)) == rows(dotmotif_matches(g, plain, ["A", "B", "C"], False))


REFUSED = {  # forms DotMotif accepts but loses or misplaces a constraint of: refused, never ignored
    "nested macro with brackets": ("m(x, y) {\n x -> y [weight >= 5]\n}\nn(p, q) {\n m(p, q)\n}\nn(A, B)\n",
                                   "macro 'm' has constraints and is called inside another macro"),
    "nested macro with a named edge": ("m(x, y) {\n x -> y as e\n e.weight >= 5\n}\nn(p, q) {\n m(p, q)\n q -> p\n}\n"
                                       "n(A, B)\n", "macro 'm' has constraints and is called inside another macro"),
    "nested macro with a node constraint": ('m(x, y) {\n x -> y\n x.cell_type == "KC"\n}\nn(p, q) {\n m(q, p)\n}\n'
                                            "n(A, B)\n", "macro 'm' has constraints"),
    "node comparison in a macro with a node that is no argument": (
        "m(x, y) {\n x -> y\n x.size > z.size\n}\nm(A, B)\nA -> C\n",
        r"macro 'm' compares x.size with z.size, but z is not an argument of the macro"),
    "an edge written twice": ("A -> B [weight > 1]\nA -> B [weight < 5]\n",
                              r"edge A -> B is written more than once with different constraints"),
    "an edge written again with brackets": ("A -> B\nB -> C\nA -> B [weight < 5]\n",
                                            "edge A -> B is written more than once"),
    "a macro repeating an edge with brackets": ("m(x, y) {\n x -> y [weight > 4]\n}\nA -> B\nm(A, B)\n",
                                                "edge A -> B is written more than once"),
    "edge-to-edge comparison with a negative edge": ("A -> B as ab\nB !> C as bc\nab.weight > bc.weight\n",
                                                     "reads B -> C, a negative edge"),
    "edge types": ("A -+ B\n", "edge types such as -\\+ .* are not supported"),
    "an edge name used twice": ("A -> B as e\nB -> C as e\n", "the edge name 'e' is given to two edges"),
    "edge_kind with one kind in the host": ('A -> B [edge_kind == "gap_junction"]\n',
                                           "constrains edge_kind, but edge_kind='chemical' keeps only chemical rows"),
    "unknown edge attribute on a named edge": ("A -> B as ab\nab.strength > 2\n",
                                               "edge attribute 'strength' .* does not exist"),
    "unknown edge attribute on a negative edge": ("A -> B\nB !> A [strength > 2]\n",
                                                  "edge attribute 'strength' .* does not exist"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_constraints_that_cannot_be_honoured_are_refused_by_name(name):
    c = labelled_random_graph()
    q, msg = REFUSED[name]
    with pytest.raises(QueryError, match=msg):
        cx.count_motifs(c, q)


# ---------------------------------------------------------------------------------------------- multi-row semantics
def test_readme_worked_example_of_the_multi_row_semantics():
    """The statistics guide's worked example (edge attributes, several rows per pair) runs as written."""
    import doctest
    import textwrap
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "guides" / "statistics.md").read_text()
    start = text.index("```python", text.index("Worked example (checked by `tests/core/test_motifs.py`)")) + len("```python")
    block = textwrap.dedent(text[start:text.index("```\n", start)])
    test = doctest.DocTestParser().get_doctest(block, {}, "worked example", "docs/guides/statistics.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False) == (0, 14)


def random_rows(seed: int, n: int = 9, m: int = 60) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    pre, post = rng.integers(1, n + 1, m), rng.integers(1, n + 1, m)
    kind = rng.choice(["chemical", "chemical", "gap_junction"], m)
    neuropil = rng.choice(["AL_L", "LH_L", "MB_CA_L"], m)
    e = pd.DataFrame({"pre_root_id": pre, "post_root_id": post, "edge_kind": kind, "neuropil": neuropil,
                      "synapse_count": rng.integers(1, 9, m), "gaba_avg": rng.random(m).round(2),
                      "nt_type": rng.choice(["ACH", "GABA", None], m)})
    return e.drop_duplicates(["pre_root_id", "post_root_id", "edge_kind", "neuropil"]).reset_index(drop=True)


def brute_force(e: pd.DataFrame, edges: list, negative: list, n_nodes: list, undirected: bool = False) -> set:
    """Matches by enumeration: each motif edge (u, v, row predicate, weight predicate) holds for a pair when
    some rows pass the predicate and their summed synapse counts pass the weight predicate."""
    import itertools

    import functools

    masks = {id(rp): e.apply(rp, axis=1).to_numpy(dtype=bool) for *_, rp, _ in edges + negative}
    pre, post, cnt = e.pre_root_id.to_numpy(), e.post_root_id.to_numpy(), e.synapse_count.to_numpy()

    @functools.lru_cache(maxsize=None)
    def selected(a, b, key):
        here = ((pre == a) & (post == b)) | (undirected & (pre == b) & (post == a))
        sel = here & masks[key]
        return int(sel.sum()), int(cnt[sel].sum())

    def pair_ok(a, b, rowp, wp):
        k, w = selected(a, b, id(rowp))
        return k > 0 and wp(w)

    names = sorted({x for u, v, *_ in edges + negative for x in (u, v)})
    out = set()
    for t in itertools.permutations(n_nodes, len(names)):
        m = dict(zip(names, t))
        if all(pair_ok(m[u], m[v], rp, wp) for u, v, rp, wp in edges) and \
                not any(pair_ok(m[u], m[v], rp, wp) for u, v, rp, wp in negative):
            out.add(tuple(m[x] for x in names))
    return out


MULTI_ROW = {  # query: (edges, negative edges) as predicates over rows and over the pair's summed weight
    'A -> B [neuropil == "AL_L", weight >= 5]\nB -> C [weight >= 6]\n':
        ([("A", "B", lambda r: r.neuropil == "AL_L", lambda w: w >= 5), ("B", "C", lambda r: True, lambda w: w >= 6)],
         []),
    ('A -> B [gaba_avg > 0.5, nt_type != "ACH"]\nB -> C [neuropil in "AL_L LH_L", synapse_count < 6]\n'
     'C !> A [neuropil == "LH_L"]\n'):
        ([("A", "B", lambda r: r.gaba_avg > 0.5 and r.nt_type != "ACH", lambda w: True),
          ("B", "C", lambda r: r.neuropil in "AL_L LH_L", lambda w: w < 6)],
         [("C", "A", lambda r: r.neuropil == "LH_L", lambda w: True)]),
    'A -> B as ab\nab.neuropil != "MB_CA_L"\nab.weight >= 4\nA -> C [edge_kind == "gap_junction"]\n':
        ([("A", "B", lambda r: r.neuropil != "MB_CA_L", lambda w: w >= 4),
          ("A", "C", lambda r: r.edge_kind == "gap_junction", lambda w: True)], []),
}


@pytest.mark.parametrize("seed", range(6))
def test_multi_row_semantics_equal_brute_force(seed):
    e = random_rows(seed)
    c = cx.from_edges(e)
    nodes = sorted(int(x) for x in c.node_table()["root_id"])
    for q, (edges, negative) in MULTI_ROW.items():
        for undirected in (False, True):
            got = rows(cx.find_motifs(c, q, edge_kind=None, ignore_direction=undirected))
            assert got == brute_force(e, edges, negative, nodes, undirected), (q, undirected)
    chem = e[e.edge_kind == "chemical"]
    q = 'A -> B [neuropil == "AL_L", weight >= 5]\nB -> C [weight >= 6]\n'
    assert rows(cx.find_motifs(c, q)) == brute_force(chem, *MULTI_ROW[q], nodes)


def test_edge_to_edge_comparison_on_rows_and_list_valued_node_attributes():
    e = pd.DataFrame({"pre_root_id": [1, 1, 2, 2], "post_root_id": [2, 2, 3, 3], "synapse_count": [2, 3, 4, 5],
                      "neuropil": ["AL_L", "LH_L", "LH_L", "MB_CA_L"]})
    n = pd.DataFrame({"root_id": [1, 2, 3], "tags": [["kenyon", "left"], ["pn"], []]})
    c = cx.from_edges(e, n)
    same = "A -> B as ab\nB -> C as bc\nab.neuropil == bc.neuropil\n"
    assert rows(cx.find_motifs(c, same)) == {(1, 2, 3)}  # LH_L on both
    assert cx.count_motifs(c, same.replace('bc.neuropil', 'bc.neuropil\nab.neuropil != "LH_L"')) == 0
    assert rows(cx.find_motifs(c, 'A -> B\nA.tags contains "left"\n')) == {(1, 2)}
    assert rows(cx.find_motifs(c, 'A -> B\nB.tags !contains "pn"\n')) == {(2, 3)}
    import tempfile

    with tempfile.TemporaryDirectory() as d:  # lists come back from Parquet as arrays: the same answers
        c.save(f"{d}/s")
        c2 = cx.load(f"{d}/s")
        assert rows(cx.find_motifs(c2, 'A -> B\nA.tags contains "left"\n')) == {(1, 2)}


def test_parse_failures_inside_dotmotif_have_line_and_column():
    c = labelled_random_graph()
    for q, line, col in (("A -> B as ab\nab.weight > cd.weight\n", 2, 13),
                         ("m(x, y) {\n x -> y\n}\nm(A)\n", 4, 1),
                         ("A -> B\nC.size > 3\n", 2, 1)):
        with pytest.raises(QuerySyntaxError) as info:
            cx.count_motifs(c, q)
        assert (info.value.line, info.value.column) == (line, col), q


def test_parsed_query_flags_must_agree():
    from connectome.motifs import parse_query

    c = labelled_random_graph()
    q = parse_query("A -> B\nB -> A\n", exclude_automorphisms=True)
    assert cx.count_motifs(c, q) == cx.count_motifs(c, "A -> B\nB -> A\n", exclude_automorphisms=True)
    with pytest.raises(cx.errors.InputError, match="exclude_automorphisms=False disagrees with the parsed query"):
        cx.count_motifs(c, q, exclude_automorphisms=False)


NEUROPIL_FFL = ('A -> B [neuropil == "AL_L", weight >= 2]\nB -> C [neuropil == "AL_L", weight >= 2]\n'
                'A -> C [neuropil == "AL_L", weight >= 2]\n')


def test_cli_and_server_parse_take_the_same_neuropil_queries(tmp_path):
    """The CLI (``connectome motifs STORE --query-file``) and the HTTP service's path (the query parsed in a
    child by ``parse_query_isolated``, then counted) give the Python answer for an edge-column query."""
    from helpers import run_cli

    from connectome.motifs import parse_query_isolated

    e = random_rows(3, n=8, m=90)
    c = cx.from_edges(e)
    c.save(tmp_path / "store")
    want = cx.find_motifs(c, NEUROPIL_FFL)
    assert len(want) > 0
    q = parse_query_isolated(NEUROPIL_FFL, timeout=60)
    assert cx.count_motifs(cx.load(tmp_path / "store"), q, timeout=60) == len(want)
    (tmp_path / "ffl.motif").write_text(NEUROPIL_FFL)
    out = run_cli("motifs", str(tmp_path / "store"), "--query-file", str(tmp_path / "ffl.motif"),
                  "--out", str(tmp_path / "m.csv"))
    assert out.returncode == 0, out.stderr
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "m.csv", dtype=str), want.astype(str))


def test_a_label_value_no_neuron_has_or_a_vacuous_weight_constraint_is_said(caplog):
    """A 0 count from a typo must not look like biology; a constraint that always or never holds is named."""
    c = cx.load("celegans_cook2019_herm")
    with caplog.at_level("WARNING", logger="connectome.motifs"):
        n = cx.count_motifs(c, 'A -> B\nA.cell_type == "AVX"\n')
    assert n == 0
    said = [w for w in n.attrs["warnings"] if "A.cell_type == 'AVX'" in w]
    assert said and "matches no neuron: cell_type: no node has cell_type='AVX'; close values of cell_type: 'AV" in said[0]
    assert "no node has cell_type='AVX'" in caplog.text
    caplog.clear()
    m = cx.find_motifs(c, 'A -> B\nA.cell_type == "AVA"\nB.cell_type != "AVBX"\n')
    assert len(m) > 0 and any("B.cell_type != 'AVBX'" in w and "holds for every neuron" in w
                              for w in m.attrs["warnings"])
    assert cx.find_motifs(c, 'A -> B\nA.cell_type == "AVA"\n').attrs["warnings"] == []
    # synapse counts are integers >= 1: these constraints always (or never) hold
    for query, says in [("A -> B [weight >= -5]\n", "always holds"), ("A -> B [weight > 0]\n", "always holds"),
                        ("A -> B [synapse_count >= 1]\n", "always holds"), ("A -> B [weight < 0]\n", "never holds"),
                        ("A -> B [weight < 1]\n", "never holds"), ("A -> B [weight == 2.5]\n", "never holds"),
                        ("A -> B\nA !> C [weight <= 0]\nB -> C\n", "never holds")]:
        w = cx.count_motifs(c, query).attrs["warnings"]
        assert any(says in x and "integers >= 1" in x for x in w), (query, w)
    assert cx.count_motifs(c, "A -> B [weight >= 5, weight < 10]\n").attrs["warnings"] == []
    with pytest.raises(QueryError, match="Impossible bounds"):  # contradictory bounds: DotMotif refuses them
        cx.count_motifs(c, "A -> B [weight >= 10, weight < 5]\n")
