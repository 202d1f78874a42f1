"""Root-id lineage (issue 15, item 4): ``update_ids`` and ``connectome refresh`` through the real caveclient
against the loopback CAVE server, on hand-made lineages: merges, splits, a mix, unchanged and unknown ids,
and faults recovered by caveclient's retries. The expected answers come from the test server's chunkedgraph
directly (the root of each supervoxel at the target moment), never from the code under test."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from caveclient import CAVEclient

from connectome.errors import InputError
from connectome.ingest import update_ids
from connectome.ingest.cave import CavePreset, FetchOptions, ingest_cave
from connectome.ingest.cave.errors import CaveServerError
from connectome.ingest.cave.lineage import UnknownIdError
from connectome.ingest.cave.refresh import refresh_store
from connectome.ingest.testing import CaveTestServer, generic_datastack
from connectome.ingest.testing.cave_data import utc
from connectome.store import read_manifest, read_table
from helpers import run_cli

U64 = np.uint64
OPTS = FetchOptions(retries=4, backoff=0.01, max_backoff=0.05, timeout=5.0)
T = {k: utc(2024, 4, d).timestamp() for k, d in
     (("merge", 1), ("split", 2), ("mix_split", 3), ("mix_merge", 4), ("chain_merge", 5), ("chain_split", 6))}


def _lineages(ds):
    """Hand-made edits after the datastack's valid version (2024-03-01); returns who is who."""
    cg = ds.chunkedgraph
    r = [int(x) for x in np.unique(cg.root0)]
    A, B, C, D, E, F, G = r[:7]
    m1 = cg.merge([A, B], T["merge"])                    # merge: A + B -> m1
    c1, c2 = cg.split(C, T["split"])                     # split: C -> c1, c2
    d1, d2 = cg.split(D, T["mix_split"])                 # mix: D -> d1, d2, then d1 + E -> m2
    m2 = cg.merge([d1, E], T["mix_merge"])
    m3 = cg.merge([F, G], T["chain_merge"])              # chain: F + G -> m3 -> s1, s2
    s1, s2 = cg.split(m3, T["chain_split"])
    return {"A": A, "B": B, "C": C, "D": D, "E": E, "F": F, "G": G, "m1": m1, "c1": c1, "c2": c2,
            "d1": d1, "d2": d2, "m2": m2, "m3": m3, "s1": s1, "s2": s2, "H": r[7], "rest": r[7:]}


@pytest.fixture(scope="module")
def world():
    ds = generic_datastack(n_synapses=3_000, n_neurons=30, seed=5)
    ids = _lineages(ds)
    with CaveTestServer([ds]) as srv:
        yield srv, ds, ids


@pytest.fixture(autouse=True)
def _no_faults(world):
    world[0].clear_faults()
    yield
    world[0].clear_faults()


def truth_of_id(cg, root, t=np.inf):
    """(largest-overlap successor, number of successors) of ``root`` at ``t``, from its supervoxels."""
    roots = cg.lookup(cg.sv[cg.supervoxels_of(root)], t)
    vals, counts = np.unique(roots, return_counts=True)
    return int(vals[np.argmax(counts)]), len(vals)


def run(srv, ds, ids, **kw):
    return update_ids(ids, server=srv.url, datastack=ds.name, options=OPTS, progress=False, **kw)


# ----------------------------------------------------------------------------- update_ids


def test_merges_splits_a_mix_and_unchanged_ids(world):
    srv, ds, L = world
    names = ["A", "B", "C", "D", "E", "F", "G", "H"]
    out = run(srv, ds, [L[n] for n in names]).set_index(pd.Index(names))
    m = out["method"].astype(str)
    assert m.to_dict() == {"A": "lineage", "B": "lineage", "C": "overlap", "D": "overlap", "E": "lineage",
                           "F": "overlap", "G": "overlap", "H": "unchanged"}
    assert out.loc["A", "new_id"] == out.loc["B", "new_id"] == L["m1"]          # a merge: one successor
    assert out.loc["E", "new_id"] == L["m2"]
    assert out.loc["H", "new_id"] == L["H"] and not out.loc["H", "changed"]
    cg = ds.chunkedgraph
    for n in ("C", "D", "F", "G"):                                              # splits: largest overlap
        best, k = truth_of_id(cg, L[n])
        assert out.loc[n, "new_id"] == best and out.loc[n, "n_successors"] == k
        assert out.loc[n, "ambiguous"] == (k > 1)
    assert out.loc[["C", "D"], "n_successors"].tolist() == [2, 2]              # a plain split and the mix
    assert not out.loc[["A", "B", "E", "H"], "ambiguous"].any()
    meta = out.attrs["update_ids"]
    assert meta["methods"] == {"lineage": 3, "overlap": 4, "unchanged": 1}
    assert meta["changed_ids"] == 7 and meta["to"] == "latest"
    assert any("largest overlap" in f for f in meta["fallbacks"])


