"""The Connectome API on real data: filters, neighbourhoods, type collapse, exports."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, InputError
from connectome.config import shared_data_dir


@pytest.fixture(scope="module")
def cook():
    return cx.load("celegans_cook2019_herm")


def test_load_default_has_the_302_hermaphrodite_neurons(cook):
    from cect import Cells

    nodes = cook.node_table()
    assert set(Cells.PREFERRED_HERM_NEURON_NAMES) <= set(nodes["name"])
    neurons = nodes[nodes["cell_category"] == "neuron"]
    assert len(neurons) == 302
    assert neurons["cell_type"].nunique() == 118  # the classic 118 classes (White et al. 1986)
    assert type(cook.nodes).__module__.startswith("dask")
    assert type(cook.edges).__module__.startswith("dask")


def test_from_edges_like_networkx_from_pandas_edgelist():
    e = pd.DataFrame({"a": [1, 2, 3], "b": [2, 3, 1], "w": [5, 2, 9]})
    c = cx.from_edges(e, columns={"a": "pre_root_id", "b": "post_root_id", "w": "synapse_count"}, name="mine")
    g = cx.to_networkx(c)
    ref = nx.from_pandas_edgelist(e, "a", "b", edge_attr="w", create_using=nx.DiGraph)
    assert sorted(g.edges(data="synapse_count")) == sorted(ref.edges(data="w"))
    assert c.manifest.name == "mine"


def test_from_edges_node_policies():
    e = pd.DataFrame({"pre_root_id": [1, 9], "post_root_id": [2, 1], "synapse_count": [1, 1]})
    n = pd.DataFrame({"root_id": [1, 2], "cell_type": ["x", "y"]})
    added = cx.from_edges(e, n)
    assert added.n_nodes == 3 and added.node_table()["cell_type"].isna().sum() == 1
    with pytest.raises(InputError, match="not in nodes.*missing_nodes='add'"):
        cx.from_edges(e, n, missing_nodes="error")
    dropped = cx.from_edges(e, n, missing_nodes="drop")
    assert dropped.n_edges == 1 and dropped.n_nodes == 2


def test_filter_edges(cook):
    strong = cx.filter_edges(cook, min_synapses=5)
    e = strong.edge_table()
    assert e["synapse_count"].min() == 5
    assert strong.n_nodes == cook.n_nodes  # edge filters keep every node
    ref = cook.edge_table()
    assert len(e) == int((ref["synapse_count"] >= 5).sum())
    chem = cx.filter_edges(cook, edge_kind="chemical")
    assert set(chem.edge_table()["edge_kind"]) == {"chemical"}
    assert chem.manifest.extra["derived"][0].startswith("filter_edges")
    with pytest.raises(InputError, match="min_synapses must be a positive integer"):
        cx.filter_edges(cook, min_synapses=0)
    with pytest.raises(ColumnError, match="'neuropil' not found"):
        cx.filter_edges(cook, neuropil="ME_R")
    with pytest.raises(InputError, match="unknown kind 'electrical'"):
        cx.filter_edges(cook, edge_kind="electrical")


def test_select_and_subgraph_are_induced(cook):
    sens = cx.select(cook, super_class="sensory")
    ids = set(int(x) for x in sens.node_table()["root_id"])
    e = sens.edge_table()
    assert set(int(x) for x in e["pre_root_id"]) <= ids and set(int(x) for x in e["post_root_id"]) <= ids
    q = cx.select(cook, query="super_class == 'motor' and side == 'left'")
    assert set(q.node_table()["super_class"]) == {"motor"}
    with pytest.raises(ColumnError, match="did you mean 'cell_type'"):
        cx.select(cook, celltype="AVA")
    with pytest.raises(InputError, match="2 id\\(s\\) not in celegans_cook2019_herm: 1, 2"):
        cx.subgraph(cook, [1, 2])


def test_neighborhood_matches_networkx(cook):
    g = cx.to_networkx(cook, edge_kind="chemical")
    chem = cx.filter_edges(cook, edge_kind="chemical")
    seed = int(cx.ids_of(cook, name="AVAL")[0])
    for k in (1, 2):
        for direction in ("in", "out", "both"):
            hood = cx.neighborhood(chem, [seed], k=k, direction=direction)
            got = set(int(x) for x in hood.node_table()["root_id"])
            if direction == "out":
                want = set(nx.single_source_shortest_path_length(g, seed, cutoff=k))
            elif direction == "in":
                want = set(nx.single_source_shortest_path_length(g.reverse(), seed, cutoff=k))
            else:
                want = set(nx.single_source_shortest_path_length(g.to_undirected(), seed, cutoff=k))
            assert got == want, (k, direction)
    with pytest.raises(InputError, match="direction must be"):
        cx.neighborhood(cook, [seed], direction="up")


def test_collapse_counts_match_a_direct_groupby(cook):
    t = cx.collapse(cook, by="cell_type", min_synapses=3)
    nodes = cook.node_table().set_index("root_id")
    e = cook.edge_table()
    e = e[e["edge_kind"] == "chemical"].groupby(["pre_root_id", "post_root_id"])["synapse_count"].sum().reset_index()
    e = e[e["synapse_count"] >= 3]
    e["a"] = nodes.loc[e["pre_root_id"], "cell_type"].to_numpy()
    e["b"] = nodes.loc[e["post_root_id"], "cell_type"].to_numpy()
    ref = e.groupby(["a", "b"]).agg(s=("synapse_count", "sum"), n=("synapse_count", "size"))
    got = t.set_index(["pre_cell_type", "post_cell_type"])
    assert len(got) == len(ref)
    for (a, b), row in ref.iterrows():
        assert got.loc[(a, b), "synapse_count"] == row["s"]
        assert got.loc[(a, b), "connection_count"] == row["n"]
    ava = got.loc[("AVA", "AVA")]
    assert ava["n_pre"] == 2 and ava["connection_probability"] == ava["connection_count"] / 2
    with pytest.raises(ColumnError, match="'celltype' not found in nodes"):
        cx.collapse(cook, by="celltype")


def test_csr_round_trip_store_load_csr_same_edges(tmp_path, cook):
    path = tmp_path / "cook"
    cook.save(path, progress=False)
    loaded = cx.load(path)
    for kind in ("chemical", "gap_junction"):
        csr = cx.to_csr(loaded, edge_kind=kind)
        back = csr.to_edges()
        e = cook.edge_table()
        e = e[e["edge_kind"] == kind][["pre_root_id", "post_root_id", "synapse_count"]]
        e = e.sort_values(["pre_root_id", "post_root_id"], ignore_index=True)
        pd.testing.assert_frame_equal(back, e, check_dtype=False)
    gj = cx.to_csr(cook, edge_kind="gap_junction").matrix
    assert (gj != gj.T).nnz == 0  # gap junctions are symmetric


def test_networkx_export_has_attributes(cook):
    g = cx.to_networkx(cook)
    assert g.number_of_nodes() == 473
    aval = int(cx.ids_of(cook, name="AVAL")[0])
    avar = int(cx.ids_of(cook, name="AVAR")[0])
    assert g.nodes[aval]["super_class"] == "interneuron"
    both = g.edges[aval, avar]
    assert both["synapse_count"] == both.get("chemical", 0) + both.get("gap_junction", 0)
    mg = cx.to_networkx(cook, multigraph=True)
    assert mg.number_of_edges() == cook.n_edges


def test_summary_counts(cook):
    s = cx.summary(cook)
    e = cook.edge_table()
    assert s["edges"] == len(e) and s["synapses"] == int(e["synapse_count"].sum())
    assert s["edge_kinds"]["chemical"]["rows"] + s["edge_kinds"]["gap_junction"]["rows"] == len(e)
    assert s["labels"]["cell_type"]["distinct"] == cook.node_table()["cell_type"].nunique()


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(cx.errors.DatasetNotFoundError) as info:
        cx.load("celegans_cook2019")
    msg = str(info.value)
    assert "celegans_cook2019_herm" in msg and "connectome datasets" in msg


def test_buildable_dataset_builds_into_the_data_home(data_home):
    c = cx.load("celegans_witvliet2021_3")
    assert c.path.parent == data_home
    row = cx.datasets().set_index("name").loc["celegans_witvliet2021_3"]
    assert row["location"] == "home" and row["edges"] == c.n_edges


def test_ids_dtype_is_int64_everywhere(cook):
    """int64, the field's dtype (CAVE, Codex, neuPrint), also from the bundled stores written with uint64 ids."""
    assert cook.node_table()["root_id"].dtype == np.int64
    assert cook.edge_table()["pre_root_id"].dtype == np.int64
    assert cook.edges.dtypes["post_root_id"] == np.int64


