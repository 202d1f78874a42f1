"""CloudVolume ingest on the real EM cutout (pinky40): file:// and precomputed://http:// reads, per-segment
statistics and point lookups, each checked against a direct numpy computation on the same array
(decoded from the raw crackle file, not through CloudVolume)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import InputError, SourceNotFoundError
from helpers import run_cli
from connectome.ingest.testing import PrecomputedServer
from connectome.ingest.volume import ingest_volume, points_to_segments, read_cutout, segment_stats

RES = np.array([32.0, 32.0, 40.0])


@pytest.fixture(scope="module")
def cutout_dir(shared_data):
    return shared_data / "segmentation_pinky40_cutout"


@pytest.fixture(scope="module")
def crackle_array(cutout_dir):
    import crackle

    raw = gzip.decompress((cutout_dir / "connectomics_512cube.npy.ckl.gz").read_bytes())
    return crackle.CrackleArray(raw)


@pytest.fixture(scope="module")
def raw256(crackle_array):
    """The 512^3 cube decoded with crackle, cropped to the 256^3 corner the precomputed copy holds."""
    return np.asarray(crackle_array[:, :, 0:256])[:256, :256, :256].copy()


@pytest.fixture(scope="module")
def file_src(cutout_dir):
    return "file://" + str(cutout_dir / "precomputed_256cube")


@pytest.fixture(scope="module")
def http(cutout_dir):
    with PrecomputedServer(cutout_dir) as srv:
        yield srv


def numpy_stats(labels, offset, res):
    """Direct computation: unique + weighted bincounts + groupby min/max over voxel coordinates."""
    ids, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    inv = inv.ravel()
    grids = np.meshgrid(*[np.arange(s) for s in labels.shape], indexing="ij")
    out = pd.DataFrame({"root_id": ids.astype(np.uint64), "voxel_count": counts})
    coords = pd.DataFrame({"seg": inv, **{ax: g.ravel() for ax, g in zip("xyz", grids)}})
    g = coords.groupby("seg")
    for i, ax in enumerate("xyz"):
        out[f"{ax}_nm"] = (np.bincount(inv, weights=grids[i].ravel()) / counts + offset[i] + 0.5) * res[i]
        out[f"bbox_min_{ax}_vx"] = g[ax].min().to_numpy() + offset[i]
        out[f"bbox_max_{ax}_vx"] = g[ax].max().to_numpy() + 1 + offset[i]
    out["volume_nm3"] = counts * np.prod(res)
    return out[out["root_id"] != 0].reset_index(drop=True)


def test_file_cutout_equals_raw_array(file_src, raw256):
    c = read_cutout(file_src, [[10, 20, 30], [200, 150, 100]], units="voxels")
    np.testing.assert_array_equal(c.labels, raw256[10:200, 20:150, 30:100])
    assert c.offset.tolist() == [10, 20, 30] and c.resolution_nm.tolist() == RES.tolist()


def test_nm_bbox_reads_every_voxel_it_touches(file_src, raw256):
    c = read_cutout(file_src, [[100, 100, 100], [1000, 1000, 1000]], units="nm")
    # x, y: floor(100/32)=3 .. ceil(1000/32)=32; z: floor(100/40)=2 .. ceil(1000/40)=25
    assert c.bbox_voxels.tolist() == [[3, 3, 2], [32, 32, 25]]
    np.testing.assert_array_equal(c.labels, raw256[3:32, 3:32, 2:25])
    assert c.bbox_nm.tolist() == [[96.0, 96.0, 80.0], [1024.0, 1024.0, 1000.0]]


def test_segment_stats_equal_numpy_on_the_same_array(file_src, raw256):
    lo, hi = np.array([16, 100, 120]), np.array([240, 256, 256])
    c = read_cutout(file_src, [lo.tolist(), hi.tolist()], units="voxels")
    got = segment_stats(c)
    want = numpy_stats(raw256[16:240, 100:256, 120:256], lo, RES)
    assert len(got) == len(want) > 50
    for col in want.columns:
        np.testing.assert_allclose(got[col].to_numpy(dtype=float), want[col].to_numpy(dtype=float), err_msg=col)
    assert got["root_id"].dtype == np.int64  # the volume's uint64 labels, returned as int64 root ids
    assert int(got["voxel_count"].sum()) == int((raw256[16:240, 100:256, 120:256] != 0).sum())


def test_http_source_reads_the_same_voxels(http, file_src, raw256):
    src = http.source("precomputed_256cube")
    assert src.startswith("precomputed://http://127.0.0.1:")
    box = [[0, 0, 0], [8192, 8192, 10240]]  # the whole volume, in nm
    c = read_cutout(src, box, units="nm")
    np.testing.assert_array_equal(c.labels, raw256)
    assert http.stats["gzip"] >= 64  # chunks came as X.gz with Content-Encoding: gzip
    pd.testing.assert_frame_equal(segment_stats(c), segment_stats(read_cutout(file_src, box, units="nm")))


def test_written_volume_with_offset_over_file_and_http(crackle_array, tmp_path):
    from cloudvolume import CloudVolume

    data = np.asarray(crackle_array[:, :, 256:320])[:300, :200, :]  # 300 x 200 x 64, real labels
    offset = np.array([1000, 2000, 500])
    info = CloudVolume.create_new_info(1, "segmentation", "uint32", "compressed_segmentation", RES.tolist(),
                                       offset.tolist(), list(data.shape), chunk_size=[64, 64, 32])
    vol = CloudVolume("file://" + str(tmp_path / "vol"), info=info, progress=False, compress="gzip")
    vol.commit_info()
    vol[offset[0]:offset[0] + 300, offset[1]:offset[1] + 200, offset[2]:offset[2] + 64] = data
    box_nm = np.array([[1050 * 32, 2010 * 32, 510 * 40], [1250 * 32 - 1, 2150 * 32, 560 * 40]])
    want = data[50:250, 10:150, 10:60]
    c1 = read_cutout("file://" + str(tmp_path / "vol"), box_nm, units="nm")
    np.testing.assert_array_equal(c1.labels, want)
    with PrecomputedServer(tmp_path) as srv:
        c2 = read_cutout(srv.source("vol"), box_nm, units="nm")
        np.testing.assert_array_equal(c2.labels, want)
        # points in CAVE-style 4 x 4 x 40 nm voxels map to the volume's 32 x 32 x 40 voxels
        rng = np.random.default_rng(0)
        vox = rng.integers([0, 0, 0], data.shape, size=(400, 3))
        cave_vox = (vox + offset) * np.array([8, 8, 1]) + rng.integers(0, 8, (400, 3)) * np.array([1, 1, 0])
        ids = points_to_segments(srv.source("vol"), cave_vox, units="voxels", point_resolution_nm=(4, 4, 40))
        np.testing.assert_array_equal(ids, data[vox[:, 0], vox[:, 1], vox[:, 2]].astype(np.uint64))
    s = segment_stats(c1)
    assert s["bbox_min_x_vx"].min() >= 1050 and s["bbox_max_x_vx"].max() <= 1250


def test_points_to_segments_nm_and_outside(file_src, raw256):
    rng = np.random.default_rng(1)
    nm = rng.uniform(0, 1, (2_000, 3)) * (256 * RES)
    ids = points_to_segments(file_src, nm, units="nm")
    v = np.floor(nm / RES).astype(int)
    np.testing.assert_array_equal(ids, raw256[v[:, 0], v[:, 1], v[:, 2]].astype(np.uint64))
    df = pd.DataFrame(nm[:5], columns=["x_nm", "y_nm", "z_nm"])
    np.testing.assert_array_equal(points_to_segments(file_src, df, units="nm"), ids[:5])
    outside = np.vstack([nm[:3], [[-1.0, 10.0, 10.0], [8192.0, 0.0, 0.0]]])
    with pytest.raises(InputError, match="2 point\\(s\\) lie outside the volume"):
        points_to_segments(file_src, outside, units="nm")
    z = points_to_segments(file_src, outside, units="nm", outside="zero")
    assert z[3:].tolist() == [0, 0] and z[:3].tolist() == ids[:3].tolist()


def test_ingest_volume_as_nodes_and_into_a_store(file_src, raw256, tmp_path):
    box = [[0, 128, 192], [128, 256, 256]]
    p = ingest_volume(file_src, box, units="voxels", out=tmp_path / "seg", progress=False)
    c = cx.load(p)
    want = numpy_stats(raw256[0:128, 128:256, 192:256], np.array([0, 128, 192]), RES)
    assert len(want) > 20
    nodes = c.node_table().sort_values("root_id", ignore_index=True)
    np.testing.assert_array_equal(nodes["root_id"].to_numpy(), want["root_id"].to_numpy())
    np.testing.assert_array_equal(nodes["voxel_count"].to_numpy(), want["voxel_count"].to_numpy())
    assert c.manifest.source["bbox"]["voxels"] == box and c.manifest.voxel_resolution_nm == RES.tolist()
    # add the columns to an existing store whose nodes are some of these segments
    ids = want["root_id"].to_numpy()[:6]
    e = pd.DataFrame({"pre_root_id": ids[:-1], "post_root_id": ids[1:], "synapse_count": 3})
    mine = cx.from_edges(e, pd.DataFrame({"root_id": np.append(ids, np.uint64(7))}), name="mine")
    mine.save(tmp_path / "mine", progress=False)
    ingest_volume(file_src, box, units="voxels", into=tmp_path / "mine", progress=False)
    n = cx.load(tmp_path / "mine").node_table().set_index("root_id")
    assert n.loc[ids, "voxel_count"].tolist() == want["voxel_count"].to_numpy()[:6].tolist()
    assert pd.isna(n.loc[np.uint64(7), "voxel_count"])
    info = cx.load(tmp_path / "mine").manifest.extra["segment_stats"][0]
    assert info["segments"] == 6 and info["skipped_not_nodes"] == len(want) - 6


def test_volume_bad_input(file_src, http, tmp_path):
    with pytest.raises(SourceNotFoundError, match="source: .*nowhere.* does not exist"):
        read_cutout("file://" + str(tmp_path / "nowhere"), [0, 0, 0, 1, 1, 1], units="voxels")
    with pytest.raises(SourceNotFoundError, match="no 'info' file there"):
        read_cutout(http.source("nowhere"), [0, 0, 0, 1, 1, 1], units="voxels")
    with pytest.raises(InputError, match=r"outside the volume, whose bounds are \[\[0, 0, 0\], \[256, 256, 256\]\]"):
        read_cutout(file_src, [0, 0, 0, 300, 10, 10], units="voxels")
    with pytest.raises(InputError, match="got shape"):
        read_cutout(file_src, [[0, 0, 0]], units="voxels")
    with pytest.raises(InputError, match="units: say whether bbox is in 'voxels'"):
        read_cutout(file_src, [0, 0, 0, 10, 10, 10])
    with pytest.raises(InputError, match="whole numbers"):
        read_cutout(file_src, [0, 0, 0, 10.5, 10, 10], units="voxels")
    with pytest.raises(InputError, match="mip must be an integer scale index in \\[0, 0\\]"):
        read_cutout(file_src, [0, 0, 0, 10, 10, 10], units="voxels", mip=2)


def test_cli_ingest_volume(file_src, tmp_path):
    r = run_cli("--no-progress", "ingest", "volume", file_src, "--bbox", "0", "0", "0", "64", "64", "64", "--units",
                "voxels", "--out", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    assert "store:" in r.stdout and cx.load(tmp_path / "s").n_nodes > 0
    pd.DataFrame({"x_nm": [16.0, 5000.0], "y_nm": [16.0, 5000.0], "z_nm": [20.0, 5000.0]}).to_csv(
        tmp_path / "pts.csv", index=False)
    r = run_cli("ingest", "volume", file_src, "--points", str(tmp_path / "pts.csv"), "--points-out",
                str(tmp_path / "out.csv"))
    assert r.returncode == 0, r.stderr
    assert pd.read_csv(tmp_path / "out.csv")["segment_id"].notna().all()
    r = run_cli("ingest", "volume", file_src, "--bbox", "0", "0", "0", "64", "64", "64", "--out", str(tmp_path / "t"))
    assert r.returncode == 2 and r.stderr.startswith("error: --units") and "Traceback" not in r.stderr
