"""``connectome link ...`` and ``connectome open ...`` (registered via the ``connectome.cli`` entry point).

::

    connectome link neurons DATASET ID [ID ...] [--color-by cell_type] [--colors AVA=red ...] [--synapses]
    connectome link motifs DATASET (--matches FILE | --query TEXT) [--top-k 5 | --each]
    connectome link predictions DATASET (--predictions FILE | --column predicted) [--truth cell_type]
    connectome link pair DATASET A B
    connectome open TARGET [ID ...] [--colors ID=red ...] [--port 8080] [--no-ui]

Every ``link`` command prints the link (``--json`` prints the link, the state id
if stored, the state and the warnings); ``--prefix``, ``--max-length``, ``--states``
and ``--state-server`` set where links point and where long states go. Warnings
(a segmentation that does not match the store's version, a link that opens only
on this machine, ``--color-by`` without values) go to stderr as ``warning: ...``.

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> register(sub)
>>> p.parse_args(["link", "pair", "flywire_v783_neurons", "1", "2"]).what
'pair'
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..cli import declare_flags
from ..errors import ColumnError, InputError, SourceNotFoundError
import connectome as cx

__all__ = ["register"]


def _pairs(items: list[str] | None, parameter: str) -> dict[str, str] | None:
    if not items:
        return None
    out: dict[str, str] = {}
    for it in items:
        key, sep, value = it.rpartition("=")
        if not sep or not key or not value:
            raise InputError(f"{parameter}: {it!r} is not KEY=COLOUR (e.g. AVA=red or 720575940621039145=#ff0000)",
                             parameter)
        out[key] = value
    return out


def _read_table(path: str, parameter: str) -> Any:
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise SourceNotFoundError(p, parameter)
    suffix = "".join(p.suffixes[-2:]).lower()
    if suffix.endswith(".parquet"):
        return pd.read_parquet(p)
    if suffix.endswith(".json"):
        return pd.read_json(p, dtype=False)
    if suffix.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
        sep = "\t" if ".tsv" in suffix else ","
        return pd.read_csv(p, sep=sep, dtype=str)  # ids stay exact; converted below
    raise InputError(f"{parameter}: {p.name} is not .csv, .tsv, .parquet or .json", parameter)


def _load(dataset: str) -> Any:
    from ..registry import load  # lazy: keeps connectome --help cheap

    return load(dataset)


def _link_options(args: argparse.Namespace) -> dict[str, Any]:
    from .statestore import StateStore  # lazy: keeps connectome --help cheap

    store = StateStore(args.states, base_url=args.state_server)
    opts: dict[str, Any] = {"prefix": args.prefix, "max_length": args.max_length, "store": store,
                            "remote": args.remote, "dataset": args.source}
    if args.no_properties:
        opts["properties"] = False
    return opts


def _emit(args: argparse.Namespace, urls: list[str], store: Any) -> int:
    notes: list[str] = getattr(args, "_warnings", [])
    if getattr(args, "json", False):
        from .links import parse_link, resolve_link  # lazy: keeps connectome --help cheap

        out = []
        for u in urls:
            p = parse_link(u)
            sid = p.state_url.rstrip("/").rsplit("/", 1)[-1] if p.state_url else None
            out.append({"link": u, "state_id": sid, "stored": sid is not None,
                        "state": resolve_link(u, store=store), "warnings": list(notes)})
        print(json.dumps(out if len(out) > 1 else out[0], indent=2))
    else:
        print("\n".join(urls))
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    return 0


def _warned(cmd: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a ``link`` command collecting its warnings (``_emit`` prints them on stderr and in ``--json``)."""

    @functools.wraps(cmd)
    def run(args: argparse.Namespace) -> int:
        from .notices import collect_warnings  # lazy: keeps connectome --help cheap

        with collect_warnings(log=False) as notes:
            args._warnings = notes
            return cmd(args)

    return run


def _cmd_neurons(args: argparse.Namespace) -> int:
    from .links import link  # lazy: keeps connectome --help cheap

    opts = _link_options(args)
    c = _load(args.dataset)
    colors = _pairs(args.colors, "colors")
    url = link(c, args.root_ids or None, color_by=args.color_by, colors=colors, default_color=args.default_color,
               synapses=True if args.synapses else None, **opts)
    return _emit(args, [url], opts["store"])


