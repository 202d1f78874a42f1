"""``connectome stats``, ``connectome census`` and ``connectome motifs``.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> register(sub)
>>> p.parse_args(["census", "celegans_cook2019_herm", "--null", "degree_reciprocal", "--n", "10"]).n
10
>>> p.parse_args(["census", "celegans_cook2019_herm", "--null"]).null   # --null alone: the default null
'degree_reciprocal'
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from .errors import InputError, SourceNotFoundError

__all__ = ["register", "read_query", "census_step", "motif_step"]


def _selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="dataset name or store path")
    p.add_argument("--edge-kind", default="chemical", choices=["chemical", "gap_junction", "all"],
                   help="edges that connect neurons (default chemical; 'all' sums kinds)")
    p.add_argument("--min-synapses", type=int, default=None, help="pairs need at least this many synapses")


def _kind(args: argparse.Namespace) -> str | None:
    return None if args.edge_kind == "all" else args.edge_kind


def _out_dir(path: str | None) -> Path | None:
    if path is None:
        return None
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {str(out)!r} is a file; give a folder", "out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _cmd_stats(args: argparse.Namespace) -> int:
    # lazy: keeps connectome --help cheap
    from .connectivity import degree_distribution, rich_club, stats, synapse_count_distribution
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    s = stats(c, edge_kind=_kind(args), min_synapses=args.min_synapses, path_samples=args.path_samples,
              seed=args.seed)
    out = _out_dir(args.out)
    if out is not None:
        (out / "stats.json").write_text(json.dumps(s, indent=2))
        for d in ("in", "out"):
            degree_distribution(c, d, edge_kind=_kind(args), min_synapses=args.min_synapses).to_csv(
                out / f"{d}_degree_distribution.csv", index=False)
        synapse_count_distribution(c, edge_kind=_kind(args)).to_csv(out / "synapse_count_distribution.csv",
                                                                      index=False)
        rich_club(c, edge_kind=_kind(args), min_synapses=args.min_synapses).to_csv(out / "rich_club.csv")
        p = s["path_lengths"]["distribution"]
        with open(out / "path_lengths.csv", "w") as fh:
            fh.write("hops,pairs\n" + "".join(f"{k},{v}\n" for k, v in p.items()))
    if args.json:
        print(json.dumps(s, indent=2))
    else:
        print(format_stats(s))
        if out is not None:
            print(f"  files:        {out}")
    return 0


def format_stats(s: dict[str, Any]) -> str:
    """Human-readable text of :func:`connectome.stats`."""
    r, comp, p = s["reciprocity"], s["components"], s["path_lengths"]
    lines = [
        f"{s['dataset']}: {s['nodes']:,} neurons, {s['edges']:,} connected pairs "
        f"(edge kind {s['params']['edge_kind'] or 'all'}, min synapses {s['params']['min_synapses'] or 1})",
        f"  density:      {s['density']:.5f}",
        f"  degree:       out mean {s['degree']['out']['mean']:.2f} (max {s['degree']['out']['max']}), "
        f"in mean {s['degree']['in']['mean']:.2f} (max {s['degree']['in']['max']})",
        f"  synapses:     {s['synapses']['total']:,}; per pair median {s['synapses']['per_pair']['median']:g}, "
        f"max {s['synapses']['per_pair']['max']}",
        f"  reciprocity:  {r['pairs']:.3f} of pairs ({r['ratio']:.1f}x chance), {r['synapses']:.3f} of synapses",
        f"  clustering:   average {s['clustering']['average']:.4f}",
        f"  components:   {comp['strong']['count']:,} strong (largest {comp['strong']['largest']:,}), "
        f"{comp['weak']['count']:,} weak (largest {comp['weak']['largest']:,})",
        f"  paths:        mean {p['mean']:.2f} hops, diameter {p['diameter']}, "
        f"{'exact' if p['exact'] else 'sampled from ' + str(p['sources']) + ' sources'}",
    ]
    if s["rich_club"]:
        lines.append("  rich club:    " + ", ".join(f"φ(k={k})={v:.3f}" for k, v in s["rich_club"].items()))
    return "\n".join(lines)


def _cmd_census(args: argparse.Namespace) -> int:
    from .significance import motif_significance  # lazy: keeps connectome --help cheap
    from .triads import triad_census  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    out = _out_dir(args.out)
    if args.null is None:
        t = triad_census(c, edge_kind=_kind(args), min_synapses=args.min_synapses)
        if out is not None:
            t.to_csv(out / "triad_census.csv")
        print(t.to_string())
        return 0
    r = motif_significance(c, null=args.null, n=args.n, seed=args.seed, edge_kind=_kind(args),
                           min_synapses=args.min_synapses, by=args.by, swaps=args.swaps, unlabelled=args.unlabelled,
                           progress=args.progress)
    if out is not None:
        r.table.to_csv(out / "motif_significance.csv", index=False)
        r.censuses.to_csv(out / "null_samples.csv", index=False)
        meta = {k: v for k, v in r.to_dict().items() if k != "table"}
        (out / "motif_significance.json").write_text(json.dumps(meta, indent=2, default=str))
        r.plot(out / "motif_profile.png")
    import pandas as pd

    rp = r.params["reciprocal_pairs"]
    print(f"null model: {r.null} ({r.n} samples, seed {r.seed}); reciprocal pairs: data {rp['observed']:,}, "
          f"null {rp['null_mean']:,.1f} ± {rp['null_std']:,.1f}")
    with pd.option_context("display.width", 160, "display.float_format", "{:,.3f}".format):
        print(r.table.to_string(index=False))
    if out is not None:
        print(f"\nfiles: {out} (motif_significance.csv, motif_significance.json, null_samples.csv, "
              "motif_profile.png)")
    return 0


def read_query(text: str | None = None, file: str | None = None) -> str:
    """The DotMotif query of ``--query TEXT`` or ``--query-file PATH`` (exactly one).

    ``--query`` takes only text (``;`` or ``\\n`` separate lines); a text that
    looks like a file name is refused with a word about it, never parsed as a
    query.

    Examples
    --------
    >>> read_query("A -> B; B -> A")
    'A -> B\\nB -> A'
    >>> read_query("nofile.txt")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: --query: 'nofile.txt' looks like a file name, but there is no such file, and it is not a DotMotif query; to read a query from a file use --query-file PATH, or give the query text, e.g. --query "A -> B; B -> C"
    """
    if file is not None:
        p = Path(file).expanduser()
        if not p.is_file():
            raise SourceNotFoundError(file, "--query-file", "give the path of a file holding a DotMotif query")
        return p.read_text()
    if text is None:
        raise InputError("--query: give the query text (--query \"A -> B; B -> C\") or a file (--query-file PATH)",
                         "query")
    if _looks_like_path(text):
        if Path(text).expanduser().is_file():
            raise InputError(f"--query takes the query text; {text!r} is a file: pass it with --query-file {text}",
                             "query")
        raise InputError(f"--query: {text!r} looks like a file name, but there is no such file, and it is not a "
                         "DotMotif query; to read a query from a file use --query-file PATH, or give the query "
                         "text, e.g. --query \"A -> B; B -> C\"", "query")
    return re.sub(r";[ \t]*", "\n", text.replace("\\n", "\n"))


def _looks_like_path(text: str) -> bool:
    """No edge of a motif (``->``, ``!>``, a macro body) and the shape of a file name."""
    t = text.strip()
    if any(tok in t for tok in ("->", "!>", "{", "\n", ";")):
        return False
    return ("/" in t or "\\" in t or Path(t).suffix.lower() in (".txt", ".motif", ".dm", ".dot", ".dotmotif", ".query")
            or Path(t).expanduser().exists())


def _cmd_motifs(args: argparse.Namespace) -> int:
    from .motifs import count_motifs, find_motifs  # lazy: keeps connectome --help cheap
    from .registry import load  # lazy: keeps connectome --help cheap

    c = load(args.dataset, progress=args.progress)
    q = read_query(args.query, args.query_file)
    if args.count:
        print(count_motifs(c, q, timeout=args.timeout, exclude_automorphisms=args.exclude_automorphisms,
                           ignore_direction=args.ignore_direction,
                           edge_kind=_kind(args), progress=args.progress, memory=args.memory))
        return 0
    m = find_motifs(c, q, limit=args.limit, timeout=args.timeout, exclude_automorphisms=args.exclude_automorphisms,
                    ignore_direction=args.ignore_direction,
                    edge_kind=_kind(args), progress=args.progress, memory=args.memory)
    if args.out:
        out = Path(args.out)
        if out.suffix == ".parquet":
            m.to_parquet(out, index=False)
        else:
            m.astype(str).to_csv(out, index=False)
        print(f"{len(m):,} matches -> {out}")
    else:
        print(m.astype(str).to_csv(index=False), end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``stats``, ``census`` and ``motifs`` to the ``connectome`` parser."""
    s = sub.add_parser("stats", help="connectivity statistics of a dataset")
    _selection(s)
    s.add_argument("--path-samples", type=int, default=None,
                   help="sources for path lengths (default exact up to 5000 nodes, else 256)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--out", help="folder for stats.json and distribution CSVs")
    s.set_defaults(func=_cmd_stats)

    c = sub.add_parser("census", help="triad census, optionally against a null model")
    _selection(c)
    c.add_argument("--null", choices=["degree_reciprocal", "degree", "er", "reciprocal_er", "block"], default=None,
                   nargs="?", const="degree_reciprocal",
                   help="compare with this null model (--null alone: the default degree_reciprocal, which keeps "
                        "degrees and mutual pairs; plain 'degree' breaks mutual pairs and inflates the triads "
                        "made of them); without --null: the plain census")
    c.add_argument("--n", type=int, default=100, help="null samples (default 100)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--by", default="cell_type", help="node label of the blocks (null=block)")
    c.add_argument("--unlabelled", choices=["pool", "drop", "keep"], default=None,
                   help="neurons without a --by value (null=block): one block (default, said on stderr with their "
                        "count), left out of the graph, or each a block of its own")
    c.add_argument("--swaps", type=float, default=10.0,
                   help="attempted swaps per edge (null=degree_reciprocal or degree)")
    c.add_argument("--out", help="folder for CSV tables and the motif profile PNG")
    c.set_defaults(func=_cmd_census)

    m = sub.add_parser("motifs", help="find or count a DotMotif motif")
    _selection(m)
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("--query", help="DotMotif text (';' or '\\n' separate lines)")
    which.add_argument("--query-file", metavar="PATH", help="a file holding the DotMotif query")
    m.add_argument("--limit", type=int, default=None, help="stop after this many matches")
    m.add_argument("--timeout", type=float, default=None, help="time budget in seconds")
    m.add_argument("--memory", default=None, metavar="SIZE",
                   help="memory budget of the query, bytes or a size such as 512MiB or 4GiB (default 1GiB): the "
                        "partial matches held while it runs (and the matches kept without --count); above it "
                        "the query stops with query_too_large and the estimate")
    m.add_argument("--count", action="store_true", help="print only the number of matches")
    m.add_argument("--exclude-automorphisms", action="store_true", help="one match per distinct subgraph")
    m.add_argument("--ignore-direction", action="store_true", help="edges match in either direction")
    m.add_argument("--out", help="write matches to a .csv or .parquet file")
    m.set_defaults(func=_cmd_motifs)


