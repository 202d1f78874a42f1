"""cx.cluster: hierarchical clusters equal scipy on a dense reference, Leiden through igraph,
adjusted Rand index against scikit-learn and against the larva's labels, the PNG, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import connectome as cx
from connectome.neuron_clusters import adjusted_rand_index
from connectome.errors import InputError


@pytest.fixture(scope="module")
def worm():
    return cx.load("celegans_cook2019_herm")


@pytest.fixture(scope="module")
def larva(larva_store):
    return cx.load(larva_store)


def test_adjusted_rand_index_equals_sklearn():
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = rng.integers(0, 5, 60), rng.integers(0, 7, 60)
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)


@pytest.mark.parametrize("method", ["ward", "average"])
def test_hierarchical_equals_scipy_on_dense_cosine(worm, method):
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.metrics.pairwise import cosine_similarity

    ids = cx.ids_of(worm, cell_category="neuron")
    p = cx.connectivity_profiles(worm)
    x = p.rows(np.sort(ids)).toarray()
    live = x.sum(1) > 0
    s = np.clip(cosine_similarity(x[live]), 0, 1)
    d = np.sqrt(2 * (1 - s)) if method == "ward" else 1 - s
    np.fill_diagonal(d, 0)
    ref = fcluster(linkage(squareform(d, checks=False), method=method), t=12, criterion="maxclust")
    r = cx.cluster(worm, np.sort(ids), method=method, n_clusters=12)
    got = r.labels["cluster"].to_numpy()
    assert r.labels["cluster"].isna().sum() == (~live).sum()
    assert adjusted_rand_index(got[live].astype(int), ref) == pytest.approx(1.0)
    assert r.n_clusters == 12 and r.meta["not_clustered"] == int((~live).sum())
    sizes = r.labels["cluster"].value_counts()
    assert list(sizes.index[:2]) == [0, 1]  # numbered from the largest


def test_leiden_is_seeded_and_resolution_moves_cluster_count(larva):
    a = cx.cluster(larva, method="leiden", resolution=1.0, seed=3)
    b = cx.cluster(larva, method="leiden", resolution=1.0, seed=3)
    assert a.labels.equals(b.labels)
    fine = cx.cluster(larva, method="leiden", resolution=4.0, seed=3)
    assert fine.n_clusters > a.n_clusters
    assert a.meta["modularity"] > 0.3 and a.meta["igraph"]
    # against the larva's own cell classes (Winding et al. 2023): far above chance
    assert a.adjusted_rand(larva, "merge_class") > 0.1


def test_annotate_and_plot(worm, tmp_path):
    ids = cx.ids_of(worm, super_class="motor")
    r = cx.cluster(worm, ids, method="average", n_clusters=5, column="motor_cluster", plot=tmp_path / "d.png")
    c2 = r.annotate(worm)
    col = c2.node_table().set_index("root_id")["motor_cluster"]
    assert int(col.notna().sum()) == int(r.labels["cluster"].notna().sum())
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    leiden = cx.cluster(worm, ids, method="leiden", top_k=10)
    leiden.plot(tmp_path / "l.png", label="name", c=worm)
    assert (tmp_path / "l.png").stat().st_size > 10_000


@pytest.mark.parametrize("method, kw", [("ward", {"n_clusters": 4}), ("leiden", {"top_k": 10})])
def test_cluster_numbers_stay_integers_when_some_neurons_are_not_clustered(worm, tmp_path, method, kw):
    """Issue 23: unclustered neurons (no partners) made every cluster number a float (``2.0``)."""
    ids = cx.ids_of(worm, super_class=["motor", "other"])
    r = cx.cluster(worm, ids, method=method, min_synapses=5, **kw)
    assert r.meta["not_clustered"] > 0
    assert str(r.labels["cluster"].dtype) == "Int64", r.labels.dtypes
    assert r.labels["cluster"].isna().sum() == r.meta["not_clustered"]
    r.labels.to_csv(tmp_path / "c.csv", index=False)
    assert ".0" not in (tmp_path / "c.csv").read_text()
    assert str(r.annotate(worm).node_table()["cluster"].dtype) == "Int64"


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "ward"}, "needs n_clusters= .* or threshold="),
    ({"method": "ward", "n_clusters": 3, "threshold": 0.5}, "not both"),
    ({"method": "leiden", "n_clusters": 3}, "Leiden does not take a number of clusters"),
    ({"method": "kmeans"}, "method must be one of"),
    ({"method": "ward", "n_clusters": 0}, "n_clusters must be an integer >= 1"),
    ({"method": "ward", "n_clusters": 3, "max_hierarchical": 10}, "above max_hierarchical=10"),
    ({"method": "leiden", "resolution": -1}, "resolution must be a positive number"),
    ({"method": "ward", "n_clusters": 3, "ids": []}, "ids: the id set is empty"),
])
def test_bad_input(worm, kwargs, match):
    with pytest.raises(InputError, match=match):
        cx.cluster(worm, **kwargs)