def test_successors_agree_with_caveclients_get_latest_roots(world):
    srv, ds, L = world
    client = CAVEclient(ds.name, server_address=srv.url, write_server_cache=False)
    names = ["A", "C", "D", "E", "F", "H"]
    out = update_ids([L[n] for n in names], client=client, progress=False)
    for n, (_, row) in zip(names, out.iterrows()):
        theirs = set(int(x) for x in client.chunkedgraph.get_latest_roots(L[n]))
        assert int(row["new_id"]) in theirs, n                                 # one of caveclient's answers
        assert 1 <= row["n_successors"] <= len(theirs), n
        if len(theirs) == 1:
            assert row["method"] in ("lineage", "unchanged"), n


def test_supervoxels_map_every_row_exactly_even_through_a_split(world):
    srv, ds, L = world
    cg = ds.chunkedgraph
    syn = ds.tables["synapses"].data
    t2 = ds.version_time(2)
    old = cg.lookup(syn["pre_pt_supervoxel_id"].to_numpy(U64), t2)
    sv = syn["pre_pt_supervoxel_id"].to_numpy(U64)
    keep = old != 0
    out = run(srv, ds, old[keep], supervoxels=sv[keep])
    np.testing.assert_array_equal(out["new_id"].to_numpy(U64), cg.lookup(sv[keep], np.inf))
    assert set(out["method"].astype(str)) == {"supervoxel", "unchanged"}
    assert not out["ambiguous"].any()
    # both halves of the split C receive rows: a split is divided by supervoxel, not given to one side
    got = set(out.loc[old[keep] == L["C"], "new_id"].astype(int))
    assert got == {L["c1"], L["c2"]}


def test_rows_without_a_supervoxel_fall_back_to_the_lineage_and_say_so(world, caplog):
    srv, ds, L = world
    with caplog.at_level("WARNING"):
        out = run(srv, ds, [L["A"], L["C"]], supervoxels=[0, np.nan])
    assert out["method"].astype(str).tolist() == ["lineage", "overlap"]
    assert "no supervoxel or position" in caplog.text
    assert any("no supervoxel" in f for f in out.attrs["update_ids"]["fallbacks"])


def test_positions_are_looked_up_in_a_segmentation(world):
    srv, ds, L = world
    cg = ds.chunkedgraph
    c_svs = cg.sv[cg.supervoxels_of(L["C"])]
    table = {(i, 0, 0): int(s) for i, s in enumerate(c_svs)}

    def seg(points):
        return [table.get(tuple(int(v) for v in p), 0) for p in points]

    pos = [[0, 0, 0], [1, 0, 0], [np.nan, np.nan, np.nan]]
    out = run(srv, ds, [L["C"]] * 3, positions=pos, segmentation=seg)
    assert out["method"].astype(str).tolist() == ["position", "position", "overlap"]
    assert out["new_id"].iloc[:2].astype(int).tolist() == cg.lookup(c_svs, np.inf).astype(int).tolist()
    with pytest.raises(InputError, match="segmentation"):
        run(srv, ds, [L["C"]], positions=[[0, 0, 0]])


def test_positions_are_looked_up_in_a_cloudvolume_of_supervoxels(world, tmp_path):
    """A real precomputed supervoxel segmentation (file://), read by CloudVolume's scattered_points."""
    from cloudvolume import CloudVolume

    srv, ds, L = world
    cg = ds.chunkedgraph
    c_svs = cg.sv[cg.supervoxels_of(L["C"])]
    data = np.zeros((8, 4, 2), dtype=np.uint64)
    data[2, 1, 0], data[5, 2, 1] = c_svs[0], c_svs[1]
    info = CloudVolume.create_new_info(1, "segmentation", "uint64", "raw", [8, 8, 40], [0, 0, 0], [8, 4, 2],
                                       chunk_size=[8, 4, 2])
    vol = CloudVolume("file://" + str(tmp_path / "sv"), info=info, progress=False, compress=False)
    vol.commit_info()
    vol[0:8, 0:4, 0:2] = data
    seg = CloudVolume("file://" + str(tmp_path / "sv"), progress=False)
    out = run(srv, ds, [L["C"], L["C"], L["C"]], positions=[[2, 1, 0], [5, 2, 1], [0, 0, 0]], segmentation=seg)
    assert out["method"].astype(str).tolist() == ["position", "position", "overlap"]  # (0,0,0) is background
    assert out["new_id"].iloc[:2].astype(int).tolist() == cg.lookup(c_svs[:2], np.inf).astype(int).tolist()


