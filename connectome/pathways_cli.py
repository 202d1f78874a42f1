"""``connectome partners``, ``connectome paths``, ``connectome influence`` and ``connectome layers``.

Neurons are given as root ids or as ``column=value[,value]`` selections of node labels, e.g.
``--sources super_class=sensory --targets cell_type=AVA``.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> register(sub)
>>> a = p.parse_args(["paths", "celegans_cook2019_herm", "--sources", "name=ASHL", "--targets", "cell_type=AVA",
...                   "--max-hops", "2"])
>>> a.max_hops, a.sources
(2, ['name=ASHL'])
>>> main_ = __import__("connectome.cli", fromlist=["main"]).main
>>> main_(["paths", "celegans_cook2019_herm", "--sources", "name=ASHL", "--targets", "name=AVAL", "--shortest",
...        "--min-synapses", "5", "--count"])
source_root_id,target_root_id,hops,cost,paths
719623214264198,1526757977875442,1,1.0,1
0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .schema import coerce_ids

__all__ = ["register", "select_ids", "pathways_step", "add_labels_option", "shown_labels", "check_link_source"]


def select_ids(c: Any, tokens: list[str] | None, parameter: str) -> np.ndarray:
    """Root ids from command-line tokens: integers, or ``column=value[,value]`` label selections.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> len(select_ids(c, ["cell_type=AVA,AVB"], "--sources"))
    4
    >>> select_ids(c, ["cell_type"], "--sources")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: --sources: 'cell_type' is neither a root id nor a selection column=value (e.g. cell_type=AVA)
    """
    from .filters import ids_of  # lazy: keeps connectome --help cheap

    if not tokens:
        raise InputError(f"{parameter}: give root ids or a selection such as cell_type=AVA", parameter.strip("-"))
    out: list[np.ndarray] = []
    for tok in tokens:
        t = tok.strip()
        if t.isdigit():
            out.append(coerce_ids([t], parameter.strip("-")))  # int64 like ids_of: a mix would become float64
        elif "=" in t:
            col, _, val = t.partition("=")
            out.append(ids_of(c, **{col.strip(): [v.strip() for v in val.split(",") if v.strip()]}))
        else:
            raise InputError(f"{parameter}: {t!r} is neither a root id nor a selection column=value "
                             "(e.g. cell_type=AVA)", parameter.strip("-"))
    return np.unique(np.concatenate(out))


def _columns(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_labels_option(p: argparse.ArgumentParser) -> None:
    """Add ``--labels COLUMN[,COLUMN]``: the node columns a command shows beside its root ids.

    One definition for every command that shows labels (``partners``, ``paths``, ``influence``,
    ``layers``, ``similar``, ``cluster``, ``match``); ``--label`` is the same option.

    Examples
    --------
    >>> p = argparse.ArgumentParser(); add_labels_option(p)
    >>> p.parse_args(["--labels", "primary_type,hemibrain_type"]).labels
    ['primary_type', 'hemibrain_type']
    """
    p.add_argument("--labels", "--label", dest="labels", type=_columns, default=None, metavar="COLUMN[,COLUMN]",
                   help="node columns to show as labels, e.g. --labels primary_type or --labels cell_type,"
                        "hemibrain_type (default: name, cell_type, class, super_class, ... where present)")


def shown_labels(c: Any, labels: list[str] | None) -> list[str] | None:
    """The node columns ``--labels`` names, checked against ``c`` before any work (``None``: the default).

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> shown_labels(c, ["name"]), shown_labels(c, None)
    (['name'], None)
    >>> shown_labels(c, ["cel_type"])
    Traceback (most recent call last):
    ...
    connectome.errors.ColumnError: column 'cel_type' not found in nodes (columns: ...); did you mean 'cell_type'? ...
    """
    if labels is None:
        return None
    from .pathgraph import label_columns  # lazy: keeps connectome --help cheap

    return label_columns(c, labels)


def check_link_source(c: Any, source: Any) -> None:
    """Resolve the volume of ``--link`` (and check the ids against it) before any work is done.

    A dataset without a known volume (C. elegans) and no ``--source`` fails here, before a table is
    printed; warnings about the volume are said once, when the link is built.
    """
    from .neuroglancer.notices import collect_warnings  # lazy: keeps connectome --help cheap
    from .neuroglancer.sources import check_id_namespace, dataset_sources  # lazy: keeps connectome --help cheap
    from .schema import ROOT_ID  # lazy: keeps connectome --help cheap

    with collect_warnings(log=False):
        src = dataset_sources(source, c)
    check_id_namespace(c.node_table([ROOT_ID])[ROOT_ID].to_numpy(), src, where="--source",
                       fix="pass --source with the volume of these neurons", unclaimed="refuse")


def _top_k(text: str) -> int | None:
    """``--top-k``: a positive integer, or ``all`` (``None``: every partner)."""
    if str(text).strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'all', not {text!r}")
    return value


def _kind(args: argparse.Namespace) -> str | None:
    return None if args.edge_kind == "all" else args.edge_kind


def _write(df: pd.DataFrame, out: str | None, what: str) -> None:
    if out is None:
        print(df.to_csv(index=False), end="")  # int64 ids print exactly
        return
    path = Path(out)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    print(f"{len(df):,} {what} -> {path}", file=sys.stderr)


def _link(fn: Any, c: Any, table: pd.DataFrame, args: argparse.Namespace, **kwargs: Any) -> None:
    if getattr(args, "link", False):
        url = fn(c, table, dataset=args.source, **kwargs)
        print(f"neuroglancer: {url}", file=sys.stderr)


def _cmd_partners(args: argparse.Namespace) -> int:
    from .partner_tables import partners  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    ids = select_ids(c, args.ids, "ids")
    labels = shown_labels(c, args.labels)
    if args.link and args.by is None:
        check_link_source(c, args.source)
    t = partners(c, ids, direction=args.direction, min_synapses=args.min_synapses, by=args.by,
                 neuropil=args.neuropil, edge_kind=_kind(args), signed=args.signed, labels=labels,
                 unlabelled=args.unlabelled, totals=tuple(args.totals) if args.totals else "graph")
    _write(t, args.out, "partner rows")
    if args.link and args.by is None:
        from .neuroglancer.paths import partner_link  # lazy: keeps connectome --help cheap

        _link(partner_link, c, t, args, top_k=args.top_k)
    return 0


def _cmd_paths(args: argparse.Namespace) -> int:
    from .pathways import count_paths, paths, shortest_paths  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    src = select_ids(c, args.sources, "--sources")
    tgt = select_ids(c, args.targets, "--targets")
    labels = shown_labels(c, args.labels)
    if args.link and not args.count:
        check_link_source(c, args.source)
    if args.count:
        t = count_paths(c, src, tgt, args.max_hops, args.min_synapses, shortest=args.shortest, weight=args.weight,
                        edge_kind=_kind(args), timeout=args.timeout, progress=args.progress)
        _write(t, args.out, "path counts")
        return 0
    if args.shortest:
        t = shortest_paths(c, src, tgt, args.min_synapses, args.max_hops, args.weight, edge_kind=_kind(args),
                           limit=args.limit, timeout=args.timeout, progress=args.progress, signed=args.signed,
                           labels=labels)
    else:
        if args.weight is not None:
            raise InputError("--weight: only shortest paths (--shortest) have a weighted length", "weight")
        t = paths(c, src, tgt, args.max_hops or 3, args.min_synapses, args.limit, edge_kind=_kind(args),
                  timeout=args.timeout, progress=args.progress, signed=args.signed, labels=labels)
    _write(t, args.out, f"rows ({t.attrs['paths']:,} paths{', truncated' if t.attrs['truncated'] else ''})")
    if len(t):
        from .neuroglancer.paths import path_link  # lazy: keeps connectome --help cheap

        _link(path_link, c, t, args)
    return 0


def _cmd_influence(args: argparse.Namespace) -> int:
    from .effective import influence  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    src = select_ids(c, args.sources, "--sources")
    tgt = select_ids(c, args.targets, "--targets") if args.targets else None
    labels = shown_labels(c, args.labels)
    if args.link:
        check_link_source(c, args.source)
    t = influence(c, src, tgt, hops=None if args.steady else args.hops,
                  normalize=None if args.normalize == "none" else args.normalize, signed=args.signed,
                  alpha=args.alpha, top=args.top, min_synapses=args.min_synapses, edge_kind=_kind(args),
                  timeout=args.timeout, progress=args.progress, labels=labels)
    _write(t, args.out, "influence rows")
    from .neuroglancer.paths import influence_link  # lazy: keeps connectome --help cheap

    _link(influence_link, c, t, args)
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
    from .layers import flow_layers  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    seeds = select_ids(c, args.seeds, "--seeds")
    labels = shown_labels(c, args.labels)
    if args.link:
        check_link_source(c, args.source)
    t = flow_layers(c, seeds, max_steps=args.max_steps, n_iterations=args.iterations, seed=args.seed,
                    threshold=args.threshold, rule=args.rule, min_synapses=args.min_synapses, edge_kind=_kind(args),
                    timeout=args.timeout, progress=args.progress, signed=args.signed, labels=labels)
    _write(t, args.out, "neurons")
    from .neuroglancer.paths import layers_link  # lazy: keeps connectome --help cheap

    _link(layers_link, c, t, args)
    return 0


def _common(p: argparse.ArgumentParser, link: bool = True) -> None:
    p.add_argument("dataset", help="dataset name or store path")
    p.add_argument("--edge-kind", default="chemical", choices=["chemical", "gap_junction", "all"],
                   help="edges that connect neurons (default chemical; 'all' sums kinds)")
    p.add_argument("--out", help="write the table to a .csv or .parquet file (default: CSV on stdout)")
    add_labels_option(p)
    if link:
        from .cli import declare_flags  # here, not at import: connectome.cli imports this module

        p.add_argument("--link", action="store_true", help="also print a Neuroglancer link (stderr)")
        p.add_argument("--source", default=None, help="volume of the link: flywire, microns or a source URL")
        declare_flags(p, {"dataset": "--source"})  # the link functions' dataset= is --source here


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``partners``, ``paths``, ``influence`` and ``layers`` to the ``connectome`` parser."""
    p = sub.add_parser("partners", help="upstream/downstream partners of neurons (synapses, fractions, labels)")
    _common(p)
    p.add_argument("ids", nargs="+", help="root ids or selections column=value[,value]")
    p.add_argument("--direction", choices=["both", "upstream", "downstream"], default="both")
    p.add_argument("--min-synapses", type=int, default=1, help="partners need at least this many synapses")
    p.add_argument("--by", default=None, help="group partners by a node column (e.g. cell_type)")
    p.add_argument("--unlabelled", choices=["pool", "drop", "keep"], default=None,
                   help="partners without a --by value: pooled as 'unknown' (default, said on stderr with their "
                        "count), dropped, or kept each as a group of its own (its root id)")
    p.add_argument("--neuropil", nargs="+", default=None, help="count only synapses in these neuropils")
    p.add_argument("--signed", action="store_true", help="add signed synapses (transmitter signs)")
    p.add_argument("--totals", nargs=2, default=None, metavar=("INPUT", "OUTPUT"),
                   help="fractions of these node columns' whole-brain totals (Codex: input_synapses "
                        "output_synapses; neuPrint: upstream downstream) instead of this graph's synapses")
    p.add_argument("--top-k", type=_top_k, default=50, metavar="N",
                   help="partners per query neuron and direction shown in the --link, those with the most synapses "
                        "(default 50; 'all' for every one); the link says how many it leaves out")
    p.set_defaults(func=_cmd_partners)

    q = sub.add_parser("paths", help="shortest or simple paths between neuron sets, or their counts")
    _common(q)
    q.add_argument("--sources", nargs="+", required=True, help="root ids or selections column=value")
    q.add_argument("--targets", nargs="+", required=True, help="root ids or selections column=value")
    q.add_argument("--shortest", action="store_true", help="all shortest paths (default: simple paths)")
    q.add_argument("--max-hops", type=int, default=None, help="longest path in hops (simple paths: default 3)")
    q.add_argument("--min-synapses", type=int, default=1, help="synapses each hop needs (FlyWire practice: 5)")
    q.add_argument("--weight", choices=["inverse_synapses"], default=None, help="weighted shortest paths")
    q.add_argument("--limit", type=int, default=None, help="keep the first N paths")
    q.add_argument("--timeout", type=float, default=None, help="time budget in seconds")
    q.add_argument("--count", action="store_true", help="print path counts per (source, target, hops)")
    q.add_argument("--signed", action="store_true", help="add hop signs and path signs (transmitters)")
    q.set_defaults(func=_cmd_paths)

    r = sub.add_parser("influence", help="multi-hop effective connectivity from input-normalised weights")
    _common(r)
    r.add_argument("--sources", nargs="+", required=True, help="root ids or selections column=value")
    r.add_argument("--targets", nargs="+", default=None, help="report these neurons (default: top per source)")
    r.add_argument("--hops", type=int, default=3, help="sum over 1..HOPS hops (default 3)")
    r.add_argument("--steady", action="store_true", help="the steady state instead of HOPS")
    r.add_argument("--alpha", type=float, default=None, help="per-hop factor (default 1, steady state 0.9)")
    r.add_argument("--normalize", choices=["post", "pre", "none"], default="post")
    r.add_argument("--signed", action="store_true", help="signed weights from transmitters")
    r.add_argument("--top", type=int, default=None, help="strongest targets kept per source (default 100, or "
                   "every target of --targets)")
    r.add_argument("--min-synapses", type=int, default=None)
    r.add_argument("--timeout", type=float, default=None)
    r.set_defaults(func=_cmd_influence)

    s = sub.add_parser("layers", help="information-flow layers from a probabilistic traversal (Schlegel 2021)")
    _common(s)
    s.add_argument("--seeds", nargs="+", required=True, help="root ids or selections column=value")
    s.add_argument("--max-steps", type=int, default=15)
    s.add_argument("--iterations", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threshold", type=float, default=0.3)
    s.add_argument("--rule", choices=["summed", "per_edge"], default="summed")
    s.add_argument("--min-synapses", type=int, default=None)
    s.add_argument("--signed", action="store_true", help="inhibitory input counts against activation (transmitters)")
    s.add_argument("--timeout", type=float, default=None)
    s.set_defaults(func=_cmd_layers)


def pathways_step(ctx: Any) -> None:
    """Demo step: the strongest paths from sensory neurons to AVA, and the layers of their neurons."""
    from .layers import flow_layers  # lazy: keeps connectome --help cheap
    from .pathways import shortest_paths  # lazy: keeps connectome --help cheap
    from .filters import ids_of  # lazy: keeps connectome --help cheap

    c = ctx.connectome
    if "cell_type" not in c.label_columns or "super_class" not in c.label_columns or \
            not len(ids_of(c, cell_type="AVA", allow_empty=True)):
        return
    ctx.section("strongest paths from sensory neurons to AVA (hop cost 1/synapses, >= 3 synapses per hop)")
    sensory = ids_of(c, super_class="sensory")
    p = shortest_paths(c, sensory, ids_of(c, cell_type="AVA"), min_synapses=3, weight="inverse_synapses",
                       progress=ctx.progress)
    layers = flow_layers(c, sensory, n_iterations=500, seed=0, labels=[], progress=ctx.progress)
    mean = layers.set_index("root_id")["layer_mean"]
    p["layer_mean"] = mean.reindex(p["root_id"].to_numpy()).to_numpy()
    p.astype({"root_id": str}).to_csv(ctx.out / "sensory_to_ava_paths.csv", index=False)
    layers.astype({"root_id": str}).to_csv(ctx.out / "flow_layers.csv", index=False)
    label = "name" if "name" in p.columns else "root_id"
    cost = p.groupby("path_id")["synapse_count"].apply(lambda s: float((1.0 / s.dropna().astype(float)).sum()))
    best = cost.sort_values().index[:6]
    for pid in best:
        grp = p[p.path_id == pid]
        hops = " > ".join(f"{n} (L{m:.1f})" for n, m in zip(grp[label].astype(str), grp["layer_mean"]))
        print(f"  {hops}   synapses per hop: {', '.join(str(int(x)) for x in grp['synapse_count'].dropna())}")
    print(f"{p.attrs['paths']} strongest paths; layers from 500 traversals seeded at {len(sensory)} sensory neurons "
          f"(files: sensory_to_ava_paths.csv, flow_layers.csv)")
    ctx.results["pathways"] = p
