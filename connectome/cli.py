"""The ``connectome`` command line.

Core subcommands: ``datasets``, ``info``, ``demo``. Other packages add theirs
through the ``connectome.cli`` entry point group (``ingest`` adds ``ingest``),
so the core never imports them. Every subcommand has ``--help``.

Errors of the project's exception tree print one line (``error: ...``) and
exit with status 2.

Examples
--------
>>> main(["datasets", "--format", "names"])  # doctest: +ELLIPSIS
celegans_cook2019_herm
...
0
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConnectomeError
from .plugins import entry_points

logger = logging.getLogger(__name__)

__all__ = ["main", "build_parser"]


def _cmd_datasets(args: argparse.Namespace) -> int:
    from .registry import datasets

    df = datasets()
    if args.format == "json":
        print(df.to_json(orient="records", indent=2))
    elif args.format == "names":
        print("\n".join(df["name"]))
    else:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_colwidth", 60, "display.max_rows", 500):
            print(df[["name", "species", "nodes", "edges", "location", "source"]].to_string(index=False))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from .registry import load
    from .overview import format_summary, summary

    c = load(args.dataset, verify=args.verify, progress=args.progress)
    s = summary(c)
    if args.json:
        print(json.dumps(s, indent=2, default=str))
    else:
        print(format_summary(s))
        if c.path is not None:
            print(f"  store:        {c.path}")
        if args.verify:
            print("  checksums:    all files match the manifest")
    return 0


class DemoContext:
    """What demo steps share: the loaded connectome, the output folder, a printer."""

    def __init__(self, dataset: str, out: Path, progress: bool | None) -> None:
        self.dataset = dataset
        self.out = out
        self.progress = progress
        self.connectome: Any = None
        self.results: dict[str, Any] = {}

    def section(self, title: str) -> None:
        print(f"\n== {title}")


def _core_demo(ctx: DemoContext) -> None:
    from .typelevel import collapse
    from .registry import load
    from .export import to_csr
    from .filters import filter_edges, ids_of, neighborhood
    from .overview import format_summary, summary

    ctx.section(f"load {ctx.dataset}")
    c = load(ctx.dataset, progress=ctx.progress)
    ctx.connectome = c
    print(format_summary(summary(c)))

    ctx.section("type-level wiring (chemical synapses, pairs with >= 5 synapses)")
    t = collapse(c, by="super_class", min_synapses=5)
    t.to_csv(ctx.out / "super_class_wiring.csv", index=False)
    print(t.head(8).to_string(index=False))

    strong = filter_edges(c, min_synapses=5, edge_kind="chemical")
    if "cell_type" in c.label_columns and len(ids_of(c, cell_type="AVA", allow_empty=True)):
        ctx.section("inputs to the command interneuron AVA (>= 5 synapses)")
        hood = neighborhood(strong, ids_of(c, cell_type="AVA"), k=1, direction="in")
        n = hood.node_table()
        partners = n[n["cell_type"] != "AVA"]
        print(f"{len(partners)} presynaptic partners; by class:")
        print(partners["super_class"].value_counts().to_string())
    adj = to_csr(strong)
    print(f"\nsparse adjacency: {adj.matrix.shape[0]}x{adj.matrix.shape[1]}, {adj.matrix.nnz} non-zeros")


def _cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(args.dataset, out, args.progress)
    from .analysis_cli import census_step, motif_step

    _core_demo(ctx)
    census_step(ctx)
    motif_step(ctx)
    for ep in entry_points("connectome.demo"):
        ep.load()(ctx)
    print(f"\nresults written to {out.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with core and plugin subcommands."""
    from . import __version__

    p = argparse.ArgumentParser(prog="connectome", description="Connectome stores, statistics, motifs, "
                                "GNN cell typing, Neuroglancer links and an HTTP service.")
    p.add_argument("--version", action="version", version=f"connectome-service {__version__}")
    p.add_argument("--log-level", default="WARNING", help="logging level (DEBUG, INFO, WARNING, ...)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler: sync, threads, local (LocalCluster) or tcp://host:port")
    p.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=None,
                   help="hide progress bars")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    d = sub.add_parser("datasets", help="list the datasets available offline")
    d.add_argument("--format", choices=["table", "json", "names"], default="table")
    d.set_defaults(func=_cmd_datasets)

    i = sub.add_parser("info", help="summary of a dataset or store")
    i.add_argument("dataset", help="dataset name or store path")
    i.add_argument("--verify", action="store_true", help="check file checksums against the manifest")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=_cmd_info)

    m = sub.add_parser("demo", help="run the main job on the embedded default dataset")
    from .registry import DEFAULT_DATASET

    m.add_argument("--dataset", default=DEFAULT_DATASET, help=f"dataset (default {DEFAULT_DATASET})")
    m.add_argument("--out", default="demo-output", help="folder for result files (default demo-output)")
    m.set_defaults(func=_cmd_demo)

    from .analysis_cli import register as register_analysis

    register_analysis(sub)
    for ep in entry_points("connectome.cli"):
        try:
            ep.load()(sub)
        except ImportError as exc:
            logger.warning("CLI plugin %s unavailable: %s", ep.name, exc)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``connectome`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.scheduler:
            from .scheduler import set_scheduler

            set_scheduler(args.scheduler)
        return int(args.func(args) or 0)
    except ConnectomeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
