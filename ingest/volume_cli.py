"""``connectome ingest volume ...``: segment statistics of a precomputed volume (CloudVolume).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); src = p.add_subparsers(dest="source")
>>> add_volume_parser(src)
>>> a = p.parse_args(["volume", "file:///seg", "--bbox", "0", "0", "0", "64", "64", "64", "--units", "voxels"])
>>> a.volume, a.units, a.mip
('file:///seg', 'voxels', 0)
"""

from __future__ import annotations

import argparse

__all__ = ["add_volume_parser"]


def _volume(args: argparse.Namespace) -> int:
    from .cli import _done  # lazy: connectome.ingest.cli imports this module
    from .volume import ingest_volume, points_to_segments  # lazy: keeps connectome --help cheap

    if args.points:
        import pandas as pd

        from .tables import read_table  # lazy: keeps connectome --help cheap

        pts = read_table(args.points, "points")
        cols = ["x_nm", "y_nm", "z_nm"] if args.point_units == "nm" else ["x", "y", "z"]
        res = tuple(args.point_resolution) if args.point_resolution else None
        ids = points_to_segments(args.volume, pts if all(c in pts.columns for c in cols) else pts.iloc[:, :3]
                                 .to_numpy(float), units=args.point_units, point_resolution_nm=res, mip=args.mip,
                                 outside="zero" if args.outside_zero else "error")
        out = pts.assign(segment_id=pd.array(ids, dtype="int64"))
        dest = args.points_out or "points_segments.csv"
        if dest.endswith(".parquet"):
            out.to_parquet(dest, index=False)
        else:
            out.to_csv(dest, index=False)
        print(f"{len(out)} points -> segment ids ({int((ids != 0).sum())} non-zero) written to {dest}")
        return 0
    path = ingest_volume(args.volume, args.bbox, units=args.units, mip=args.mip, out=args.out, name=args.name,
                         into=args.into, include_zero=args.include_zero, progress=args.progress)
    return _done(path)


def add_volume_parser(src: argparse._SubParsersAction) -> None:
    """Add the ``volume`` source to ``connectome ingest``."""
    v = src.add_parser(
        "volume", help="segment statistics (volume, centroid, bbox) of a precomputed segmentation (CloudVolume)",
        description="Read a segmentation cutout with CloudVolume (file:// or precomputed://http(s)://) and "
                    "store per-segment statistics as node columns: voxel_count, volume_nm3, centroid x_nm y_nm "
                    "z_nm, bounding box in voxels and nm. With --points, map positions to segment ids instead.",
        epilog="examples:\n"
               "  connectome ingest volume file:///data/seg --bbox 0 0 0 256 256 256 --units voxels --out seg\n"
               "  connectome ingest volume precomputed://http://127.0.0.1:8000/seg --bbox 0 0 0 8192 8192 10240 "
               "--units nm --into stores/mine\n"
               "  connectome ingest volume file:///data/seg --points synapses.csv --point-units nm",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("volume", help="CloudVolume path: file:///..., precomputed://http(s)://... or a local folder")
    v.add_argument("--bbox", nargs=6, type=float, metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
                   help="box to read (half-open; default: the whole volume); needs --units")
    v.add_argument("--units", choices=["voxels", "nm"], help="units of --bbox (voxels of --mip)")
    v.add_argument("--mip", type=int, default=0, help="resolution level (default 0)")
    v.add_argument("--include-zero", action="store_true", help="also report label 0 (background)")
    v.add_argument("--into", help="add the columns to the nodes of this existing store")
    v.add_argument("--name", help="dataset name")
    v.add_argument("--out", help="store folder (default: data home, or --into)")
    v.add_argument("--points", help="CSV/Parquet of positions (x_nm,y_nm,z_nm or x,y,z) to map to segment ids")
    v.add_argument("--point-units", choices=["nm", "voxels"], default="nm", help="units of --points")
    v.add_argument("--point-resolution", nargs=3, type=float, metavar=("X", "Y", "Z"),
                   help="nm per voxel of voxel --points (e.g. 4 4 40 for CAVE positions)")
    v.add_argument("--outside-zero", action="store_true", help="points outside the volume get id 0")
    v.add_argument("--points-out", help="output file for --points (default points_segments.csv)")
    v.set_defaults(func=_volume)
