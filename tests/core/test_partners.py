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


def test_a_neuropil_list_with_a_typo_is_refused():
    c = _toy()
    with pytest.raises(cx.errors.LabelError, match=r"neuropil: no edge has neuropil='AL_X' \(1 of the 2 values "
                       r"given\); close values of neuropil: 'AL_L'"):
        cx.partners(c, [1], direction="downstream", neuropil=["AL_L", "AL_X"])
    with pytest.raises(cx.errors.LabelError, match=r"neuropil='MB_CA_X'.*close values of neuropil: 'MB_CA_L'"):
        cx.filter_edges(c, neuropil=["MB_CA_X", "AL_L"])
    assert cx.filter_edges(c, neuropil=["MB_CA_L", "AL_L"]).filters == {"neuropil": ["MB_CA_L", "AL_L"]}


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


# ---------------------------------------------------------------------- what a fraction is of (issue 23, item 9)
def test_partner_metadata_tells_a_filtered_graph_from_a_partner_threshold():
    c = cx.load("celegans_cook2019_herm")
    ids = cx.ids_of(c, cell_type="AVA")
    a = cx.partners(cx.filter_edges(c, min_synapses=5), ids)
    b = cx.partners(c, ids, min_synapses=5)
    assert a.fraction.iloc[0] != b.fraction.iloc[0]  # same partners, other denominators
    assert a.attrs["graph_filters"] == {"min_synapses": 5} and a.attrs["min_synapses"] == 1
    assert b.attrs["graph_filters"] == {} and b.attrs["min_synapses"] == 5
    assert "after the graph's filters (min_synapses=5)" in a.attrs["fraction_of"]
    assert "graph as loaded" in b.attrs["fraction_of"] and "pairs below min_synapses=5 included" in \
        b.attrs["fraction_of"]
    # filters compose: the strictest threshold, the kinds in both, node selections listed
    g = cx.filter_edges(cx.filter_edges(c, min_synapses=3, edge_kind=["chemical", "gap_junction"]),
                        min_synapses=2, edge_kind="chemical")
    assert g.filters == {"min_synapses": 3, "edge_kind": ["chemical"]}
    s = cx.select(g, super_class="interneuron")
    assert s.filters["min_synapses"] == 3 and s.filters["nodes"] == ["select(super_class='interneuron')"]
    assert c.filters == {}
    # the same record on influence and adjacency results
    assert cx.influence(g, ids, hops=1, top=3).attrs["graph_filters"]["min_synapses"] == 3
    assert cx.adjacency_matrix(g, ids).attrs["graph_filters"]["edge_kind"] == ["chemical"]


def _with_totals(input_total: list[int]) -> tuple[cx.Connectome, list[int]]:
    ids = [648518346349538157, 720575940621039145, 720575940621039146]
    e = pd.DataFrame({"pre_root_id": [ids[0], ids[1], ids[1]], "post_root_id": [ids[2], ids[2], ids[0]],
                      "synapse_count": [6, 4, 10]})
    nodes = pd.DataFrame({"root_id": ids, "input_synapses": input_total, "output_synapses": [60, 400, 7]})
    return cx.from_edges(e, nodes, name="subgraph_export"), ids


def test_partner_fractions_from_whole_brain_totals_in_node_columns(caplog):
    c, ids = _with_totals([100, 0, 50])
    graph = cx.partners(c, [ids[2]], direction="upstream")
    assert graph.fraction.tolist() == pytest.approx([0.6, 0.4])  # of the 10 input synapses in this graph
    t = cx.partners(c, [ids[2]], totals=("input_synapses", "output_synapses"))
    up = t[t.direction == "upstream"]
    assert up.partner_root_id.astype("int64").tolist() == [ids[0], ids[1]]
    assert up.fraction.tolist() == pytest.approx([6 / 50, 4 / 50])  # Codex's denominators
    assert t.attrs["totals"] == ("input_synapses", "output_synapses")
    assert "node column 'input_synapses'" in t.attrs["fraction_of"]
    out = cx.partners(c, [ids[1]], direction="downstream", totals=("input_synapses", "output_synapses"))
    assert out.fraction.tolist() == pytest.approx([10 / 400, 4 / 400])
    assert t.attrs["warnings"] == []
    # a total below the graph's own sum: said (log and metadata), fractions above 1 are not hidden
    bad, ids = _with_totals([5, 0, 50])
    with caplog.at_level("WARNING", logger="connectome.partner_tables"):
        r = cx.partners(bad, [ids[0]], direction="upstream", totals=("input_synapses", "output_synapses"))
    assert r.fraction.tolist() == [2.0]
    assert any("1 query neuron(s) have input_synapses below" in w for w in r.attrs["warnings"])
    assert "input_synapses below" in caplog.text


def test_partner_totals_refusals():
    c, ids = _with_totals([100, 0, 50])
    with pytest.raises(cx.errors.ColumnError, match="column .input_syn. not found in nodes.*totals"):
        cx.partners(c, [ids[2]], totals=("input_syn", "output_synapses"))
    with pytest.raises(cx.errors.InputError, match="totals must be 'graph' or a pair of node columns"):
        cx.partners(c, [ids[2]], totals="nodes")
    labelled = c.with_node_columns(pd.DataFrame({"root_id": ids, "kind": ["a", "b", "c"]}))
    with pytest.raises(cx.errors.InputError, match="totals: node column 'kind' is not numeric"):
        cx.partners(labelled, [ids[2]], totals=("kind", "output_synapses"))
