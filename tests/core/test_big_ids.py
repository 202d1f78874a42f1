"""Root ids above 2**53 come back exact and int64 from every public function (issue 23, items 1-2).

The ids below are 7 apart at 7.2e17, where float64 has a step of 128: any trip through a
float merges or shifts them, so a wrong id cannot pass as a right one.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import connectome as cx
from connectome.cli import main
from connectome.errors import IdError, StoreError
from connectome.schema import ID_DTYPE, coerce_ids

BASE = 720575940621039145  # a FlyWire id; float64(BASE) == 720575940621039104
OTHER = 720575940700000003  # another FlyWire id
N = 24


def _graph(base: int = BASE, name: str = "big") -> cx.Connectome:
    rng = np.random.default_rng(1)
    ids = np.array([base + 7 * k for k in range(N)], dtype=np.int64)
    pre, post = [], []
    for i in range(N):
        for j in rng.choice(N, 4, replace=False):
            if j != i:
                pre.append(ids[i])
                post.append(ids[j])
    edges = pd.DataFrame({"pre_root_id": pre, "post_root_id": post,
                          "synapse_count": rng.integers(1, 20, len(pre))})
    nodes = pd.DataFrame({"root_id": ids, "cell_type": [f"t{k % 4}" for k in range(N)],
                          "side": ["left", "right"] * (N // 2),
                          "nt_type": ["ACH", "GABA", "GLUT"] * (N // 3),
                          "x_nm": np.arange(N) * 100.0, "y_nm": np.arange(N) * 10.0, "z_nm": np.arange(N) * 40.0})
    syn = edges.loc[edges.index.repeat(2), ["pre_root_id", "post_root_id"]].reset_index(drop=True)
    syn = syn.assign(x_nm=np.arange(len(syn)) * 4.0, y_nm=8.0, z_nm=40.0)
    return cx.from_edges(edges, nodes, synapses=syn, name=name,
                         manifest={"source": {"kind": "cave", "datastack": "flywire_fafb_public"},
                                   "version": {"materialization": 783}})


@pytest.fixture(scope="module")
def c():
    return _graph()


@pytest.fixture(scope="module")
def ids(c):
    return c.node_table()["root_id"].to_numpy()


def exact(values, ids) -> None:
    """``values`` are int64 and every one of them is a root id of the graph (none moved by a float)."""
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    assert arr.dtype == np.int64, arr.dtype
    assert len(arr) > 0
    assert set(arr.tolist()) <= set(ids.tolist()), sorted(set(arr.tolist()) - set(ids.tolist()))[:3]


# ---------------------------------------------------------------------------------------------- item 2: int64
def test_the_graph_tables_hold_int64_ids(c, ids):
    assert ID_DTYPE == np.int64
    assert ids.dtype == np.int64 and ids[0] == BASE
    e = c.edge_table()
    exact(e["pre_root_id"], ids)
    exact(e["post_root_id"], ids)
    assert str(c.nodes.dtypes["root_id"]) == "int64" and str(c.edges.dtypes["pre_root_id"]) == "int64"
    exact(c.nodes.compute()["root_id"], ids)
    exact(cx.ids_of(c, cell_type="t1"), ids)
    exact(cx.ids_of(c, "cell_type == 't1'"), ids)
    exact(cx.subgraph(c, ids[:5]).node_table()["root_id"], ids)
    exact(cx.neighborhood(c, ids[:1]).node_table()["root_id"], ids)
    exact(cx.select(c, side="left").node_table()["root_id"], ids)
    exact(cx.filter_edges(c, min_synapses=5).edge_table()["pre_root_id"], ids)
    exact(cx.pair_totals(c)["post_root_id"], ids)


def test_partners_paths_influence_layers_are_exact(c, ids):
    p = cx.partners(c, ids[:2])
    exact(p["query_root_id"], ids)
    exact(p["partner_root_id"], ids)
    exact(cx.partners(c, ids[:2], by="cell_type")["query_root_id"], ids)
    sp = cx.shortest_paths(c, ids[:2], ids[5:7])
    exact(sp["root_id"], ids)
    exact(cx.paths(c, ids[:1], ids[5:6], max_hops=3)["root_id"], ids)
    cp = cx.count_paths(c, ids[:2], ids[5:7])
    exact(cp["source_root_id"], ids)
    exact(cp["target_root_id"], ids)
    i = cx.influence(c, ids[:1])
    exact(i["source_root_id"], ids)
    exact(i["target_root_id"], ids)
    exact(cx.flow_layers(c, ids[:2], n_iterations=10)["root_id"], ids)
    a = cx.adjacency(c, ids[:3], ids[3:9])
    exact(a.index, ids)
    exact(a.columns, ids)


def test_similarity_cluster_match_motifs_exports_are_exact(c, ids):
    s = cx.similarity(c, ids[:5])
    exact(s.index, ids)
    exact(s.columns, ids)
    top = cx.similarity(c, top_k=2)
    exact(top["root_id"], ids)
    exact(top["similar_root_id"], ids)
    cl = cx.cluster(c, n_clusters=3)
    exact(cl.labels["root_id"], ids)
    b = _graph(OTHER, "b")
    m = cx.match(c, b)
    exact(m.pairs["a_root_id"], ids)
    exact(m.pairs["b_root_id"], b.node_table()["root_id"].to_numpy())
    assert (m.pairs["b_root_id"] - m.pairs["a_root_id"] == OTHER - BASE).mean() > 0.5  # ids line up, not rounded
    # every truth pair one neighbour off (float64 cannot tell them apart), and one id the matching never saw
    truth = pd.DataFrame({"a_root_id": np.append(m.pairs["a_root_id"].to_numpy(), BASE + 1),
                          "b_root_id": np.append(m.pairs["b_root_id"].to_numpy() + 7, OTHER)})
    assert m.accuracy(truth)["correct"] == 0
    mot = cx.find_motifs(c, "A -> B\nB -> C", limit=20)
    for col in "ABC":
        exact(mot[col], ids)
    g = cx.to_csr(c)
    exact(g.ids, ids)
    assert cx.to_networkx(c).number_of_nodes() == N and set(cx.to_networkx(c).nodes) == set(ids.tolist())
    cl_ = cx.clustering(c)
    exact(cl_.index, ids)
    exact(cx.connectivity_profiles(c).ids, ids)
    sa = cx.adjacency(c, ids[:4], sparse=True)
    exact(sa.rows, ids)
    exact(cx.adjacency(c, ids[:4], sparse=True).to_pandas().index, ids)
    exact(cx.signed_pairs(c, cx.FLY_SIGNS).graph.ids, ids)
    assert set(cx.collapse(c, by="cell_type")["pre_cell_type"]) == {"t0", "t1", "t2", "t3"}


def test_isin_and_merge_with_int64_tables_give_the_right_rows(c, ids):
    # pandas compares uint64 with int64 through float64: uint64([648518346349538157]).isin([648518346349538200])
    # is True. Results are int64 like the field's tables (CAVE, Codex, neuPrint), so joins are exact.
    p = cx.partners(c, ids[:1])
    near = pd.DataFrame({"pt_root_id": p["partner_root_id"].to_numpy() + 1, "cell_type": "x"})  # one off: no match
    assert not p["partner_root_id"].isin(near["pt_root_id"]).any()
    assert len(p.merge(near, left_on="partner_root_id", right_on="pt_root_id")) == 0
    same = pd.DataFrame({"pt_root_id": p["partner_root_id"].to_numpy().astype("int64"), "cell_type": "x"})
    assert len(p.merge(same, left_on="partner_root_id", right_on="pt_root_id")) == len(p)
    cells = pd.DataFrame({"pt_root_id": np.array([BASE + 43], dtype=np.int64)})  # float64 == float64(BASE)
    assert not pd.Series(cx.ids_of(c, cell_type="t0")).isin(cells["pt_root_id"]).any()


# ---------------------------------------------------------------------------------------------- item 1: path link
def _layer(url: str, name: str) -> dict:
    state = json.loads(urllib.parse.unquote(url.split("#!", 1)[1]))
    return next(layer for layer in state["layers"] if layer["name"] == name)


def test_the_path_link_has_its_hop_lines_and_points_for_ids_above_2_53(c, ids):
    sp = cx.shortest_paths(c, ids[:2], ids[5:7])
    url = cx.neuroglancer.path_link(c, sp, dataset="flywire", max_length=10**7)
    seq = sp.sort_values(["path_id", "hop"])
    hops = {(str(a), str(b)) for pid, g in seq.groupby("path_id") for a, b in zip(g.root_id[:-1], g.root_id[1:])}
    lines = _layer(url, "path hops")["annotations"]
    assert {tuple(x["segments"][0]) for x in lines} == hops
    points = _layer(url, "hop synapses")["annotations"]
    assert {tuple(x["segments"][0]) for x in points} == hops
    assert set(_layer(url, "all paths")["segments"]) == {str(i) for i in sp.root_id}


def test_the_other_links_name_the_exact_ids(c, ids):
    ng = cx.neuroglancer
    p = cx.partners(c, ids[:1])
    segs = {s for layer in ("query", "upstream", "downstream")
            for s in _layer(ng.partner_link(c, p, dataset="flywire", max_length=10**7), layer)["segments"]}
    assert segs == {str(i) for i in set(p.partner_root_id) | {ids[0]}}
    i = cx.influence(c, ids[:1])
    assert set(_layer(ng.influence_link(c, i, dataset="flywire", max_length=10**7), "influenced")["segments"]) <= {
        str(x) for x in ids}
    lay = cx.flow_layers(c, ids[:2], n_iterations=10)
    assert set(_layer(ng.layers_link(c, lay, dataset="flywire", max_length=10**7), "flow layers")["segments"]) <= {
        str(x) for x in ids}
    mot = cx.find_motifs(c, "A -> B\nB -> C", limit=3)
    edges = _layer(ng.motif_link(c, mot, max_length=10**7), "motif edges")["annotations"]
    want = {(str(r[a]), str(r[b])) for _, r in mot.iterrows() for a, b in (("A", "B"), ("B", "C"))}
    assert want <= {tuple(x["segments"][0]) for x in edges}
    mixed = mot.astype({"A": "uint64"})  # a table of an earlier version next to an int64 one: rows are float64
    url = ng.motif_link(c, mixed, top_k=1, max_length=10**7)
    assert set(_layer(url, "match 0")["segments"]) == {str(mot.loc[0, k]) for k in "ABC"}


def test_the_cli_mixes_ids_and_selections_and_writes_exact_ids(c, ids, tmp_path, capsys):
    store = tmp_path / "s"
    c.save(store, progress=False)
    out = tmp_path / "p.csv"
    assert main(["paths", str(store), "--sources", str(ids[0]), "cell_type=t1", "--targets", str(ids[5]),
                 "--shortest", "--out", str(out)]) == 0
    got = pd.read_csv(out)
    ref = cx.shortest_paths(c, np.union1d(ids[:1], cx.ids_of(c, cell_type="t1")), ids[5:6])
    assert got["root_id"].tolist() == ref["root_id"].tolist() and got["root_id"].dtype == np.int64
    exact(got["root_id"], ids)
    assert main(["partners", str(store), str(ids[0])]) == 0
    printed = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert printed["partner_root_id"].tolist() == cx.partners(c, ids[:1])["partner_root_id"].tolist()


# ---------------------------------------------------------------------------------------------- refused at ingest
def test_ids_at_or_above_2_63_are_refused_with_a_named_error(tmp_path, capsys):
    assert coerce_ids([2**63 - 1], "root_id").tolist() == [2**63 - 1]
    for bad in ([2**63], np.array([2**63], dtype=np.uint64), ["18446744073709551615"]):
        with pytest.raises(IdError, match=r"pre_root_id: id 9223372036854775808 is 2\*\*63 or more|pre_root_id: id "
                                          r"18446744073709551615 is 2\*\*63 or more"):
            coerce_ids(bad, "pre_root_id")
    e = pd.DataFrame({"pre_root_id": np.array([2**63 + 5, 1], dtype=np.uint64), "post_root_id": [1, 2],
                      "synapse_count": [3, 4]})
    with pytest.raises(IdError, match="int64"):
        cx.from_edges(e)
    f = tmp_path / "e.csv"
    f.write_text(f"pre_root_id,post_root_id,synapse_count\n{2**63 + 5},1,3\n1,2,4\n")
    for mode in ("--stream", "--no-stream"):
        assert main(["ingest", "edgelist", str(f), "--out", str(tmp_path / mode), mode]) != 0
        err = capsys.readouterr().err
        assert "2**63" in err and "9223372036854775813" in err, err


# ---------------------------------------------------------------------------------------------- old stores
def _rewrite_ids_as_uint64(store, first_id: int | None = None) -> None:
    """Rewrite a store's id columns as uint64, as stores of earlier versions hold them, and its manifest's
    file sizes and hashes to match (``first_id``: the first edge row's pre id)."""
    m, vdir = cx.read_manifest(store)
    for name, info in m.tables.items():
        for f in info.files:
            p = vdir / f.path
            t = pq.read_table(p)
            cols = [pc.cast(t[n], pa.uint64()) if n.endswith("root_id") else t[n] for n in t.column_names]
            if first_id is not None and name == "edges":
                pre = t.column_names.index("pre_root_id")
                cols[pre] = pa.array([first_id] + cols[pre].to_pylist()[1:], pa.uint64())
            pq.write_table(pa.table(cols, names=t.column_names, metadata=t.schema.metadata), p)
    man = json.loads((vdir / "manifest.json").read_text())

    def fix(obj):
        if isinstance(obj, dict):
            if "path" in obj and "bytes" in obj:
                obj["bytes"] = (vdir / obj["path"]).stat().st_size
                if "sha256" in obj:
                    obj["sha256"] = hashlib.sha256((vdir / obj["path"]).read_bytes()).hexdigest()
            for v in obj.values():
                fix(v)
        elif isinstance(obj, list):
            for v in obj:
                fix(v)

    fix(man)
    (vdir / "manifest.json").write_text(json.dumps(man))


def test_a_store_written_with_uint64_ids_loads_as_int64(c, ids, tmp_path):
    out = tmp_path / "old"
    c.save(out, progress=False)
    _rewrite_ids_as_uint64(out)
    m, vdir = cx.read_manifest(out)
    assert pq.read_schema(vdir / m.tables["edges"].files[0].path).field("pre_root_id").type == pa.uint64()
    old = cx.load(out, verify=True)
    assert old.node_table()["root_id"].dtype == np.int64
    exact(old.edge_table()["pre_root_id"], ids)
    exact(old.synapse_table(ids=ids[:2])["pre_root_id"], ids)
    exact(cx.partners(old, ids[:1])["partner_root_id"], ids)
    lazy = cx.load(out, in_memory=False)
    assert str(lazy.edges.dtypes["pre_root_id"]) == "int64"
    exact(lazy.edge_table()["post_root_id"], ids)
    exact(cx.shortest_paths(lazy, ids[:1], ids[5:6])["root_id"], ids)


def test_an_old_store_holding_an_id_at_or_above_2_63_is_refused(tmp_path):
    e = pd.DataFrame({"pre_root_id": [1, 2], "post_root_id": [2, 3], "synapse_count": [3, 4]})
    out = tmp_path / "old"
    cx.write_store(out, e, name="old", progress=False)
    _rewrite_ids_as_uint64(out, first_id=2**63 + 1)
    for in_memory in (True, False):
        with pytest.raises(StoreError, match=r"table edges: pre_root_id holds id 9223372036854775809, 2\*\*63 or "
                                             r"more; root ids are int64"):
            cx.load(out, in_memory=in_memory).edge_table()


# ---------------------------------------------------------------------------------------------- HTTP
def test_http_returns_ids_above_2_53_exact_as_strings(c, ids, tmp_path):
    from connectome.api.testing import ServiceProcess
    from helpers import api_client

    home = tmp_path / "home"
    c.save(home / "big_fly", name="big_fly", progress=False)
    with ServiceProcess(tmp_path / "svc", cluster="threads", workers=1,
                        env={"CONNECTOME_HOME": str(home), "CONNECTOME_PROGRESS": "0"}) as sp, api_client(sp) as api:
        r = api.get("/datasets/big_fly/partners", params={"ids": [str(ids[0])], "direction": "downstream"})
        assert r.status_code == 200, r.text
        ref = cx.partners(c, ids[:1], direction="downstream")
        got = [row["partner_root_id"] for row in r.json()["rows"]]
        assert got == [str(int(x)) for x in ref.partner_root_id] and all(isinstance(x, str) for x in got)
        r = api.post("/datasets/big_fly/paths", json={"sources": {"root_ids": [str(ids[0])]},
                                                      "targets": {"root_ids": [int(ids[5])]}})
        assert r.status_code == 200, r.text
        assert {row["root_id"] for row in r.json()["rows"]} == {
            str(int(x)) for x in cx.shortest_paths(c, ids[:1], ids[5:6]).root_id}
        r = api.get("/datasets/big_fly/partners", params={"ids": [str(2**63 + 1)]})
        assert r.status_code == 400 and "2**63 or more; root ids are int64" in r.text, r.text


def test_gnn_predictions_and_saved_splits_keep_exact_int64_ids(c, ids, tmp_path):
    from connectome import gnn

    clf = gnn.train(c, "cell_type", model="mlp", epochs=3, progress=False)
    p = clf.predict(c)
    assert p["root_id"].tolist() == ids.tolist()
    exact(p["root_id"], ids)
    again = gnn.load_model(clf.save(tmp_path / "m"))
    exact(np.concatenate([again.split_ids[part] for part in ("train", "val", "test")]), ids)
    url = cx.neuroglancer.prediction_link(c, p, truth="cell_type", max_length=10**7)
    assert str(ids[0]) in urllib.parse.unquote(url)
