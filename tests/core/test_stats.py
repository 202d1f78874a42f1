"""Connectivity statistics equal networkx / scipy references on real graphs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

import connectome as cx


@pytest.fixture(scope="module", params=["celegans_cook2019_herm", "celegans_witvliet2021_8"])
def graph(request):
    c = cx.load(request.param)
    g = cx.to_networkx(c, edge_kind="chemical")
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    return c, g


def test_clustering_equals_networkx(graph):
    c, g = graph
    ours = cx.clustering(c)
    ref = nx.clustering(g)
    assert max(abs(ours[k] - v) for k, v in ref.items()) < 1e-12
    assert abs(cx.stats(c)["clustering"]["average"] - nx.average_clustering(g)) < 1e-12


def test_rich_club_equals_networkx(graph):
    c, g = graph
    ref = nx.rich_club_coefficient(nx.Graph(g.to_undirected()), normalized=False)
    ours = cx.rich_club(c)
    assert list(ours.index) == sorted(ref)
    assert max(abs(ours[k] - v) for k, v in ref.items()) < 1e-12


def test_reciprocity_degrees_components(graph):
    c, g = graph
    r = cx.reciprocity(c)
    assert abs(r["pairs"] - nx.overall_reciprocity(g)) < 1e-12
    assert abs(r["expected_er"] - nx.density(g)) < 1e-12
    d = cx.degree_distribution(c, "out")
    ref = np.bincount([deg for _, deg in g.out_degree()])
    assert dict(zip(d["degree"], d["count"])) == {k: v for k, v in enumerate(ref) if v}
    comp = cx.components(c)
    assert comp["strong"]["count"] == nx.number_strongly_connected_components(g)
    assert comp["weak"]["largest"] == max(len(x) for x in nx.weakly_connected_components(g))


def test_exact_path_lengths_equal_networkx(graph):
    c, g = graph
    p = cx.path_lengths(c)
    assert p["exact"] and p["sources"] == g.number_of_nodes()
    hist = {}
    for _, lengths in nx.all_pairs_shortest_path_length(g):
        for d in lengths.values():
            if d > 0:
                hist[d] = hist.get(d, 0) + 1
    assert p["distribution"] == dict(sorted(hist.items()))
    assert p["diameter"] == max(hist)


def test_sampled_path_lengths_say_so(larva_store):
    c = cx.load(larva_store)
    p = cx.path_lengths(c, sample=50, seed=3)
    assert not p["exact"] and p["sources"] == 50
    assert p == cx.path_lengths(c, sample=50, seed=3)  # seeded
    exact = cx.path_lengths(c)
    assert abs(p["mean"] - exact["mean"]) < 0.5


def test_synapse_weighted_reciprocity_and_connection_probability():
    c = cx.load("celegans_cook2019_herm")
    e = c.edge_table()
    e = e[(e["edge_kind"] == "chemical") & (e["pre_root_id"] != e["post_root_id"])]
    pairs = set(zip(e["pre_root_id"], e["post_root_id"]))
    recip = [(a, b) in pairs and (b, a) in pairs for a, b in zip(e["pre_root_id"], e["post_root_id"])]
    want = e["synapse_count"][np.array(recip)].sum() / e["synapse_count"].sum()
    assert abs(cx.reciprocity(c)["synapses"] - want) < 1e-12
    p = cx.connection_probability(c, by="super_class")
    t = cx.collapse(c, by="super_class").set_index(["pre_super_class", "post_super_class"])
    assert p.loc["sensory", "interneuron"] == t.loc[("sensory", "interneuron"), "connection_probability"]


def test_stats_summary_is_json_friendly():
    import json

    s = cx.stats(cx.load("celegans_cook2019_herm"), min_synapses=2)
    json.dumps(s)
    assert s["params"]["min_synapses"] == 2
    assert s["edges"] == int((cx.pair_totals(cx.load("celegans_cook2019_herm"))
                              .query("synapse_count >= 2 and pre_root_id != post_root_id")).shape[0])
