"""Errors under the command line speak command line: flags, never Python keyword syntax (issue 16, item 10).

Every subcommand of ``connectome`` is run into at least one error (the cases below, and for a
subcommand without one, a run on a store that does not exist); stderr must name flags
(``--map``, ``--duplicates``, ``--voxel-resolution``, ``--source``) and hold no ``name=value``
keyword argument, no ``cx.`` / ``pandas.`` call.
"""

from __future__ import annotations

import argparse
import re

import pandas as pd
import pytest

from connectome.cli import build_parser, main, python_syntax, render_error

#: Python keyword syntax: ``name=`` followed by a Python literal (or by nothing), and calls of
#: Python modules. ``KEY=VALUE`` with a bare value is how the command line takes pairs
#: (``--map weight=synapse_count``, ``--where cell_type=AVA``) and is allowed.
PYTHON = re.compile(r"(?<![\w.\-/?&])[A-Za-z_]\w*=(?!=)(?:['\"(\[{]|\.\.\.|\d|True|False|None|(?=[\s,;:)]|$))"
                    r"|\bcx\.|\bpandas\.|\bpd\.|\bnp\.")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-errors")
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("pre,post,w\n")
    pd.DataFrame({"a": [1, 2], "b": [2, 1], "w": [3, 4]}).to_csv(d / "e.csv", index=False)
    pd.DataFrame({"pre_root_id": [1, 1], "post_root_id": [2, 2], "synapse_count": [3, 4]}).to_csv(d / "dup.csv",
                                                                                                 index=False)
    pd.DataFrame({"pre_root_id": [2.0**60, 5], "post_root_id": [2, 2], "synapse_count": [3, 4]}).to_csv(
        d / "float_ids.csv", index=False)
    pd.DataFrame({"pre_pt_root_id": [1], "post_pt_root_id": [2], "ctr_pt_position": ["[1 2 3]"]}).to_csv(
        d / "syn.csv", index=False)
    pd.DataFrame({"pre": [1], "post_pt_root_id": [2]}).to_csv(d / "noids.csv", index=False)
    pd.DataFrame({"pre_pt_root_id": [1], "post_pt_root_id": [2], "size": [3]}).to_csv(d / "nopos.csv", index=False)
    pd.DataFrame({"pre_root_id": [1], "post_root_id": [2], "n": [3]}).to_csv(d / "conn.csv", index=False)
    (d / "model").mkdir()
    (d / "q.txt").write_text("A -> B\n")
    return d


