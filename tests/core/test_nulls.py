"""Null models keep what they promise; significance is seeded, reproducible and distributed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import connectome as cx
from connectome.pair_arrays import directed_pairs, from_arrays
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
    pd.testing.assert_frame_equal(a.censuses, b.censuses)
    other = cx.motif_significance(c, null="degree", n=4, seed=12, min_synapses=5)
    assert not a.censuses.equals(other.censuses)


@pytest.mark.cluster
def test_null_samples_on_process_workers(larva_store, cluster_client):
    c = cx.load(larva_store)
    local = cx.motif_significance(c, null="reciprocal_er", n=6, seed=2, scheduler="sync")
    dist = cx.motif_significance(c, null="reciprocal_er", n=6, seed=2, scheduler=cluster_client)
    pd.testing.assert_frame_equal(local.table, dist.table)


def _mutual_partners(g) -> np.ndarray:
    fwd = g.src * np.int64(g.n) + g.dst
    rev = g.dst * np.int64(g.n) + g.src
    mutual = np.isin(fwd, rev)
    return np.bincount(g.src[mutual], minlength=g.n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reciprocity_preserving_degree_null_keeps_degrees_and_mutual_pairs(seed):
    g = directed_pairs(cx.load("drosophila_larva_winding2023"), self_loops=False)
    s = sample_null(g, "degree_reciprocal", np.random.default_rng(seed))
    simple(s)
    assert s.m == g.m
    assert np.array_equal(np.bincount(s.src, minlength=g.n), np.bincount(g.src, minlength=g.n))
    assert np.array_equal(np.bincount(s.dst, minlength=g.n), np.bincount(g.dst, minlength=g.n))
    assert np.array_equal(_mutual_partners(s), _mutual_partners(g))  # every node's mutual partners count
    assert len(edge_set(s) & edge_set(g)) < 0.5 * g.m  # and it did rewire
    plain = sample_null(g, "degree", np.random.default_rng(seed))
    assert _mutual_partners(plain).sum() < 0.5 * _mutual_partners(g).sum()  # the plain null destroys reciprocity


def test_reciprocity_preserving_null_keeps_mutual_pair_triads_in_proportion():
    """The plain degree null destroys reciprocity, so triads made of mutual pairs (102, 201, 300) look
    hugely over-represented; keeping reciprocity brings their null means close to the data."""
    c = cx.load("celegans_cook2019_herm")
    plain = cx.motif_significance(c, null="degree", n=8, seed=3).table.set_index("motif")
    kept = cx.motif_significance(c, null="degree_reciprocal", n=8, seed=3).table.set_index("motif")
    for motif in ("102", "201", "300"):
        fold = lambda t: abs(np.log(t.loc[motif, "observed"] / t.loc[motif, "null_mean"]))  # noqa: E731
        assert fold(kept) < fold(plain) / 2, motif
    assert abs(kept.loc["102", "observed"] / kept.loc["102", "null_mean"] - 1) < 0.1  # the mutual pairs themselves


def test_null_graphs_can_be_inspected():
    c = cx.load("celegans_witvliet2021_8")
    sig = cx.motif_significance(c, null="degree_reciprocal", n=4, seed=9)
    for i in (0, 3):
        g = sig.samples(i)
        assert isinstance(g, cx.Connectome) and g.n_nodes == c.n_nodes
        census = cx.triad_census(g)
        assert [int(census[k]) for k in cx.TRIAD_NAMES] == sig.censuses.iloc[i].astype(int).tolist()
        same = cx.null_graph(c, null="degree_reciprocal", seed=sig.seeds[i])
        pd.testing.assert_frame_equal(cx.pair_totals(same), cx.pair_totals(g))
    obs = cx.pair_totals(c)
    obs = obs[obs.pre_root_id != obs.post_root_id]
    null_w = cx.pair_totals(g)["synapse_count"]
    assert sorted(null_w.tolist()) == sorted(obs["synapse_count"].tolist())  # the data's weights, reshuffled
    assert g.manifest.source["null"] == "degree_reciprocal" and g.manifest.source["seed"] == sig.seeds[3]
    with pytest.raises(InputError, match="sample number"):
        sig.samples(4)
    with pytest.raises(InputError, match="unknown null model"):
        cx.null_graph(c, null="configuration")


# ----------------------------------------------------------------------------- issue 23 item 6: the default null
def test_default_null_keeps_reciprocity():
    import inspect

    from connectome.significance import null_graph

    assert inspect.signature(cx.motif_significance).parameters["null"].default == "degree_reciprocal"
    assert inspect.signature(null_graph).parameters["null"].default == "degree_reciprocal"
    c = cx.load("celegans_witvliet2021_8")
    r = cx.motif_significance(c, n=3, seed=1)
    assert r.null == "degree_reciprocal"
    assert r.params["null"] == "degree_reciprocal"          # recorded in the metadata
    assert r.to_dict()["params"]["null"] == "degree_reciprocal"
    rp = r.params["reciprocal_pairs"]
    assert rp["observed"] > 0
    assert rp["null_mean"] == pytest.approx(rp["observed"])  # the default null keeps every mutual pair
    assert r.params["warnings"] == []


def test_plain_degree_null_on_a_reciprocal_graph_warns(caplog):
    c = cx.load("celegans_cook2019_herm")
    with caplog.at_level("WARNING", logger="connectome.significance"):
        r = cx.motif_significance(c, null="degree", n=4, seed=0)
    rp = r.params["reciprocal_pairs"]
    assert rp["observed"] > 2 * rp["null_mean"]
    said = [m for m in caplog.messages if "reciprocal pairs" in m]
    assert len(said) == 1 and f"{rp['observed']:,}" in said[0] and "degree_reciprocal" in said[0]
    assert r.params["warnings"] == said
    assert r.to_dict()["params"]["warnings"] == said
    caplog.clear()
    with caplog.at_level("WARNING", logger="connectome.significance"):
        ok = cx.motif_significance(c, null="degree_reciprocal", n=4, seed=0)
    assert not [m for m in caplog.messages if "reciprocal pairs" in m]
    assert ok.params["warnings"] == []


def test_reciprocal_pairs_from_the_census_are_exact():
    from connectome.significance import mutual_pairs

    c = cx.load("celegans_witvliet2021_8")
    t = cx.triad_census(c)
    g = directed_pairs(c, edge_kind="chemical", self_loops=False)
    fwd = g.src * np.int64(g.n) + g.dst
    rev = g.dst * np.int64(g.n) + g.src
    assert mutual_pairs(t.to_numpy(), g.n) == pytest.approx(np.isin(fwd, rev).sum() / 2)


def test_profile_plot_draws_an_infinite_z_clipped_and_marked():
    from connectome.significance import MotifSignificance

    names = list(cx.TRIAD_NAMES)
    z = np.linspace(-2, 2, 16)
    z[names.index("300")] = np.inf
    z[names.index("030C")] = -np.inf
    table = pd.DataFrame({"motif": names, "observed": np.arange(16), "null_mean": np.ones(16),
                          "null_std": np.ones(16), "z": z, "p_over": 0.5, "p_under": 0.5, "analytic_mean": np.nan})
    r = MotifSignificance(table, pd.DataFrame(), "er", 10, 0, {"dataset": "toy"})
    fig = r.plot()
    ax = fig.axes[1]
    shown = [m for m in names if m != "003"]
    bars = {m: p.get_height() for m, p in zip(shown, ax.patches)}
    lo, hi = ax.get_ylim()
    top = max(abs(v) for m, v in bars.items() if m not in ("300", "030C"))
    assert top < bars["300"] <= hi and lo <= bars["030C"] < -top    # full bars, clipped inside the axis
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("+inf") == 1 and texts.count("−inf") == 1
