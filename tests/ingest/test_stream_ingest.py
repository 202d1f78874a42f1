"""Streaming (out-of-core) ingest: same stores as the in-memory path, bounded memory, pair tables."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, run_cli

import connectome as cx
from connectome.errors import InputError
from connectome.store import read_table

NEUROPILS = ["AL_L", "AL_R", "LH_L", "LH_R", "ME_L", "ME_R", "GNG"]


def codex_frame(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pre = rng.integers(0, 300, n).astype(np.uint64) + np.uint64(720575940600000000)
    post = rng.integers(0, 300, n).astype(np.uint64) + np.uint64(720575940600000000)
    df = pd.DataFrame({"pre_pt_root_id": pre, "post_pt_root_id": post,
                       "neuropil": rng.choice(NEUROPILS, n), "syn_count": rng.integers(1, 30, n),
                       "gaba_avg": rng.random(n).astype(np.float32), "ach_avg": rng.random(n).astype(np.float32)})
    return df.drop_duplicates(["pre_pt_root_id", "post_pt_root_id", "neuropil"], ignore_index=True)


def assert_same_store(a, b, tables=("nodes", "edges", "pairs")):
    for t in tables:
        pd.testing.assert_frame_equal(read_table(a, t), read_table(b, t), obj=t)


@pytest.fixture(autouse=True)
def small_ranges(monkeypatch):
    monkeypatch.setenv("CONNECTOME_STREAM_BUCKET_ROWS", "700")  # several pre-id ranges even on small files


def test_codex_feather_streams_to_the_same_store(tmp_path):
    from connectome.ingest.release import ingest_codex

    f = tmp_path / "proofread_connections_783.feather"
    codex_frame().to_feather(f)
    a = ingest_codex(f, out=tmp_path / "stream", stream=True, progress=False)
    b = ingest_codex(f, out=tmp_path / "memory", stream=False, progress=False)
    assert_same_store(a, b)
    m = cx.load(a).manifest
    assert m.extra["ingest"]["streamed"] and m.extra["ingest"]["pre_id_ranges"] > 3
    assert len(m.tables["edges"].files) > 1
    # one pre id never split over files
    mins = [int(f.stats["pre_root_id_min"]) for f in m.tables["edges"].files]
    maxs = [int(f.stats["pre_root_id_max"]) for f in m.tables["edges"].files]
    assert all(hi < lo for hi, lo in zip(maxs[:-1], mins[1:]))


def test_csv_edgelist_with_nodes_and_policies(tmp_path):
    from connectome.ingest.release import ingest_edgelist

    df = codex_frame(3000, seed=1).rename(columns={"pre_pt_root_id": "src", "post_pt_root_id": "dst",
                                                    "syn_count": "n"})
    df = pd.concat([df, df.iloc[:50]], ignore_index=True)  # repeated rows: summed
    df.to_csv(tmp_path / "e.csv.gz", index=False)
    ids = np.unique(np.concatenate([df.src.to_numpy(), df.dst.to_numpy()]))
    nodes = pd.DataFrame({"root_id": np.concatenate([ids[:-20], np.array([1, 2, 3], np.uint64)]), "cell_type": "x"})
    nodes.to_parquet(tmp_path / "n.parquet")
    kw = dict(columns={"src": "pre_root_id", "dst": "post_root_id", "n": "synapse_count"}, duplicates="sum",
              isolated="drop", progress=False)
    a = ingest_edgelist(tmp_path / "e.csv.gz", tmp_path / "n.parquet", out=tmp_path / "s", stream=True, **kw)
    b = ingest_edgelist(tmp_path / "e.csv.gz", tmp_path / "n.parquet", out=tmp_path / "m", stream=False, **kw)
    assert_same_store(a, b)
    assert cx.load(a).n_nodes == len(ids)  # 20 added from the edges, 3 isolated dropped


def test_neuprint_min_synapses_and_no_neuropil(tmp_path):
    from connectome.ingest.release import ingest_codex, ingest_neuprint

    rng = np.random.default_rng(2)
    e = pd.DataFrame({"bodyId_pre": rng.integers(1, 200, 4000), "bodyId_post": rng.integers(1, 200, 4000)})
    e = e.drop_duplicates(ignore_index=True)
    e["weight"] = rng.integers(1, 9, len(e))
    e.to_parquet(tmp_path / "e.parquet")
    a = ingest_neuprint(tmp_path / "e.parquet", out=tmp_path / "s", stream=True, progress=False)
    b = ingest_neuprint(tmp_path / "e.parquet", out=tmp_path / "m", stream=False, progress=False)
    assert_same_store(a, b, tables=("nodes", "edges"))
    assert "pairs" not in cx.load(a).manifest.tables  # rows already are pairs
    codex_frame(2000, seed=3).to_feather(tmp_path / "c.feather")
    a = ingest_codex(tmp_path / "c.feather", out=tmp_path / "c1", stream=True, min_synapses=5, progress=False)
    b = ingest_codex(tmp_path / "c.feather", out=tmp_path / "c2", stream=False, min_synapses=5, progress=False)
    assert_same_store(a, b)


def test_stream_refusals(tmp_path):
    from connectome.ingest.release import ingest_codex

    with pytest.raises(InputError) as e:
        ingest_codex(codex_frame(10), out=tmp_path / "x", stream=True, progress=False)
    assert e.value.parameter == "stream"
    with pytest.raises(InputError) as e:
        ingest_codex(tmp_path / "c.feather", out=tmp_path / "x", stream="yes", progress=False)
    assert e.value.parameter == "stream"
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        ingest_codex(tmp_path / "empty.csv", out=tmp_path / "x", stream=True, progress=False)
    pd.DataFrame({"a": [1], "b": [2]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="pre_root_id"):
        ingest_codex(tmp_path / "bad.csv", out=tmp_path / "x", stream=True, progress=False)
    assert not (tmp_path / "x").exists()


def test_large_files_stream_by_themselves(tmp_path, monkeypatch, caplog):
    from connectome.ingest.release import ingest_codex

    codex_frame(500).to_feather(tmp_path / "c.feather")
    monkeypatch.setenv("CONNECTOME_STREAM_BYTES", "1")
    with caplog.at_level(logging.INFO, logger="connectome.ingest.stream"):
        p = ingest_codex(tmp_path / "c.feather", out=tmp_path / "s", progress=False)
    assert "reading it in record batches" in caplog.text
    assert cx.load(p).manifest.extra["ingest"]["streamed"]


def test_command_line_stream_flags(tmp_path):
    codex_frame(800).to_feather(tmp_path / "c.feather")
    r = run_cli("ingest", "codex", "--connections", str(tmp_path / "c.feather"), "--stream", "--out",
                str(tmp_path / "s"), env={"CONNECTOME_STREAM_BUCKET_ROWS": "300"})
    assert r.returncode == 0, r.stderr
    assert cx.load(tmp_path / "s").manifest.extra["ingest"]["pre_id_ranges"] >= 2
    synapse_frame(500).to_feather(tmp_path / "syn.feather")
    r = run_cli("ingest", "cave-files", "--synapses", str(tmp_path / "syn.feather"), "--preset", "flywire",
                "--stream", "--out", str(tmp_path / "y"))
    assert r.returncode == 0, r.stderr
    assert cx.load(tmp_path / "y").manifest.extra["ingest"]["streamed"]
    r = run_cli("ingest", "codex", "--connections", str(tmp_path / "c.feather"), "--stream", "--no-stream")
    assert r.returncode != 0 and "not allowed with" in r.stderr


def synapse_frame(n: int = 5000, seed: int = 0, neurons: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": rng.permutation(n) + 1, "pre_pt_root_id": rng.integers(1, neurons, n),
        "post_pt_root_id": rng.integers(1, neurons, n),
        "post_pt_position_x": rng.integers(0, 20000, n), "post_pt_position_y": rng.integers(0, 10000, n),
        "post_pt_position_z": rng.integers(0, 800, n), "cleft_score": rng.integers(40, 200, n),
        "connection_score": rng.random(n) * 300, "gaba": rng.random(n), "ach": rng.random(n), "glut": rng.random(n),
        "oct": rng.random(n), "ser": rng.random(n), "da": rng.random(n), "neuropil": rng.choice(NEUROPILS, n)})


def test_cave_synapse_file_streams_to_the_same_store(tmp_path):
    from connectome.ingest.cave import ingest_cave_files

    synapse_frame().to_feather(tmp_path / "flywire_synapses_783.feather")
    kw = dict(synapses=tmp_path / "flywire_synapses_783.feather", preset="flywire", progress=False)
    a = ingest_cave_files(out=tmp_path / "s", stream=True, **kw)
    b = ingest_cave_files(out=tmp_path / "m", stream=False, **kw)
    assert_same_store(a, b, tables=("nodes", "edges"))
    assert cx.load(a).n_edges > 0 and "pairs" in cx.load(a).manifest.tables
    sa = read_table(a, "synapses").sort_values("synapse_id", ignore_index=True)
    sb = read_table(b, "synapses").sort_values("synapse_id", ignore_index=True)
    pd.testing.assert_frame_equal(sa, sb)
    ma, mb = cx.load(a).manifest, cx.load(b).manifest
    for key in ("synapses", "edges_below_min_synapses", "synapse_position", "synapse_extra_columns", "min_synapses"):
        assert ma.extra[key] == mb.extra[key], key
    assert ma.tables["synapses"].columns == mb.tables["synapses"].columns
    assert all("x_nm_min" in f.stats for f in ma.tables["synapses"].files)
    assert cx.pair_totals(cx.load(a)).equals(cx.pair_totals(cx.load(b)))


def test_cave_stream_refuses_repeated_synapse_ids(tmp_path):
    from connectome.ingest.cave import ingest_cave_files

    s = synapse_frame(300)
    pd.concat([s, s.iloc[:1]], ignore_index=True).to_feather(tmp_path / "s.feather")
    with pytest.raises(InputError, match="synapse ids repeat"):
        ingest_cave_files(synapses=tmp_path / "s.feather", preset="flywire", out=tmp_path / "x", stream=True,
                          progress=False)
    with pytest.raises(InputError) as e:
        ingest_cave_files(synapses=tmp_path / "s.feather", connections=tmp_path / "s.feather", preset="flywire",
                          out=tmp_path / "x", stream=True, progress=False)
    assert e.value.parameter == "stream"
    assert not (tmp_path / "x").exists()


_CAPPED = textwrap.dedent("""
    import os, resource, sys
    import numpy, pandas, pyarrow, pyarrow.csv, pyarrow.ipc, pyarrow.parquet, pyarrow.compute, pyarrow.dataset
    import connectome
    from connectome.ingest.release import ingest_edgelist
    import connectome.ingest.stream, connectome.ingest.stream_edges, connectome.pair_table
    mode, src, out, cap = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    pyarrow.set_cpu_count(1)
    pyarrow.set_io_thread_count(1)
    size = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    resource.setrlimit(resource.RLIMIT_AS, (size + cap, size + cap))
    try:
        p = ingest_edgelist(src, out=out, stream=mode == "stream", progress=False, duplicates="sum",
                            columns={"pre": "pre_root_id", "post": "post_root_id", "n": "synapse_count"})
    except (MemoryError, connectome.errors.InputError) as exc:
        print("FAILED", type(exc).__name__, str(exc)[:200])
        sys.exit(3)
    m = connectome.load(p).manifest
    print("ROWS", m.rows("edges"), m.rows("pairs"), m.rows("nodes"))
