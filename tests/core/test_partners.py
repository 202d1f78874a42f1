"""Partner tables and adjacency matrices against pandas groupby on the edge table (the larva,
C. elegans, a small per-neuropil graph)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import connectome as cx


@pytest.fixture(scope="module")
def larva(larva_store):
    return cx.load(larva_store)


def _reference(c: cx.Connectome, ids: np.ndarray, min_syn: int) -> pd.DataFrame:
    e = c.edge_table()
    e = e[e.edge_kind == "chemical"]
    pairs = e.groupby(["pre_root_id", "post_root_id"], as_index=False)["synapse_count"].sum()
    tot_in = pairs.groupby("post_root_id")["synapse_count"].sum()
    tot_out = pairs.groupby("pre_root_id")["synapse_count"].sum()
    up = pairs[pairs.post_root_id.isin(ids)].rename(columns={"post_root_id": "query_root_id",
                                                             "pre_root_id": "partner_root_id"})
    up["direction"] = "upstream"
    up["fraction"] = up.synapse_count / up.query_root_id.map(tot_in)
    down = pairs[pairs.pre_root_id.isin(ids)].rename(columns={"pre_root_id": "query_root_id",
                                                              "post_root_id": "partner_root_id"})
    down["direction"] = "downstream"
    down["fraction"] = down.synapse_count / down.query_root_id.map(tot_out)
    ref = pd.concat([up, down], ignore_index=True)
    ref = ref[ref.synapse_count >= min_syn]
    return ref.sort_values(["query_root_id", "direction", "partner_root_id"], ignore_index=True)


@pytest.mark.parametrize("min_syn", [1, 5])
def test_partners_equal_pandas_groupby_on_larva(larva, min_syn):
    ids = larva.node_table().root_id.to_numpy()[::97]
    ours = cx.partners(larva, ids, min_synapses=min_syn)
    ref = _reference(larva, ids, min_syn)
    got = ours.sort_values(["query_root_id", "direction", "partner_root_id"], ignore_index=True)
    assert len(got) == len(ref)
    for col in ("query_root_id", "partner_root_id", "synapse_count"):
        np.testing.assert_array_equal(got[col].to_numpy(np.int64), ref[col].to_numpy(np.int64))
    assert (got.direction.to_numpy() == ref.direction.to_numpy()).all()
    np.testing.assert_allclose(got.fraction.to_numpy(), ref.fraction.to_numpy(), rtol=1e-12)
    # sorted by query, upstream first, then synapses descending
    first = ours[ours.query_root_id == ours.query_root_id.iloc[0]]
    ups = first[first.direction == "upstream"].synapse_count.to_numpy()
    assert (np.diff(ups) <= 0).all()


def test_partners_by_group_sums_neurons(larva):
    ids = larva.node_table().root_id.to_numpy()[:40]
    per = cx.partners(larva, ids, direction="downstream", min_synapses=2)
    grp = cx.partners(larva, ids, direction="downstream", min_synapses=2, by="simple_group")
    assert int(grp.synapse_count.sum()) == int(per.synapse_count.sum())
    assert int(grp.connections.sum()) == len(per)
    lab = per.partner_simple_group.astype(object).where(per.partner_simple_group.notna(), "unknown")
    ref = per.assign(g=lab).groupby(["query_root_id", "g"]).synapse_count.sum()
    mine = grp.set_index(["query_root_id", "partner_simple_group"]).synapse_count
    assert ref.sort_index().tolist() == mine.sort_index().tolist()


def _toy() -> cx.Connectome:
    rows = pd.DataFrame({
        "pre_root_id": [1, 1, 2, 3, 1, 1, 3],
        "post_root_id": [2, 2, 3, 1, 3, 3, 2],
        "neuropil": ["AL_L", "LH_L", "AL_L", "LH_L", "AL_L", "MB_CA_L", "AL_L"],
        "nt_type": ["ACH", "ACH", "GABA", "GABA", "ACH", "GLUT", "ACH"],
        "synapse_count": [4, 3, 6, 9, 2, 5, 1]})
    nodes = pd.DataFrame({"root_id": [1, 2, 3], "cell_type": ["a", "b", "b"]})
    return cx.from_edges(rows, nodes, name="toy", manifest={"species": "Drosophila melanogaster"})


def test_partners_per_neuropil_and_neuropil_filter():
    c = _toy()
    p = cx.partners(c, [1], direction="downstream")
    assert p[["partner_root_id", "synapse_count", "top_neuropil", "top_neuropil_synapses"]].astype(str).values.tolist() \
        == [["2", "7", "AL_L", "4"], ["3", "7", "MB_CA_L", "5"]]
    pn = cx.partners(c, [1], direction="downstream", per_neuropil=True)
    assert int(pn.neuropil_synapses.sum()) == 14
    al = cx.partners(c, [1], direction="downstream", neuropil="AL_L")
    assert dict(zip(al.partner_root_id.astype(int), al.synapse_count)) == {2: 4, 3: 2}
    assert al.fraction.round(4).tolist() == [round(4 / 14, 4), round(2 / 14, 4)]  # of the total output
    s = cx.partners(c, [1], direction="downstream", signed=True)
    assert dict(zip(s.partner_root_id.astype(int), s.signed_synapses)) == {2: 7.0, 3: 2.0 - 5.0}
    assert s.attrs["sign_table"] == "FLY_SIGNS"


def test_partners_bad_input():
    c = cx.load("celegans_cook2019_herm")
    with pytest.raises(cx.errors.IdError, match=r"ids: 2 id\(s\) not in celegans_cook2019_herm: 1, 2"):
        cx.partners(c, [1, 2])
    with pytest.raises(cx.errors.InputError, match="ids: no neurons given"):
        cx.partners(c, [])
    with pytest.raises(cx.errors.InputError, match="direction must be"):
        cx.partners(c, cx.ids_of(c, cell_type="AVA"), direction="up")
    with pytest.raises(cx.errors.ColumnError, match="did you mean 'cell_type'"):
        cx.partners(c, cx.ids_of(c, cell_type="AVA"), by="celltype")
    with pytest.raises(cx.errors.ColumnError, match="no per-neuropil edges"):
        cx.partners(c, cx.ids_of(c, cell_type="AVA"), neuropil="AL_L")
    with pytest.raises(cx.errors.InputError, match="min_synapses must be a positive integer"):
        cx.partners(c, cx.ids_of(c, cell_type="AVA"), min_synapses=0)


def test_adjacency_equals_pandas_pivot(larva, tmp_path):
    nodes = larva.node_table()
    rows = nodes.root_id.to_numpy()[:300]
    cols = nodes.root_id.to_numpy()[200:700]
    a = cx.adjacency_matrix(larva, rows, cols)
    e = larva.edge_table()
    e = e[e.pre_root_id.isin(rows) & e.post_root_id.isin(cols)]
    ref = e.pivot_table(index="pre_root_id", columns="post_root_id", values="synapse_count", aggfunc="sum",
                        fill_value=0).reindex(index=np.sort(rows), columns=np.sort(cols), fill_value=0)
    np.testing.assert_array_equal(a.to_numpy(), ref.to_numpy())
    post = cx.adjacency_matrix(larva, rows, cols, normalize="post")
    tot_in = larva.edge_table().groupby("post_root_id").synapse_count.sum().reindex(np.sort(cols)).fillna(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        expect = np.nan_to_num(ref.to_numpy() / tot_in.to_numpy()[None, :])
    np.testing.assert_allclose(post.to_numpy(), expect, rtol=1e-12)
    sp = cx.adjacency_matrix(larva, rows, cols, sparse=True)
    np.testing.assert_array_equal(sp.matrix.toarray(), a.to_numpy())
    g = cx.adjacency_matrix(larva, rows, cols, by="simple_group")
    assert int(g.to_numpy().sum()) == int(a.to_numpy().sum())
    cx.plot_adjacency(g, tmp_path / "adj.png")
    assert (tmp_path / "adj.png").stat().st_size > 1000