def test_target_moments_version_timestamp_and_the_past(world):
    srv, ds, L = world
    ids = [L["A"], L["C"]]
    at_v2 = run(srv, ds, ids, to=2)                                            # before every edit
    assert at_v2["method"].astype(str).tolist() == ["unchanged", "unchanged"]
    assert at_v2.attrs["update_ids"]["materialization"] == 2
    between = dt.datetime.fromtimestamp(T["merge"] + 3600, dt.timezone.utc)    # after the merge, before the split
    mid = run(srv, ds, ids, to=between)
    assert mid["new_id"].astype(int).tolist() == [L["m1"], L["C"]]
    back = run(srv, ds, [L["m1"]], to=utc(2024, 3, 15))                        # backwards: the ancestors
    assert back["n_successors"].iloc[0] == 2 and int(back["new_id"].iloc[0]) in (L["A"], L["B"])
    with pytest.raises(InputError, match="timezone") as exc:
        run(srv, ds, ids, to="2024-05-01 12:00")
    assert exc.value.parameter == "to"
    with pytest.raises(InputError, match="version 99 does not exist"):
        run(srv, ds, ids, to=99)
    with pytest.raises(InputError, match="to must be"):
        run(srv, ds, ids, to=3.5)


def test_unknown_ids_are_refused_by_name_or_reported(world):
    srv, ds, L = world
    with pytest.raises(UnknownIdError, match="123456789") as exc:
        run(srv, ds, [L["A"], 123456789])
    assert exc.value.parameter == "ids" and "unknown='report'" in str(exc.value)
    out = run(srv, ds, [L["A"], 123456789, 0], unknown="report")
    assert out["method"].astype(str).tolist() == ["lineage", "unknown", "unchanged"]
    assert out["new_id"].astype(int).tolist()[1:] == [0, 0]
    assert out.attrs["update_ids"]["unknown_ids"] == ["123456789"]


def test_bad_arguments_are_refused_by_name(world):
    srv, ds, L = world
    with pytest.raises(InputError) as exc:
        run(srv, ds, [L["A"]], supervoxels=[1, 2])
    assert exc.value.parameter == "supervoxels"
    with pytest.raises(InputError) as exc:
        update_ids([L["A"]], progress=False)
    assert exc.value.parameter == "client"
    with pytest.raises(InputError) as exc:
        run(srv, ds, [L["A"]], unknown="ignore")
    assert exc.value.parameter == "unknown"
    with pytest.raises(InputError) as exc:
        run(srv, ds, [-1])
    assert exc.value.parameter == "ids"


@pytest.mark.parametrize("kind, match, extra", [
    ("status", "lineage_graph", {"code": 503}),
    ("status", "is_latest_roots", {"code": 502}),
    ("timeout", "roots_binary", {"delay": 1.0}),
    ("drop", "leaves_many", {}),
    ("status", "valid_nodes", {"code": 500}),
], ids=["503-lineage", "502-is-latest", "timeout-roots", "drop-leaves", "500-valid-nodes"])
def test_faults_are_recovered_by_caveclients_retries(world, kind, match, extra):
    srv, ds, L = world
    ids = [L[n] for n in ("A", "C", "D", "H")]
    sv = ds.chunkedgraph.sv[ds.chunkedgraph.supervoxels_of(L["C"])][:1].tolist() + [0, 0, 0]
    clean = run(srv, ds, ids, supervoxels=sv)
    fault = srv.add_fault(kind, match=match, times=2, **extra)
    opts = FetchOptions(retries=4, backoff=0.01, max_backoff=0.05, timeout=0.5 if kind == "timeout" else 5.0)
    out = update_ids(ids, server=srv.url, datastack=ds.name, supervoxels=sv, options=opts, progress=False)
    assert fault.hits == 2
    pd.testing.assert_frame_equal(out, clean)
    assert sum(out.attrs["update_ids"]["retries"].values()) >= 2


def test_a_fault_past_every_retry_is_a_named_error(world):
    srv, ds, L = world
    srv.add_fault("status", code=503, match="lineage_graph", times=None)
    opts = FetchOptions(retries=2, backoff=0.01, max_backoff=0.02, timeout=5.0)
    with pytest.raises(CaveServerError, match="lineage.*still failing after 2 retries"):
        update_ids([L["A"]], server=srv.url, datastack=ds.name, options=opts, progress=False)


