"""Release files of the CAVE sources (MICrONS / FlyWire formats as CSV, feather, parquet) go through the
normalisation of the live path: the store from a file equals the store from the server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import ColumnError, InputError
from connectome.store import read_table
from helpers import run_cli
from connectome.ingest.cave import FetchOptions, get_preset, ingest_cave, ingest_cave_files
from connectome.ingest.testing import CaveTestServer, flywire_datastack, microns_datastack

OPTS = FetchOptions(page_rows=2_000, concurrency=2, backoff=0.01)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    mi = microns_datastack(5_000, 150, seed=31)
    fw = flywire_datastack(5_000, 150, seed=32)
    d = tmp_path_factory.mktemp("live")
    with CaveTestServer([mi, fw], max_rows=3_000) as srv:
        m = ingest_cave(get_preset("microns").with_overrides(server=srv.url), d / "mi", version=661, options=OPTS,
                        progress=False)
        f = ingest_cave(get_preset("flywire").with_overrides(server=srv.url, cell_tables=[]), d / "fw", version=783,
                        options=OPTS, progress=False)
    return {"mi": mi, "fw": fw, "mi_store": m, "fw_store": f}


def _sorted(path, table, key):
    return read_table(path, table).sort_values(key, ignore_index=True)


def _microns_export(ds):
    """synapses_pni_2 as MICrONS exports it: positions as '[x y z]' voxel strings."""
    t = ds.materialize("synapses_pni_2", ds.version_time(661)).to_pandas()
    out = t[["id", "pre_pt_root_id", "post_pt_root_id", "size"]].copy()
    for p in ("pre_pt", "post_pt", "ctr_pt"):
        xyz = t[[f"{p}_position_{a}" for a in "xyz"]].to_numpy()
        out[f"{p}_position"] = [f"[{x} {y} {z}]" for x, y, z in xyz]
    return out.sample(frac=1.0, random_state=0), t


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "feather", "parquet-split"])
def test_microns_release_equals_live_ingest(live, tmp_path, fmt):
    ds = live["mi"]
    export, t = _microns_export(ds)
    nuc = ds.materialize("nucleus_detection_v0", ds.version_time(661)).to_pandas()
    ct = ds.materialize("aibs_metamodel_celltypes_v661", ds.version_time(661)).to_pandas()
    cells = ct.merge(nuc, left_on="target_id", right_on="id", suffixes=("", "_ref"))
    cells = cells.assign(pt_position=[f"[{x} {y} {z}]" for x, y, z in
                                      cells[["pt_position_x", "pt_position_y", "pt_position_z"]].to_numpy()])
    cells = cells[["id", "pt_root_id", "classification_system", "cell_type", "pt_position"]]
    if fmt == "parquet-split":
        syn_file = tmp_path / "synapses_pni_2.parquet"
        split = t[["id", "pre_pt_root_id", "post_pt_root_id", "size"] +
                  [f"ctr_pt_position_{a}" for a in "xyz"]]
        split.to_parquet(syn_file)
        cell_file = tmp_path / "aibs_metamodel_celltypes_v661.parquet"
        cells.to_parquet(cell_file)
    elif fmt == "feather":
        syn_file = tmp_path / "synapses_pni_2.feather"
        export.reset_index(drop=True).to_feather(syn_file)
        cell_file = tmp_path / "aibs_metamodel_celltypes_v661.feather"
        cells.reset_index(drop=True).to_feather(cell_file)
    else:
        syn_file = tmp_path / f"synapses_pni_2.{fmt}"
        export.to_csv(syn_file, index=False)
        cell_file = tmp_path / f"aibs_metamodel_celltypes_v661.{fmt}"
        cells.to_csv(cell_file, index=False)
    p = ingest_cave_files(synapses=syn_file, cells=[cell_file], preset="microns", version=661,
                          datastack="minnie65_public", out=tmp_path / "store", progress=False)
    live_store = live["mi_store"]
    cols = ["synapse_id", "pre_root_id", "post_root_id", "x_nm", "y_nm", "z_nm", "size"]
    got = _sorted(p, "synapses", "synapse_id")[cols]
    want = _sorted(live_store, "synapses", "synapse_id")[cols]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    pd.testing.assert_frame_equal(_sorted(p, "edges", ["pre_root_id", "post_root_id"]),
                                  _sorted(live_store, "edges", ["pre_root_id", "post_root_id"]))
    n_got = _sorted(p, "nodes", "root_id")
    n_want = _sorted(live_store, "nodes", "root_id")
    pd.testing.assert_frame_equal(n_got[["root_id", "class", "cell_type", "x_nm", "y_nm", "z_nm"]],
                                  n_want[["root_id", "class", "cell_type", "x_nm", "y_nm", "z_nm"]])
    m = cx.load(p).manifest
    assert m.version == {"materialization": 661} and m.voxel_resolution_nm == [4.0, 4.0, 40.0]
    assert m.source["kind"] == "cave-release"


def test_flywire_connections_feather_with_transmitters(live, tmp_path):
    """FlyWire's proofread_connections format: syn_count per neuropil, *_avg transmitter means."""
    e = read_table(live["fw_store"], "edges")
    conn = e.rename(columns={"pre_root_id": "pre_pt_root_id", "post_root_id": "post_pt_root_id",
                             "synapse_count": "syn_count"}).drop(columns=["nt_type", "edge_kind"])
    rng = np.random.default_rng(0)
    conn["neuropil"] = rng.choice(["ME_R", "LO_R", "AL_L"], len(conn))
    conn.to_feather(tmp_path / "proofread_connections_783.feather")
    p = ingest_cave_files(connections=tmp_path / "proofread_connections_783.feather", preset="flywire",
                          version=783, out=tmp_path / "fw", progress=False)
    got = _sorted(p, "edges", ["pre_root_id", "post_root_id"])
    want = e.sort_values(["pre_root_id", "post_root_id"], ignore_index=True)
    assert len(got) == len(want) > 0
    np.testing.assert_array_equal(got["synapse_count"].to_numpy(), want["synapse_count"].to_numpy())
    np.testing.assert_array_equal(got["nt_type"].astype(str).to_numpy(), want["nt_type"].astype(str).to_numpy())
    assert set(got["neuropil"]) == {"ME_R", "LO_R", "AL_L"}


