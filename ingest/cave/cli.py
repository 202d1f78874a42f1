"""``connectome ingest cave ...`` and ``connectome ingest cave-files ...``: the CAVE sources on the command line.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); src = p.add_subparsers(dest="source")
>>> add_cave_parsers(src)
>>> a = p.parse_args(["cave", "--preset", "microns", "--version", "661", "--bbox", "0", "0", "0", "1", "1", "1",
...                   "--bbox-units", "voxels"])
>>> a.preset, a.version, a.bbox, a.bbox_units
('microns', 661, [0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 'voxels')
>>> _preset(a).datastack, _selection(a).bbox
('minnie65_public', ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from connectome.cli import declare_flags
from connectome.errors import InputError, SourceNotFoundError

if TYPE_CHECKING:
    from .options import FetchOptions, Selection
    from .presets import CavePreset

__all__ = ["add_cave_parsers"]


def _min_synapses(text: str) -> int | None:
    if text.lower() in ("none", "0", "off"):
        return None
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'none', not {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError("expected a positive integer or 'none'")
    return v


def _root_ids(args: argparse.Namespace) -> list[str] | None:
    ids = list(args.root_ids or [])
    if args.root_ids_file:
        f = Path(args.root_ids_file).expanduser()
        if not f.is_file():
            raise SourceNotFoundError(f, "root_ids_file", "a text file with one root id per line")
        ids += [t for line in f.read_text().splitlines() for t in line.replace(",", " ").split() if t]
    return ids or None


def _preset(args: argparse.Namespace) -> CavePreset:
    """The preset the arguments name, with the datastack, server and tables they override."""
    from .presets import CavePreset, get_preset  # lazy: keeps connectome --help cheap

    base = get_preset(args.preset)
    if base is None:
        if args.datastack is None:
            raise InputError("datastack: name a datastack (e.g. 'minnie65_public') or a preset ('flywire', "
                             "'microns')", "datastack")
        base = CavePreset(args.datastack)
    p = base.with_overrides(datastack=args.datastack, server=args.server, synapse_table=args.synapse_table,
                            cell_tables=[] if args.no_cell_tables else args.cell_table)
    if args.min_synapses is not None:
        p = replace(p, min_synapses=_min_synapses(args.min_synapses))
    return p


def _selection(args: argparse.Namespace) -> Selection:
    from .options import Selection  # lazy: keeps connectome --help cheap

    return Selection(root_ids=_root_ids(args), side=args.side, bbox=args.bbox, bbox_units=args.bbox_units,
                     autapses="keep" if args.keep_autapses else "drop",
                     zero_root="keep" if args.keep_zero_root else "drop")


def _options(args: argparse.Namespace) -> FetchOptions:
    from .options import FetchOptions  # lazy: keeps connectome --help cheap

    return FetchOptions(page_rows=args.page_rows, concurrency=args.concurrency, retries=args.retries,
                        timeout=args.timeout, connect_timeout=args.connect_timeout)


def _cave(args: argparse.Namespace) -> int:
    from ..cli import _done  # lazy: connectome.ingest.cli imports this module
    from .live import ingest_cave, plan_cave  # lazy: keeps connectome --help cheap

    preset, options = _preset(args), _options(args)
    auth = {"auth_token": args.token, "auth_token_file": args.token_file}
    if args.plan:
        plan = plan_cave(preset, version=args.version, timestamp=args.timestamp, options=options, **auth)
        print(json.dumps(plan, indent=2, default=str))
        return 0
    path = ingest_cave(preset, args.out, version=args.version, timestamp=args.timestamp, selection=_selection(args),
                       options=options, keep_synapses=not args.no_synapses, name=args.name, restart=args.restart,
                       progress=args.progress, **auth)
    return _done(path)


def _cave_files(args: argparse.Namespace) -> int:
    from ..cli import _done  # lazy: connectome.ingest.cli imports this module
    from .release import ingest_cave_files  # lazy: keeps connectome --help cheap

    from ..tables import parse_mapping  # lazy: keeps connectome --help cheap

    res = tuple(args.voxel_resolution) if args.voxel_resolution else None
    path = ingest_cave_files(
        synapses=args.synapses, connections=args.connections, cells=args.cells, preset=args.preset,
        voxel_resolution=res, position=args.position, position_columns=args.position_columns,
        position_units=args.position_units, columns=parse_mapping(args.map),
        extra="drop" if args.drop_extra else "keep", version=args.version, datastack=args.datastack,
        min_synapses="preset" if args.min_synapses is None else _min_synapses(args.min_synapses),
        autapses="keep" if args.keep_autapses else "drop", zero_root="keep" if args.keep_zero_root else "drop",
        name=args.name, out=args.out, progress=args.progress, stream=args.stream)
    return _done(path)


def add_cave_parsers(src: argparse._SubParsersAction) -> None:
    """Add the ``cave`` and ``cave-files`` sources to ``connectome ingest``."""
    c = src.add_parser(
        "cave", help="FlyWire / MICrONS / any CAVE datastack through caveclient (resumable)",
        description="Read a CAVE synapse table and cell-type tables at one materialization version or one "
                    "timestamp into a store: per-synapse rows (positions in nm), the edge table and labelled "
                    "nodes. Pages deterministically under the server's row cap, retries transient failures, "
                    "and resumes an interrupted run when the same command is run again.",
        epilog="examples:\n"
               "  connectome ingest cave --preset flywire --version 783 --out flywire_783\n"
               "  connectome ingest cave --preset microns --version 1300 --bbox 150000 100000 20000 "
               "160000 110000 20200 --bbox-units voxels --out microns_box\n"
               "  connectome ingest cave --datastack minnie65_public --timestamp 2025-01-01T00:00:00Z "
               "--root-ids 864691135... --plan",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--datastack", help="datastack name (default: the preset's)")
    c.add_argument("--preset", choices=["flywire", "microns"], help="tables and conventions of FlyWire or MICrONS")
    when = c.add_mutually_exclusive_group()
    when.add_argument("--version", type=int, help="materialization version (default: the latest, recorded)")
    when.add_argument("--timestamp", help="a UTC moment, e.g. 2025-01-01T00:00:00Z (never with --version)")
    c.add_argument("--server", help="CAVE server URL (default: the preset's, else https://global.daf-apis.com)")
    c.add_argument("--synapse-table", help="synapse table (default: the preset's or the datastack's)")
    c.add_argument("--cell-table", action="append", metavar="TABLE", help="cell-type table joined to nodes "
                   "(repeatable; default: the preset's)")
    c.add_argument("--no-cell-tables", action="store_true", help="read no cell-type table")
    c.add_argument("--root-ids", nargs="+", metavar="ID", help="only synapses of these neurons")
    c.add_argument("--root-ids-file", help="file with root ids (one per line)")
    c.add_argument("--side", choices=["both", "pre", "post", "within"], default="both",
                   help="for root ids: synapses in either role (default), as pre, as post, or among them")
    c.add_argument("--bbox", nargs=6, type=float, metavar=("X0", "Y0", "Z0", "X1", "Y1", "Z1"),
                   help="only synapses inside this box (half-open); needs --bbox-units")
    c.add_argument("--bbox-units", choices=["nm", "voxels"], help="units of --bbox (voxels of the synapse table)")
    c.add_argument("--min-synapses", metavar="N", help="keep edges of pairs with >= N synapses, or 'none' "
                   "(default: the preset's; FlyWire 5)")
    c.add_argument("--keep-autapses", action="store_true", help="keep synapses of a neuron onto itself")
    c.add_argument("--keep-zero-root", action="store_true", help="keep synapses on root id 0 (no segment)")
    c.add_argument("--no-synapses", action="store_true", help="store edges and nodes only")
    c.add_argument("--page-rows", type=int, default=100_000, help="rows per request (<= the server's cap)")
    c.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    c.add_argument("--retries", type=int, default=6, help="retries per request on 5xx / timeouts (default 6)")
    c.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    c.add_argument("--connect-timeout", type=float, default=5.0, help="seconds to reach the server (default 5)")
    c.add_argument("--token", help="auth token (default: where caveclient looks, ~/.cloudvolume/secrets)")
    c.add_argument("--token-file", help="JSON token file as caveclient writes it")
    c.add_argument("--name", help="dataset name (default: <preset or datastack>_v<version>)")
    c.add_argument("--out", help="store folder (default: data home)")
    c.add_argument("--restart", action="store_true", help="discard an unfinished ingest with other parameters")
    c.add_argument("--plan", action="store_true", help="print what would be fetched (version, tables, rows); "
                   "fetch nothing")
    c.set_defaults(func=_cave)
    declare_flags(c, {"autapses": {"keep": "--keep-autapses"}, "zero_root": {"keep": "--keep-zero-root"},
                      "cell_tables": "--cell-table", "auth_token": "--token", "auth_token_file": "--token-file",
                      "keep_synapses": {"False": "--no-synapses"}})

    f = src.add_parser(
        "cave-files", help="CAVE-format release files (MICrONS / FlyWire synapse, connection, cell tables)",
        description="Read MICrONS- or FlyWire-format release files (CSV, CSV.gz, feather, parquet) through "
                    "the same normalisation as the live CAVE path: pre_pt_root_id / post_pt_root_id, positions "
                    "(in voxels: '[x y z]' *_position, *_position_{x,y,z}, *_pos_{x,y,z}, *_{x,y,z}_vx; in nm: "
                    "*_{x,y,z}_nm), size, syn_count, neuropil, *_avg transmitters. Other columns of the synapse "
                    "table are kept on the synapse rows (--drop-extra drops them); --map renames columns.",
        epilog="examples:\n"
               "  connectome ingest cave-files --synapses synapses_pni_2.csv --cells "
               "aibs_metamodel_celltypes_v661.csv --preset microns\n"
               "  connectome ingest cave-files --synapses export.csv --map presyn_segid=pre_pt_root_id "
               "postsyn_segid=post_pt_root_id --position ctr_pos --voxel-resolution 4 4 40\n"
               "  connectome ingest cave-files --synapses s.parquet --position-columns cx cy cz --position-units nm",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("--synapses", help="per-synapse table (e.g. MICrONS synapses_pni_2 export)")
    f.add_argument("--connections", help="aggregated connections (e.g. FlyWire proofread_connections_783.feather)")
    f.add_argument("--cells", action="append", help="cell-type table (repeatable)")
    f.add_argument("--preset", choices=["flywire", "microns", "pinky100"],
                   help="conventions (voxel size, columns, species); its volume's root ids are checked")
    f.add_argument("--voxel-resolution", nargs=3, type=float, metavar=("X", "Y", "Z"),
                   help="nm per voxel of the positions (default: the preset's, or the --datastack's preset); "
                        "checked against the file's own nm columns of the same point")
    where = f.add_mutually_exclusive_group()
    where.add_argument("--position", help="the position that stands for a synapse, by name (ctr_pt_position, ctr_pos "
                       "for ctr_pos_x_vx, ctr_pt for ctr_pt_x_nm ...) or role (ctr, post); default: the preset's, "
                       "else ctr, else post. Naming it keeps positions that disagree, with a warning")
    where.add_argument("--position-columns", nargs=3, metavar=("X", "Y", "Z"),
                       help="the x, y, z columns of that position, when their names are not a known spelling")
    f.add_argument("--position-units", choices=["voxels", "nm"],
                   help="units of --position-columns (default: what their names say, e.g. _nm / _vx)")
    f.add_argument("--map", nargs="+", metavar="OLD=NEW",
                   help="rename columns of the files, e.g. presyn_segid=pre_pt_root_id syn=syn_count")
    f.add_argument("--drop-extra", action="store_true",
                   help="drop the synapse table's other columns (default: kept on the synapse rows)")
    f.add_argument("--version", help="release / materialization version (recorded)")
    f.add_argument("--datastack", help="datastack the files came from (recorded)")
    f.add_argument("--min-synapses", metavar="N", help="threshold on pair totals, or 'none'")
    f.add_argument("--keep-autapses", action="store_true")
    f.add_argument("--keep-zero-root", action="store_true")
    f.add_argument("--name", help="dataset name")
    f.add_argument("--out", help="store folder (default: data home)")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--stream", dest="stream", action="store_true", default=None,
                   help="read --synapses in record batches, one pre-id range in memory at a time (default for "
                        "files of at least CONNECTOME_STREAM_BYTES, 256 MiB)")
    g.add_argument("--no-stream", dest="stream", action="store_false", help="read --synapses whole")
    f.set_defaults(func=_cave_files)
    declare_flags(f, {"columns": "--map", "extra": {"drop": "--drop-extra"}, "autapses": {"keep": "--keep-autapses"},
                      "zero_root": {"keep": "--keep-zero-root"}, "cells": "--cells",
                      "keep_synapses": {"False": "--no-synapses"}})
