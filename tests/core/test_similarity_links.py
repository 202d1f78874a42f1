"""Neuroglancer links of matches and clusters (ng.match_link, ng.cluster_link) and the CLI's --link:
state JSON checks, no browser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.cli import main
from connectome.errors import ColumnError, IdError, InputError

ng = cx.neuroglancer
DS = "celegans_cook2019_herm"
OTHER = "celegans_witvliet2021_8"


@pytest.fixture(scope="module")
def herm():
    return cx.load(DS)


@pytest.fixture(scope="module")
def hemis(herm):
    return cx.match(herm, side="side", method="bisected")


@pytest.fixture()
def store(tmp_path):
    return ng.StateStore(tmp_path / "states", base_url="http://127.0.0.1:8000/v1/states")


def _state(url, store):
    return ng.resolve_link(url, store)


def _segs(state):
    return {layer["name"]: layer for layer in state["layers"] if layer["type"] == "segmentation"}


def test_match_link_gives_each_pair_one_colour(herm, hemis, store):
    state = _state(ng.match_link(herm, hemis, dataset="flywire", store=store), store)
    segs = _segs(state)
    assert list(segs) == ["set a", "set b"]
    a, b = segs["set a"], segs["set b"]
    assert a["source"] == b["source"]  # one connectome: both layers read the same segmentation
    pairs = hemis.pairs
    assert sorted(a["segments"], key=int) == sorted((str(int(x)) for x in pairs.a_root_id), key=int)
    assert sorted(b["segments"], key=int) == sorted((str(int(x)) for x in pairs.b_root_id), key=int)
    ca = [a["segmentColors"][str(int(x))] for x in pairs.a_root_id]
    cb = [b["segmentColors"][str(int(x))] for x in pairs.b_root_id]
    assert ca == cb  # each pair shares its colour
    assert len(set(ca)) == len(pairs)  # and no two pairs share one
    unmatched = str(int(hemis.unmatched_b[0]))
    assert unmatched not in b["segments"]  # unmatched neurons are not shown


def test_match_link_top_k_seeds_and_names(herm, store):
    aval, avar = cx.ids_of(herm, name="AVAL")[0], cx.ids_of(herm, name="AVAR")[0]
    m = cx.match(herm, side="side", method="gm", seeds=[(aval, avar)])
    best = m.pairs[~m.pairs.seed].sort_values("score", ascending=False, kind="stable").iloc[:3]
    state = _state(ng.match_link(herm, m, top_k=3, seeds=False, names=("left", "right"), dataset="flywire",
                                 colors=["red", "blue"], store=store), store)
    segs = _segs(state)
    assert list(segs) == ["left", "right"]
    assert [int(x) for x in segs["left"]["segments"]] == sorted(int(x) for x in best.a_root_id)
    assert str(int(aval)) not in segs["left"]["segments"]  # seeds=False leaves the given pair out
    colours = [segs["left"]["segmentColors"][str(int(x))] for x in best.a_root_id]
    assert colours == ["#ff0000", "#0000ff", "#ff0000"]  # colors= used in turn, best score first
    with_seed = _segs(_state(ng.match_link(herm, m, dataset="flywire", store=store), store))
    assert str(int(aval)) in with_seed["set a"]["segments"]
    assert with_seed["set a"]["segmentColors"][str(int(aval))] == with_seed["set b"]["segmentColors"][str(int(avar))]


def test_match_link_across_datasets_reads_two_sources(herm, store):
    adult = cx.load(OTHER)
    m = cx.match(herm, adult, ids_a=cx.ids_of(herm, cell_category="neuron"),
                 ids_b=cx.ids_of(adult, cell_category="neuron"), method="similarity", by="cell_type",
                 unlabelled="drop")
    state = _state(ng.match_link(herm, m, adult, dataset="flywire", dataset_b="microns", store=store), store)
    segs = _segs(state)
    assert list(segs) == [DS, OTHER]
    assert segs[DS]["source"] != segs[OTHER]["source"]
    assert "flywire" in str(segs[DS]["source"]) and "minnie" in str(segs[OTHER]["source"])
    for x, y in zip(m.pairs.a_root_id, m.pairs.b_root_id):
        assert segs[DS]["segmentColors"][str(int(x))] == segs[OTHER]["segmentColors"][str(int(y))]


def test_cluster_link_colours_by_cluster(herm, store):
    r = cx.cluster(herm, cx.ids_of(herm, super_class="motor"), method="average", n_clusters=5)
    state = _state(ng.cluster_link(herm, r, dataset="flywire", top_k=2, store=store), store)
    segs = _segs(state)
    sizes = r.labels.cluster.value_counts()
    biggest = sorted(sizes.index, key=lambda k: (-sizes[k], k))[:2]
    assert list(segs) == ["clusters"] + [f"cluster {k}" for k in biggest]
    whole = segs["clusters"]
    assert sorted(whole["segments"], key=int) == sorted((str(int(x)) for x in r.labels.root_id), key=int)
    colour = {int(k): v for k, v in whole["segmentColors"].items()}
    by_cluster = r.labels.groupby("cluster").root_id.apply(lambda s: {colour[int(x)] for x in s})
    assert all(len(v) == 1 for v in by_cluster)  # one colour per cluster ...
    assert len({next(iter(v)) for v in by_cluster}) == 5  # ... and a different one for each
    for k in biggest:
        layer = segs[f"cluster {k}"]
        assert layer.get("visible") is False
        assert sorted(layer["segments"], key=int) == sorted((str(int(x)) for x in r.labels[r.labels.cluster == k].root_id), key=int)


def test_cluster_link_leaves_unclustered_neurons_out(store):
    labels = pd.DataFrame({"root_id": np.array([1, 2, 3], dtype="uint64"),
                           "cluster": pd.array([0, pd.NA, 0], dtype="Int64")})
    nodes = pd.DataFrame({"root_id": [1, 2, 3]})
    edges = pd.DataFrame({"pre_root_id": [1, 2], "post_root_id": [2, 3], "synapse_count": [5, 6]})
    c = cx.from_edges(edges, nodes, name="toy")
    state = _state(ng.cluster_link(c, labels, dataset="flywire", top_k=None, store=store), store)
    assert list(_segs(state)) == ["clusters"] and _segs(state)["clusters"]["segments"] == ["1", "3"]


def test_link_refusals(herm, hemis):
    with pytest.raises(ColumnError, match="a_root_id"):
        ng.match_link(herm, hemis.pairs.drop(columns="a_root_id"), dataset="flywire")
    with pytest.raises(IdError, match="pairs: 1 id"):
        ng.match_link(herm, pd.DataFrame({"a_root_id": [1], "b_root_id": hemis.pairs.b_root_id.iloc[:1]}),
                      dataset="flywire")
    with pytest.raises(InputError, match="pairs: no pairs to show"):
        ng.match_link(herm, hemis.pairs.iloc[:0], dataset="flywire")
    with pytest.raises(InputError, match="names: give two layer names"):
        ng.match_link(herm, hemis, names=("one",), dataset="flywire")
    with pytest.raises(InputError, match="colors: give a list"):
        ng.match_link(herm, hemis, colors="red", dataset="flywire")
    with pytest.raises(InputError, match="top_k"):
        ng.match_link(herm, hemis, top_k=0, dataset="flywire")
    with pytest.raises(InputError, match="clusters must be a ClusterResult"):
        ng.cluster_link(herm, [1, 2], dataset="flywire")
    with pytest.raises(InputError, match="no clustered neurons"):
        ng.cluster_link(herm, pd.DataFrame({"root_id": [1], "cluster": pd.array([pd.NA], dtype="Int64")}),
                        dataset="flywire")


def test_cli_link_flags(capsys):
    # C. elegans ids are in no volume: a FlyWire link of them would show nothing, so it is refused up front
    for argv in (["match", DS, "--method", "gm"], ["cluster", DS, "--where", "super_class=motor", "--method", "ward",
                                                   "--n-clusters", "3"]):
        assert main(argv + ["--link", "--source", "flywire", "--out", "/dev/null"]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and "--source: none of the" in captured.err
        assert "is an id of flywire (7205759...)" in captured.err
