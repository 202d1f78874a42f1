"""cx.similarity against dense references: numpy/scikit-learn on the full matrices (navis's metric
definitions), scikit-learn's brute-force NearestNeighbors for top_k, pandas groupby for by=; the larva
and C. elegans; bad input."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, InputError


@pytest.fixture(scope="module")
def larva(larva_store):
    return cx.load(larva_store)


@pytest.fixture(scope="module")
def worm():
    return cx.load("celegans_cook2019_herm")


def _dense(c: cx.Connectome, direction: str, edge_kind: str | None = "chemical", min_syn: int = 1,
           by: str | None = None, unlabelled: str = "drop") -> tuple[np.ndarray, np.ndarray]:
    """Connectivity vectors the slow, obvious way: a dense matrix from a pandas groupby."""
    nodes = c.node_table()
    ids = np.sort(nodes.root_id.to_numpy())
    e = c.edge_table()
    if edge_kind is not None:
        e = e[e.edge_kind == edge_kind]
    p = e.groupby(["pre_root_id", "post_root_id"], as_index=False)["synapse_count"].sum()
    p = p[p.synapse_count >= min_syn]
    n = len(ids)
    a = np.zeros((n, n))
    np.add.at(a, (np.searchsorted(ids, p.pre_root_id), np.searchsorted(ids, p.post_root_id)), p.synapse_count)
    if by is not None:
        lab = nodes.set_index("root_id").loc[ids, by].astype(object)
        un = lab.isna() | lab.astype(str).str.strip().str.lower().isin(["unk", "unknown", "", "nan"])
        if unlabelled == "keep":
            lab = lab.where(~un, "id:" + pd.Series(ids.astype(str), index=lab.index))
        elif unlabelled == "pool":
            lab = lab.where(~un, "<pool>")
        keys = sorted(lab[~un].unique()) if unlabelled == "drop" else sorted(lab.unique())
        onehot = np.zeros((n, len(keys)))
        pos = {k: i for i, k in enumerate(keys)}
        for i, v in enumerate(lab.to_numpy()):
            if v in pos:
                onehot[i, pos[v]] = 1
        out_v, in_v = a @ onehot, a.T @ onehot
    else:
        out_v, in_v = a, a.T
    x = {"output": out_v, "input": in_v, "both": np.hstack([out_v, in_v])}[direction]
    return ids, x


def _cosine(x: np.ndarray) -> np.ndarray:
    from sklearn.metrics.pairwise import cosine_similarity

    s = cosine_similarity(x)
    empty = x.sum(1) == 0
    s[empty, :] = np.nan
    s[:, empty] = np.nan
    return s


def _jaccard(x: np.ndarray) -> np.ndarray:
    b = (x > 0).astype(float)
    inter = b @ b.T
    size = b.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = inter / (size[:, None] + size[None, :] - inter)
    s[size == 0, :] = np.nan  # navis: NaN when either vector is empty
    s[:, size == 0] = np.nan
    return s


def _vertex(a: np.ndarray, b: np.ndarray, c1: float = 0.5, c2: float = 1.0) -> float:
    """navis 1.12 ``_calc_vertex_similarity(..., normalize=True)``, with its NaN for empty vectors."""
    if not a.any() or not b.any():
        return np.nan
    mx, mn = np.maximum(a, b), np.minimum(a, b)
    vs = (mn - c1 * mx * np.exp(-c2 * mn)).sum()
    smax = (mx - c1 * mx * np.exp(-c2 * mx)).sum()
    smin = (-c1 * mx).sum()
    return (vs - smin) / (smax - smin) if smin < smax else 0.0


@pytest.mark.parametrize("direction", ["input", "output", "both"])
def test_dense_cosine_and_jaccard_equal_reference_on_celegans(worm, direction):
    ids, x = _dense(worm, direction)
    cos = cx.similarity(worm, direction=direction, metric="cosine")
    assert list(cos.index) == list(ids) and list(cos.columns) == list(ids)
    np.testing.assert_allclose(cos.to_numpy(), _cosine(x), atol=1e-12, equal_nan=True)
    jac = cx.similarity(worm, direction=direction, metric="jaccard")
    np.testing.assert_allclose(jac.to_numpy(), _jaccard(x), atol=1e-12, equal_nan=True)


def test_vertex_normalized_equals_navis_definition(worm):
    ids, x = _dense(worm, "both", edge_kind=None)
    pick = np.random.default_rng(0).choice(len(ids), 60, replace=False)
    got = cx.similarity(worm, ids[pick], metric="vertex_normalized", edge_kind=None).to_numpy()
    ref = np.array([[_vertex(x[i], x[j]) for j in pick] for i in pick])
    np.testing.assert_allclose(got, ref, atol=1e-12, equal_nan=True)


def test_top_k_equals_bruteforce_nearest_neighbours_on_larva(larva):
    from sklearn.neighbors import NearestNeighbors

    ids, x = _dense(larva, "both")
    live = x.sum(1) > 0
    k = 10
    queries = np.flatnonzero(live)[::3]  # a third of the neurons as queries, all as candidates
    nn = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(x[live])
    dist, idx = nn.kneighbors(x[queries])
    idx = np.flatnonzero(live)[idx]
    ref_sim = 1 - dist  # includes the neuron itself (similarity 1) among the k + 1
    ours = cx.similarity(larva, ids[queries], top_k=k, block_rows=300, scheduler="threads")
    got = ours.pivot(index="root_id", columns="rank", values="similarity").reindex(ids[queries]).to_numpy()
    # drop self from the reference: remove, per row, the entry that is the neuron itself
    rows = []
    for r in range(idx.shape[0]):
        keep = idx[r] != queries[r]
        rows.append(ref_sim[r][keep][:k] if keep.sum() >= k else ref_sim[r][keep])
    ref = np.vstack([np.pad(np.sort(v)[::-1], (0, k - len(v)), constant_values=np.nan) for v in rows])
    filled = ~np.isnan(got)
    assert filled.sum() >= 0.99 * filled.size
    np.testing.assert_allclose(got[filled], ref[filled], atol=1e-9)
    assert not ((ours.root_id == ours.similar_root_id).any())
    meta = ours.attrs["similarity"]
    assert meta["empty_queries"] == 0 and meta["top_k"] == k and meta["candidates"] == len(ids)


def test_top_k_neighbour_ids_equal_dense_argsort(worm):
    ids, x = _dense(worm, "input")
    s = _cosine(x)
    np.fill_diagonal(s, -np.inf)
    ours = cx.similarity(worm, top_k=5, direction="input", block_rows=37, scheduler="sync")
    for rid, grp in ours.groupby("root_id"):
        i = int(np.searchsorted(ids, rid))
        row = np.nan_to_num(s[i], nan=-np.inf)
        want = np.sort(row[row > 0])[::-1][:5]
        got = grp.sort_values("rank")
        np.testing.assert_allclose(got.similarity, want, atol=1e-12)  # the 5 best scores, in order
        np.testing.assert_allclose(row[np.searchsorted(ids, got.similar_root_id)], got.similarity, atol=1e-12)
        for a, b in zip(got.itertuples(), got.iloc[1:].itertuples()):  # exact ties: lower root id first
            assert a.similarity > b.similarity or a.similar_root_id < b.similar_root_id


def test_lazy_and_in_memory_paths_agree(worm):
    ids = cx.ids_of(worm, super_class="motor")
    a = cx.similarity(worm, ids, top_k=4)
    b = cx.similarity(worm.lazy(), ids, top_k=4, scheduler="sync")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("unlabelled", ["drop", "pool", "keep"])
def test_by_collapses_partners_to_labels(larva, unlabelled):
    ids, x = _dense(larva, "both", by="merge_class", unlabelled=unlabelled)
    pick = ids[::50]
    got = cx.similarity(larva, pick, by="merge_class", unlabelled=unlabelled)
    ref = _cosine(x)[np.ix_(np.searchsorted(ids, pick), np.searchsorted(ids, pick))]
    np.testing.assert_allclose(got.to_numpy(), ref, atol=1e-12, equal_nan=True)
    share = got.attrs["similarity"]["unlabelled_synapse_share"]
    assert set(share) == {"output", "input"} and 0 < share["input"] < 1


def test_unset_unlabelled_warns_and_records(larva, caplog):
    with caplog.at_level(logging.WARNING, logger="connectome.connectivity_similarity"):
        s = cx.similarity(larva, cx.ids_of(larva, merge_class="KC-4claw")[:3], by="merge_class")
    assert any("no merge_class label" in r.message and "dropped" in r.message for r in caplog.records)
    assert any("dropped" in w for w in s.attrs["similarity"]["warnings"])


def test_profiles_features_name_partners_and_labels(worm):
    p = cx.connectivity_profiles(worm, direction="both", by="super_class", unlabelled="pool")
    assert p.features.groupby("direction").size().to_dict() == {"input": 6, "output": 6}
    assert set(p.features.key) == {"interneuron", "motor", "muscle", "other", "sensory", "<unlabelled>"} - {
        "<unlabelled>"} | ({"<unlabelled>"} if p.meta["unlabelled_partners"] else set())


def test_across_datasets_by_label(worm):
    wit = cx.load("celegans_witvliet2021_8")
    ava = cx.ids_of(worm, name=["AVAL", "AVAR", "ASHL"])
    s = cx.similarity(worm, ava, other=wit, by="cell_type", unlabelled="drop", top_k=3)
    names_w = wit.node_table().set_index("root_id")["name"]
    best = s[s["rank"] == 1].set_index("root_id")["similar_root_id"].map(names_w)
    names_c = worm.node_table().set_index("root_id")["name"]
    best.index = best.index.map(names_c)
    assert best["AVAL"] in ("AVAL", "AVAR") and best["ASHL"] in ("ASHL", "ASHR")
    meta = s.attrs["similarity"]
    assert meta["other"] == "celegans_witvliet2021_8" and "only_in_c" in meta
    with pytest.raises(InputError, match="only in 'celegans_cook2019_herm'.*vocabulary='shared'"):
        cx.similarity(worm, ava, other=wit, by="cell_type", unlabelled="drop", vocabulary="strict")


def test_min_synapses_threshold(worm):
    ids, x = _dense(worm, "output", min_syn=5)
    got = cx.similarity(worm, ids[:40], direction="output", min_synapses=5)
    np.testing.assert_allclose(got.to_numpy(), _cosine(x)[:40, :40], atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("kwargs, match", [
    ({"top_k": 0}, "top_k must be a positive integer"),
    ({"top_k": -3}, "top_k must be a positive integer"),
    ({"ids": []}, "ids: the id set is empty"),
    ({"ids": [123]}, "ids: 1 id\\(s\\) are not neurons"),
    ({"metric": "euclid"}, "metric must be one of"),
    ({"direction": "up"}, "direction must be one of"),
    ({"min_synapses": 0}, "min_synapses must be a positive integer"),
    ({"unlabelled": "ignore", "by": "cell_type"}, "unlabelled must be one of"),
    ({"max_dense": 100}, "top_k: a dense 473 x 473 block"),
])
def test_bad_input_names_the_parameter(worm, kwargs, match):
    with pytest.raises(InputError, match=match):
        cx.similarity(worm, **kwargs)


def test_unknown_by_column_lists_columns(worm):
    with pytest.raises(ColumnError, match="cell_typ.*did you mean 'cell_type'"):
        cx.similarity(worm, by="cell_typ")