#: (arguments, what stderr must say). ``{d}`` is the folder of the files above.
CASES = [
    # ingest *
    (["ingest", "edgelist", "{d}/e.csv", "--out", "{d}/x"], "--map"),
    (["ingest", "edgelist", "{d}/dup.csv", "--out", "{d}/x"], "--duplicates sum"),
    (["ingest", "edgelist", "{d}/float_ids.csv", "--out", "{d}/x"], "pre_root_id: ids were read as floating point"),
    (["ingest", "edgelist", "{d}/e.csv", "--map", "wieght=synapse_count", "--out", "{d}/x"], "'wieght' not found"),
    (["ingest", "edgelist", "{d}/empty.csv", "--out", "{d}/x"], "empty.csv' is empty"),
    (["ingest", "edgelist", "{d}/header.csv", "--out", "{d}/x"], "has a header (pre, post, w) but no rows"),
    (["ingest", "codex", "--out", "{d}/x"], "give --connections, --neurons or both"),
    (["ingest", "codex", "--connections", "{d}/e.csv", "--out", "{d}/x"], "not found in edges"),
    (["ingest", "neuprint", "{d}/header.csv", "--out", "{d}/x"], "but no rows"),
    (["ingest", "celegans", "celegans_nope"], "unknown dataset 'celegans_nope'"),
    (["ingest", "larva", "--folder", "{d}/nope"], "--folder"),
    (["ingest", "cave-files", "--out", "{d}/x"], "--synapses, --connections and/or --cells"),
    (["ingest", "cave-files", "--synapses", "{d}/syn.csv", "--out", "{d}/x"], "--voxel-resolution X Y Z"),
    (["ingest", "cave-files", "--synapses", "{d}/noids.csv", "--out", "{d}/x"], "--map presyn_segid=pre_pt_root_id"),
    (["ingest", "cave-files", "--synapses", "{d}/nopos.csv", "--preset", "microns", "--out", "{d}/x"],
     "--position-columns X Y Z"),
    (["ingest", "cave-files", "--synapses", "{d}/syn.csv", "--position", "ctr", "--position-units", "nm", "--out",
      "{d}/x"], "--position-units: give it with --position-columns"),
    (["ingest", "cave-files", "--connections", "{d}/conn.csv", "--out", "{d}/x"], "--map pre=pre_pt_root_id"),
    (["ingest", "cave", "--plan"], "--datastack"),
    (["ingest", "volume", "{d}/nope", "--bbox", "0", "0", "0", "1", "1", "1"], "--units"),
    # core and analysis
    (["info", "{d}/nope"], "does not exist"),
    (["demo", "--dataset", "nope", "--out", "{d}/demo"], "unknown dataset 'nope'"),
    (["stats", "celegans_cook2019_herm", "--min-synapses", "0"], "--min-synapses"),
    (["census", "celegans_cook2019_herm", "--null", "block", "--by", "nope"], "column 'nope' not found"),
    (["motifs", "celegans_cook2019_herm", "--query", "nofile.txt"], "--query-file"),
    (["motifs", "celegans_cook2019_herm", "--query", "A -> B [weight >= x]"], "motif query"),
    # issue 29 item 1: over the memory budget, the estimate and the flag to raise it
    (["motifs", "celegans_cook2019_herm", "--query", "A -> B;B -> C;C -> D", "--count", "--memory", "100"],
     "over its memory budget of 100 bytes; add constraints (edge weights, node labels), use a smaller motif, "
     "pass a limit, or raise --memory"),
    # a typo in a list of values is refused like a single typo (it used to be dropped silently)
    (["partners", "celegans_cook2019_herm", "cell_type=AVA,AVBX"], "cell_type=AVBX (1 of the 2 values given)"),
    (["paths", "celegans_cook2019_herm", "--sources", "name=ASHL,ASHX", "--targets", "name=AVAL"], "name=ASHX"),
    (["influence", "celegans_cook2019_herm", "--sources", "name=ASHL", "--targets", "name=AVAL,AVBX"],
     "close values of name: 'AVBR', 'AVBL'"),
    (["similar", "celegans_cook2019_herm", "--name", "AVAL", "AVBX"], "--name AVBX (1 of the 2 values given)"),
    (["cluster", "celegans_cook2019_herm", "--where", "cell_type=AVA", "cell_type=AVBX"], "cell_type=AVBX"),
    # links
    (["link", "neurons", "celegans_cook2019_herm", "1", "2"], "--source"),
    (["link", "neurons", "celegans_cook2019_herm", "--source", "nowhere_public"], "--source"),
    (["link", "neurons", "celegans_cook2019_herm", "--colors", "AVA"], "is not KEY=COLOUR"),
    (["link", "neurons", "celegans_cook2019_herm", "--color-by", "cell_type"], "--source"),
    (["link", "motifs", "celegans_cook2019_herm"], "--matches"),
    (["link", "predictions", "celegans_cook2019_herm"], "--predictions"),
    (["link", "pair", "celegans_cook2019_herm", "1", "2"], "not in celegans_cook2019_herm"),
    (["open"], "target"),
    # gnn
    (["train", "celegans_cook2019_herm", "--label", "nope"], "--label"),
    (["train", "celegans_cook2019_herm", "--label", "cell_type", "--where", "cell_type=AVAL"], "cell_type=AVAL"),
    (["train", "celegans_cook2019_herm", "--label", "cell_type", "--device", "cuda:7"], "--device"),
    (["predict", "{d}/model", "celegans_cook2019_herm"], "is not a saved model"),
    # service
    (["serve", "--data-root", "/proc/nope/x", "--port", "1"], "--data-root"),
    (["token", "create", "bad user!", "--data-root", "{d}/svc"], "not a valid user name"),
    (["token", "create", "bob", "--expires", "9x", "--data-root", "{d}/svc"], "--expires"),
    (["token", "revoke", "tok_nope", "--data-root", "{d}/svc"], "no active token"),
    (["access", "dataset", "mine", "--store", "{d}/nope", "--data-root", "{d}/svc"], "is not a connectome store"),
]