def census_step(ctx: Any) -> None:
    """Demo step: triad census against the default null (degrees and mutual pairs kept)."""
    from .significance import DEFAULT_NULL, motif_significance  # lazy: keeps connectome --help cheap

    c = ctx.connectome
    ctx.section("triad motifs vs a degree- and reciprocity-preserving null (20 samples, chemical synapses)")
    r = motif_significance(c, null=DEFAULT_NULL, n=20, seed=0, progress=ctx.progress)
    r.table.to_csv(ctx.out / "motif_significance.csv", index=False)
    r.plot(ctx.out / "motif_profile.png")
    top = r.table[r.table["motif"] != "003"].sort_values("z", ascending=False).head(5)
    print(top[["motif", "observed", "null_mean", "null_std", "z"]].to_string(index=False, float_format="{:,.1f}".format))


def motif_step(ctx: Any) -> None:
    """Demo step: a DotMotif query (feed-forward loops onto the command interneurons)."""
    from .motifs import find_motifs  # lazy: keeps connectome --help cheap

    c = ctx.connectome
    q = ('A -> B [weight >= 5]\nB -> C [weight >= 5]\nA -> C [weight >= 5]\n'
         'C.cell_type == "AVA"\n')
    if "cell_type" not in c.label_columns:
        q = "A -> B [weight >= 5]\nB -> C [weight >= 5]\nA -> C [weight >= 5]\n"
    ctx.section("motif query: feed-forward loops onto AVA (>= 5 synapses per edge)")
    print(q.strip())
    m = find_motifs(c, q, exclude_automorphisms=True)
    m.astype(str).to_csv(ctx.out / "motif_matches.csv", index=False)
    ctx.results["motif_matches"] = m
    if "name" in c.label_columns:
        names = c.node_table().set_index("root_id")["name"]
        shown = m.head(5).apply(lambda r: " -> ".join(str(names[x]) for x in r), axis=1)
        print(f"{len(m)} matches, e.g.:")
        print("\n".join(f"  {s}" for s in shown))
    else:
        print(f"{len(m)} matches")
