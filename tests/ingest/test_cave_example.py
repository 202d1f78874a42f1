"""The ingest example runs end to end (loopback CAVE server, real caveclient and CloudVolume)."""

from __future__ import annotations

import connectome as cx
from helpers import ROOT, run_python


def test_ingest_example_runs(tmp_path):
    out = run_python(str(ROOT / "examples" / "ingest_cave_and_volume.py"), str(tmp_path),
                     env={"CONNECTOME_PROGRESS": "0"}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "== FlyWire preset, version 783" in out.stdout and "version:      materialization=783" in out.stdout
    assert "'base_materialization': 661" in out.stdout
    fw = cx.load(tmp_path / "flywire_783")
    assert fw.manifest.extra["min_synapses"] == 5 and int(fw.edge_table()["synapse_count"].min()) >= 5
    box = cx.load(tmp_path / "microns_box")
    assert 0 < box.manifest.rows("synapses") < 30_000
    seg = cx.load(tmp_path / "pinky40_segments").node_table()
    assert (seg["volume_nm3"] == seg["voxel_count"] * 32 * 32 * 40).all()