""")


def test_ingest_of_a_file_larger_than_the_memory_cap(tmp_path):
    """A CSV bigger than the address-space headroom a child gets: the whole read fails, the stream ends exact."""
    n = 4_000_000
    rng = np.random.default_rng(7)
    base = np.uint64(720575940600000000)
    df = pd.DataFrame({"pre": rng.integers(0, 40_000, n).astype(np.uint64) + base,
                       "post": rng.integers(0, 40_000, n).astype(np.uint64) + base,
                       "neuropil": rng.choice(np.array(NEUROPILS + ["SMP_L", "SMP_R", "MB_CA_L"]), n),
                       "n": rng.integers(1, 40, n),
                       "gaba_avg": rng.random(n).round(6), "ach_avg": rng.random(n).round(6)})
    src = tmp_path / "connections.csv"
    df.to_csv(src, index=False)
    want_edges = len(df.drop_duplicates(["pre", "post", "neuropil"]))
    want_pairs = len(df.drop_duplicates(["pre", "post"]))
    want_nodes = len(np.unique(np.concatenate([df.pre.to_numpy(), df.post.to_numpy()])))
    del df
    cap = 230 * 2**20
    assert src.stat().st_size > cap
    env = {**os.environ, "MALLOC_ARENA_MAX": "1", "ARROW_DEFAULT_MEMORY_POOL": "mimalloc",
           "CONNECTOME_STREAM_BUCKET_ROWS": "150000", "OMP_NUM_THREADS": "1"}
    script = tmp_path / "capped.py"
    script.write_text(_CAPPED)

    def run(mode: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), mode, str(src), str(tmp_path / mode), str(cap)],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)

    whole = run("whole")
    assert whole.returncode != 0, whole.stdout  # reading the file whole runs out of memory
    assert "memory" in (whole.stdout + whole.stderr).lower(), whole.stdout + whole.stderr[-2000:]
    streamed = run("stream")
    assert streamed.returncode == 0, streamed.stdout + streamed.stderr[-2000:]
    line = [x for x in streamed.stdout.splitlines() if x.startswith("ROWS")][0]
    assert line.split()[1:] == [str(want_edges), str(want_pairs), str(want_nodes)]
