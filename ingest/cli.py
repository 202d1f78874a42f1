"""``connectome ingest ...``: the ingest subcommands (registered via entry point).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> register(sub)
>>> p.parse_args(["ingest", "celegans", "celegans_varshney2011"]).source
'celegans'
>>> p.parse_args(["refresh", "my_store", "--to", "latest"]).to
'latest'
"""

from __future__ import annotations

import argparse
from pathlib import Path

import connectome as cx
from connectome.cli import declare_flags

from .cave.cli import add_cave_parsers
from .cave.refresh_cli import add_refresh_parser
from .volume_cli import add_volume_parser

__all__ = ["register"]


def _done(path: Path) -> int:
    print(cx.format_summary(cx.summary(cx.load(path))))
    print(f"  store:        {path}")
    return 0


def _celegans(args: argparse.Namespace) -> int:
    from .celegans import CELEGANS_DATASETS, ingest_celegans  # lazy: keeps connectome --help cheap

    names = list(CELEGANS_DATASETS) if args.name == "all" else [args.name]
    path = None
    for n in names:
        out = Path(args.out) / n if (args.out and len(names) > 1) else args.out
        path = ingest_celegans(n, out, progress=args.progress)
        print(f"wrote {n} -> {path}")
    return _done(path) if len(names) == 1 else 0


def _larva(args: argparse.Namespace) -> int:
    from .larva import ingest_larva  # lazy: keeps connectome --help cheap

    return _done(ingest_larva(args.folder, out=args.out, progress=args.progress))


def _isolated(args: argparse.Namespace) -> str | None:
    return "drop" if args.nodes_in_edges else "keep" if args.keep_isolated else None


def _edgelist(args: argparse.Namespace) -> int:
    from .release import ingest_edgelist  # lazy: keeps connectome --help cheap
    from .tables import parse_mapping  # lazy: keeps connectome --help cheap

    return _done(ingest_edgelist(args.edges, args.nodes, name=args.name, out=args.out,
                                 columns=parse_mapping(args.map), node_columns=parse_mapping(args.node_map),
                                 species=args.species, duplicates=args.duplicates, isolated=_isolated(args),
                                 progress=args.progress, stream=args.stream))


def _codex(args: argparse.Namespace) -> int:
    from .release import ingest_codex  # lazy: keeps connectome --help cheap

    from .tables import parse_mapping  # lazy: keeps connectome --help cheap

    return _done(ingest_codex(args.connections, args.neurons, name=args.name, out=args.out,
                              version=args.version, min_synapses=args.min_synapses, isolated=_isolated(args),
                              columns=parse_mapping(args.map), node_columns=parse_mapping(args.node_map),
                              progress=args.progress, stream=args.stream))


def _neuprint(args: argparse.Namespace) -> int:
    from .release import ingest_neuprint  # lazy: keeps connectome --help cheap

    return _done(ingest_neuprint(args.edges, args.neurons, name=args.name, out=args.out,
                                 dataset=args.dataset, isolated=_isolated(args), progress=args.progress,
                                 stream=args.stream))


def _isolated_flags(p: argparse.ArgumentParser, nodes: str) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--nodes-in-edges", action="store_true",
                   help=f"keep only the nodes of {nodes} that the edges touch (e.g. a whole-brain label table "
                        "for a small edge list)")
    g.add_argument("--keep-isolated", action="store_true",
                   help=f"keep every node of {nodes}, also those no edge touches (the default, without "
                        "the warning)")


def _stream_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--stream", dest="stream", action="store_true", default=None,
                   help="read the edge file in record batches, one pre-id range in memory at a time (default for "
                        "files of at least CONNECTOME_STREAM_BYTES, 256 MiB)")
    g.add_argument("--no-stream", dest="stream", action="store_false", help="read the edge file whole")


