"""``connectome similar``, ``connectome cluster`` and ``connectome match``.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> register(sub)
>>> a = p.parse_args(["similar", "celegans_cook2019_herm", "--name", "AVAL", "--top-k", "5"])
>>> a.top_k, a.metric
(5, 'cosine')
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError
from .pathways_cli import add_labels_option, check_link_source, shown_labels

__all__ = ["register"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--direction", choices=["both", "input", "output"], default="both",
                   help="compare inputs, outputs or both (default both)")
    p.add_argument("--by", default=None, help="collapse partners to this node label (cell_type, merge_class, ...)")
    p.add_argument("--unlabelled", choices=["drop", "pool", "keep"], default=None,
                   help="unlabelled partners with --by: dropped (default, said on stderr with their count), pooled "
                        "into one pseudo-label, or kept each as a partner of its own")
    p.add_argument("--metric", choices=["cosine", "jaccard", "vertex_normalized"], default="cosine")
    p.add_argument("--min-synapses", type=int, default=1, help="pairs below this are not partners (default 1)")
    p.add_argument("--edge-kind", default="chemical", choices=["chemical", "gap_junction", "all"])


def _ids(c: Any, ids: list[str] | None, names: list[str] | None, where: list[str] | None) -> Any:
    from .filters import ids_of  # lazy: keeps connectome --help cheap

    if ids:
        return [int(x) for x in ids]
    if names:
        return ids_of(c, name=names)
    if where:
        labels = {}
        for w in where:
            if "=" not in w:
                raise InputError(f"--where: expected COLUMN=VALUE, not {w!r}", "where")
            k, v = w.split("=", 1)
            labels.setdefault(k, []).append(v)
        return ids_of(c, **labels)
    return None


def _select(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset name or store path")
    p.add_argument("--ids", nargs="+", help="root ids")
    p.add_argument("--name", nargs="+", help="neurons by their name column")
    p.add_argument("--where", nargs="+", metavar="COLUMN=VALUE", help="neurons by labels, e.g. cell_type=AVA")


def _write(df: pd.DataFrame, out: str | None, index: bool = False) -> None:
    if out is None:
        print(df.to_csv(index=index), end="")
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=index)
    else:
        df.to_csv(path, index=index)
    print(f"{len(df):,} rows -> {path}")


def _links(p: argparse.ArgumentParser, two: bool = False) -> None:
    p.add_argument("--link", action="store_true", help="also print a Neuroglancer link (stderr)")
    from .cli import declare_flags  # here, not at import: connectome.cli imports this module

    p.add_argument("--source", default=None, help="volume of the link: flywire, microns or a source URL")
    declare_flags(p, {"dataset": "--source"})  # the link functions' dataset= is --source here
    if two:
        p.add_argument("--source-b", default=None, help="volume of --other's neurons in the link")
        declare_flags(p, {"dataset_b": "--source-b"})


def _print_link(url: str) -> None:
    import sys

    print(f"neuroglancer: {url}", file=sys.stderr)


def _kind(args: argparse.Namespace) -> str | None:
    return None if args.edge_kind == "all" else args.edge_kind


def _cmd_similar(args: argparse.Namespace) -> int:
    from .connectivity_similarity import similarity  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    ids = _ids(c, args.ids, args.name, args.where)
    other = load(args.other, progress=args.progress) if args.other else None
    labels = shown_labels(other or c, args.labels)
    s = similarity(c, ids, direction=args.direction, by=args.by, metric=args.metric, min_synapses=args.min_synapses,
                   top_k=None if args.dense else args.top_k, other=other, edge_kind=_kind(args),
                   unlabelled=args.unlabelled, progress=args.progress)
    if args.dense:
        _write(s, args.out, index=True)
        return 0
    for col in labels or []:
        lab = (other or c).node_table(["root_id", col]).set_index("root_id")[col]
        s[f"similar_{col}"] = s["similar_root_id"].map(lab).astype("string")
    s = s.astype({"root_id": str, "similar_root_id": str})
    _write(s, args.out)
    return 0


def _cmd_cluster(args: argparse.Namespace) -> int:
    from .neuron_clusters import cluster  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    labels = shown_labels(c, args.labels)
    if args.link:
        check_link_source(c, args.source)
    r = cluster(c, _ids(c, args.ids, args.name, args.where), method=args.method, n_clusters=args.n_clusters,
                threshold=args.threshold, resolution=args.resolution, top_k=args.top_k, direction=args.direction,
                by=args.by, metric=args.metric, min_synapses=args.min_synapses, edge_kind=_kind(args),
                unlabelled=args.unlabelled, seed=args.seed, column=args.column, plot=args.plot,
                progress=args.progress)
    print(f"{r.n_clusters} clusters of {r.meta['clustered']:,} neurons ({r.meta['not_clustered']:,} without partners)",
          flush=True)
    for col in args.compare or []:
        print(f"adjusted Rand index against {col}: {r.adjusted_rand(c, col):.3f}")
    table = r.labels
    if labels:
        table = table.merge(c.node_table(["root_id", *labels]), on="root_id", how="left")
    _write(table.astype({"root_id": str}), args.out)
    if args.write_store:
        r.annotate(c, overwrite=True).save(args.write_store, progress=args.progress)
        print(f"store with node column {args.column!r} -> {args.write_store}")
    if args.plot:
        print(f"plot -> {args.plot}")
    if args.link:
        from .neuroglancer.similarity_links import cluster_link  # lazy: keeps connectome --help cheap

        _print_link(cluster_link(c, r, dataset=args.source))
    return 0


def _attribute_weight(text: str | None) -> float | str | None:
    """``--attribute-weight``: a number or ``auto`` (a bad number is refused by argparse's type check)."""
    if text is None or text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number or 'auto', not {text!r}") from None


def _cmd_match(args: argparse.Namespace) -> int:
    from .matching import match  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    a = load(args.dataset, progress=args.progress)
    b = load(args.other, progress=args.progress) if args.other else None
    labels = shown_labels(a, args.labels)
    if b is not None:
        shown_labels(b, args.labels)
    if args.link:
        check_link_source(a, args.source)
        if b is not None:
            check_link_source(b, args.source_b)
    seeds = None
    if args.seeds:
        seeds = pd.read_csv(args.seeds, dtype=str)
    m = match(a, b, side=args.side if (b is None and args.side) else None, seeds=seeds, method=args.method,
              by=args.by, direction=args.direction, metric=args.metric, weight=args.weight,
              min_synapses=args.min_synapses, edge_kind=_kind(args), unlabelled=args.unlabelled,
              similarity_weight=args.similarity_weight, attributes=args.attributes,
              attribute_weight=args.attribute_weight, n_init=args.n_init, seed=args.seed,
              progress=args.progress)
    print(f"{m.meta['matched']:,} pairs; unmatched {len(m.unmatched_a):,} of set a, {len(m.unmatched_b):,} of set b",
          flush=True)
    if "attributes" in m.meta:
        at = m.meta["attributes"]
        print(f"attributes {', '.join(at['columns'])}: weight {at['weight']:g} ({at['chosen']})", flush=True)
    if args.truth:
        print("accuracy: " + json.dumps(m.accuracy(args.truth)))
    pairs = m.pairs.copy()
    for col in labels or []:
        for side, c in (("a", a), ("b", b if b is not None else a)):
            lab = c.node_table(["root_id", col]).set_index("root_id")[col]
            pairs[f"{side}_{col}"] = pairs[f"{side}_root_id"].map(lab).astype("string")
    _write(pairs.astype({"a_root_id": str, "b_root_id": str}), args.out)
    if args.link:
        from .neuroglancer.similarity_links import match_link  # lazy: keeps connectome --help cheap

        _print_link(match_link(a, m, b, dataset=args.source, dataset_b=args.source_b))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``similar``, ``cluster`` and ``match`` to the ``connectome`` parser."""
    s = sub.add_parser("similar", help="neurons with the most similar connectivity (cosine, Jaccard, vertex)")
    _select(s)
    _common(s)
    s.add_argument("--top-k", type=int, default=10, help="neighbours per neuron (default 10)")
    s.add_argument("--dense", action="store_true", help="the dense block of the selected neurons instead")
    s.add_argument("--other", help="compare against the neurons of another dataset (use --by)")
    add_labels_option(s)
    s.add_argument("--out", help="write a .csv or .parquet file")
    s.set_defaults(func=_cmd_similar)

    c = sub.add_parser("cluster", help="cluster neurons on connectivity similarity (ward, average, leiden)")
    _select(c)
    _common(c)
    c.add_argument("--method", choices=["ward", "average", "leiden"], default="leiden")
    c.add_argument("--n-clusters", type=int, default=None, help="ward/average: number of clusters")
    c.add_argument("--threshold", type=float, default=None, help="ward/average: cut height instead")
    c.add_argument("--resolution", type=float, default=1.0, help="leiden resolution (default 1)")
    c.add_argument("--top-k", type=int, default=20, help="leiden: neighbours per neuron (default 20)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--column", default="cluster", help="node column name (default cluster)")
    c.add_argument("--compare", nargs="+", metavar="COLUMN", help="print the adjusted Rand index against columns")
    c.add_argument("--plot", help="write the dendrogram/heatmap PNG here")
    c.add_argument("--write-store", metavar="PATH", help="write the dataset with the cluster column as a store")
    c.add_argument("--out", help="write root_id,cluster to a .csv or .parquet file")
    add_labels_option(c)
    _links(c)
    c.set_defaults(func=_cmd_cluster)

    m = sub.add_parser("match", help="match neurons across hemispheres (--side) or datasets (--other)")
    m.add_argument("dataset", help="dataset name or store path (set a, or both hemispheres)")
    m.add_argument("--other", help="a second dataset (set b)")
    m.add_argument("--side", default="side", help="column holding left/right when matching hemispheres")
    m.add_argument("--method", choices=["gm", "bisected", "similarity"], default="bisected")
    m.add_argument("--weight", choices=["log", "synapse_count", "binary"], default="log")
    m.add_argument("--seeds", metavar="CSV", help="known pairs: a CSV with a_root_id,b_root_id")
    m.add_argument("--similarity-weight", type=float, help="weight of the partner-type term with --by (default 0.1)")
    m.add_argument("--attributes", type=lambda t: [x.strip() for x in t.split(",") if x.strip()], metavar="COLS",
                   help="node columns a pair should share, comma-separated (e.g. lineage,class1,axon_output)")
    m.add_argument("--attribute-weight", type=_attribute_weight, metavar="W|auto",
                   help="weight of the attribute term (default 3), or auto: chosen on the seeds")
    m.add_argument("--n-init", type=int, default=1, help="graph matching restarts")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--truth", metavar="COLUMN", help="print the accuracy against pairs sharing this node column")
    m.add_argument("--out", help="write the pairs to a .csv or .parquet file")
    add_labels_option(m)
    _links(m, two=True)
    _common(m)
    m.set_defaults(func=_cmd_match)