@pytest.fixture(scope="module")
def flywire_labels():
    """Three FlyWire v783 neurons joined by two edges, with every FlyWire neuron's labels as nodes."""
    nodes = pd.read_parquet(shared_data_dir() / "flywire_v783_labels" / "neurons_v783.parquet",
                            columns=["root_id", "cell_type", "primary_type", "super_class"])
    return cx.from_edges(pd.DataFrame({"pre_root_id": nodes.root_id[:2].to_numpy(),
                                       "post_root_id": nodes.root_id[1:3].to_numpy(), "synapse_count": [5, 6]}),
                         nodes, name="flywire_labels")


def test_a_label_lookup_that_matches_nothing_says_why(flywire_labels):
    """FlyWire's oviIN is a primary_type, not a cell_type: the error says so instead of returning []."""
    from connectome.errors import LabelError

    c = flywire_labels

    with pytest.raises(LabelError) as err:
        cx.ids_of(c, cell_type="oviIN")
    msg = str(err.value)
    assert err.value.parameter == "cell_type" and "primary_type" in msg and "allow_empty=True" in msg
    assert "close values of cell_type" in msg  # a near miss is named
    assert len(cx.ids_of(c, primary_type="oviIN")) == 2
    assert len(cx.ids_of(c, cell_type="oviIN", allow_empty=True)) == 0
    with pytest.raises(LabelError, match="no node matches all of"):  # each alone matches, not together
        cx.ids_of(c, primary_type="oviIN", super_class="optic")
    with pytest.raises(LabelError):
        cx.select(c, cell_type="oviIN")
    assert cx.select(c, cell_type="oviIN", allow_empty=True).n_nodes == 0


