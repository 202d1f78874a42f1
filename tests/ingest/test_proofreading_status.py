"""MICrONS proofreading status (issue 15, item 5): a ``proofreading_status_and_strategy``-style table joined as
node columns, and the "presynaptic axon proofread" edge filter on a store read from the loopback CAVE server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, InputError
from connectome.ingest import add_proofreading, proofreading_status
from connectome.ingest.cave import FetchOptions, get_preset, ingest_cave
from connectome.ingest.testing import CaveTestServer, microns_datastack
from connectome.store import read_manifest

OPTS = FetchOptions(retries=3, backoff=0.01, max_backoff=0.05, timeout=5.0)


@pytest.mark.parametrize("table, used", [
    (pd.DataFrame({"pt_root_id": [5, 6, 7], "valid_id": [5, 6, 7], "status_axon": ["t", "f", "t"],
                   "status_dendrite": ["t", "t", "f"], "strategy_axon": ["axon_fully_extended", "none", "none"]}),
     {"root_id": "pt_root_id", "axon": "status_axon", "dendrite": "status_dendrite"}),          # status wins
    (pd.DataFrame({"root_id": [5, 6, 7], "axon_status": [True, False, True],
                   "dendrite_proofread": [1, 1, 0]}),
     {"root_id": "root_id", "axon": "axon_status", "dendrite": "dendrite_proofread"}),
    (pd.DataFrame({"valid_id": [5, 6, 7], "strategy_axon": ["axon_partially_extended", "none", "axon_column_truncated"],
                   "strategy_dendrite": ["dendrite_clean", "dendrite_extended", None]}),
     {"root_id": "valid_id", "axon": "strategy_axon", "dendrite": "strategy_dendrite"}),
], ids=["microns-status", "booleans", "strategy-only"])
def test_spellings_are_read_and_the_columns_used_are_said(table, used):
    s = proofreading_status(table)
    assert s["root_id"].tolist() == [5, 6, 7]
    assert s["axon_proofread"].tolist() == [True, False, True]
    assert s["dendrite_proofread"].tolist() == [True, True, False]
    assert s.attrs["proofreading"]["columns"] == used


def test_several_rows_of_one_cell_and_edited_cells(caplog):
    t = pd.DataFrame({"pt_root_id": [5, 5, 6], "valid_id": [5, 4, 6], "status_axon": ["f", "t", "f"]})
    with caplog.at_level("WARNING"):
        s = proofreading_status(t)
    assert s.values.tolist() == [[5, True, False], [6, False, False]]
    info = s.attrs["proofreading"]
    assert info["duplicate_rows"] == 1 and info["edited_since_proofread"] == 1
    assert "edited since" in caplog.text and "no dendrite column" in caplog.text


def test_refusals_name_the_column_and_the_way_out(tmp_path):
    with pytest.raises(ColumnError, match="root_column="):
        proofreading_status(pd.DataFrame({"id": [1], "status_axon": ["t"]}))
    with pytest.raises(ColumnError, match="axon_column="):
        proofreading_status(pd.DataFrame({"pt_root_id": [1], "cell_type": ["x"]}))
    with pytest.raises(InputError, match="'maybe' is not a proofreading status") as exc:
        proofreading_status(pd.DataFrame({"pt_root_id": [1], "status_axon": ["maybe"]}))
    assert exc.value.parameter == "status_axon"
    with pytest.raises(ColumnError, match="axn"):
        proofreading_status(pd.DataFrame({"pt_root_id": [1], "status_axon": ["t"]}), axon_column="axn")
    with pytest.raises(cx.errors.SourceNotFoundError):
        proofreading_status(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="table must be"):
        proofreading_status(42)


@pytest.fixture(scope="module")
def microns_store(tmp_path_factory):
    with CaveTestServer([microns_datastack(4_000, 80, seed=2)]) as srv:
        return ingest_cave(get_preset("microns").with_overrides(server=srv.url),
                           tmp_path_factory.mktemp("m") / "minnie", version=661, options=OPTS, progress=False)


def test_join_as_node_columns_and_keep_edges_of_proofread_axons(microns_store, tmp_path):
    path = tmp_path / "s"
    cx.load(microns_store).save(path, progress=False)
    c0 = cx.load(path)
    with pytest.raises(ColumnError, match="add_proofreading"):                   # refused before the join
        cx.proofread_edges(c0, axon=True)
    ids = c0.node_table(["root_id"])["root_id"].to_numpy()
    rng = np.random.default_rng(0)
    pick = rng.choice(ids, 30, replace=False)
    table = pd.DataFrame({"id": np.arange(31), "valid": "t", "pt_root_id": np.append(pick, 999),  # int64 ids
                          "valid_id": np.append(pick, 999),
                          "status_axon": rng.choice(["t", "f"], 31), "status_dendrite": rng.choice(["t", "f"], 31),
                          "strategy_axon": "axon_fully_extended", "strategy_dendrite": "dendrite_clean"})
    f = tmp_path / "proofreading_status_and_strategy.csv"
    table.to_csv(f, index=False)
    info = add_proofreading(path, f, progress=False)
    assert info["matched"] == 30 and info["not_in_store"] == 1
    assert info["columns"] == {"root_id": "pt_root_id", "axon": "status_axon", "dendrite": "status_dendrite"}
    assert read_manifest(path)[0].extra["proofreading"] == info
    c = cx.load(path)
    nodes = c.node_table()
    assert nodes["axon_proofread"].dtype == bool and len(nodes) == len(ids)
    axon_ok = set(table.loc[(table["status_axon"] == "t") & (table["pt_root_id"] != 999), "pt_root_id"].astype(int))
    assert set(nodes.loc[nodes["axon_proofread"], "root_id"].astype(int)) == axon_ok
    e = c.edge_table()
    kept = cx.proofread_edges(c, axon=True)
    want = e[e["pre_root_id"].astype(int).isin(axon_ok)]
    assert kept.edge_table()[["pre_root_id", "post_root_id"]].values.tolist() == \
        want[["pre_root_id", "post_root_id"]].values.tolist()
    assert kept.n_nodes == c.n_nodes                                               # nodes stay
    syn = kept.to_pandas().synapses
    assert set(syn["pre_root_id"].astype(int)) <= axon_ok and len(syn) == int(want["synapse_count"].sum())
    lazy = cx.proofread_edges(c.lazy(), axon=True, dendrite=True).edge_table()     # the Dask path agrees
    dend_ok = set(nodes.loc[nodes["dendrite_proofread"], "root_id"].astype(int))
    both = e[e["pre_root_id"].astype(int).isin(axon_ok) & e["post_root_id"].astype(int).isin(dend_ok)]
    assert sorted(map(tuple, lazy[["pre_root_id", "post_root_id"]].values.tolist())) == \
        sorted(map(tuple, both[["pre_root_id", "post_root_id"]].values.tolist()))
    with pytest.raises(InputError, match="at least one"):
        cx.proofread_edges(c, axon=False)
