"""The Parquet store: round trips, atomic replacement under SIGKILL, versions, checksums, bad paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import InputError, SourceNotFoundError, StoreCorruptError, StoreError, StoreVersionError, StoreWriteError
from connectome.store import read_manifest, read_table, verify_store, write_store


def toy_edges(n=6, start=0):
    rng = np.random.default_rng(start)
    pre = rng.integers(1, 50, n)
    post = rng.integers(1, 50, n)
    df = pd.DataFrame({"pre_root_id": pre, "post_root_id": post, "synapse_count": rng.integers(1, 9, n)})
    return df.drop_duplicates(["pre_root_id", "post_root_id"])


def test_round_trip_keeps_tables_and_manifest(tmp_path):
    e = toy_edges(40)
    n = pd.DataFrame({"root_id": np.arange(1, 50), "cell_type": [f"t{i % 3}" for i in range(49)],
                      "x_nm": np.arange(49) * 4.0})
    syn = pd.DataFrame({"pre_root_id": [1, 1], "post_root_id": [2, 2], "x_nm": [4.0, 8.0],
                        "y_nm": [0.0, 0.0], "z_nm": [40.0, 80.0]})
    m = write_store(tmp_path / "s", e, n, syn, name="toy", progress=False,
                    manifest={"species": "test", "version": {"materialization": 783},
                              "voxel_resolution_nm": [4, 4, 40]})
    assert m.rows("edges") == len(e) and m.rows("synapses") == 2
    c = cx.load(tmp_path / "s")
    assert c.manifest.voxel_resolution_nm == [4, 4, 40]
    assert c.manifest.version == {"materialization": 783}
    assert c.manifest.schema_version == 1
    got = c.edge_table()
    want = cx.from_edges(e).edge_table()
    pd.testing.assert_frame_equal(got, want)
    assert c.has_synapses and len(c.synapses.compute()) == 2
    assert c.node_table()["cell_type"].dtype == "string[pyarrow]"
    verify_store(tmp_path / "s")


def test_edges_partitioned_without_splitting_a_pre_id(tmp_path):
    e = pd.DataFrame({"pre_root_id": np.repeat(np.arange(10), 7), "post_root_id": np.tile(np.arange(100, 107), 10),
                      "synapse_count": 1})
    m = write_store(tmp_path / "p", e, partition_rows=15, progress=False)
    files = m.tables["edges"].files
    assert len(files) >= 4
    ranges = [(int(f.stats["pre_root_id_min"]), int(f.stats["pre_root_id_max"])) for f in files]
    for (a0, a1), (b0, b1) in zip(ranges, ranges[1:]):
        assert a1 < b0  # disjoint, ordered pre id ranges
    c = cx.load(tmp_path / "p", in_memory=False)
    assert c.edges.npartitions == len(files)
    assert len(c.edges.compute()) == 70


def test_same_content_same_version_and_old_versions_pruned(tmp_path):
    p = tmp_path / "v"
    write_store(p, toy_edges(10, 1), progress=False)
    v1 = (p / "CURRENT").read_text().strip()
    write_store(p, toy_edges(10, 1), progress=False)
    assert (p / "CURRENT").read_text().strip() == v1
    write_store(p, toy_edges(10, 2), progress=False)
    write_store(p, toy_edges(10, 3), progress=False)
    versions = sorted(x.name for x in p.glob("v-*"))
    assert len(versions) == 2  # the live one and the one before it
    assert (p / "CURRENT").read_text().strip() in versions


WRITER = r"""
import sys, numpy as np, pandas as pd
from connectome.store import write_store
n = int(sys.argv[2])
rng = np.random.default_rng(7)
e = pd.DataFrame({"pre_root_id": np.arange(n) // 3, "post_root_id": np.arange(n) % 1000 + 10**9,
                  "synapse_count": rng.integers(1, 20, n)})
