"""Null models keep what they promise; significance is seeded, reproducible and distributed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectome as cx
from connectome.adjacency import directed_pairs, from_arrays
from connectome.errors import InputError, NullModelError
from connectome.nulls import sample_null


def edge_set(g):
    return set(zip(g.src.tolist(), g.dst.tolist()))


def simple(g):
    assert not np.any(g.src == g.dst)
    assert len(edge_set(g)) == g.m


@pytest.fixture(scope="module")
def cook_pairs():
    return directed_pairs(cx.load("celegans_cook2019_herm"), self_loops=False)


def test_degree_null_keeps_every_degree(cook_pairs):
    g = cook_pairs
    s = sample_null(g, "degree", np.random.default_rng(3))
    simple(s)
    assert np.array_equal(np.bincount(s.src, minlength=g.n), np.bincount(g.src, minlength=g.n))
    assert np.array_equal(np.bincount(s.dst, minlength=g.n), np.bincount(g.dst, minlength=g.n))
    assert len(edge_set(s) & edge_set(g)) < 0.5 * g.m  # really rewired


@given(st.integers(4, 12), st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), min_size=2, max_size=60),
       st.integers(0, 10_000))
@settings(max_examples=80, deadline=None)
def test_degree_null_on_random_graphs(n, edges, seed):
    edges = [(a % n, b % n) for a, b in edges if a % n != b % n]
    g = from_arrays(n, [a for a, _ in edges], [b for _, b in edges])
    try:
        s = sample_null(g, "degree", np.random.default_rng(seed), swaps=5)
    except NullModelError as exc:
        assert "impossible" in str(exc) or "at least 2 edges" in str(exc)
        return
    simple(s)
    assert np.array_equal(np.bincount(s.src, minlength=n), np.bincount(g.src, minlength=n))
    assert np.array_equal(np.bincount(s.dst, minlength=n), np.bincount(g.dst, minlength=n))


def test_er_and_reciprocal_er(cook_pairs):
    g = cook_pairs
    er = sample_null(g, "er", np.random.default_rng(0))
    simple(er)
    assert er.m == g.m
    rer = sample_null(g, "reciprocal_er", np.random.default_rng(0))
    simple(rer)

    def dyads(x):
        e = edge_set(x)
        mutual = sum(1 for a, b in e if (b, a) in e) // 2
        return mutual, x.m - 2 * mutual

    assert dyads(rer) == dyads(g)
    assert dyads(er)[0] < dyads(g)[0]  # plain ER loses the reciprocity of real wiring


def test_block_null_keeps_block_counts(cook_pairs):
    c = cx.load("celegans_cook2019_herm")
    labels = pd.factorize(c.node_table()["cell_type"].astype(object))[0]
    g = cook_pairs
    s = sample_null(g, "block", np.random.default_rng(5), labels=labels)
    simple(s)

    def blocks(x):
        return pd.Series(labels[x.src] * 1000 + labels[x.dst]).value_counts().sort_index()

    pd.testing.assert_series_equal(blocks(s), blocks(g))
    assert edge_set(s) != edge_set(g)


def test_impossible_rewiring_says_why():
    star = cx.from_edges(pd.DataFrame({"pre_root_id": [1, 1, 1], "post_root_id": [2, 3, 4], "synapse_count": 1}))
    with pytest.raises(NullModelError, match="impossible.*self-loop or a duplicate edge.*null='reciprocal_er'"):
        cx.motif_significance(star, null="degree", n=3)
    with pytest.raises(NullModelError, match="at least 2 edges"):
        cx.motif_significance(cx.from_edges(pd.DataFrame(
            {"pre_root_id": [1], "post_root_id": [2], "synapse_count": [1]})), null="degree", n=3)
    with pytest.raises(InputError, match="unknown null model 'config'"):
        cx.motif_significance(star, null="config")
    with pytest.raises(cx.errors.ColumnError, match="'celltype' not found"):
        cx.motif_significance(cx.load("celegans_witvliet2021_8"), null="block", by="celltype", n=2)


def test_significance_table_and_plot(tmp_path):
    c = cx.load("celegans_witvliet2021_8")
    r = cx.motif_significance(c, null="er", n=30, seed=7)
    t = r.table.set_index("motif")
    assert list(t.index) == list(cx.TRIAD_NAMES)
    assert (t["observed"] == cx.triad_census(c)).all()
    assert ((t["p_over"] > 0) & (t["p_over"] <= 1)).all()
    # the closed form agrees with the sampled mean within a few standard errors
    se = t["null_std"] / np.sqrt(30)
    big = t["analytic_mean"] > 50
    assert (abs(t.loc[big, "null_mean"] - t.loc[big, "analytic_mean"]) < 5 * se[big] + 0.01 * t.loc[big, "analytic_mean"]).all()
    assert t.loc["300", "z"] > 3  # reciprocal triangles are far above ER
    png = tmp_path / "profile.png"
    r.plot(png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r.to_dict()["table"][0]["motif"] == "003"


def test_same_seed_same_samples_on_every_scheduler(larva_store):
    c = cx.load(larva_store)
    a = cx.motif_significance(c, null="degree", n=4, seed=11, min_synapses=5, scheduler="sync")
    b = cx.motif_significance(c, null="degree", n=4, seed=11, min_synapses=5, scheduler="threads")
    pd.testing.assert_frame_equal(a.samples, b.samples)
    other = cx.motif_significance(c, null="degree", n=4, seed=12, min_synapses=5)
    assert not a.samples.equals(other.samples)


@pytest.mark.cluster
def test_null_samples_on_process_workers(larva_store, cluster_client):
    c = cx.load(larva_store)
    local = cx.motif_significance(c, null="reciprocal_er", n=6, seed=2, scheduler="sync")
    dist = cx.motif_significance(c, null="reciprocal_er", n=6, seed=2, scheduler=cluster_client)
    pd.testing.assert_frame_equal(local.table, dist.table)
