"""``connectome refresh STORE --to latest``: the command line of :func:`~connectome.ingest.cave.refresh.refresh_store`.

Registering the command imports nothing heavy; the work is imported when it runs.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> add_refresh_parser(sub)
>>> a = p.parse_args(["refresh", "store", "--to", "latest", "--server", "http://127.0.0.1:1"])
>>> a.to, a.unknown, a.server
('latest', 'raise', 'http://127.0.0.1:1')
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from connectome.errors import StoreError

__all__ = ["add_refresh_parser"]


def _run(args: argparse.Namespace) -> int:
    from .options import FetchOptions  # lazy: keeps connectome --help cheap
    from .refresh import refresh_store  # lazy: keeps connectome --help cheap

    opts = FetchOptions(retries=args.retries, timeout=args.timeout)
    path = Path(args.store).expanduser()
    if not (path / "CURRENT").is_file():
        raise StoreError(f"{str(path)!r} is not a connectome store; pass the folder of one")
    e = refresh_store(path, args.to, server=args.server, datastack=args.datastack, unknown=args.unknown,
                      options=opts, progress=getattr(args, "progress", None))
    print(f"refreshed {path}: ids as of {e['to_timestamp']} ({e['datastack']})")
    print(f"  ids:        {e['ids']:,} ({e['changed_ids']:,} changed, {e['split_ids']:,} split, "
          f"{len(e['unknown_ids']):,} unknown)")
    print(f"  edges:      {e['edges_before']:,} -> {e['edges_after']:,} ({e['edges']})")
    if e["synapses"]:
        print(f"  synapses:   {e['synapses']:,} ({e['synapses_changed']:,} with a new pre or post id)")
    for kind, counts in e["methods"].items():
        print(f"  methods ({kind}): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    for note in e["fallbacks"]:
        print(f"  note: {note}", file=sys.stderr)
    return 0


def add_refresh_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``refresh`` to the ``connectome`` parser."""
    p = sub.add_parser("refresh", help="bring a CAVE store's root ids up to date (writes a new store version)",
                       description="Map the root ids of a store to a later moment through the chunkedgraph "
                                   "(supervoxel-exact for synapses that carry supervoxel ids), re-aggregate "
                                   "merged and split edges, and write a new store version whose manifest "
                                   "records the move.",
                       epilog="example:\n  connectome refresh ~/connectome_data/minnie65_v661 --to latest",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store", help="store folder")
    p.add_argument("--to", default="latest",
                   help="'latest' (default), a UTC timestamp (2025-01-01T00:00:00Z) or a materialization version")
    p.add_argument("--server", help="CAVE server URL (default: the one the store's manifest records)")
    p.add_argument("--datastack", help="datastack (default: the one the store's manifest records)")
    p.add_argument("--unknown", choices=["raise", "report"], default="raise",
                   help="ids the chunkedgraph never made: refuse (default) or keep them unchanged, listed")
    p.add_argument("--retries", type=int, default=5, help="retries of a failing request (default 5)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    p.set_defaults(func=_run)
