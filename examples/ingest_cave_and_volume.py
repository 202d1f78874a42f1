"""Ingest FlyWire- and MICrONS-format CAVE tables and a segmentation volume into stores.

    python examples/ingest_cave_and_volume.py [OUT_FOLDER]

Online you would point the same calls at the real servers (they need a CAVE
token, see docs/guides/ingest.md):

    ingest_cave("flywire", "stores/flywire_783", version=783)
    ingest_cave("microns", "stores/microns_1300", version=1300)

Offline, this script starts the project's loopback CAVE server
(``connectome.ingest.testing``) with synthetic FlyWire- and MICrONS-format datastacks, so
the real ``caveclient`` talks to something; then it reads the real EM cutout in
``../shared/data/segmentation_pinky40_cutout`` with CloudVolume.
"""

import sys
import tempfile
from pathlib import Path

import connectome as cx
from connectome.config import shared_data_dir
from connectome.ingest.cave import FetchOptions, Selection, get_preset, ingest_cave, plan_cave
from connectome.ingest.testing import CaveTestServer, flywire_datastack, microns_datastack
from connectome.ingest.volume import ingest_volume, points_to_segments


def main(out: str | None = None) -> None:
    out_dir = Path(out or tempfile.mkdtemp(prefix="cave-example-"))
    stacks = [flywire_datastack(30_000, 400), microns_datastack(30_000, 400)]
    with CaveTestServer(stacks, max_rows=5_000) as srv:  # a small row cap: many pages
        opts = FetchOptions(page_rows=4_000, concurrency=4)
        flywire = get_preset("flywire").with_overrides(server=srv.url)  # the presets, served by the loopback server
        microns = get_preset("microns").with_overrides(server=srv.url)

        print("== what a FlyWire ingest would fetch")
        plan = plan_cave(flywire, version=783, options=opts)
        for name, t in plan["tables"].items():
            print(f"  {name}: {t['table']} ({t['rows']:,} rows at {t['voxel_resolution_nm']} nm/voxel)")

        print("\n== FlyWire preset, version 783 (cleft score >= 50, connections of >= 5 synapses)")
        fw = cx.load(ingest_cave(flywire, out_dir / "flywire_783", version=783, options=opts, progress=False))
        print(cx.format_summary(cx.summary(fw)))
        e = fw.edge_table()
        print(e[["pre_root_id", "post_root_id", "synapse_count", "nt_type"]].head(3).to_string(index=False))

        print("\n== MICrONS preset at a timestamp, inside a bounding box given in nm")
        box_nm = [[500_000, 300_000, 700_000], [900_000, 800_000, 950_000]]
        mi = cx.load(ingest_cave(microns, out_dir / "microns_box", timestamp="2024-01-01T00:00:00Z",
                                 selection=Selection(bbox=box_nm, bbox_units="nm"), options=opts, progress=False))
        print(f"  version read: {mi.manifest.version}")
        print(f"  {mi.manifest.rows('synapses'):,} synapses, {mi.n_edges:,} edges, cell types:")
        print(mi.node_table()["cell_type"].value_counts().head(5).to_string())

    print("\n== segment statistics of the pinky40 EM cutout (CloudVolume, file://)")
    src = "file://" + str(shared_data_dir() / "segmentation_pinky40_cutout" / "precomputed_256cube")
    seg = cx.load(ingest_volume(src, [[0, 0, 5120], [8192, 8192, 10240]], units="nm",
                                out=out_dir / "pinky40_segments", progress=False))
    nodes = seg.node_table().sort_values("volume_nm3", ascending=False)
    print(nodes[["root_id", "voxel_count", "volume_nm3", "x_nm", "y_nm", "z_nm"]].head(5).to_string(index=False))
    ids = points_to_segments(src, nodes[["x_nm", "y_nm", "z_nm"]].head(5).to_numpy(), units="nm")
    print(f"  segment under each of the 5 largest centroids: {ids.tolist()}")
    print(f"\nstores written under {out_dir}")


if __name__ == "__main__":
    main(*sys.argv[1:])
