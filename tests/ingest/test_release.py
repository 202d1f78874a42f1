"""Release-file ingest: larva, FlyWire Codex (CSV.gz and Zenodo feather), neuPrint, generic edge
lists, the real FlyWire v783 neuron table; and every bad-input path writes nothing."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, DuplicateEdgeError, IdError, InputError, SourceNotFoundError, StoreWriteError, SynapseCountError
from connectome.ingest.release import ingest_codex, ingest_edgelist, ingest_neuprint, ingest_tables


def test_larva_loads_with_labels(larva_store, shared_data):
    c = cx.load(larva_store)
    raw_e = pd.read_parquet(shared_data / "drosophila_larva_winding2023" / "edges.parquet")
    raw_n = pd.read_parquet(shared_data / "drosophila_larva_winding2023" / "nodes.parquet")
    assert c.n_edges == len(raw_e) == 119010
    e = c.edge_table()
    assert int(e["synapse_count"].sum()) == int(raw_e["syn_count"].sum())
    assert int((e["pre_root_id"] == e["post_root_id"]).sum()) == 577
    n = c.node_table().set_index("root_id")
    assert set(raw_n["skid"].astype("int64")) <= set(n.index)
    assert n["merge_class"].nunique() == raw_n["merge_class"].nunique()
    assert set(n["side"].dropna()) <= {"left", "right", "center"}
    assert "Winding" in c.manifest.source["citation"]


def test_larva_by_name_builds_once(data_home, shared_data):
    c = cx.load("drosophila_larva_winding2023")
    assert c.path == (data_home / "drosophila_larva_winding2023").absolute()
    assert cx.datasets().set_index("name").loc["drosophila_larva_winding2023", "location"] == "home"


@pytest.fixture(scope="module")
def codex_files(tmp_path_factory, shared_data):
    """Codex-format release files built from real FlyWire ids (synthetic edges)."""
    d = tmp_path_factory.mktemp("codex")
    edges = pd.read_parquet(shared_data / "flywire_scale_synthetic" / "edges.parquet").head(20_000)
    rng = np.random.default_rng(1)
    conn = edges.rename(columns={})[["pre_root_id", "post_root_id", "syn_count", "nt_type"]].copy()
    conn.insert(2, "neuropil", rng.choice(["ME_R", "LO_R", "AL_L"], len(conn)))
    conn.to_csv(d / "connections.csv.gz", index=False)
    fe = conn.rename(columns={"pre_root_id": "pre_pt_root_id", "post_root_id": "post_pt_root_id"})
    fe = fe.drop(columns="nt_type").assign(gaba_avg=0.1, ach_avg=0.7)
    fe.to_feather(d / "proofread_connections_783.feather")
    return d, conn


def test_codex_csv_gz_loads_with_neuropils(codex_files, shared_data, tmp_path):
    d, conn = codex_files
    p = ingest_codex(d / "connections.csv.gz", shared_data / "flywire_v783_labels" / "neurons_v783.parquet",
                     out=tmp_path / "fw", version="783", progress=False)
    c = cx.load(p)
    assert c.manifest.version == {"materialization": "783"}
    e = c.edge_table()
    assert len(e) == len(conn) and set(e["neuropil"]) == {"ME_R", "LO_R", "AL_L"}
    assert e["pre_root_id"].dtype == np.int64
    assert set(e["pre_root_id"]) == set(conn["pre_root_id"].astype("int64"))
    assert c.n_nodes == 139255
    me = cx.filter_edges(c, neuropil="ME_R").edge_table()
    assert len(me) == int((conn["neuropil"] == "ME_R").sum())
    assert c.node_table()["super_class"].nunique() == 9


def test_zenodo_feather_columns_are_renamed(codex_files, tmp_path):
    d, conn = codex_files
    c = cx.load(ingest_codex(d / "proofread_connections_783.feather", out=tmp_path / "z", progress=False))
    assert {"gaba_avg", "ach_avg", "neuropil"} <= set(c.edge_columns)
    assert int(c.edge_table()["synapse_count"].sum()) == int(conn["syn_count"].sum())


def test_codex_threshold_is_explicit(codex_files, tmp_path):
    d, conn = codex_files
    c = cx.load(ingest_codex(d / "connections.csv.gz", out=tmp_path / "t5", min_synapses=10, progress=False))
    assert c.edge_table()["synapse_count"].min() >= 10
    assert c.manifest.extra["min_synapses"] == 10


def test_flywire_v783_neuron_table_ingests_as_nodes(shared_data, tmp_path):
    src = pd.read_parquet(shared_data / "flywire_v783_labels" / "neurons_v783.parquet")
    c = cx.load(ingest_codex(neurons=shared_data / "flywire_v783_labels" / "neurons_v783.parquet",
                             out=tmp_path / "n", progress=False))
    n = c.node_table()
    assert c.n_edges == 0 and len(n) == len(src) == 139255
    assert set(n["root_id"]) == set(src["root_id"].astype("int64"))
    assert n["cell_type"].nunique() == src["cell_type"].nunique()
    assert {"super_class", "class", "side", "nt_type", "hemilineage"} <= set(n.columns)


def test_neuprint_export(tmp_path):
    e = pd.DataFrame({"bodyId_pre": [1, 2, 2], "bodyId_post": [2, 1, 3], "weight": [4, 5, 6],
                      "roi": ["MB", "MB", "LH"]})
    e.to_csv(tmp_path / "e.csv", index=False)
    n = pd.DataFrame({"bodyId": [1, 2, 3], "type": ["KC", "MBON01", "LHN"], "instance": ["a", "b", "c"]})
    n.to_csv(tmp_path / "n.csv", index=False)
    c = cx.load(ingest_neuprint(tmp_path / "e.csv", tmp_path / "n.csv", out=tmp_path / "s",
                                dataset="hemibrain:v1.2.1", progress=False))
    assert c.node_table()["cell_type"].tolist() == ["KC", "MBON01", "LHN"]
    assert sorted(c.edge_table()["neuropil"]) == ["LH", "MB", "MB"]
    assert c.manifest.source["dataset"] == "hemibrain:v1.2.1"


def test_edgelist_ids_up_to_2_63_survive_a_csv_and_above_are_refused(tmp_path):
    big = [2**63 - 7, 720575940621039145, 12]
    pd.DataFrame({"src": big, "dst": big[1:] + big[:1], "n": [1, 2, 3]}).to_csv(tmp_path / "big.csv", index=False)
    c = cx.load(ingest_edgelist(tmp_path / "big.csv", out=tmp_path / "b", progress=False,
                                columns={"src": "pre_root_id", "dst": "post_root_id", "n": "synapse_count"}))
    assert sorted(int(x) for x in c.edge_table()["pre_root_id"]) == sorted(big)
    assert sorted(int(x) for x in c.edges.compute()["post_root_id"]) == sorted(big)
    assert c.edge_table()["pre_root_id"].dtype == np.int64
    pd.DataFrame({"src": [2**63 + 7, 12], "dst": [12, 2**63 + 7], "n": [1, 2]}).to_csv(tmp_path / "big.csv", index=False)
    with pytest.raises(IdError, match=r"id 9223372036854775815 is 2\*\*63 or more; root ids are int64"):
        ingest_edgelist(tmp_path / "big.csv", out=tmp_path / "b2", progress=False,
                        columns={"src": "pre_root_id", "dst": "post_root_id", "n": "synapse_count"})


# ---------------------------------------------------------------- bad input: clear error, nothing written

def write(tmp_path, df, name="e.csv"):
    df.to_csv(tmp_path / name, index=False)
    return tmp_path / name


GOOD = pd.DataFrame({"pre_root_id": [1, 2], "post_root_id": [2, 1], "synapse_count": [3, 4]})


@pytest.mark.parametrize("df,error,match", [
    (GOOD.rename(columns={"pre_root_id": "pre_rootid"}), ColumnError, "'pre_root_id' not found in edges.*did you mean 'pre_rootid'"),
    (GOOD.drop(columns="synapse_count"), ColumnError, "'synapse_count' not found"),
    (GOOD.assign(synapse_count=[3, -2]), SynapseCountError, "counts must be >= 1; found -2"),
    (GOOD.assign(synapse_count=[3.5, 1.0]), SynapseCountError, "must be integers; found 3.5"),
    (pd.concat([GOOD, GOOD.head(1)]), DuplicateEdgeError, "duplicate edge row"),
    (GOOD.assign(pre_root_id=["1", str(2**64)]), IdError, "is 2\\*\\*63 or more; root ids are int64"),
    (GOOD.assign(pre_root_id=[1.0, np.nan]), IdError, "missing id"),
])
def test_bad_edge_files(tmp_path, df, error, match):
    f = write(tmp_path, df)
    out = tmp_path / "store"
    with pytest.raises(error, match=match):
        ingest_tables(f, name="bad", out=out, progress=False)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv"]


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(SourceNotFoundError, match="edges: .*nope.csv' does not exist"):
        ingest_tables(tmp_path / "nope.csv", name="x", out=tmp_path / "s", progress=False)
    (tmp_path / "e.xlsx").write_text("x")
    with pytest.raises(InputError, match="cannot tell the format of 'e.xlsx'"):
        ingest_tables(tmp_path / "e.xlsx", name="x", out=tmp_path / "s", progress=False)
    with pytest.raises(ColumnError, match="'weight' not found in edges.*Fix the column mapping"):
        ingest_edgelist(write(tmp_path, GOOD), out=tmp_path / "s", columns={"weight": "synapse_count"},
                        progress=False)
    assert not (tmp_path / "s").exists()


def test_unwritable_output(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreWriteError, match="is a file"):
        ingest_tables(write(tmp_path, GOOD), name="x", out=tmp_path / "file", progress=False)
    assert (tmp_path / "file").read_text() == "x"


# ---------------------------------------------------------------- issue 16: honest defaults of file ingest

def test_nodes_in_edges_keeps_only_the_nodes_the_edges_touch(tmp_path, caplog):
    """A whole-brain label table for a small edge list: --nodes-in-edges keeps the edge list's neurons only."""
    from helpers import run_cli

    e = write(tmp_path, pd.DataFrame({"src": [1, 2, 3], "dst": [2, 3, 1], "n": [5, 6, 7]}))
    n = write(tmp_path, pd.DataFrame({"root_id": range(1, 101), "cell_type": [f"t{i}" for i in range(100)]}),
              "labels.csv")
    cols = {"src": "pre_root_id", "dst": "post_root_id", "n": "synapse_count"}
    with caplog.at_level("WARNING"):
        whole = cx.load(ingest_edgelist(e, n, out=tmp_path / "whole", columns=cols, progress=False))
    assert whole.n_nodes == 100 and "97 of the 100 nodes" in caplog.text and "--nodes-in-edges" in caplog.text
    assert whole.manifest.extra["isolated_nodes"] == {"policy": "keep", "isolated_nodes": 97, "nodes_in_table": 100}
    caplog.clear()
    with caplog.at_level("WARNING"):
        kept = cx.load(ingest_edgelist(e, n, out=tmp_path / "kept", columns=cols, isolated="keep", progress=False))
    assert kept.n_nodes == 100 and "isolated" not in caplog.text
    r = run_cli("ingest", "edgelist", str(e), "--nodes", str(n), "--nodes-in-edges", "--out", str(tmp_path / "small"),
                "--map", "src=pre_root_id", "dst=post_root_id", "n=synapse_count")
    assert r.returncode == 0, r.stderr
    small = cx.load(tmp_path / "small")
    assert small.n_nodes == 3 and small.node_table()["cell_type"].tolist() == ["t0", "t1", "t2"]
    assert small.manifest.extra["isolated_nodes"]["policy"] == "drop"
    r = run_cli("ingest", "edgelist", str(e), "--nodes", str(n), "--nodes-in-edges", "--keep-isolated")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr
    with pytest.raises(InputError, match="isolated must be 'keep' or 'drop'"):
        ingest_edgelist(e, n, out=tmp_path / "bad", columns=cols, isolated="some", progress=False)
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("content,match", [
    ("", r"e.csv' is empty"),
    ("pre_root_id,post_root_id,synapse_count\n", (r"e.csv' has a header \(pre_root_id, post_root_id, "
                                                  r"synapse_count\) but no rows")),
])
def test_empty_and_header_only_files_are_refused(tmp_path, content, match):
    from helpers import run_cli

    (tmp_path / "e.csv").write_text(content)
    with pytest.raises(InputError, match=match):
        ingest_edgelist(tmp_path / "e.csv", out=tmp_path / "s", progress=False)
    r = run_cli("ingest", "edgelist", str(tmp_path / "e.csv"), "--out", str(tmp_path / "s"))
    assert r.returncode == 2 and "No columns to parse" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: edges: ") and re.search(match, r.stderr), r.stderr
    assert not (tmp_path / "s").exists()