def test_every_value_of_a_label_list_is_checked(flywire_labels):
    """A typo in a list is refused like a single typo (it used to be dropped: a partial set, no word)."""
    from connectome.errors import LabelError

    c = flywire_labels

    with pytest.raises(LabelError) as err:
        cx.ids_of(c, primary_type=["oviIN", "SMP54"])
    msg = str(err.value)
    assert err.value.parameter == "primary_type"
    assert "no node has primary_type='SMP54'" in msg and "1 of the 2 values" in msg and "'oviIN'" not in msg
    assert "close values of primary_type: 'SMP5" in msg and "allow_empty=True" in msg
    with pytest.raises(LabelError, match=r"primary_type=\['SMP54', 'ovIN'\].*2 of the 3 values"):
        cx.select(c, primary_type=["oviIN", "SMP54", "ovIN"])
    both = cx.ids_of(c, primary_type=["oviIN", "SMP054"])
    assert len(both) > 2 and both.dtype.kind in "iu"
    nodes = c.node_table()
    assert set(both) == set(nodes.root_id[nodes.primary_type.isin(["oviIN", "SMP054"])])
    # allow_empty=True accepts values that match no node (the others still select)
    assert len(cx.ids_of(c, primary_type=["oviIN", "SMP54"], allow_empty=True)) == 2


def test_from_edges_understands_the_names_the_cli_does(caplog):
    """One alias table (connectome.schema.COLUMN_ALIASES) for cx.from_edges and `connectome ingest`."""
    from connectome.schema import COLUMN_ALIASES
    from connectome.ingest.tables import COLUMN_ALIASES as INGEST_ALIASES

    assert INGEST_ALIASES is COLUMN_ALIASES
    codex = pd.DataFrame({"pre_root_id": [1, 2], "post_root_id": [2, 1], "syn_count": [5, 7]})
    neuprint = pd.DataFrame({"bodyId_pre": [1, 2], "bodyId_post": [2, 1], "weight": [5, 7]})
    with caplog.at_level("WARNING"):
        a, b = cx.from_edges(codex), cx.from_edges(neuprint, pd.DataFrame({"bodyId": [1, 2], "type": ["x", "y"]}))
    assert "syn_count -> synapse_count" in caplog.text and "bodyId_pre -> pre_root_id" in caplog.text
    pd.testing.assert_frame_equal(a.edge_table(), b.edge_table())
    assert b.node_table()["cell_type"].tolist() == ["x", "y"]
    assert b.manifest.source["renamed_columns"] == {
        "edges": {"bodyId_pre": "pre_root_id", "bodyId_post": "post_root_id", "weight": "synapse_count"},
        "nodes": {"bodyId": "root_id", "type": "cell_type"}}
    # the user's mapping wins over the aliases, and a misspelt one is refused
    both = codex.assign(weight=[1, 1])
    c = cx.from_edges(both, columns={"weight": "synapse_count", "syn_count": "raw_syn_count"})
    assert c.edge_table()["synapse_count"].tolist() == [1, 1]
    with pytest.raises(ColumnError, match="'wieght' not found in edges.*Fix the column mapping") as err:
        cx.from_edges(codex, columns={"wieght": "synapse_count"})
    assert err.value.parameter == "columns"


def test_no_module_shadows_an_exported_function():
    """`import connectome.x` sets the package attribute `x` to the module: a module named like an exported
    function (cx.clustering, cx.similarity, ...) would replace the function once anything imports it."""
    from pathlib import Path

    import connectome

    folder = Path(connectome.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    clashes = {name: target for name, target in connectome._EXPORTS.items() if name in modules and name != target}
    assert not clashes, clashes
