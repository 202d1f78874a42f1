"""C. elegans from cect: the embedded snapshots equal a fresh conversion; labels and gap junctions."""

from __future__ import annotations

import pandas as pd
import pytest

import connectome as cx
from connectome.registry import snapshot_dir
from connectome.store import read_manifest, read_table
from connectome.ingest.celegans import CELEGANS_DATASETS, cell_class, convert
from connectome.ingest.snapshot import SNAPSHOT_DATASETS


@pytest.mark.parametrize("name", SNAPSHOT_DATASETS)
def test_snapshot_equals_fresh_conversion(name):
    nodes, edges, manifest = convert(name)
    path = snapshot_dir() / name
    pd.testing.assert_frame_equal(read_table(path, "nodes"), nodes)
    pd.testing.assert_frame_equal(read_table(path, "edges"), edges)
    m, _ = read_manifest(path)
    assert m.source["dataset"] == manifest.source["dataset"]
    assert m.species == "Caenorhabditis elegans"


@pytest.mark.parametrize("name", sorted(set(CELEGANS_DATASETS) - set(SNAPSHOT_DATASETS)))
def test_every_cect_dataset_converts(name):
    nodes, edges, _ = convert(name)
    assert len(nodes) > 50 and len(edges) > 100
    assert set(edges["edge_kind"]) <= {"chemical", "gap_junction"}
    assert edges["pre_root_id"].isin(nodes["root_id"]).all()


@pytest.mark.parametrize("name", ["celegans_cook2019_herm", "celegans_witvliet2021_8"])
def test_gap_junctions_symmetric_and_kept_apart(name):
    c = cx.load(name)
    gj = cx.to_csr(c, edge_kind="gap_junction").matrix
    chem = cx.to_csr(c, edge_kind="chemical").matrix
    assert gj.nnz > 0 and (gj != gj.T).nnz == 0
    assert (chem != chem.T).nnz > 0  # chemical synapses are directed


def test_same_cell_same_id_across_datasets():
    a = cx.load("celegans_cook2019_herm").node_table().set_index("name")["root_id"]
    b = cx.load("celegans_witvliet2021_8").node_table().set_index("name")["root_id"]
    common = a.index.intersection(b.index)
    assert len(common) > 150 and (a[common] == b[common]).all()


def test_labels_of_well_known_neurons():
    n = cx.load("celegans_cook2019_herm").node_table().set_index("name")
    assert n.loc["AVAL", ["cell_type", "super_class", "side", "nt_type"]].tolist() == ["AVA", "interneuron", "left", "ACH"]
    assert n.loc["ASEL", "super_class"] == "sensory"
    assert n.loc["DD1", ["cell_type", "super_class", "nt_type"]].tolist() == ["DD", "motor", "GABA"]
    assert n.loc["NSML", "nt_type"] == "SER"
    assert bool(n.loc["I1L", "pharyngeal"]) and not bool(n.loc["AVAL", "pharyngeal"])
    assert n.loc["MDL05", ["cell_category", "super_class"]].tolist() == ["muscle", "muscle"]
    assert n.loc["RMED", "side"] == "center"


@pytest.mark.parametrize("name,expected", [
    ("AVAL", "AVA"), ("RMDDL", "RMD"), ("RMDL", "RMD"), ("IL1VR", "IL1"), ("IL1L", "IL1"), ("VB11", "VB"),
    ("SABD", "SAB"), ("SABVL", "SAB"), ("AVL", "AVL"), ("RIVL", "RIV"), ("RID", "RID"), ("AVDL", "AVD"),
    ("CEPDL", "CEP"), ("MCL", "MC"), ("CEPshDL", "CEPsh"), ("R1BL", "R1B"), ("CA04", "CA"), ("dglL3", "dgl"),
])
def test_cell_classes(name, expected):
    assert cell_class(name) == expected


def test_male_has_male_specific_neurons():
    n = cx.load("celegans_cook2019_male").node_table()
    male = n[n["male_specific"] & (n["cell_category"] == "neuron")]
    assert len(male) > 80
    assert {"CEM", "CA", "R1A"} <= set(male["cell_type"])
