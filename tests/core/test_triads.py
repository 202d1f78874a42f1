"""Triad and dyad census: exactly networkx.triadic_census on real and random graphs, on every path."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectome as cx
from connectome.pair_arrays import from_arrays
from connectome.triads import TRIAD_NAMES, census_of


def nx_census(c, **kw):
    g = cx.to_networkx(c, **kw)
    return pd.Series(nx.triadic_census(g)).reindex(list(TRIAD_NAMES))


@pytest.mark.parametrize("name", ["celegans_cook2019_herm", "celegans_cook2019_male", "celegans_witvliet2021_8"])
def test_equals_networkx_on_celegans(name):
    c = cx.load(name)
    ours = cx.triad_census(c)
    assert list(ours.index) == list(TRIAD_NAMES)
    assert ours.to_dict() == nx_census(c, edge_kind="chemical").to_dict()
    both = cx.triad_census(c, edge_kind=None)  # gap junctions make mutual dyads
    assert both.to_dict() == nx_census(c, edge_kind=None).to_dict()


def test_equals_networkx_on_larva_with_threshold(larva_store):
    c = cx.load(larva_store)
    ours = cx.triad_census(c, min_synapses=3, blocks=5)
    strong = cx.filter_edges(c, min_synapses=3)
    ref = nx_census(strong)
    assert ours.to_dict() == ref.to_dict()
    assert int(ours.sum()) == c.n_nodes * (c.n_nodes - 1) * (c.n_nodes - 2) // 6


@st.composite
def digraphs(draw):
    n = draw(st.integers(min_value=3, max_value=14))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    edges = draw(st.lists(pairs, max_size=n * n))
    return n, edges


@given(digraphs(), st.integers(min_value=1, max_value=4))
@settings(max_examples=200, deadline=None)
def test_random_graphs_equal_networkx(graph, blocks):
    n, edges = graph
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)  # self-loops included: both must ignore them
    ref = nx.triadic_census(g)
    src = [a for a, _ in edges]
    dst = [b for _, b in edges]
    ours = census_of(from_arrays(n, src, dst), blocks=blocks, scheduler="sync")
    assert dict(zip(TRIAD_NAMES, ours.tolist())) == ref


def test_dyad_census_matches_networkx_reciprocity(larva_store):
    c = cx.load(larva_store)
    d = cx.dyad_census(c)
    g = cx.to_networkx(c, edge_kind="chemical")
    g.remove_edges_from(nx.selfloop_edges(g))
    assert d["mutual"] * 2 + d["asymmetric"] == g.number_of_edges()
    assert d["mutual"] * 2 == round(nx.overall_reciprocity(g) * g.number_of_edges())
    assert int(d.sum()) == c.n_nodes * (c.n_nodes - 1) // 2


@pytest.mark.cluster
def test_census_on_process_workers(larva_store, cluster_client):
    c = cx.load(larva_store, in_memory=False)
    with cx.use_scheduler(cluster_client):
        dist = cx.triad_census(c, blocks=6)
    assert dist.to_dict() == cx.triad_census(cx.load(larva_store), blocks=1, scheduler="sync").to_dict()
