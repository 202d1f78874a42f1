"""The ``connectome`` command line.

Core subcommands: ``datasets``, ``info``, ``demo``. Other packages add theirs
through the ``connectome.cli`` entry point group (``ingest`` adds ``ingest``),
so the core never imports them. Every subcommand has ``--help``.

Errors of the project's exception tree print one line (``error: ...``) and
exit with status 2. The messages are written for Python callers (``pass
duplicates='sum'``); :func:`render_error` rewrites them for the command line
(``pass --duplicates sum``) from the subcommand's parameter -> flag table: the
flags of its own options (``voxel_resolution`` -> ``--voxel-resolution``) and
those it declares with :func:`declare_flags` (``columns`` -> ``--map``).
Python-only advice with no flag (``cx.ids_of(c, ...)``, ``pandas.read_csv(...)``)
is left out.

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
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__, pathways_cli, similarity_cli
from .analysis_cli import census_step, motif_step, register as register_analysis
from .config import DEFAULT_DATASET
from .errors import ConnectomeError
from .plugins import entry_points
from .scheduler import set_scheduler

logger = logging.getLogger(__name__)

__all__ = ["main", "build_parser", "declare_flags", "flag_table", "render_error", "python_syntax"]

#: Namespace attributes holding a subcommand's declared flags and its parser.
_FLAGS = "_cli_flags"
_PARSER = "_cli_parser"

#: A flag spelling: ``"--map"``, or per value (``{"drop": "--nodes-in-edges", "keep": "--keep-isolated"}``).
Flag = str | dict[str, str]


def declare_flags(parser: argparse.ArgumentParser, flags: dict[str, Flag]) -> None:
    """Declare how the parameters of the functions a subcommand calls are spelled on its command line.

    Options whose ``dest`` is the parameter's name need no declaration
    (``--voxel-resolution`` stands for ``voxel_resolution``). Declare the
    others: ``{"columns": "--map", "dataset": "--source"}``; a dict per value
    for choices spelled as switches: ``{"isolated": {"drop": "--nodes-in-edges"}}``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--map", nargs="*")
    >>> declare_flags(p, {"columns": "--map"})
    >>> flag_table(p)["columns"]
    '--map'
    """
    current = dict(parser.get_default(_FLAGS) or {})
    current.update(flags)
    parser.set_defaults(**{_FLAGS: current})


def flag_table(*parsers: argparse.ArgumentParser) -> dict[str, Flag]:
    """Parameter name -> flag of ``parsers`` (their options, then what they declared).

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--voxel-resolution", nargs=3, type=float)
    >>> _ = p.add_argument("--keep-autapses", action="store_true")
    >>> flag_table(p)["voxel_resolution"], flag_table(p)["keep_autapses"]
    ('--voxel-resolution', '--keep-autapses')
    """
    table: dict[str, Flag] = {}
    for parser in parsers:
        for action in parser._actions:
            longs = [o for o in action.option_strings if o.startswith("--")]
            if longs and action.dest not in ("help", "version", argparse.SUPPRESS):
                table.setdefault(action.dest, longs[0])
    for parser in parsers:
        table.update(parser.get_default(_FLAGS) or {})
    return table


_KWARG = re.compile(r"(?<![\w.\-/?&])([A-Za-z_]\w*)=(?!=)")
_PY = re.compile(
    r"(?<![\w.\-/?&])[A-Za-z_]\w*=(?!=)(?:['\"(\[{]|\.\.\.|\d|True\b|False\b|None\b|(?=[\s,;:)]|$))"  # name=value
    r"|\b(?:cx|pd|np|nx|pandas|numpy)\.\w"                                  # cx.ids_of, pandas.read_csv
    r"|(?<![/\w.])connectome\.[a-z_]+\.[A-Za-z_]+"                           # connectome.schema.name_ids
    r"|\b[A-Za-z_]\w*[._]\w*\(|\b[A-Z][a-z0-9]+[A-Z]\w*\("                   # f(...), CavePreset(...)
    r"|\b\w+\[\w+\.\w+"                                                     # edges[edges.synapse_count > 0]
)


def python_syntax(text: str) -> list[str]:
    """The pieces of Python call syntax in ``text`` (keyword arguments, ``cx.`` / ``pandas.`` calls).

    ``KEY=VALUE`` with a bare value is command-line syntax (``--map weight=synapse_count``), not Python.

    Examples
    --------
    >>> python_syntax("pass duplicates='sum' or use cx.ids_of(c, ...)")
    ["duplicates='", 'cx.i']
    >>> python_syntax("pass --map weight=synapse_count or --colors AVA=red")
    []
    """
    return [m.group(0) for m in _PY.finditer(text)]


def _value_end(text: str, i: int) -> int:
    """End of the Python literal starting at ``text[i]`` (a string, a bracketed value, ``...`` or a word)."""
    if i >= len(text):
        return i
    c = text[i]
    if c in "'\"":
        j = text.find(c, i + 1)
        return len(text) if j < 0 else j + 1
    if c in "([{":
        depth, quote = 0, None
        for j in range(i, len(text)):
            ch = text[j]
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0:
                    return j + 1
        return len(text)
    if text.startswith("...", i):
        return i + 3
    m = re.match(r"[\w.+\-]*", text[i:])
    return i + len(m.group(0).rstrip(".")) if m else i


def _bare(item: str) -> str:
    item = item.strip()
    if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"":
        inner = item[1:-1]
        return inner if inner and not re.search(r"\s", inner) else f'"{inner}"'
    if re.fullmatch(r"[a-z]", item):  # (x, y, z) -> X Y Z, as metavars
        return item.upper()
    return "OLD=NEW ..." if item == "..." else item


def _split_top(text: str, sep: str) -> list[str]:
    out, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0 and not quote:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [*out, cur] if cur.strip() else out


def _cli_value(value: str, flag: Flag) -> str | None:
    """A Python value as the words after ``flag``; ``None`` when it has no command-line spelling."""
    v = value.strip()
    if isinstance(flag, dict):
        return flag.get(_bare(v) if v else "") if v else None
    if v in ("", "...", "True"):
        return flag
    if v in ("False", "None"):
        return None
    if v[0] == "{" and v[-1] == "}":
        pairs = []
        for item in _split_top(v[1:-1], ","):
            key, _, val = item.partition(":")
            pairs.append("OLD=NEW ..." if key.strip() == "..." else f"{_bare(key)}={_bare(val)}")
        return f"{flag} {' '.join(pairs)}"
    if v[0] in "([" and v[-1] in ")]":
        return f"{flag} {' '.join(_bare(x) for x in _split_top(v[1:-1], ','))}"
    return f"{flag} {_bare(v)}"


def _translate(text: str, flags: dict[str, Flag]) -> str:
    """``name=value`` of a parameter with a flag -> the flag and its value."""
    out, pos = [], 0
    for m in _KWARG.finditer(text):
        if m.start() < pos or m.group(1) not in flags:
            continue
        end = _value_end(text, m.end())
        cli = _cli_value(text[m.end():end], flags[m.group(1)])
        if cli is None:
            continue
        out.append(text[pos:m.start()])
        out.append(cli)
        pos = end
    out.append(text[pos:])
    text = "".join(out)
    # bare parameter names with an underscore (position_columns) -> their flags; quoted names stay
    return re.sub(r"(?<![\w'\"\-./])([a-z][a-z0-9]*_[a-z0-9_]+)(?![\w'\"=(])",
                  lambda m: flags[m.group(1)] if isinstance(flags.get(m.group(1)), str) else m.group(1), text)


def _drop_parentheticals(text: str) -> str:
    """Remove ``(...)`` groups (innermost first) whose content is Python advice, and the ``(CLI: --flag)``
    notes written for Python readers (the flag itself is then in the text already)."""
    text = re.sub(r"\s*\(CLI: [^()]*\)", "", text)
    while True:
        for m in re.finditer(r"\(([^()]*)\)", text):
            if python_syntax(m.group(1)):
                text = (text[:m.start()].rstrip(" ") + text[m.end():])
                break
        else:
            return text


_LEVELS = (r"(;\s+)", r"((?<=[.?!])\s+(?=[A-Z]))", r"(,?\s+or\s+(?=pass|use|set|give|call|check|see|add|"
           r"keep|drop|read|map|name|choose|build))", r"(,?\s+e\.g\.\s+)", r"(,\s+|\s+or\s+)")


def _split_outside(text: str, pattern: str) -> tuple[list[str], list[str]]:
    """``re.split`` on ``pattern`` outside brackets: (pieces, separators)."""
    depth, level = 0, []
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        level.append(depth)
    units, seps, start = [], [], 0
    for m in re.finditer(pattern, text):
        if m.start() < start or (m.start() and level[m.start() - 1] > 0) or m.end() == m.start():
            continue
        units.append(text[start:m.start()])
        seps.append(m.group(0))
        start = m.end()
    units.append(text[start:])
    return units, seps


def _drop_python(text: str, level: int = 0, first: bool = True) -> str:
    """Leave out the clauses (then sentences, alternatives, examples) that hold Python advice."""
    if not python_syntax(text):
        return text
    if level >= len(_LEVELS):
        if first:  # the statement itself: keep it, written as a command-line user writes labels
            return re.sub(r"(?<![\w.\-/?&])([A-Za-z_]\w*)=(['\"])([^'\"]*)\2", r"\1=\3", text)
        return ""
    units, seps = _split_outside(text, _LEVELS[level])
    kept: list[str] = []
    for i, unit in enumerate(units):
        new = _drop_python(unit, level + 1, first and i == 0)
        if new.strip():
            kept.append((seps[i - 1] if i and kept else "") + new)
    return "".join(kept)


def render_error(message: str, flags: dict[str, Flag], parameter: str | None = None) -> str:
    """An error message written for Python, rewritten for the command line.

    Parameter names become their flags (``voxel_resolution=(x, y, z)`` ->
    ``--voxel-resolution X Y Z``, ``columns={'a': 'b'}`` -> ``--map a=b``);
    advice that only Python can follow is left out.

    Examples
    --------
    >>> flags = {"duplicates": "--duplicates", "columns": "--map", "voxel_resolution": "--voxel-resolution"}
    >>> render_error("edges: 2 duplicate rows. Pass duplicates='sum' to add them, or duplicates='first'", flags)
    'edges: 2 duplicate rows. Pass --duplicates sum to add them, or --duplicates first'
    >>> render_error("voxel_resolution must be three numbers; pass voxel_resolution=(x, y, z)", flags,
    ...              "voxel_resolution")
    '--voxel-resolution must be three numbers; pass --voxel-resolution X Y Z'
    >>> render_error("column 'w' not found. Map your columns, e.g. columns={'w': 'synapse_count'}.", flags)
    "column 'w' not found. Map your columns, e.g. --map w=synapse_count."
    >>> render_error("ids lost digits; read with a dtype (e.g. pandas.read_csv(..., dtype={...: 'int64'}))", {})
    'ids lost digits; read with a dtype'
    >>> render_error("3 ids unknown; check them with cx.ids_of(c, ...), or pass dataset= to show them",
    ...              {"dataset": "--source"})
    '3 ids unknown; pass --source to show them'
    >>> render_error("no volume is known; pass dataset= (CLI: --source) with its segmentation", {"dataset": "--source"})
    'no volume is known; pass --source with its segmentation'
    """
    text = _translate(str(message), flags)
    lead = re.match(r"([A-Za-z_]\w*)(?=:|\s|$)", text)
    if lead and lead.group(1) in flags and isinstance(flags[lead.group(1)], str) and (
            lead.group(1) == parameter or "_" in lead.group(1) or text[lead.end():lead.end() + 5] == " must"):
        text = str(flags[lead.group(1)]) + text[lead.end():]
    text = _drop_parentheticals(text)
    return _drop_python(text).strip()


def _leaves(parser: argparse.ArgumentParser) -> None:
    """Let every subcommand's namespace carry its parser (for :func:`flag_table`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                sub.set_defaults(**{_PARSER: sub})
                _leaves(sub)