def test_semicolon_separated_file_is_detected_and_said(tmp_path, caplog):
    from helpers import run_cli

    (tmp_path / "e.csv").write_text("pre_root_id;post_root_id;synapse_count\n1;2;5\n2;1;3\n")
    with caplog.at_level("WARNING"):
        c = cx.load(ingest_edgelist(tmp_path / "e.csv", out=tmp_path / "s", progress=False))
    assert c.n_edges == 2 and "';'-separated" in caplog.text
    r = run_cli("ingest", "edgelist", str(tmp_path / "e.csv"), "--out", str(tmp_path / "s2"))
    assert r.returncode == 0 and "';'-separated" in r.stderr, r.stderr


def test_renames_are_recorded_in_the_manifest(tmp_path):
    f = write(tmp_path, pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "w": [3]}))
    c = cx.load(ingest_edgelist(f, out=tmp_path / "s", columns={"w": "synapse_count"}, progress=False))
    assert c.manifest.source["renamed_columns"] == {
        "edges": {"w": "synapse_count", "bodyId_pre": "pre_root_id", "bodyId_post": "post_root_id"}}


# ------------------------------------------------ issue 23: the FlyWire recipe on Codex's own tables

def _codex_like(tmp_path):
    ids = np.array([720575940621039145, 720575940626960862, 720575940615043368], dtype=np.int64)
    pd.DataFrame({"pre_root_id": ids[[0, 1]], "post_root_id": ids[[1, 2]], "neuropil": ["AL_L", "AL_L"],
                  "syn_count": [7, 9], "nt_type": ["ACH", "GABA"]}).to_csv(tmp_path / "conn.csv", index=False)
    pd.DataFrame({"root_id": ids, "primary_type": ["ORN_DA1", "DA1_lPN", "LHN"],  # both columns, as Codex
                  "cell_type": ["ORN", None, "LH"], "super_class": ["sensory", "central", "central"]}
                 ).to_csv(tmp_path / "classification.csv", index=False)
    return ids