def _cmd_motifs(args: argparse.Namespace) -> int:
    from .results import motif_link, motif_links  # lazy: keeps connectome --help cheap
    from ..schema import coerce_ids  # lazy: keeps connectome --help cheap

    opts = _link_options(args)
    c = _load(args.dataset)
    if (args.matches is None) == (args.query is None):
        raise InputError("matches: give --matches FILE or --query TEXT (one of them)", "matches")
    if args.matches is not None:
        matches = _read_table(args.matches, "matches")
        roles = args.roles or [col for col in matches.columns if str(col) not in ("score", "rank")]

        for r in roles:
            if r in matches.columns:
                matches[r] = coerce_ids(matches[r], "matches")
    else:
        query = Path(args.query[1:]).read_text() if args.query.startswith("@") else args.query
        try:
            find = cx.find_motifs
        except AttributeError:
            raise InputError("query: this installation has no motif engine (cx.find_motifs); pass --matches "
                             "FILE with one id column per motif node", "query") from None
        matches = find(c, query.replace("\\n", "\n"), limit=args.limit)
        roles = args.roles
    if len(matches) == 0:
        raise InputError("matches: no matches to link", "matches")
    colors = _pairs(args.colors, "colors")
    kw = dict(roles=roles or None, colors=colors, synapses=args.synapses, **opts)
    if args.each:
        urls = motif_links(c, matches, top_k=args.top_k, **kw).tolist()
    else:
        urls = [motif_link(c, matches, top_k=args.top_k, **kw)]
    return _emit(args, urls, opts["store"])


def _cmd_predictions(args: argparse.Namespace) -> int:
    import pandas as pd

    from .results import prediction_link  # lazy: keeps connectome --help cheap

    opts = _link_options(args)
    c = _load(args.dataset)
    if args.predictions is not None:
        pred = _read_table(args.predictions, "predictions")
        if "probability" in pred.columns:
            pred["probability"] = pd.to_numeric(pred["probability"], errors="raise")
    else:
        nodes = c.node_table()
        if args.column not in nodes.columns:
            raise ColumnError("nodes", args.column, [x for x in nodes.columns if x != "root_id"],
                              "(pass --predictions FILE, or --column naming the node column with predictions)")
        keep = ["root_id", args.column] + [x for x in ("probability",) if x in nodes.columns]
        pred = nodes[keep][nodes[args.column].notna()]
    url = prediction_link(c, pred, truth=args.truth, column=args.column,
                          only_disagreements=args.disagreements, min_probability=args.min_probability,
                          colors=_pairs(args.colors, "colors"), default_color=args.default_color, **opts)
    return _emit(args, [url], opts["store"])


def _cmd_pair(args: argparse.Namespace) -> int:
    from .results import pair_link  # lazy: keeps connectome --help cheap

    opts = _link_options(args)
    c = _load(args.dataset)
    url = pair_link(c, args.a, args.b, synapses=True if args.synapses else None, **opts)
    return _emit(args, [url], opts["store"])