def test_flywire_synapse_release_applies_the_same_threshold(live, tmp_path):
    ds = live["fw"]
    t = ds.materialize("synapses_nt_v1", ds.version_time(783)).to_pandas()
    t = t[t["cleft_score"] >= 50]  # the release holds synapses past the cleft-score filter
    t.to_parquet(tmp_path / "synapses.parquet")
    p = ingest_cave_files(synapses=tmp_path / "synapses.parquet", preset="flywire", out=tmp_path / "s",
                          progress=False)
    for table, key in (("synapses", "synapse_id"), ("edges", ["pre_root_id", "post_root_id"])):
        got, want = _sorted(p, table, key), _sorted(live["fw_store"], table, key)
        pd.testing.assert_frame_equal(got[want.columns], want, obj=table)


def test_release_bad_input(tmp_path):
    pd.DataFrame({"pre_pt_root_id": [1], "post_pt_root_id": [2], "ctr_pt_position": ["[1 2 3]"]}).to_csv(
        tmp_path / "s.csv", index=False)
    with pytest.raises(InputError, match="voxel resolution is unknown; pass voxel_resolution"):
        ingest_cave_files(synapses=tmp_path / "s.csv", out=tmp_path / "a", progress=False)
    pd.DataFrame({"pre": [1], "post_pt_root_id": [2]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ColumnError, match="pre_pt_root_id"):
        ingest_cave_files(synapses=tmp_path / "bad.csv", preset="microns", out=tmp_path / "b", progress=False)
    pd.DataFrame({"pre_pt_root_id": [1], "post_pt_root_id": [2], "ctr_pt_position": ["[1 2]"]}).to_csv(
        tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match=r"cannot read '\[1 2\]' as an \[x y z\] position"):
        ingest_cave_files(synapses=tmp_path / "p.csv", preset="microns", out=tmp_path / "c", progress=False)
    r = run_cli("ingest", "cave-files", "--synapses", str(tmp_path / "missing.csv"), "--preset", "microns",
                "--out", str(tmp_path / "d"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("ingest", "cave-files", "--synapses", str(tmp_path / "s.csv"), "--voxel-resolution", "4", "4", "40",
                "--out", str(tmp_path / "e"))
    assert r.returncode == 0, r.stderr
    assert cx.load(tmp_path / "e").manifest.rows("synapses") == 1


def test_flywire_classification_release_as_nodes(shared_data, tmp_path):
    """FlyWire's real v783 classification table (Codex format) joins to nodes by root id."""
    f = shared_data / "flywire_v783_labels" / "neurons_v783.parquet"
    raw = pd.read_parquet(f, columns=["root_id", "super_class", "class", "cell_type"])
    p = ingest_cave_files(cells=[f], preset="flywire", version=783, out=tmp_path / "fw", progress=False)
    n = cx.load(p).node_table().set_index("root_id")
    assert len(n) == len(raw) == 139_255
    r = raw.set_index(raw["root_id"].astype(np.int64))
    assert (n.loc[r.index, "super_class"].astype(str).to_numpy() == r["super_class"].astype(str).to_numpy()).all()
    assert n.index.max() > 2**53 and n.index.dtype == np.int64


# ------------------------------------------------ issue 16: exports that are not named the CAVE way

def _pinky_export(n=60, seed=5):
    """A MICrONS pinky100-style export: voxel positions split per axis as *_pos_{x,y,z}_vx, extra columns."""
    rng = np.random.default_rng(seed)
    ids = np.array([864691135000000001, 864691135000000002, 864691135000000003, 864691135000000004], np.uint64)
    df = pd.DataFrame({"id": np.arange(n) + 1000, "pre_root_id": rng.choice(ids[:2], n),
                       "post_root_id": rng.choice(ids[2:], n)})
    for p in ("ctr", "pre", "post"):
        for a, hi in zip("xyz", (50_000, 50_000, 2_000)):
            df[f"{p}_pos_{a}_vx"] = rng.integers(0, hi, n)
    df["spine_vol_um3"] = rng.random(n).round(4)
    df["cleft_vx"] = rng.integers(10, 500, n)
    return df


def test_microns_export_with_split_voxel_columns(tmp_path):
    raw = _pinky_export()
    raw.to_csv(tmp_path / "pinky.csv", index=False)
    r = run_cli("ingest", "cave-files", "--synapses", str(tmp_path / "pinky.csv"), "--position", "ctr_pos",
                "--voxel-resolution", "3.58", "3.58", "40", "--out", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    syn = read_table(tmp_path / "s", "synapses").set_index("synapse_id").sort_index()
    raw = raw.set_index("id").sort_index()
    np.testing.assert_allclose(syn["x_nm"].to_numpy(), raw["ctr_pos_x_vx"].to_numpy() * 3.58)
    np.testing.assert_allclose(syn["z_nm"].to_numpy(), raw["ctr_pos_z_vx"].to_numpy() * 40.0)
    np.testing.assert_allclose(syn["pre_y_nm"].to_numpy(), raw["pre_pos_y_vx"].to_numpy() * 3.58)
    # extra columns are kept on the synapse rows, and the manifest says which position and columns
    np.testing.assert_array_equal(syn["spine_vol_um3"].to_numpy(), raw["spine_vol_um3"].to_numpy())
    np.testing.assert_array_equal(syn["cleft_vx"].to_numpy(), raw["cleft_vx"].to_numpy())
    m = cx.load(tmp_path / "s").manifest
    assert m.extra["synapse_position"] == {"name": "ctr_pos", "columns": ["ctr_pos_x_vx", "ctr_pos_y_vx",
                                                                         "ctr_pos_z_vx"], "unit": "voxels"}
    assert m.extra["synapse_extra_columns"] == {"policy": "keep", "kept": ["spine_vol_um3", "cleft_vx"]}
    # without --position the ctr position is chosen too; --drop-extra drops the others, and says so
    r = run_cli("ingest", "cave-files", "--synapses", str(tmp_path / "pinky.csv"), "--voxel-resolution", "4", "4",
                "40", "--drop-extra", "--out", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    d = read_table(tmp_path / "d", "synapses")
    assert "spine_vol_um3" not in d.columns and "cleft_vx" not in d.columns
    assert cx.load(tmp_path / "d").manifest.extra["synapse_extra_columns"]["dropped"] == ["spine_vol_um3", "cleft_vx"]


def test_a_position_asked_for_is_honoured_or_refused_by_name(tmp_path):
    _pinky_export().to_csv(tmp_path / "pinky.csv", index=False)
    f = str(tmp_path / "pinky.csv")
    for args, says in (
        (["--position", "ctr_pt_position", "--preset", "microns"],
         ("error: --position: synapses has no position 'ctr_pt_position'; its positions: ctr_pos (ctr_pos_x_vx, "
          "ctr_pos_y_vx, ctr_pos_z_vx; voxels), pre_pos")),
        (["--position-columns", "cx", "cy", "cz", "--preset", "microns"], "column 'cx' not found in synapses"),
        (["--position-columns", "ctr_pos_x_vx", "ctr_pos_y_vx", "spine_vol_um3", "--preset", "microns"],
         "--position-units: the names of ctr_pos_x_vx, ctr_pos_y_vx, spine_vol_um3 do not say"),
        (["--map", "presyn=pre_pt_root_id", "--preset", "microns"], "column 'presyn' not found in synapses"),
        (["--position", "ctr_pos"], ("ctr_pos: positions are in voxels and the voxel resolution is unknown; pass "
                                     "--voxel-resolution X Y Z")),
    ):
        r = run_cli("ingest", "cave-files", "--synapses", f, *args, "--out", str(tmp_path / "no"))
        assert r.returncode == 2 and r.stderr.startswith("error: ") and says in r.stderr, (args, r.stderr)
        assert not (tmp_path / "no").exists()
    r = run_cli("ingest", "cave-files", "--synapses", f, "--position", "ctr_pos", "--position-columns", "a", "b", "c")
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_map_and_position_columns_for_any_spelling(tmp_path):
    """A FlyWire-style synapse export with its own names: --map for the ids, --position-columns for nm positions."""
    rng = np.random.default_rng(3)
    n = 40
    raw = pd.DataFrame({"presyn_segid": rng.choice([720575940600000001, 720575940600000002], n),
                        "postsyn_segid": rng.choice([720575940600000003, 720575940600000004], n),
                        "sx": rng.random(n) * 1e5, "sy": rng.random(n) * 1e5, "sz": rng.random(n) * 1e4,
                        "syn_score": rng.integers(50, 150, n)})
    raw.to_parquet(tmp_path / "fw.parquet")
    p = ingest_cave_files(synapses=tmp_path / "fw.parquet", columns={"presyn_segid": "pre_pt_root_id",
                                                                     "postsyn_segid": "post_pt_root_id"},
                          position_columns=["sx", "sy", "sz"], position_units="nm", min_synapses=None,
                          out=tmp_path / "s", progress=False)
    syn = read_table(p, "synapses")
    np.testing.assert_allclose(np.sort(syn["x_nm"].to_numpy()), np.sort(raw["sx"].to_numpy()))
    assert "syn_score" in syn.columns and cx.load(p).n_edges == len(raw.groupby(["presyn_segid", "postsyn_segid"]))
    m = cx.load(p).manifest
    assert m.source["renamed_columns"] == {"synapses": {"presyn_segid": "pre_pt_root_id",
                                                        "postsyn_segid": "post_pt_root_id"}}
    assert m.extra["synapse_position"]["unit"] == "nm"
    # split nm columns in a known spelling need no resolution and no flag
    nm = raw.rename(columns={"presyn_segid": "pre_pt_root_id", "postsyn_segid": "post_pt_root_id",
                             "sx": "ctr_x_nm", "sy": "ctr_y_nm", "sz": "ctr_z_nm"})
    p2 = ingest_cave_files(synapses=nm, out=tmp_path / "s2", progress=False)
    assert cx.load(p2).manifest.extra["synapse_position"] == {"name": "ctr", "columns": ["ctr_x_nm", "ctr_y_nm",
                                                                                        "ctr_z_nm"], "unit": "nm"}


def test_split_position_spellings_are_recognised():
    from connectome.ingest.cave.format import find_positions

    cols = ["ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z", "pre_pos_x_vx", "pre_pos_y_vx",
            "pre_pos_z_vx", "post_x_nm", "post_y_nm", "post_z_nm", "pt_position", "cleft_vx"]
    got = {p.name: (p.unit, p.role) for p in find_positions(cols)}
    assert got == {"ctr_pt_position": ("voxels", "ctr"), "pre_pos": ("voxels", "pre"), "post": ("nm", "post"),
                   "pt_position": ("voxels", "pt")}


# ------------------------------------------------ issue 23 item 3: positions that contradict each other

PINKY_IDS = np.array([648518346349538157, 648518346349539887, 648518346349538235, 648518346349539462], np.uint64)


def _pinky100_export(n=80, seed=7, nm_per_voxel=(4.0, 4.0, 40.0)):
    """The real pinky100 v185 export's shape (MicronsBinder soma_subgraph_synapses_spines_v185.csv): voxel
    positions as *_pos_{x,y,z}_vx and the centre again in nm as ctr_pt_{x,y,z}_nm (= voxels x 4 x 4 x 40)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": np.arange(n) + 1, "pre_root_id": rng.choice(PINKY_IDS[:2], n),
                       "post_root_id": rng.choice(PINKY_IDS[2:], n), "cleft_vx": rng.integers(10, 900, n),
                       "spine_vol_um3": rng.random(n).round(5)})
    vox = {a: rng.integers(30_000, 90_000, n) if a != "z" else rng.integers(10, 2_100, n) for a in "xyz"}
    for a, f in zip("xyz", nm_per_voxel):
        df[f"ctr_pt_{a}_nm"] = vox[a] * f
    for p in ("pre", "ctr", "post"):
        for a in "xyz":
            df[f"{p}_pos_{a}_vx"] = vox[a] + (rng.integers(-30, 30, n) if p != "ctr" and a != "z" else 0)
    return df


def test_position_columns_that_contradict_the_resolution_are_refused_with_both_factors(tmp_path):
    from connectome.errors import PositionConflictError

    raw = _pinky100_export()
    with pytest.raises(PositionConflictError) as err:  # the guide's old 3.58 on a file whose nm columns say 4
        ingest_cave_files(synapses=raw, voxel_resolution=(3.58, 3.58, 40), out=tmp_path / "no", progress=False)
    msg = str(err.value)
    assert "ctr_pos (voxels) and ctr_pt (nm)" in msg and "4 x 4 x 40 nm per voxel" in msg
    assert "3.58 x 3.58 x 40" in msg and "voxel_resolution=(4, 4, 40)" in msg and err.value.parameter == \
        "voxel_resolution"
    assert not (tmp_path / "no").exists()
    with pytest.raises(PositionConflictError):  # streamed, the same check
        raw.to_csv(tmp_path / "p.csv", index=False)
        ingest_cave_files(synapses=tmp_path / "p.csv", voxel_resolution=(3.58, 3.58, 40), out=tmp_path / "no2",
                          stream=True, progress=False)
    # the CLI says it in one line naming the flag
    r = run_cli("ingest", "cave-files", "--synapses", str(tmp_path / "p.csv"), "--voxel-resolution", "3.58", "3.58",
                "40", "--out", str(tmp_path / "no3"))
    assert r.returncode == 2 and "--voxel-resolution 4 4 40" in r.stderr, r.stderr
    # the resolution the file implies: agreed, recorded
    p = ingest_cave_files(synapses=raw, voxel_resolution=(4, 4, 40), out=tmp_path / "ok", progress=False)
    syn = read_table(p, "synapses").set_index("synapse_id").sort_index()
    np.testing.assert_allclose(syn["x_nm"].to_numpy(), raw["ctr_pt_x_nm"].to_numpy())
    checks = cx.load(p).manifest.extra["position_checks"]
    assert [(c["voxels"], c["nm"], c["agree"]) for c in checks] == [("ctr_pos", "ctr_pt", True)]
    assert checks[0]["nm_per_voxel"] == [4.0, 4.0, 40.0]


def test_a_named_position_keeps_both_with_a_warning_and_the_two_factors(tmp_path, caplog):
    raw = _pinky100_export()
    with caplog.at_level("WARNING"):
        p = ingest_cave_files(synapses=raw, voxel_resolution=(3.58, 3.58, 40), position="ctr_pos",
                              out=tmp_path / "s", progress=False)
    assert "ctr_pos (voxels) and ctr_pt (nm) disagree" in caplog.text and "4 x 4 x 40 nm per voxel" in caplog.text
    ck = cx.load(p).manifest.extra["position_checks"][0]
    assert ck["agree"] is False and ck["voxel_resolution"] == [3.58, 3.58, 40.0]


def test_the_files_nm_columns_can_be_chosen_without_a_voxel_resolution(tmp_path, caplog):
    raw = _pinky100_export()
    for i, kw in enumerate(({"position": "ctr_pt"},
                            {"position_columns": ["ctr_pt_x_nm", "ctr_pt_y_nm", "ctr_pt_z_nm"]})):
        caplog.clear()
        with caplog.at_level("WARNING"):
            p = ingest_cave_files(synapses=raw, out=tmp_path / f"s{i}", progress=False, **kw)
        syn = read_table(p, "synapses").set_index("synapse_id").sort_index()
        np.testing.assert_allclose(syn[["x_nm", "y_nm", "z_nm"]].to_numpy(),
                                   raw[["ctr_pt_x_nm", "ctr_pt_y_nm", "ctr_pt_z_nm"]].to_numpy())
        # the voxel positions stay in voxels under their own names, said with what the file implies
        np.testing.assert_array_equal(syn["pre_pos_x_vx"].to_numpy(), raw["pre_pos_x_vx"].to_numpy())
        assert "kept in voxels" in caplog.text and "imply 4 4 40" in caplog.text
        kept = cx.load(p).manifest.extra["positions_kept_in_voxels"]
        assert {k["name"] for k in kept} >= {"pre_pos", "post_pos"}


def test_an_ambiguous_position_role_names_both_positions(tmp_path):
    raw = _pinky100_export()
    with pytest.raises(InputError, match=r"'ctr' is ambiguous in synapses: 2 positions match it, ctr_pt "
                                         r"\(ctr_pt_x_nm, ctr_pt_y_nm, ctr_pt_z_nm; nm\) and ctr_pos"):
        ingest_cave_files(synapses=raw, position="ctr", out=tmp_path / "no", progress=False)


def test_pinky100_gets_its_species_and_resolution_from_its_preset(tmp_path):
    raw = _pinky100_export()
    m = cx.load(ingest_cave_files(synapses=raw, datastack="pinky100", out=tmp_path / "a", progress=False)).manifest
    assert m.species == "Mus musculus" and m.voxel_resolution_nm == [4.0, 4.0, 40.0]
    assert m.extra["described_by_preset"] == "pinky100" and "pinky100" in m.title
    m = cx.load(ingest_cave_files(synapses=raw, preset="pinky100", out=tmp_path / "b", progress=False)).manifest
    assert m.species == "Mus musculus" and m.source["preset"] == "pinky100"


def test_cave_files_says_every_rename_filter_and_fallback(tmp_path):
    raw = _pinky100_export().rename(columns={"pre_root_id": "presyn_segid"})
    raw.loc[:1, "post_root_id"] = raw.loc[:1, "presyn_segid"]  # 2 autapses
    raw.to_csv(tmp_path / "syn.csv", index=False)
    cells = pd.DataFrame({"id": [1, 2, 3, 4, 5], "pt_root_id": [PINKY_IDS[0], PINKY_IDS[0], PINKY_IDS[2],
                                                                648518346349530001, 648518346349530002],
                          "cell_type": ["pyc", "basket", "pyc", "pyc", "pyc"]})  # one root with two somata
    cells.to_csv(tmp_path / "cells.csv", index=False)
    r = run_cli("ingest", "cave-files", "--synapses", str(tmp_path / "syn.csv"), "--cells", str(tmp_path / "cells.csv"),
                "--map", "presyn_segid=pre_pt_root_id", "--datastack", "pinky100", "--out", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    for says in ("renaming columns presyn_segid -> pre_pt_root_id", "dropped 2 autapse row(s)",
                 "1 root id(s) annotated more than once", "2 of 4 cell(s) have no synapse or edge; kept",
                 "position ctr_pt (ctr_pt_x_nm, ctr_pt_y_nm, ctr_pt_z_nm; nm) stands for a synapse",
                 "2 of the 4 neuron(s) of the edges are in no cell table",
                 "keeping the other columns of the file on the synapse rows: cleft_vx, spine_vol_um3",
                 "datastack pinky100 is the pinky100 preset's: species (Mus musculus)"):
        assert says in r.stderr, (says, r.stderr)


# ------------------------------------------------ issue 23 item 8: ids of another volume

def test_a_preset_whose_volume_the_ids_do_not_belong_to_is_refused(tmp_path):
    from connectome.errors import IdNamespaceError

    raw = _pinky100_export()
    raw.to_csv(tmp_path / "p.csv", index=False)
    for stream in (False, True):
        with pytest.raises(IdNamespaceError, match=r"are pinky100 ids \(6485183...\), not ids of microns "
                                                   r"\(8646911...\).*--datastack pinky100"):
            ingest_cave_files(synapses=tmp_path / "p.csv", preset="microns", position="ctr_pt", stream=stream,
                              out=tmp_path / f"no{stream}", progress=False)
        assert not (tmp_path / f"no{stream}").exists()
    r = run_cli("ingest", "cave-files", "--synapses", str(tmp_path / "p.csv"), "--preset", "flywire", "--position",
                "ctr_pt", "--out", str(tmp_path / "no"))
    assert r.returncode == 2 and "pinky100 ids" in r.stderr and "not ids of flywire" in r.stderr, r.stderr
    # the export's own datastack (or preset) is accepted, also with the microns conventions
    ingest_cave_files(synapses=raw, preset="microns", datastack="pinky100", out=tmp_path / "ok", progress=False)