# ----------------------------------------------------------------------------- refresh


def _expected_synapses(ds, syn):
    """Each stored synapse's ids at 'latest', from the server's chunkedgraph: its supervoxel, else the id's
    largest-overlap successor."""
    cg = ds.chunkedgraph
    out = {}
    for side in ("pre", "post"):
        sv = syn[f"{side}_pt_supervoxel_id"].to_numpy(U64)
        ids = syn[f"{side}_root_id"].to_numpy(U64)
        new = cg.lookup(sv, np.inf)
        for i in np.flatnonzero(sv == 0):
            new[i] = truth_of_id(cg, int(ids[i]))[0]
        out[side] = new
    return out


@pytest.fixture
def store(world, tmp_path):
    srv, ds, _ = world
    toy = CavePreset("toy_public", server=srv.url, cell_tables=["cell_types"])
    return ingest_cave(toy, tmp_path / "toy", version=2, options=OPTS, progress=False)


def test_refresh_writes_a_new_version_with_synapses_moved_by_supervoxel(world, store):
    srv, ds, L = world
    before_m, before_dir = read_manifest(store)
    syn0 = read_table(store, "synapses")
    assert {"pre_pt_supervoxel_id", "post_pt_supervoxel_id"} <= set(syn0.columns)  # kept by the live ingest
    syn0 = syn0.sort_values("synapse_id", ignore_index=True)
    exp = _expected_synapses(ds, syn0)
    entry = refresh_store(store, "latest", options=OPTS, progress=False)
    m, vdir = read_manifest(store)
    assert vdir != before_dir and before_dir.is_dir()                          # a new version; the old one stays
    syn = read_table(store, "synapses").sort_values("synapse_id", ignore_index=True)
    np.testing.assert_array_equal(syn["synapse_id"].to_numpy(), syn0["synapse_id"].to_numpy())
    np.testing.assert_array_equal(syn["pre_root_id"].to_numpy(U64), exp["pre"])
    np.testing.assert_array_equal(syn["post_root_id"].to_numpy(U64), exp["post"])
    # edges: the aggregate of the moved synapses (a merge sums, a split divides by supervoxel)
    edges = read_table(store, "edges")
    want = (syn.groupby(["pre_root_id", "post_root_id", "neuropil"], observed=True).size()
            .rename("synapse_count").reset_index())
    got = edges[["pre_root_id", "post_root_id", "neuropil", "synapse_count"]]
    key = ["pre_root_id", "post_root_id", "neuropil"]
    pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True).astype({"neuropil": str}),
                                  want.sort_values(key, ignore_index=True).astype({"neuropil": str}),
                                  check_dtype=False)
    assert int(edges["synapse_count"].sum()) == len(syn0)
    ids = set(edges["pre_root_id"].astype(int)) | set(edges["post_root_id"].astype(int))
    assert not ids & {L[n] for n in "ABCDEFG"} and {L["m1"], L["c1"], L["c2"]} <= ids
    # nodes: merged ids are one node; every id is current
    nodes = read_table(store, "nodes")
    assert not nodes["root_id"].duplicated().any() and not set(nodes["root_id"].astype(int)) & {L["A"], L["B"]}
    # the manifest records the move
    assert m.version["timestamp"] == entry["to_timestamp"] and m.version["refreshed_from"] == {"materialization": 2}
    rec = m.extra["refresh"][-1]
    assert rec == json.loads(json.dumps(entry))
    assert rec["edges"] == "from synapses" and rec["from"] == {"materialization": 2}
    assert rec["from_timestamp"].startswith("2024-03-01") and rec["changed_ids"] >= 7
    assert rec["split_ids"] == 2 and rec["merged_into"] >= 1                      # C and D (F, G lie whole in one root)
    assert rec["methods"]["synapses"]["supervoxel"] > 0
    assert before_m.rows("synapses") == m.rows("synapses")


