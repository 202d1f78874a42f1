"""c.synapse_table: partition-pruned slices by ids and bounding box; the pair table of per-neuropil stores."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, InputError
from connectome.synapse_reads import synapse_counts


def synapses(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pre = np.sort(rng.integers(1, 60, n)).astype(np.uint64)
    return pd.DataFrame({
        "pre_root_id": pre, "post_root_id": rng.integers(1, 60, n).astype(np.uint64),
        "x_nm": pre.astype(float) * 1000 + rng.random(n) * 500, "y_nm": rng.random(n) * 1e4,
        "z_nm": rng.random(n) * 2e3, "neuropil": rng.choice(["AL_L", "LH_L", "MB_CA_L"], n),
        "synapse_id": np.arange(n, dtype=np.int64)})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = synapses()
    e = s.groupby(["pre_root_id", "post_root_id", "neuropil"]).size().rename("synapse_count").reset_index()
    p = tmp_path_factory.mktemp("syn") / "store"
    cx.write_store(p, e, synapses=s, partition_rows=400, progress=False)
    return p, s


def pandas_box(s, box):
    m = np.ones(len(s), bool)
    for k, c in enumerate(["x_nm", "y_nm", "z_nm"]):
        m &= (s[c] >= box[0][k]).to_numpy() & (s[c] <= box[1][k]).to_numpy()
    return s[m].reset_index(drop=True)


def test_bbox_read_equals_a_pandas_filter_and_touches_fewer_files(store, caplog):
    path, s = store
    c = cx.load(path, in_memory=False)
    box = [[10_000, 2_000, 0], [20_000, 6_000, 1_500]]
    with caplog.at_level(logging.DEBUG, logger="connectome.synapse_reads"):
        got = c.synapse_table(bbox=box)
    want = pandas_box(s, box)
    pd.testing.assert_frame_equal(got[want.columns.tolist()].reset_index(drop=True), want, check_dtype=False)
    assert got.dtypes["neuropil"] == "string[pyarrow]"
    used, total = [int(x) for x in caplog.text.split("synapse_table: ")[1].split(" file(s)")[0].split(" of ")]
    assert total > 5 and used < total / 2
    # the in-memory connectome gives the same rows
    pd.testing.assert_frame_equal(cx.load(path, in_memory=True).synapse_table(bbox=box), got)


def test_ids_side_and_columns(store):
    path, s = store
    c = cx.load(path, in_memory=False)
    ids = [3, 17, 40]
    for side, mask in (("pre", s.pre_root_id.isin(ids)), ("post", s.post_root_id.isin(ids)),
                       ("either", s.pre_root_id.isin(ids) | s.post_root_id.isin(ids)),
                       ("both", s.pre_root_id.isin(ids) & s.post_root_id.isin(ids))):
        got = c.synapse_table(ids=ids, side=side, columns=["synapse_id", "z_nm"])
        assert list(got.columns) == ["synapse_id", "z_nm"]
        assert sorted(got.synapse_id) == sorted(s.synapse_id[mask]), side
    assert c.synapse_table(ids=[]).empty
    got = c.synapse_table(ids=np.array([5], np.uint64), bbox=[[0, 0, 0], [1e9, 1e9, 1e9]])
    assert len(got) == int((s.pre_root_id.eq(5) | s.post_root_id.eq(5)).sum())
    counts = synapse_counts(c, "neuropil", ids=[5], side="pre")
    assert counts.set_index("neuropil")["synapses"].to_dict() == s[s.pre_root_id == 5].neuropil.value_counts().to_dict()


@pytest.mark.parametrize("kw, parameter", [
    ({"bbox": [0, 0, 0, 1, 1, 1]}, "bbox"),
    ({"bbox": [[0, 0, 0], [1, 1]]}, "bbox"),
    ({"bbox": [[5, 0, 0], [1, 1, 1]]}, "bbox"),
    ({"bbox": [[0, 0, 0], [np.nan, 1, 1]]}, "bbox"),
    ({"bbox": "everything"}, "bbox"),
    ({"side": "in"}, "side"),
    ({"ids": [-1]}, "ids"),
    ({"ids": ["AVAL"]}, "ids"),
    ({"columns": ["x_nm", "size"]}, "columns"),
])
def test_refusals_name_the_parameter(store, kw, parameter):
    c = cx.load(store[0])
    with pytest.raises(InputError) as e:
        c.synapse_table(**kw)
    assert e.value.parameter == parameter


def test_unknown_column_is_a_column_error(store):
    with pytest.raises(ColumnError, match="did you mean 'x_nm'"):
        cx.load(store[0]).synapse_table(columns=["x_mn"])


def test_store_without_synapses_is_refused():
    with pytest.raises(InputError) as e:
        cx.load("celegans_cook2019_herm").synapse_table(bbox=[[0, 0, 0], [1, 1, 1]])
    assert e.value.parameter == "synapses"


def test_streamed_synapse_store_prunes_by_position(tmp_path, monkeypatch, caplog):
    from connectome.ingest.cave import ingest_cave_files

    rng = np.random.default_rng(3)
    n = 30_000
    pre = rng.integers(1, 200, n)
    centre = rng.random((200, 3)) * [45_000, 45_000, 1_800]  # voxels; a neuron's output synapses lie near it
    xyz = np.clip(centre[pre] + rng.normal(0, 1, (n, 3)) * [2_000, 2_000, 80], 0, [49_999, 49_999, 1_999])
    pd.DataFrame({"id": np.arange(1, n + 1), "pre_pt_root_id": pre,
                  "post_pt_root_id": rng.integers(1, 200, n), "ctr_pt_position_x": xyz[:, 0].astype(int),
                  "ctr_pt_position_y": xyz[:, 1].astype(int), "ctr_pt_position_z": xyz[:, 2].astype(int),
                  "size": rng.integers(10, 900, n)}).to_parquet(tmp_path / "synapses_pni_2.parquet")
    monkeypatch.setenv("CONNECTOME_STREAM_BUCKET_ROWS", "10000")
    monkeypatch.setattr("connectome.ingest.synapse_layout.SYNAPSE_ROW_GROUP", 500)  # many row groups, small file
    p = ingest_cave_files(synapses=tmp_path / "synapses_pni_2.parquet", preset="microns", out=tmp_path / "s",
                          stream=True, progress=False)
    m = cx.load(p).manifest
    assert m.extra["ingest"]["pre_id_ranges"] == 3
    box = [[0, 0, 0], [40_000, 40_000, 8_000]]  # nm: a small corner
    with caplog.at_level(logging.DEBUG, logger="connectome.synapse_reads"):
        got = cx.load(p, in_memory=False).synapse_table(bbox=box)
    full = cx.load(p).synapse_table()
    want = pandas_box(full, box)
    assert sorted(got.synapse_id) == sorted(want.synapse_id) and len(want) > 0
    # inside each file, row groups sorted along a Morton curve: the read skips most of them
    import pyarrow.dataset as ds

    from connectome.store import read_manifest

    _, vdir = read_manifest(p)
    frags = [f for f in ds.dataset([str(vdir / f.path) for f in m.tables["synapses"].files], format="parquet")
             .get_fragments()]
    groups = sum(len(f.row_groups) for f in frags)
    from connectome.synapse_reads import _expression

    kept = sum(len(f.subset(_expression(None, "either", np.asarray(box, float))).row_groups) for f in frags)
    assert kept < groups / 4
    # reads by ids go through the id index: only the files holding those neurons' synapses are opened
    assert "synapse_index" in m.tables and m.extra["ingest"]["synapse_layout"]["index"] == "synapse_index"
    lazy = cx.load(p, in_memory=False)
    for side in ("pre", "post", "either", "both"):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="connectome.synapse_reads"):
            got = lazy.synapse_table(ids=[7, 9], side=side)
        pre, post = full.pre_root_id.isin([7, 9]), full.post_root_id.isin([7, 9])
        mask = {"pre": pre, "post": post, "either": pre | post, "both": pre & post}[side]
        assert sorted(got.synapse_id) == sorted(full.synapse_id[mask]), side
        used, total = [int(x) for x in caplog.text.split("synapse_table: ")[1].split(" file(s)")[0].split(" of ")]
        if side in ("pre", "both"):  # a neuron's output synapses are local here; its inputs come from everywhere
            assert used < total / 4, side


def test_pair_table_makes_stats_read_pairs(tmp_path, caplog):
    rng = np.random.default_rng(4)
    e = pd.DataFrame({"pre_root_id": rng.integers(1, 80, 3000), "post_root_id": rng.integers(1, 80, 3000),
                      "neuropil": rng.choice(["AL_L", "LH_L", "ME_R", "GNG"], 3000),
                      "synapse_count": rng.integers(1, 9, 3000)})
    c = cx.from_edges(e, duplicates="sum")
    p = tmp_path / "np"
    c.save(p, progress=False)
    m = cx.load(p).manifest
    assert "pairs" in m.tables
    pairs = cx.pair_totals(cx.load(p))
    want = e.groupby(["pre_root_id", "post_root_id"])["synapse_count"].sum().reset_index()
    assert np.array_equal(pairs.synapse_count.to_numpy(), want.synapse_count.to_numpy())
    lazy, mem = cx.load(p, in_memory=False), cx.from_edges(e, duplicates="sum")
    assert cx.stats(lazy, path_samples=20)["synapses"] == cx.stats(mem, path_samples=20)["synapses"]
    assert cx.triad_census(lazy).equals(cx.triad_census(mem))
    # an old store without the pair table: the same numbers, computed on the fly, said in the log
    import json
    import shutil

    old = tmp_path / "old"
    shutil.copytree(p, old)
    vdir = old / (old / "CURRENT").read_text().strip()
    d = json.loads((vdir / "manifest.json").read_text())
    del d["tables"]["pairs"]
    (vdir / "manifest.json").write_text(json.dumps(d))
    with caplog.at_level(logging.INFO, logger="connectome.pair_table"):
        got = cx.pair_totals(cx.load(old, in_memory=False))
    assert "no pair table" in caplog.text
    pd.testing.assert_frame_equal(got, pairs)