#: Parameters of the release ingests -> their flags (for errors; see connectome.cli.declare_flags).
_RELEASE_FLAGS = {"isolated": {"drop": "--nodes-in-edges", "keep": "--keep-isolated"}, "out": "--out"}


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``ingest`` and its sources to the ``connectome`` parser."""
    p = sub.add_parser("ingest", help="convert a source into a connectome store",
                       description="Convert a source into a store (default location: CONNECTOME_HOME/<name>).")
    src = p.add_subparsers(dest="source", metavar="SOURCE")
    src.required = True

    c = src.add_parser("celegans", help="a C. elegans dataset from cect (or 'all')")
    c.add_argument("name", help="e.g. celegans_cook2019_herm, celegans_witvliet2021_8, or all")
    c.add_argument("--out", help="store folder (default: data home)")
    c.set_defaults(func=_celegans)

    lv = src.add_parser("larva", help="the larval Drosophila connectome (Winding et al. 2023)")
    lv.add_argument("--folder", help="folder with edges.parquet and nodes.parquet (default: shared data)")
    lv.add_argument("--out", help="store folder (default: data home)")
    lv.set_defaults(func=_larva)

    e = src.add_parser("edgelist", help="a generic CSV/TSV/Parquet/Feather edge list",
                       description="A generic edge list (CSV/TSV/Parquet/Feather, optionally gzip'd) with an optional "
                                   "node table. The usual names of other sources (syn_count, weight, bodyId_pre, "
                                   "pre_pt_root_id, ...) are renamed with a warning; --map renames the others.",
                       epilog="example:\n  connectome ingest edgelist connections.csv --nodes neurons.csv "
                              "--nodes-in-edges --map from=pre_root_id to=post_root_id n=synapse_count --name mine",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("edges", help="edge file")
    e.add_argument("--nodes", help="node file keyed by root_id (or an alias such as bodyId)")
    _isolated_flags(e, "--nodes")
    e.add_argument("--name", help="dataset name (default: file name)")
    e.add_argument("--out", help="store folder (default: data home)")
    e.add_argument("--map", nargs="*", metavar="OLD=NEW", help="rename edge columns, e.g. weight=synapse_count")
    e.add_argument("--node-map", nargs="*", metavar="OLD=NEW", help="rename node columns")
    e.add_argument("--species")
    e.add_argument("--duplicates", choices=["error", "sum", "first"], default="error",
                   help="rows of the same pair: refuse them (default), add their counts, or keep the first")
    _stream_flags(e)
    e.set_defaults(func=_edgelist)
    declare_flags(e, {**_RELEASE_FLAGS, "columns": "--map", "node_columns": "--node-map"})

    x = src.add_parser("codex", help="FlyWire Codex release files (connections and/or neurons)",
                       description="FlyWire Codex release files (codex.flywire.ai/api/download): the connections "
                                   "table (pre_root_id, post_root_id, neuropil, syn_count, nt_type; or the Zenodo "
                                   "feather with pre_pt_root_id and *_avg transmitter scores) and a neuron table "
                                   "(classification.csv.gz: root_id, flow, super_class, class, sub_class, cell_type, "
                                   "side, ...). syn_count and the other usual names are renamed with a warning; "
                                   "--map / --node-map rename the others. A name mapped onto a column the table "
                                   "already has replaces it, with a warning (map that column elsewhere too to keep "
                                   "it). Codex's >= 5-synapse connection threshold is applied only with "
                                   "--min-synapses 5.",
                       epilog="example:\n  connectome ingest codex --connections connections.csv.gz --neurons "
                              "classification.csv.gz --version 783\n  connectome ingest codex --neurons "
                              "consolidated_cell_types.csv.gz --node-map primary_type=cell_type "
                              "cell_type=codex_cell_type --version 783",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    x.add_argument("--connections", help="connections.csv.gz (or the Zenodo feather)")
    x.add_argument("--neurons", help="classification-style neuron table")
    x.add_argument("--map", nargs="*", metavar="OLD=NEW", help="rename connection columns, e.g. weight=synapse_count")
    x.add_argument("--node-map", nargs="*", metavar="OLD=NEW",
                   help="rename neuron columns, e.g. primary_type=cell_type (replaces an existing cell_type, said)")
    x.add_argument("--name", default="flywire")
    x.add_argument("--out", help="store folder (default: data home)")
    x.add_argument("--version", help="materialization / release version, e.g. 783")
    x.add_argument("--min-synapses", type=int, help="drop rows below this count (FlyWire uses 5)")
    _isolated_flags(x, "--neurons")
    _stream_flags(x)
    x.set_defaults(func=_codex)
    declare_flags(x, {**_RELEASE_FLAGS, "nodes": "--neurons", "edges": "--connections", "columns": "--map",
                      "node_columns": "--node-map"})

    n = src.add_parser("neuprint", help="neuPrint-style export (bodyId_pre, bodyId_post, weight)")
    n.add_argument("edges")
    n.add_argument("--neurons", help="bodyId, type, instance, ...")
    n.add_argument("--name", default="neuprint")
    n.add_argument("--dataset", help="neuPrint dataset, e.g. hemibrain:v1.2.1 (recorded)")
    n.add_argument("--out", help="store folder (default: data home)")
    _isolated_flags(n, "--neurons")
    _stream_flags(n)
    n.set_defaults(func=_neuprint)
    declare_flags(n, {**_RELEASE_FLAGS, "nodes": "--neurons"})

    # remote sources (caveclient / cloud-volume are imported only when a command runs)
    add_cave_parsers(src)
    add_volume_parser(src)

    # `connectome refresh STORE --to latest`: root ids brought up to date (a top-level command)
    add_refresh_parser(sub)
