"""Neurons without a label are never pooled without a word (issue 23, item 7): one rule for collapse,
partners(by=), adjacency_matrix(by=), the block null and similarity."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import InputError

BIG = 648518346349538157  # above 2**53: ids must come back exact
IDS = [BIG + k for k in range(8)]
TYPES = ["KC", "KC", "MBON", "MBON", None, None, "unknown", "DAN"]  # 3 unlabelled of 8


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    pairs = {(a, b) for a in range(8) for b in range(8) if a != b and rng.random() < 0.6}
    edges = pd.DataFrame({"pre_root_id": [IDS[a] for a, _ in sorted(pairs)],
                          "post_root_id": [IDS[b] for _, b in sorted(pairs)],
                          "synapse_count": [3 + (a * 7 + b) % 5 for a, b in sorted(pairs)]})
    nodes = pd.DataFrame({"root_id": IDS, "cell_type": TYPES})
    return cx.from_edges(edges, nodes, name="toy")


def _said(caplog, where):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and where in r.getMessage()]


def test_collapse_says_it_pools_with_the_count(toy, caplog):
    with caplog.at_level(logging.WARNING):
        t = cx.collapse(toy, by="cell_type")
    said = _said(caplog, "collapse(by='cell_type')")
    assert len(said) == 1 and "3 of 8 neurons (37.5%)" in said[0] and "'unknown'" in said[0]
    assert t.attrs["unlabelled"] == "pool" and t.attrs["unlabelled_neurons"] == 3
    assert t.attrs["unlabelled_fraction"] == pytest.approx(3 / 8) and t.attrs["warnings"] == said
    assert int(t.loc[t.pre_cell_type == "unknown", "n_pre"].iloc[0]) == 3
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        chosen = cx.collapse(toy, by="cell_type", unlabelled="pool")  # chosen knowingly: recorded, not warned
    assert not _said(caplog, "collapse") and chosen.attrs["warnings"] == []
    assert chosen.attrs["unlabelled_neurons"] == 3
    pd.testing.assert_frame_equal(t, chosen)


def test_collapse_drop_and_keep(toy):
    full = cx.pair_totals(toy)
    dropped = cx.collapse(toy, by="cell_type", unlabelled="drop")
    assert "unknown" not in set(dropped.pre_cell_type) | set(dropped.post_cell_type)
    labelled = {i for i, t in zip(IDS, TYPES) if t not in (None, "unknown")}
    inside = full[full.pre_root_id.isin(labelled) & full.post_root_id.isin(labelled)]
    assert int(dropped.synapse_count.sum()) == int(inside.synapse_count.sum())
    kept = cx.collapse(toy, by="cell_type", unlabelled="keep")
    own = {str(i) for i, t in zip(IDS, TYPES) if t in (None, "unknown")}
    groups = set(kept.pre_cell_type) | set(kept.post_cell_type)
    assert own <= groups and "unknown" not in groups and str(IDS[4]) == "648518346349538161"
    assert (kept.loc[kept.pre_cell_type.isin(own), "n_pre"] == 1).all()
    assert int(kept.synapse_count.sum()) == int(full.synapse_count.sum())


def test_partners_by_label_pools_drops_keeps(toy, caplog):
    q = [IDS[0]]
    with caplog.at_level(logging.WARNING):
        t = cx.partners(toy, q, by="cell_type")
    said = _said(caplog, "partners(by='cell_type')")
    n_un = t.attrs["unlabelled_neurons"]
    assert len(said) == 1 and f"{n_un} of " in said[0] and "synapses listed" in said[0]
    assert n_un > 0 and t.attrs["warnings"] == said and "unknown" in set(t.partner_cell_type)
    dropped = cx.partners(toy, q, by="cell_type", unlabelled="drop")
    assert "unknown" not in set(dropped.partner_cell_type)
    assert dropped.synapse_count.sum() == t[t.partner_cell_type != "unknown"].synapse_count.sum()
    kept = cx.partners(toy, q, by="cell_type", unlabelled="keep")
    own = set(kept.partner_cell_type) - {"KC", "MBON", "DAN"}
    assert own and own <= {str(i) for i in IDS} and (kept[kept.partner_cell_type.isin(own)].connections == 1).all()
    assert kept.synapse_count.sum() == t.synapse_count.sum()


def test_adjacency_by_label_drop(toy):
    a = cx.adjacency_matrix(toy, IDS, by="cell_type", unlabelled="drop")
    assert "unknown" not in a.index and set(a.index) == {"DAN", "KC", "MBON"}
    b = cx.adjacency_matrix(toy, IDS, by="cell_type")
    assert "unknown" in b.index and b.attrs["unlabelled_neurons"] == 3 and b.attrs["warnings"]


def test_block_null_pools_drops_keeps(toy, caplog):
    with caplog.at_level(logging.WARNING):
        r = cx.motif_significance(toy, null="block", by="cell_type", n=2, seed=0)
    said = _said(caplog, "motif_significance(null='block', by='cell_type')")
    assert len(said) == 1 and "3 of 8 neurons" in said[0]
    assert r.params["unlabelled"] == "pool" and r.params["unlabelled_neurons"] == 3
    assert said[0] in r.params["warnings"] and r.to_dict()["params"]["unlabelled_neurons"] == 3
    d = cx.motif_significance(toy, null="block", by="cell_type", n=2, seed=0, unlabelled="drop")
    assert d.params["nodes"] == 5 and int(d.table.observed.sum()) == 5 * 4 * 3 // 6
    g = cx.null_graph(toy, null="block", by="cell_type", seed=1, unlabelled="drop")
    dropped = {i for i, t in zip(IDS, TYPES) if t in (None, "unknown")}
    e = g.edge_table()
    assert not (e.pre_root_id.isin(dropped) | e.post_root_id.isin(dropped)).any()
    k = cx.motif_significance(toy, null="block", by="cell_type", n=2, seed=0, unlabelled="keep")
    assert k.params["unlabelled"] == "keep" and k.params["nodes"] == 8


def test_similarity_pool_is_recorded(toy):
    s = cx.similarity(toy, IDS[:2], by="cell_type", unlabelled="pool")
    meta = s.attrs["similarity"]
    assert meta["unlabelled"] == "pool" and meta["unlabelled_neurons"] == 3 and meta["pooled_as"] == "<unlabelled>"


@pytest.mark.parametrize("call", [
    lambda c: cx.collapse(c, by="cell_type", unlabelled="ignore"),
    lambda c: cx.partners(c, [IDS[0]], by="cell_type", unlabelled="ignore"),
    lambda c: cx.adjacency_matrix(c, IDS, by="cell_type", unlabelled="ignore"),
    lambda c: cx.motif_significance(c, null="block", n=2, unlabelled="ignore"),
    lambda c: cx.similarity(c, IDS[:2], by="cell_type", unlabelled="ignore"),
])
def test_a_bad_choice_is_refused_naming_the_parameter(toy, call):
    with pytest.raises(InputError, match="unlabelled must be one of 'pool', 'drop', 'keep', not 'ignore'") as e:
        call(toy)
    assert e.value.parameter == "unlabelled"


def test_real_data_pooling_is_said(caplog):
    c = cx.load("celegans_cook2019_herm")
    with caplog.at_level(logging.WARNING):
        t = cx.collapse(c, by="nt_type")
    assert t.attrs["unlabelled_neurons"] == 189 and any("189 of 473 neurons" in m for m in caplog.messages)


def test_cli_says_it_and_takes_unlabelled():
    from helpers import run_cli

    out = run_cli("partners", "celegans_cook2019_herm", "name=AVAL", "--by", "nt_type")
    assert out.returncode == 0, out.stderr
    assert "partners(by='nt_type')" in out.stderr and "pooled into one group 'unknown'" in out.stderr
    dropped = run_cli("partners", "celegans_cook2019_herm", "name=AVAL", "--by", "nt_type", "--unlabelled", "drop")
    assert dropped.returncode == 0 and "partners(by=" not in dropped.stderr and "unknown" not in dropped.stdout


def test_census_cli_block_null_takes_unlabelled(tmp_path):
    from helpers import run_cli

    said = run_cli("census", "celegans_cook2019_herm", "--null", "block", "--by", "nt_type", "--n", "2")
    assert said.returncode == 0, said.stderr
    assert "motif_significance(null='block', by='nt_type'): 189 of 473 neurons" in said.stderr
    drop = run_cli("census", "celegans_cook2019_herm", "--null", "block", "--by", "nt_type", "--n", "2",
                   "--unlabelled", "drop", "--out", str(tmp_path / "d"))
    assert drop.returncode == 0, drop.stderr
    import json

    meta = json.loads((tmp_path / "d" / "motif_significance.json").read_text())
    assert meta["params"]["unlabelled"] == "drop" and meta["params"]["nodes"] == 473 - 189