def test_a_node_map_onto_an_existing_column_replaces_it_and_says_so(tmp_path, caplog):
    _codex_like(tmp_path)
    with caplog.at_level("WARNING"):
        p = ingest_edgelist(tmp_path / "conn.csv", tmp_path / "classification.csv", out=tmp_path / "fw",
                            node_columns={"primary_type": "cell_type"}, progress=False)
    assert sorted(cx.load(p).node_table()["cell_type"]) == ["DA1_lPN", "LHN", "ORN_DA1"]
    assert "primary_type -> cell_type replaces the existing column cell_type" in caplog.text
    assert "cell_type=cell_type_original" in caplog.text  # the way to keep it
    # mapping the existing one elsewhere keeps both, without a word about replacing
    caplog.clear()
    with caplog.at_level("WARNING"):
        p = ingest_codex(tmp_path / "conn.csv", tmp_path / "classification.csv", out=tmp_path / "both",
                         node_columns={"primary_type": "cell_type", "cell_type": "codex_cell_type"}, progress=False)
    n = cx.load(p).node_table()
    both = dict(zip(n["cell_type"], n["codex_cell_type"]))
    assert both["ORN_DA1"] == "ORN" and both["LHN"] == "LH" and len(both) == 3
    assert "replaces" not in caplog.text
    with pytest.raises(InputError, match="are all mapped onto 'cell_type'"):
        ingest_codex(tmp_path / "conn.csv", tmp_path / "classification.csv", out=tmp_path / "no",
                     node_columns={"primary_type": "cell_type", "super_class": "cell_type"}, progress=False)


def test_ingest_codex_has_node_map_and_a_help_description(tmp_path):
    from helpers import run_cli

    _codex_like(tmp_path)
    r = run_cli("ingest", "codex", "--help")
    assert r.returncode == 0 and "--node-map" in r.stdout and "codex.flywire.ai" in r.stdout
    r = run_cli("ingest", "codex", "--connections", str(tmp_path / "conn.csv"), "--neurons",
                str(tmp_path / "classification.csv"), "--node-map", "primary_type=cell_type", "--out",
                str(tmp_path / "fw"))
    assert r.returncode == 0, r.stderr
    assert "replaces the existing column cell_type" in r.stderr
    assert sorted(cx.load(tmp_path / "fw").node_table()["cell_type"]) == ["DA1_lPN", "LHN", "ORN_DA1"]
    r = run_cli("ingest", "codex", "--neurons", str(tmp_path / "classification.csv"), "--node-map",
                "primry_type=cell_type", "--out", str(tmp_path / "no"))
    assert r.returncode == 2 and "did you mean 'primary_type'" in r.stderr, r.stderr