def test_refresh_without_synapses_sums_merges_and_says_how_splits_went(world, tmp_path, caplog):
    srv, ds, L = world
    toy = CavePreset("toy_public", server=srv.url, cell_tables=["cell_types"])
    path = ingest_cave(toy, tmp_path / "e", version=2, options=OPTS, keep_synapses=False, progress=False)
    e0 = read_table(path, "edges")
    with caplog.at_level("WARNING"):
        entry = refresh_store(path, options=OPTS, progress=False)
    assert entry["edges"] == "remapped" and "no synapse table" in caplog.text
    assert any("largest overlap" in f for f in entry["fallbacks"])
    e1 = read_table(path, "edges")
    assert int(e1["synapse_count"].sum()) == int(e0["synapse_count"].sum())   # nothing lost, nothing made up
    cg = ds.chunkedgraph
    succ = {int(i): truth_of_id(cg, int(i))[0] for i in np.unique(e0[["pre_root_id", "post_root_id"]].to_numpy())}
    e0m = e0.assign(pre_root_id=e0["pre_root_id"].map(lambda x: succ[int(x)]),
                    post_root_id=e0["post_root_id"].map(lambda x: succ[int(x)]))
    key = ["pre_root_id", "post_root_id", "neuropil"]
    want = e0m.groupby(key, observed=True)["synapse_count"].sum().reset_index()
    got = e1[key + ["synapse_count"]]
    pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True).astype({"neuropil": str}),
                                  want.sort_values(key, ignore_index=True).astype({"neuropil": str}),
                                  check_dtype=False)
    # the merge A + B: every edge of A and of B now sits on m1, summed
    from_ab = int(e0.loc[e0["pre_root_id"].isin([L["A"], L["B"]]), "synapse_count"].sum())
    assert int(e1.loc[e1["pre_root_id"] == L["m1"], "synapse_count"].sum()) == from_ab


def test_refresh_under_faults_ends_like_a_clean_refresh(world, tmp_path):
    srv, ds, _ = world
    toy = CavePreset("toy_public", server=srv.url, cell_tables=["cell_types"])
    a = ingest_cave(toy, tmp_path / "a", version=2, options=OPTS, progress=False)
    b = ingest_cave(toy, tmp_path / "b", version=2, options=OPTS, progress=False)
    refresh_store(a, options=OPTS, progress=False)
    faults = [srv.add_fault("status", code=503, match="roots_binary", times=2),
              srv.add_fault("drop", match="lineage_graph", times=1),
              srv.add_fault("status", code=504, match="is_latest_roots", times=1)]
    refresh_store(b, options=OPTS, progress=False)
    assert [f.hits for f in faults] == [2, 1, 1]
    for t in ("synapses", "edges", "nodes"):
        ka = read_table(a, t)
        kb = read_table(b, t)
        pd.testing.assert_frame_equal(ka, kb, obj=t)


def test_refresh_on_the_command_line(world, store):
    srv, ds, _ = world
    out = run_cli("refresh", str(store), "--to", "latest", "--retries", "3", timeout=300)
    assert out.returncode == 0, out.stderr
    assert "refreshed" in out.stdout and "methods (synapses)" in out.stdout
    assert "note:" in out.stderr and "largest overlap" in out.stderr          # every fallback said on stderr
    assert read_manifest(store)[0].extra["refresh"][-1]["edges"] == "from synapses"
    bad = run_cli("refresh", str(store), "--to", "2024-05-01 12:00", timeout=300)
    assert bad.returncode != 0 and "timezone" in bad.stderr
    nostore = run_cli("refresh", str(store.parent / "missing"), timeout=120)
    assert nostore.returncode != 0 and "not a connectome store" in nostore.stderr


def test_refresh_needs_a_server_and_a_datastack(tmp_path):
    import connectome as cx

    edges = pd.DataFrame({"pre_root_id": [1], "post_root_id": [2], "synapse_count": [3]})
    rel = tmp_path / "rel"
    cx.write_store(rel, edges, manifest={"source": {"kind": "cave-release", "datastack": "flywire_fafb_public"}},
                   progress=False)
    with pytest.raises(InputError, match="--server") as exc:
        refresh_store(rel, progress=False)
    assert exc.value.parameter == "server"
    plain = tmp_path / "plain"
    cx.write_store(plain, edges, progress=False)
    with pytest.raises(InputError, match="--datastack") as exc:
        refresh_store(plain, server="http://127.0.0.1:9", progress=False)
    assert exc.value.parameter == "datastack"


def test_the_update_ids_benchmark_runs_and_agrees_with_caveclient(tmp_path):
    from helpers import ROOT, run_python

    out = tmp_path / "b.json"
    r = run_python(str(ROOT / "benchmarks" / "scale_update_ids.py"), "--ids", "1500", "--loop-ids", "150",
                   "--json", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(out.read_text())
    assert got["agree"] == "150/150" and got["supervoxel_rows_agree"] is True
    assert got["methods"]["unchanged"] + got["methods"]["lineage"] + got["methods"]["overlap"] == 1500
    assert "| caveclient `get_latest_roots` loop |" in r.stdout