def _cmd_datasets(args: argparse.Namespace) -> int:
    from .registry import datasets  # lazy: keeps connectome --help cheap

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
    from .registry import load  # lazy: keeps connectome --help cheap
    from .overview import format_summary, summary  # lazy: keeps connectome --help cheap

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
    from .registry import load  # lazy: keeps connectome --help cheap
    from .filters import filter_edges, ids_of, neighborhood  # lazy: keeps connectome --help cheap
    from .overview import format_summary, summary  # lazy: keeps connectome --help cheap
    from .typelevel import collapse  # lazy: keeps connectome --help cheap

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


def _cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(args.dataset, out, args.progress)

    _core_demo(ctx)
    census_step(ctx)
    motif_step(ctx)
    pathways_cli.pathways_step(ctx)
    for ep in entry_points("connectome.demo"):
        ep.load()(ctx)
    print(f"\nresults written to {out.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with core and plugin subcommands."""
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
    m.add_argument("--dataset", default=DEFAULT_DATASET, help=f"dataset (default {DEFAULT_DATASET})")
    m.add_argument("--out", default="demo-output", help="folder for result files (default demo-output)")
    m.set_defaults(func=_cmd_demo)

    register_analysis(sub)
    similarity_cli.register(sub)
    pathways_cli.register(sub)
    for ep in entry_points("connectome.cli"):
        try:
            ep.load()(sub)
        except ImportError as exc:
            logger.warning("CLI plugin %s unavailable: %s", ep.name, exc)
    _leaves(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``connectome`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.scheduler:
            set_scheduler(args.scheduler)
        return int(args.func(args) or 0)
    except ConnectomeError as exc:
        leaf = getattr(args, _PARSER, None)
        flags = flag_table(*(x for x in (parser, leaf) if x is not None))
        flags.update(getattr(args, _FLAGS, None) or {})
        print(f"error: {render_error(str(exc), flags, getattr(exc, 'parameter', None))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
