"""CAVE ingest through the real caveclient against the loopback CAVE server.

Every expected table is computed here, independently, from the server's own
ground truth (the tables it materializes) with plain pandas; the ingest must
match it row by row: FlyWire preset (real v783 root ids and labels, cleft
score filter, >=5 threshold, transmitter means), MICrONS preset (reference
cell-type table, nm positions), a generic datastack (neuropil), bounding boxes
in nm and voxels, root-id selections, the timestamp path with root-id churn,
and every kind of bad input.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, InputError
from connectome.store import read_table
from helpers import run_cli
from connectome.ingest.cave import CavePreset, FetchOptions, Selection, get_preset, ingest_cave, plan_cave
from connectome.ingest.cave.errors import (
    CaveAuthError,
    CaveConnectionError,
    DatastackNotFoundError,
    TableNotFoundError,
    VersionExpiredError,
)
from connectome.ingest.testing import CaveTestServer, flywire_datastack, generic_datastack, microns_datastack
from connectome.ingest.testing.cave_data import utc

FAST = FetchOptions(page_rows=1_000, concurrency=3, retries=3, backoff=0.01, timeout=10.0)
NT = ["gaba", "ach", "glut", "oct", "ser", "da"]


def on(url, name, **changes):
    """The preset ``name`` (or a plain datastack) served at ``url``, with some fields changed."""
    base = get_preset(name) if name in ("flywire", "microns") else CavePreset(name)
    return replace(base, server=url, **changes)


@pytest.fixture(scope="module")
def stacks(shared_data):
    labels = pd.read_parquet(shared_data / "flywire_v783_labels" / "neurons_v783.parquet",
                             columns=["root_id", "super_class", "class", "cell_type"])
    fw = flywire_datastack(12_000, 250, seed=3, labels=labels)
    mi = microns_datastack(9_000, 200, seed=4)
    toy = generic_datastack(4_000, 70, seed=5)
    return {"fw": fw, "mi": mi, "toy": toy, "labels": labels}


@pytest.fixture(scope="module")
def server(stacks):
    with CaveTestServer([stacks["fw"], stacks["mi"], stacks["toy"]], max_rows=1_500, batch_rows=400) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").clear_faults()


# ----------------------------------------------------------------------------- ground truth


def truth(ds, table, version=None, timestamp=None):
    """The table as the server holds it at a version (or its rows with roots at a timestamp)."""
    if timestamp is not None:
        base = max((v for v in ds.versions if not v.expired and v.time_stamp <= timestamp),
                   key=lambda v: v.time_stamp)
        t = ds.materialize(table, base.time_stamp.timestamp()).to_pandas()
        for side in ("pre_pt", "post_pt", "pt"):
            if f"{side}_supervoxel_id" in t.columns:
                t[f"{side}_root_id"] = ds.chunkedgraph.lookup(t[f"{side}_supervoxel_id"].to_numpy(np.uint64),
                                                              timestamp.timestamp()).astype(np.int64)
        return t
    return ds.materialize(table, ds.version_time(version)).to_pandas()


def expected_synapses(t, position, res, cleft=None):
    t = t.copy()
    if cleft is not None:
        t = t[t["cleft_score"] >= cleft]
    pre, post = t["pre_pt_root_id"].astype(np.uint64), t["post_pt_root_id"].astype(np.uint64)
    t = t[(pre != 0) & (post != 0) & (pre != post)]
    out = pd.DataFrame({"synapse_id": t["id"].astype(np.uint64).to_numpy(),
                        "pre_root_id": t["pre_pt_root_id"].astype(np.uint64).to_numpy(),
                        "post_root_id": t["post_pt_root_id"].astype(np.uint64).to_numpy()})
    for i, ax in enumerate("xyz"):
        out[f"{ax}_nm"] = t[f"{position}_{ax}"].to_numpy() * float(res[i])
    return out.sort_values("synapse_id", ignore_index=True), t


def store_synapses(path):
    return read_table(path, "synapses").sort_values("synapse_id", ignore_index=True)


def assert_canonical(path):
    """The store's tables are exactly what the core's normalisation makes of them (order, dtypes)."""
    from connectome.schema import normalize_edges, normalize_nodes, normalize_synapses

    m = cx.load(path).manifest
    for table, norm in (("edges", normalize_edges), ("nodes", normalize_nodes), ("synapses", normalize_synapses)):
        df = read_table(path, table)
        want = norm(df)
        pd.testing.assert_frame_equal(df, want, obj=table)
        assert m.tables[table].columns == {c: str(t) for c, t in want.dtypes.items()}, table


def assert_same_synapses(got, want, extra=()):
    assert len(got) == len(want)
    for c in ["synapse_id", "pre_root_id", "post_root_id", "x_nm", "y_nm", "z_nm", *extra]:
        np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy(), err_msg=c)


# ----------------------------------------------------------------------------- presets


def test_flywire_preset_real_ids_exact(server, stacks, tmp_path):
    ds = stacks["fw"]
    server.reset_stats()
    path = ingest_cave(on(server.url, "flywire"), tmp_path / "fw", version=783, options=FAST, progress=False)
    c = cx.load(path)
    raw = truth(ds, "synapses_nt_v1", 783)
    want, kept = expected_synapses(raw, "post_pt_position", (4, 4, 40), cleft=50)
    got = store_synapses(path)
    assert_same_synapses(got, want)
    np.testing.assert_array_equal(got["cleft_score"].to_numpy(), kept.sort_values("id")["cleft_score"].to_numpy())
    # real FlyWire v783 ids (> 2**53) survive exactly
    real = set(stacks["labels"]["root_id"].astype(np.uint64))
    assert set(got["pre_root_id"]) <= real | set(np.fromiter(ds.chunkedgraph.created, dtype=np.uint64))
    assert got["pre_root_id"].max() > 2**53
    # edges: per pair, >= 5 synapses, transmitter means and nt_type as in FlyWire's releases
    k = kept.assign(pre=kept["pre_pt_root_id"].astype(np.uint64), post=kept["post_pt_root_id"].astype(np.uint64))
    agg = k.groupby(["pre", "post"]).agg(n=("id", "size"), **{f"{t}_avg": (t, "mean") for t in NT}).reset_index()
    agg = agg[agg["n"] >= 5].sort_values(["pre", "post"], ignore_index=True)
    e = c.edge_table().sort_values(["pre_root_id", "post_root_id"], ignore_index=True)
    assert len(e) == len(agg) > 50
    np.testing.assert_array_equal(e["synapse_count"].to_numpy(), agg["n"].to_numpy())
    np.testing.assert_allclose(e["ach_avg"].to_numpy(), agg["ach_avg"].to_numpy())
    want_nt = np.array(["GABA", "ACH", "GLUT", "OCT", "SER", "DA"])[np.argmax(agg[[f"{t}_avg" for t in NT]]
                                                                             .to_numpy(), axis=1)]
    assert (e["nt_type"].astype(str).to_numpy() == want_nt).all()
    # nodes: hierarchical annotations pivoted to super_class / class / cell_type, real labels
    ann = truth(ds, "hierarchical_neuron_annotations", 783)
    ann = ann[ann["pt_root_id"] != 0].sort_values("id")
    piv = ann.pivot_table(index="pt_root_id", columns="classification_system", values="cell_type", aggfunc="first")
    nodes = c.node_table().set_index("root_id")
    for rid, row in piv.iterrows():
        for lv in ("super_class", "class", "cell_type"):
            if isinstance(row[lv], str):
                assert nodes.loc[np.uint64(rid), lv] == row[lv]
    lab = stacks["labels"].set_index("root_id")
    hit = [r for r in piv.index if r in lab.index][:20]
    assert hit and all(nodes.loc[np.uint64(r), "cell_type"] == lab.loc[r, "cell_type"] for r in hit
                       if isinstance(lab.loc[r, "cell_type"], str))
    m = c.manifest
    assert m.version == {"materialization": 783}
    assert m.voxel_resolution_nm == [4.0, 4.0, 40.0] and m.units == {"position": "nm"}
    assert m.source["datastack"] == "flywire_fafb_public" and m.source["tables"]["synapses"] == "synapses_nt_v1"
    assert m.extra["min_synapses"] == 5
    assert server.stats["query"] > 10  # many pages under the 1,500-row cap
    assert_canonical(path)


def test_microns_preset_reference_table_exact(server, stacks, tmp_path):
    ds = stacks["mi"]
    path = ingest_cave(on(server.url, "microns"), tmp_path / "mi", version=661, options=FAST, progress=False)
    c = cx.load(path)
    want, kept = expected_synapses(truth(ds, "synapses_pni_2", 661), "ctr_pt_position", (4, 4, 40))
    want["size"] = kept.sort_values("id")["size"].to_numpy()
    assert_same_synapses(store_synapses(path), want, extra=["size"])
    e = c.edge_table()
    assert int(e["synapse_count"].sum()) == len(want) and "nt_type" not in e.columns
    # aibs_metamodel_celltypes_v661 -> nucleus_detection_v0 by target_id; first annotation per root id
    nuc = truth(ds, "nucleus_detection_v0", 661)
    ct = truth(ds, "aibs_metamodel_celltypes_v661", 661).merge(nuc, left_on="target_id", right_on="id",
                                                              suffixes=("", "_nuc")).sort_values("id")
    ct = ct[ct["pt_root_id"] != 0].drop_duplicates("pt_root_id")
    nodes = c.node_table().set_index("root_id")
    assert len(ct) > 100
    for _, r in ct.iterrows():
        n = nodes.loc[np.uint64(r["pt_root_id"])]
        assert (n["cell_type"], n["class"]) == (r["cell_type"], r["classification_system"])
        assert (n["x_nm"], n["y_nm"], n["z_nm"]) == (r["pt_position_x"] * 4.0, r["pt_position_y"] * 4.0,
                                                      r["pt_position_z"] * 40.0)
    assert_canonical(path)
    counts = c.manifest.extra["cell_tables"][0]
    assert counts["zero_root_rows"] > 0 and counts["conflicting_root_ids"] >= 0
    assert c.manifest.source["reference_tables"] == {"aibs_metamodel_celltypes_v661": "nucleus_detection_v0"}


def test_generic_datastack_neuropil_and_special_synapses(server, stacks, tmp_path):
    ds = stacks["toy"]
    path = ingest_cave(on(server.url, "toy_public", cell_tables=["cell_types"]), tmp_path / "toy", version=2,
                       selection=Selection(autapses="keep", zero_root="drop"), options=FAST, progress=False)
    c = cx.load(path)
    raw = truth(ds, "synapses", 2)
    raw = raw[(raw["pre_pt_root_id"] != 0) & (raw["post_pt_root_id"] != 0)]
    assert (raw["pre_pt_root_id"] == raw["post_pt_root_id"]).sum() > 0  # autapses exist and are kept
    agg = raw.groupby(["pre_pt_root_id", "post_pt_root_id", "neuropil"]).size().rename("n").reset_index()
    e = c.edge_table()
    assert len(e) == len(agg)
    got = e.set_index(["pre_root_id", "post_root_id", "neuropil"])["synapse_count"]
    for _, r in agg.iterrows():
        assert got.loc[(np.uint64(r["pre_pt_root_id"]), np.uint64(r["post_pt_root_id"]), r["neuropil"])] == r["n"]
    syn = c.manifest.extra["synapses"]
    assert syn["autapses"] == "keep" and syn["zero_root_synapses"] > 0 and syn["autapse_synapses"] > 0
    assert_canonical(path)
    assert c.manifest.voxel_resolution_nm == [8.0, 8.0, 40.0]


# ----------------------------------------------------------------------------- selections


@pytest.mark.parametrize("units", ["nm", "voxels"])
def test_bbox_selection_half_open_and_explicit_units(server, stacks, tmp_path, units):
    ds = stacks["toy"]
    raw = truth(ds, "synapses", 2)
    lo_v, hi_v = np.array([2000, 1000, 0]), np.array([6001, 5000, 25])  # voxels at 8 x 8 x 40 nm
    res = np.array([8.0, 8.0, 40.0])
    box = [lo_v.tolist(), hi_v.tolist()] if units == "voxels" else [(lo_v * res - 3).tolist(),
                                                                    (hi_v * res).tolist()]
    path = ingest_cave(on(server.url, "toy_public"), tmp_path / units, version=2,
                       selection=Selection(bbox=box, bbox_units=units, autapses="keep", zero_root="keep"),
                       options=FAST, progress=False)
    p = raw[[f"pre_pt_position_{a}" for a in "xyz"]].to_numpy()
    if units == "voxels":
        inside = np.all((p >= lo_v) & (p < hi_v), axis=1)
    else:
        nm = p * res
        inside = np.all((nm >= lo_v * res - 3) & (nm < hi_v * res), axis=1)
    want = raw[inside]
    got = store_synapses(path)
    assert 0 < len(got) == len(want) < len(raw)
    np.testing.assert_array_equal(got["synapse_id"].to_numpy(), np.sort(want["id"].to_numpy()).astype(np.uint64))
    assert cx.load(path).manifest.source["selection"]["bbox_units"] == units


@pytest.mark.parametrize("side", ["both", "pre", "post", "within"])
def test_root_id_selection(server, stacks, tmp_path, side):
    ds = stacks["mi"]
    raw = truth(ds, "synapses_pni_2", 661)
    raw = raw[(raw["pre_pt_root_id"] != 0) & (raw["post_pt_root_id"] != 0) & (raw["pre_pt_root_id"] !=
                                                                               raw["post_pt_root_id"])]
    ids = np.unique(raw["pre_pt_root_id"].to_numpy())[::9][:14]
    pre, post = raw["pre_pt_root_id"].isin(ids), raw["post_pt_root_id"].isin(ids)
    sel = {"both": pre | post, "pre": pre, "post": post, "within": pre & post}[side]
    opts = FetchOptions(page_rows=400, concurrency=3, backoff=0.01, id_batch=5)
    path = ingest_cave(on(server.url, "microns"), tmp_path / side, version=661,
                       selection=Selection(root_ids=ids, side=side), options=opts, progress=False)
    got = store_synapses(path)
    assert len(got) == int(sel.sum()) > 0
    np.testing.assert_array_equal(got["synapse_id"].to_numpy(), np.sort(raw[sel]["id"].to_numpy()).astype(np.uint64))
    nodes = cx.load(path).node_table()
    endpoints = set(got["pre_root_id"]) | set(got["post_root_id"])
    assert set(nodes["root_id"]) <= endpoints | set(ids.astype(np.uint64))


def test_timestamp_path_follows_root_id_churn(server, stacks, tmp_path):
    ds = stacks["fw"]
    ts = utc(2025, 1, 1)
    path = ingest_cave(on(server.url, "flywire", cell_tables=[], min_synapses=None), tmp_path / "ts",
                       timestamp="2025-01-01T00:00:00Z", options=FAST, progress=False)
    raw = truth(ds, "synapses_nt_v1", timestamp=ts)
    want, _ = expected_synapses(raw, "post_pt_position", (4, 4, 40), cleft=50)
    got = store_synapses(path)
    assert_same_synapses(got, want)
    at_version, _ = expected_synapses(truth(ds, "synapses_nt_v1", 783), "post_pt_position", (4, 4, 40), cleft=50)
    assert not np.array_equal(at_version["pre_root_id"].to_numpy(), want["pre_root_id"].to_numpy())  # churn happened
    m = cx.load(path).manifest
    assert m.version == {"timestamp": "2025-01-01T00:00:00+00:00", "base_materialization": 783}
    # root ids valid at the timestamp select through caveclient's past-id mapping
    new_roots = np.setdiff1d(want["pre_root_id"].to_numpy(), at_version["pre_root_id"].to_numpy())[:3]
    assert len(new_roots)
    p2 = ingest_cave(on(server.url, "flywire", cell_tables=[], min_synapses=None), tmp_path / "ts_ids", timestamp=ts,
                     selection=Selection(root_ids=new_roots, side="pre"), options=FAST, progress=False)
    got2 = store_synapses(p2)
    w2 = want[want["pre_root_id"].isin(new_roots)]
    assert len(got2) == len(w2) > 0
    np.testing.assert_array_equal(got2["synapse_id"].to_numpy(), w2["synapse_id"].to_numpy())
    retired = np.setdiff1d(at_version["pre_root_id"].to_numpy(), want["pre_root_id"].to_numpy())[:2]
    with pytest.raises(InputError, match="root_ids: some ids are not valid at the timestamp"):
        ingest_cave(on(server.url, "flywire", cell_tables=[]), tmp_path / "old", timestamp=ts,
                    selection=Selection(root_ids=retired), options=FAST, progress=False)


def test_plan_reports_what_would_be_fetched(server):
    plan = plan_cave(on(server.url, "microns"), version=661)
    assert plan["version"] == 661 and plan["tables"]["synapses"]["table"] == "synapses_pni_2"
    assert plan["tables"]["synapses"]["rows"] == 9_000
    assert plan["tables"]["aibs_metamodel_celltypes_v661"]["reference_table"] == "nucleus_detection_v0"


def test_a_ready_client_is_used_then_handed_back(server, tmp_path):
    """client= (as navis and fafbseg take one): the same store as connecting ourselves, and the client's
    sessions get their own transport back afterwards."""
    from caveclient import CAVEclient

    client = CAVEclient("toy_public", server_address=server.url, write_server_cache=False)
    sessions = [client.info.session, client.materialize.session]
    before = [s.get_adapter(server.url) for s in sessions]
    got = ingest_cave(client=client, out=tmp_path / "client", version=2, options=FAST, progress=False)
    assert [s.get_adapter(server.url) for s in sessions] == before
    want = ingest_cave(on(server.url, "toy_public"), tmp_path / "ours", version=2, options=FAST, progress=False)
    for t in ("synapses", "edges", "nodes"):
        pd.testing.assert_frame_equal(read_table(got, t), read_table(want, t), obj=t)
    assert cx.load(got).manifest.source["datastack"] == "toy_public"
    with pytest.raises(InputError, match="auth_token: a ready client carries its own token"):
        ingest_cave(client=client, auth_token="f" * 32, out=tmp_path / "x")
    with pytest.raises(InputError, match="client: needs a CAVEclient for one datastack"):
        ingest_cave(client=CAVEclient(server_address=server.url), out=tmp_path / "y")


def test_typed_arguments_refuse_loose_ones():
    with pytest.raises(InputError, match="selection must be a Selection"):
        ingest_cave("microns", selection={"root_ids": [1]})
    with pytest.raises(TypeError, match="min_synaps"):
        CavePreset("minnie65_public", min_synaps=3)  # a misspelt option fails loudly
    with pytest.raises(InputError, match="preset: unknown preset 'flywyre'"):
        ingest_cave("flywyre")
    with pytest.raises(InputError, match="preset: name a preset"):
        ingest_cave()


# ----------------------------------------------------------------------------- bad input


def test_version_and_timestamp_never_both_and_timestamps_aware(server):
    with pytest.raises(InputError, match="not both"):
        ingest_cave(on(server.url, "flywire"), version=783, timestamp="2025-01-01T00:00:00Z")
    with pytest.raises(InputError, match="no timezone"):
        ingest_cave(on(server.url, "flywire"), timestamp="2025-01-01T00:00:00")


def test_unknown_datastack_lists_what_exists(server, tmp_path):
    with pytest.raises(DatastackNotFoundError) as exc:
        ingest_cave(on(server.url, "minnie65_publik"), tmp_path / "x")
    msg = str(exc.value)
    assert "did you mean 'minnie65_public'" in msg and "flywire_fafb_public" in msg and "toy_public" in msg


def test_unknown_table_lists_tables(server, tmp_path):
    with pytest.raises(TableNotFoundError) as exc:
        ingest_cave(on(server.url, "microns", synapse_table="synapses_pni_3"), tmp_path / "x", version=661)
    assert "synapses_pni_2" in str(exc.value) and "did you mean" in str(exc.value)
    with pytest.raises(TableNotFoundError, match="cell_tables: table 'celltypes'"):
        ingest_cave(on(server.url, "microns", cell_tables=["celltypes"]), tmp_path / "y", version=661)


def test_expired_version_suggests_the_timestamp_path(server, tmp_path):
    with pytest.raises(VersionExpiredError) as exc:
        ingest_cave(on(server.url, "flywire"), tmp_path / "x", version=630)
    msg = str(exc.value)
    assert "630" in msg and "has expired" in msg and "--timestamp 2023-09-01T00:00:00Z" in msg and "783" in msg
    with pytest.raises(VersionExpiredError, match="does not exist"):
        ingest_cave(on(server.url, "flywire"), tmp_path / "y", version=999)


def test_columns_the_table_lacks(server, tmp_path):
    bad = get_preset("flywire").with_overrides(keep_columns=("size",), server=server.url)
    with pytest.raises(ColumnError) as exc:
        ingest_cave(bad, tmp_path / "x", version=783)
    assert "'size' not found" in str(exc.value) and "cleft_score" in str(exc.value)
    with pytest.raises(ColumnError, match="'score' not found"):
        ingest_cave(on(server.url, "flywire", synapse_filters=[("score", ">=", 3)]), tmp_path / "y", version=783)


@pytest.mark.parametrize("bbox, units, match", [
    ([[0, 0], [1, 1]], "nm", "got shape"),
    ([0, 0, 0, 10, 10], "nm", "got shape"),
    ([[10, 0, 0], [0, 10, 10]], "nm", "first corner must be below"),
    ([0, 0, 0, 10, 10, 10], None, "bbox_units: say whether"),
    ([0, 0, 0, 10, 10, 10], "um", "bbox_units must be 'nm' or 'voxels'"),
])
def test_bad_bounding_boxes(server, bbox, units, match):
    with pytest.raises(InputError, match=match):
        ingest_cave(on(server.url, "microns"), version=661, selection=Selection(bbox=bbox, bbox_units=units))


def test_unreachable_server_fails_fast_and_clearly(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    t0 = time.monotonic()
    with pytest.raises(CaveConnectionError, match="cannot reach http://127.0.0.1"):
        ingest_cave(on(f"http://127.0.0.1:{port}", "microns"), tmp_path / "x", version=661)
    assert time.monotonic() - t0 < 3
    # a server that accepts but never answers: the connect timeout bounds the wait
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(1)
    try:
        t0 = time.monotonic()
        with pytest.raises(CaveConnectionError, match="did not answer within 1 s"):
            ingest_cave(on(f"http://127.0.0.1:{hang.getsockname()[1]}", "microns"), tmp_path / "y", version=661,
                        options=FetchOptions(connect_timeout=1.0))
        assert time.monotonic() - t0 < 4
    finally:
        hang.close()


def test_unreachable_local_server_fails_fast(stacks, tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    with CaveTestServer([generic_datastack(200, 10, seed=8)]) as srv:
        srv.local_server = dead  # the info service answers; the materialization service does not
        t0 = time.monotonic()
        with pytest.raises(CaveConnectionError, match=f"cannot reach {dead}.*rerun the same command"):
            ingest_cave(on(srv.url, "toy_public"), tmp_path / "x", progress=False)
        assert time.monotonic() - t0 < 3


def test_tokens_read_like_caveclient_and_refused_clearly(stacks, tmp_path, monkeypatch):
    import json

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    with CaveTestServer([generic_datastack(300, 20, seed=9)], tokens={"0123abcd" * 4}) as srv:
        t0 = time.monotonic()
        with pytest.raises(CaveAuthError) as exc:  # no token anywhere
            ingest_cave(on(srv.url, "toy_public"), tmp_path / "a")
        assert time.monotonic() - t0 < 3
        assert "no token found" in str(exc.value) and "setup_token" in str(exc.value)
        with pytest.raises(CaveAuthError, match="refused"):
            ingest_cave(on(srv.url, "toy_public"), tmp_path / "b", auth_token="f" * 32)
        # the file caveclient reads: ~/.cloudvolume/secrets/<host:port>-cave-secret.json
        secrets = home / ".cloudvolume" / "secrets"
        secrets.mkdir(parents=True)
        host = srv.url.split("://")[1]
        (secrets / f"{host}-cave-secret.json").write_text(json.dumps({"token": "0123abcd" * 4}))
        p = ingest_cave(on(srv.url, "toy_public"), tmp_path / "c", progress=False)
        assert cx.load(p).manifest.rows("synapses") > 0


# ----------------------------------------------------------------------------- command line


def test_cli_ingest_cave_and_one_line_errors(server, tmp_path):
    out = run_cli("--no-progress", "ingest", "cave", "--datastack", "toy_public", "--server", server.url,
                  "--version", "2", "--cell-table", "cell_types", "--page-rows", "900", "--out", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    assert "toy_public" in out.stdout and "store:" in out.stdout
    assert cx.load(tmp_path / "s").manifest.version == {"materialization": 2}
    plan = run_cli("ingest", "cave", "--preset", "flywire", "--server", server.url, "--plan")
    assert plan.returncode == 0 and '"synapses_nt_v1"' in plan.stdout
    for args, text in [
        (["--preset", "flywire", "--version", "630"], "has expired"),
        (["--datastack", "nope_public"], "Datastacks there"),
        (["--preset", "microns", "--bbox", "0", "0", "0", "1", "1", "1"], "--bbox-units"),
    ]:
        r = run_cli("ingest", "cave", "--server", server.url, "--out", str(tmp_path / "e"), *args)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("error: ") and text in r.stderr and "Traceback" not in r.stderr
    r = run_cli("ingest", "cave", "--preset", "flywire", "--version", "783", "--timestamp", "2025-01-01T00:00:00Z")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_empty_selection_gives_an_empty_store(server, tmp_path):
    p = ingest_cave(on(server.url, "toy_public", cell_tables=["cell_types"]), tmp_path / "e", version=2,
                    selection=Selection(bbox=[0, 0, 0, 5, 5, 5], bbox_units="voxels"), options=FAST, progress=False)
    c = cx.load(p)
    assert (c.manifest.rows("synapses"), c.n_edges, c.n_nodes) == (0, 0, 0)


def test_fetch_options_are_checked():
    with pytest.raises(InputError, match="page_rows must be a positive integer"):
        FetchOptions(page_rows=0)
    with pytest.raises(InputError, match="timeout must be a positive number"):
        FetchOptions(timeout=0)


@pytest.mark.parametrize("source", ["cave", "cave-files", "volume"])
def test_cli_help(source):
    out = run_cli("ingest", source, "--help")
    assert out.returncode == 0 and "usage: connectome ingest " + source in out.stdout