#: Subcommands a bare run would serve or compute for long; they are covered by the cases above.
_LONG = {("serve",), ("open",), ("demo",), ("datasets",)}


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(_leaves(sub, (*path, name)))
    return out or {path: parser}


def _run(capsys, args: list[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def _errors(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if line.startswith("error:"))


@pytest.mark.parametrize("args,says", CASES, ids=lambda a: " ".join(a)[:60] if isinstance(a, list) else None)
def test_cli_errors_name_flags_not_python(files, capsys, args, says):
    argv = [a.replace("{d}", str(files)) for a in args]
    code, err = _run(capsys, argv)
    line = _errors(err)
    assert code == 2 and line, err
    assert says in line, line
    assert not PYTHON.findall(line), f"Python syntax in: {line}"
    assert "Traceback" not in err
    assert not (files / "x").exists()


def test_every_subcommand_has_an_error_path_without_python(files, capsys):
    """Subcommands without a case above (added later, say) are run on a store that does not exist
    (those that need none, such as ``token list``, may succeed)."""
    covered = {tuple(a[:2]) if a[0] in ("ingest", "link", "token", "access") else (a[0],) for a, _ in CASES}
    leaves = _leaves(build_parser())
    assert {("ingest", "edgelist"), ("ingest", "cave-files"), ("link", "neurons"), ("train",), ("serve",)} <= set(leaves)
    for path, parser in leaves.items():
        if path in covered or path in _LONG:
            continue
        argv = list(path)
        for action in parser._actions:
            if not action.option_strings and action.dest != "help":
                n = 1 if action.nargs in (None, "?", "+") else (action.nargs if isinstance(action.nargs, int) else 0)
                argv += [str(files / "no_such_store")] * max(n, 1 if action.nargs == "+" else n)
            elif action.required:
                argv += [action.option_strings[0], "x"]
        try:
            _, err = _run(capsys, argv)
        except SystemExit:  # argparse refused the made-up arguments: its own words, no Python
            err = capsys.readouterr().err
        assert not PYTHON.findall(err), f"{' '.join(path)}: Python syntax in: {err}"


def test_render_error_rewrites_python_advice():
    flags = {"columns": "--map", "duplicates": "--duplicates", "voxel_resolution": "--voxel-resolution",
             "dataset": "--source", "isolated": {"drop": "--nodes-in-edges", "keep": "--keep-isolated"}}
    cases = {
        "Map your columns, e.g. columns={'pre': 'pre_root_id', 'weight': 'synapse_count'}.":
            "Map your columns, e.g. --map pre=pre_root_id weight=synapse_count.",
        "voxel_resolution must be three positive numbers (nm per voxel), not (4, 4)":
            "--voxel-resolution must be three positive numbers (nm per voxel), not (4, 4)",
        "keep them with isolated='keep', or drop them with isolated='drop'":
            "keep them with --keep-isolated, or drop them with --nodes-in-edges",
        "ids: 3 unknown; check them with cx.ids_of(c, ...), or pass dataset= to show them anyway":
            "ids: 3 unknown; pass --source to show them anyway",
        "ids lost digits (e.g. pandas.read_csv(..., dtype={...: 'uint64'})); write them as integers":
            "ids lost digits; write them as integers",
        "nodes: 3 id(s) missing; add them, or pass missing_nodes='add'": "nodes: 3 id(s) missing; add them",
    }
    for python, cli in cases.items():
        got = render_error(python, flags)
        assert got == cli, (python, got)
        assert not python_syntax(got)