write_store(sys.argv[1], e, partition_rows=20_000, progress=False)
print("done")
"""


def _start_writer(path: Path, rows: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(rows)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_partial(folder: Path, pattern: str, proc: subprocess.Popen, timeout: float = 120) -> Path:
    t0 = time.time()
    while time.time() - t0 < timeout:
        for tmp in folder.glob(pattern):
            if len(list(tmp.rglob("part-*.parquet"))) >= 2:
                return tmp
        if proc.poll() is not None:
            raise AssertionError(f"writer finished before it could be killed: {proc.stderr.read()}")
        time.sleep(0.005)
    raise AssertionError("writer never produced a partial store")


def test_writer_killed_mid_write_leaves_previous_store_intact(tmp_path):
    p = tmp_path / "store"
    write_store(p, toy_edges(30, 5), name="before", progress=False)
    before = read_table(p, "edges")
    live = (p / "CURRENT").read_text()
    proc = _start_writer(p, 3_000_000)
    partial = _wait_for_partial(p, ".tmp-*", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert partial.exists()  # the kill really happened mid-write
    # the previous version is still live and intact
    assert (p / "CURRENT").read_text() == live
    verify_store(p)
    pd.testing.assert_frame_equal(read_table(p, "edges"), before)
    assert cx.load(p).manifest.name == "before"
    # the next write cleans the leftovers and succeeds
    write_store(p, toy_edges(12, 9), name="after", progress=False)
    assert not list(p.glob(".tmp-*"))
    assert cx.load(p).manifest.name == "after"


def test_writer_killed_on_first_write_leaves_no_visible_store(tmp_path):
    p = tmp_path / "fresh"
    proc = _start_writer(p, 3_000_000)
    _wait_for_partial(tmp_path, ".fresh.tmp-*", proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert not p.exists()
    assert "fresh" not in set(cx.datasets()["name"])
    write_store(p, toy_edges(5), progress=False)
    assert not list(tmp_path.glob(".fresh.tmp-*"))
    assert cx.load(p).n_edges == len(toy_edges(5))


def _manifest_file(p: Path) -> Path:
    return p / (p / "CURRENT").read_text().strip() / "manifest.json"


def test_newer_schema_gives_clear_error(tmp_path):
    p = tmp_path / "new"
    write_store(p, toy_edges(), progress=False)
    mf = _manifest_file(p)
    d = json.loads(mf.read_text())
    d["schema_version"] = 99
    mf.write_text(json.dumps(d))
    with pytest.raises(StoreVersionError, match="schema version 99 is newer .* upgrade connectome-service"):
        cx.load(p)


def test_corrupted_file_detected_by_verify(tmp_path):
    p = tmp_path / "c"
    write_store(p, toy_edges(20), progress=False)
    vdir = p / (p / "CURRENT").read_text().strip()
    f = next(vdir.glob("edges/part-*.parquet"))
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(StoreCorruptError, match="SHA-256"):
        cx.load(p, verify=True)
    f.unlink()
    with pytest.raises(StoreCorruptError, match="missing"):
        cx.load(p)


def test_bad_paths(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(StoreWriteError, match="is a file"):
        write_store(afile, toy_edges(), progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(StoreWriteError, match="not a connectome store; refusing"):
        write_store(tmp_path / "busy", toy_edges(), progress=False)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    with pytest.raises(StoreWriteError, match="is a file, not a folder"):
        write_store(afile / "sub" / "store", toy_edges(), progress=False)
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        cx.load(tmp_path / "nope")
    with pytest.raises(StoreError, match="not a connectome store"):
        cx.load(tmp_path / "busy")


def test_unwritable_parent(tmp_path, monkeypatch):
    """Root (CI) ignores permissions, so deny access at the check itself: clear error, nothing written."""
    import connectome.store as store

    monkeypatch.setattr(store.os, "access", lambda *a, **k: False)
    with pytest.raises(StoreWriteError, match="permission denied"):
        write_store(tmp_path / "s", toy_edges(), progress=False)
    assert not (tmp_path / "s").exists()


def test_invalid_input_writes_nothing(tmp_path):
    bad = toy_edges().assign(synapse_count=-1)
    with pytest.raises(InputError):
        write_store(tmp_path / "x", bad, progress=False)
    assert not (tmp_path / "x").exists() and not list(tmp_path.iterdir())
    with pytest.raises(InputError, match="partition_rows"):
        write_store(tmp_path / "y", toy_edges(), partition_rows=0, progress=False)
    assert not (tmp_path / "y").exists()


def test_manifest_rejects_unknown_fields(tmp_path):
    with pytest.raises(InputError, match="unknown field"):
        write_store(tmp_path / "m", toy_edges(), manifest={"colour": "red"}, progress=False)


def test_read_manifest_returns_live_version(tmp_path):
    write_store(tmp_path / "r", toy_edges(), name="r", progress=False)
    m, vdir = read_manifest(tmp_path / "r")
    assert vdir.name == (tmp_path / "r" / "CURRENT").read_text().strip()
    assert m.tables["edges"].files[0].sha256