def _cmd_open(args: argparse.Namespace) -> int:
    from .statestore import StateStore  # lazy: keeps connectome --help cheap
    from .viewer import open as open_viewer  # lazy: keeps connectome --help cheap

    colors = _pairs(args.colors, "colors")
    kwargs: dict[str, Any] = {}
    if colors is not None:
        kwargs["colors"] = colors
    if args.color_by:
        kwargs["color_by"] = args.color_by
    if args.source:
        kwargs["dataset"] = args.source
    store = StateStore(args.states, base_url=args.state_server)
    target = args.target
    root_ids = args.root_ids or None
    if target is None and not args.source:
        raise InputError("target: what to open? A link, state id, state .json file, precomputed folder or "
                         "dataset", "target")
    v = open_viewer(target, root_ids, port=args.port, ui=not args.no_ui, store=store, **kwargs)
    print(v.url, flush=True)
    print(f"serving local volumes and states at {v.files.base_url} "
          "(Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        v.wait(args.seconds)
    finally:
        v.close()
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("link options")
    g.add_argument("--prefix", help="viewer name (neuroglancer-demo, spelunker, flywire, seunglab) or URL "
                   "(default: CONNECTOME_VIEWER, else the dataset's own viewer: flywire for FlyWire, else "
                   "neuroglancer-demo)")
    g.add_argument("--max-length", type=int, default=None,
                   help="longest inline URL; longer states are stored and linked by URL (default 8000)")
    g.add_argument("--remote", choices=["json_url", "fragment"], default=None,
                   help="how the viewer is pointed at a stored state (default: the viewer's own syntax)")
    g.add_argument("--states", help="state store folder (default: CONNECTOME_STATES or <data home>/states)")
    g.add_argument("--state-server", help="URL where the store is served (default: CONNECTOME_STATE_SERVER "
                   "or http://127.0.0.1:8000/v1/states, which works only on this machine)")
    g.add_argument("--source", help="what to show: a known dataset (flywire, microns, pinky100, hemibrain, manc, "
                   "or a datastack such as minnie65_public), a precomputed folder or a source URL (default: from "
                   "the datastack and version in the dataset's manifest)")
    g.add_argument("--no-properties", action="store_true", help="leave segment properties (labels) out")
    g.add_argument("--json", action="store_true", help="print the link, the state id and the state as JSON")

    declare_flags(p, {"dataset": "--source", "properties": {"False": "--no-properties"}})


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``link`` and ``open`` to the ``connectome`` parser."""
    p = sub.add_parser("link", help="Neuroglancer links for neurons, motif matches, predictions, pairs",
                       description="Print a Neuroglancer link. States longer than --max-length are written "
                       "to the state store and linked by URL.")
    what = p.add_subparsers(dest="what", metavar="WHAT")
    what.required = True

    n = what.add_parser("neurons", help="selected neurons, coloured by a label or a map")
    n.add_argument("dataset", help="dataset name or store path")
    n.add_argument("root_ids", nargs="*", help="root ids (default: all neurons, if few)")
    n.add_argument("--color-by", help="node column whose labels colour the neurons (e.g. cell_type)")
    n.add_argument("--colors", nargs="*", metavar="KEY=COLOUR", help="label=colour (with --color-by) or id=colour")
    n.add_argument("--default-color", help="colour of labels/ids not in --colors")
    n.add_argument("--synapses", action="store_true", help="synapse points among the neurons")
    _common(n)
    n.set_defaults(func=_warned(_cmd_neurons))

    m = what.add_parser("motifs", help="motif matches: one link for the top k, or one per match")
    m.add_argument("dataset", help="dataset name or store path")
    m.add_argument("--matches", help="match table (.csv/.parquet/.json): one id column per motif node")
    m.add_argument("--query", help="DotMotif query text (or @file) run with cx.find_motifs")
    m.add_argument("--limit", type=int, default=100, help="with --query: stop after this many matches")
    m.add_argument("--top-k", type=int, default=5, help="how many matches (default 5)")
    m.add_argument("--each", action="store_true", help="one link per match instead of one for all")
    m.add_argument("--roles", nargs="*", help="motif-node columns (default: every id column)")
    m.add_argument("--colors", nargs="*", metavar="NODE=COLOUR", help="motif node colours, e.g. A=red B=blue")
    m.add_argument("--synapses", action="store_true", help="synapse points between the matched neurons")
    _common(m)
    m.set_defaults(func=_warned(_cmd_motifs))

    r = what.add_parser("predictions", help="neurons coloured by predicted type, with the disagreements")
    r.add_argument("dataset", help="dataset name or store path")
    r.add_argument("--predictions", help="table with root_id, predicted[, probability] (.csv/.parquet/.json); "
                   "default: the node column --column")
    r.add_argument("--column", default="predicted", help="column with the predicted label (default predicted)")
    r.add_argument("--truth", help="node column with the true labels (adds a disagreements layer)")
    r.add_argument("--disagreements", action="store_true", help="show only the disagreements")
    r.add_argument("--min-probability", type=float, default=None, help="drop less confident predictions")
    r.add_argument("--colors", nargs="*", metavar="LABEL=COLOUR", help="colour per predicted label")
    r.add_argument("--default-color", help="colour of labels not in --colors")
    _common(r)
    r.set_defaults(func=_warned(_cmd_predictions))

    q = what.add_parser("pair", help="two neurons and the synapses between them")
    q.add_argument("dataset", help="dataset name or store path")
    q.add_argument("a", help="first root id")
    q.add_argument("b", help="second root id")
    q.add_argument("--synapses", action="store_true", help="require the synapse table")
    _common(q)
    q.set_defaults(func=_warned(_cmd_pair))

    o = sub.add_parser("open", help="serve the Neuroglancer viewer locally (127.0.0.1) and print its URL",
                       description="Serve the viewer that ships in the neuroglancer wheel on 127.0.0.1 for a "
                       "link, a stored state, a state file, a local precomputed volume or a dataset.")
    o.add_argument("target", nargs="?", help="link, state id, state .json, precomputed folder, or dataset")
    o.add_argument("root_ids", nargs="*", help="segments to select (precomputed folder or dataset)")
    o.add_argument("--colors", nargs="*", metavar="KEY=COLOUR", help="id=colour, or label=colour with --color-by")
    o.add_argument("--color-by", help="node column whose labels colour the neurons")
    o.add_argument("--source", help="volume to show when TARGET is a dataset without a known volume")
    o.add_argument("--port", type=int, default=0, help="viewer port (default: any free port)")
    o.add_argument("--no-ui", action="store_true", help="hide the viewer's controls")
    o.add_argument("--states", help="state store folder to serve (default: CONNECTOME_STATES)")
    o.add_argument("--state-server", help="URL the store's links point at (rewritten to the local server)")
    o.add_argument("--seconds", type=float, default=None, help="serve this long, then exit (default: until Ctrl-C)")
    o.set_defaults(func=_cmd_open)

    declare_flags(o, {"dataset": "--source", "ui": {"False": "--no-ui"}})
