"""Motif queries: the same matches as DotMotif's GrandIsoExecutor on real graphs; errors and guards."""

from __future__ import annotations

import pandas as pd
import pytest
import connectome as cx
from connectome.errors import QueryError, QuerySyntaxError, QueryTimeoutError, QueryTooLargeError
from connectome.motifs.query import dotmotif

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
        ref = dotmotif_matches(g, q, list(ours.columns), auto)
        assert same_rows(ours, ref), name
        assert cx.count_motifs(c, q, exclude_automorphisms=auto) == len(ref), name


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
    ref = dotmotif_matches(host_graph(cx.filter_edges(c, min_synapses=w)), q, list(ours.columns), True)
    assert len(ours) > 0 and same_rows(ours, ref)


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
    assert str(full["A"].dtype) == "uint64"
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
    with pytest.raises(QueryError, match="edge attribute 'strength' .* edge attributes: weight, synapse_count"):
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
    "negative edge": "A -> B [weight > 3]\nB -> C [weight > 3]\nA !> C\n",
}


@pytest.mark.parametrize("name", list(HONOURED))
@pytest.mark.parametrize("auto", [False, True], ids=["all-mappings", "exclude-automorphisms"])
def test_every_constraint_form_is_honoured_like_grandiso(name, auto):
    c = labelled_random_graph()
    g = nx_host(c)
    q = HONOURED[name]
    ours = cx.find_motifs(c, q, exclude_automorphisms=auto)
    ref = dotmotif_matches(g, q, list(ours.columns), auto)
    assert same_rows(ours, ref), name
    assert cx.count_motifs(c, q, exclude_automorphisms=auto) == len(ref)


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
    "node comparison in a macro": ("m(x, y) {\n x -> y\n x.size > y.size\n}\nm(A, B)\n",
                                   r"macro 'm' compares two nodes \(x.size > y.size\)"),
    "an edge written twice": ("A -> B [weight > 1]\nA -> B [weight < 5]\n",
                              r"edge A -> B is written more than once with different constraints"),
    "an edge written again with brackets": ("A -> B\nB -> C\nA -> B [weight < 5]\n",
                                            "edge A -> B is written more than once"),
    "a macro repeating an edge with brackets": ("m(x, y) {\n x -> y [weight > 4]\n}\nA -> B\nm(A, B)\n",
                                                "edge A -> B is written more than once"),
    "edge-to-edge comparison": ("A -> B as ab\nB -> C as bc\nab.weight > bc.weight\n",
                                "comparisons between two edges' attributes are not supported"),
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
