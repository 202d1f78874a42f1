"""`connectome link ...` / `connectome open ...`, the lazy import, and the example script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from helpers import ROOT, run_cli, run_python

BIG = ["720575940621039145", "720575940626960862", "720575940615043368", "18446744073709551611"]


@pytest.fixture()
def fly_store(tmp_path) -> Path:
    """A FlyWire-like store (ids above 2**53, a feed-forward loop, labels and a predicted column)."""
    ids = np.array([int(x) for x in BIG], dtype="uint64")
    nodes = pd.DataFrame({"root_id": ids, "cell_type": ["KC", "KC", "MBON", "DAN"],
                          "predicted": ["KC", "MBON", "MBON", "DAN"], "probability": [0.9, 0.5, 0.8, 0.7]})
    edges = pd.DataFrame({"pre_root_id": ids[[0, 1, 0, 2]], "post_root_id": ids[[1, 2, 2, 3]],
                          "synapse_count": [12, 7, 5, 9]})
    path = tmp_path / "flywire_toy"
    cx.from_edges(edges, nodes, name="flywire_toy", manifest={"version": {"materialization": 783}}).save(path)
    return path


class Out:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture()
def cli(capsys, caplog):
    """Run `connectome ...` in this process (the parser, plugins and error handling of the real command)."""
    from connectome.cli import main

    def run(*args: str) -> Out:
        capsys.readouterr()
        caplog.clear()
        try:
            code = main(list(args))
        except SystemExit as exc:  # --help, argparse errors
            code = int(exc.code or 0)
        res = capsys.readouterr()
        return Out(code, res.out, res.err + caplog.text)
    return run


def state_of(url: str, states: Path) -> dict:
    return cx.neuroglancer.resolve_link(url, store=cx.neuroglancer.StateStore(states))


@pytest.mark.parametrize("args", [["link"], ["link", "neurons"], ["link", "motifs"], ["link", "predictions"],
                                  ["link", "pair"], ["open"]], ids=" ".join)
def test_help(cli, args):
    out = cli(*args, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: connectome" in out.stdout


def test_link_motifs_from_a_match_file(cli, fly_store, tmp_path):
    pd.DataFrame({"A": [BIG[0]], "B": [BIG[1]], "C": [BIG[2]]}).to_csv(tmp_path / "m.csv", index=False)
    states = tmp_path / "states"
    out = cli("link", "motifs", str(fly_store), "--matches", str(tmp_path / "m.csv"), "--states", str(states),
                  "--colors", "A=red", "B=green", "C=blue", "--max-length", "0", "--prefix", "flywire", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["stored"] and res["link"].startswith("https://ngl.flywire.ai/?json_url=http://127.0.0.1:8000/v1/states/")
    assert (states / f"{res['state_id']}.json").is_file()
    seg = [layer for layer in res["state"]["layers"] if layer["name"] == "match 0"][0]
    assert seg["segments"] == sorted(BIG[:3], key=int)  # exact, as strings
    assert seg["segmentColors"][BIG[0]] == "#ff0000"


def test_link_motifs_from_a_query_in_one_call(fly_store, tmp_path):
    # the installed command (the motif engine's parser, dotmotif, leaves a file open at import)
    out = run_cli("link", "motifs", str(fly_store), "--query", "A -> B\\nB -> C\\nA -> C", "--each",
                  "--states", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    urls = out.stdout.split()
    assert len(urls) == 1 and urls[0].startswith("https://neuroglancer-demo.appspot.com/#!")
    state = state_of(urls[0], tmp_path / "s")
    seg = [layer for layer in state["layers"] if layer["type"] == "segmentation"][0]
    assert seg["segments"] == sorted(BIG[:3], key=int)


def test_link_predictions_from_file_and_from_node_column(cli, fly_store, tmp_path):
    pred = pd.DataFrame({"root_id": BIG[:3], "predicted": ["KC", "MBON", "KC"], "probability": [0.9, 0.6, 0.7]})
    pred.to_parquet(tmp_path / "p.parquet")
    out = cli("link", "predictions", str(fly_store), "--predictions", str(tmp_path / "p.parquet"),
                  "--truth", "cell_type", "--states", str(tmp_path / "s"), "--json")
    assert out.returncode == 0, out.stderr
    layers = {layer["name"]: layer for layer in json.loads(out.stdout)["state"]["layers"]}
    assert sorted(layers["disagreements"]["segments"]) == sorted([BIG[1], BIG[2]])
    # the predictions written back as a node column (what the GNN does)
    out = cli("link", "predictions", str(fly_store), "--truth", "cell_type", "--disagreements",
                  "--states", str(tmp_path / "s"), "--json")
    assert out.returncode == 0, out.stderr
    layers = {layer["name"]: layer for layer in json.loads(out.stdout)["state"]["layers"]}
    assert layers["disagreements"]["segments"] == [BIG[1]] and "predicted" not in layers


def test_link_neurons_and_pair(cli, fly_store, tmp_path):
    out = cli("link", "neurons", str(fly_store), BIG[0], BIG[3], "--color-by", "cell_type",
                  "--colors", "KC=red", "DAN=#0000ff", "--states", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    state = state_of(out.stdout.strip(), tmp_path / "s")
    seg = [layer for layer in state["layers"] if layer["type"] == "segmentation"][0]
    assert seg["segmentColors"] == {BIG[0]: "#ff0000", BIG[3]: "#0000ff"}
    out = cli("link", "pair", str(fly_store), BIG[0], BIG[1], "--states", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    assert "no synapse table" in out.stderr  # a warning, and the link still comes
    assert out.stdout.startswith("https://neuroglancer-demo.appspot.com/#!")


@pytest.mark.parametrize("args,message", [
    (["link", "neurons", "{store}", BIG[0], "999"], "error: root_ids: 1 id(s) not in flywire_toy: 999;"),
    (["link", "neurons", "{store}", BIG[0], "--prefix", "ngl.flywire.ai"], "error: prefix: 'ngl.flywire.ai' is not a viewer URL"),
    (["link", "neurons", "{store}", BIG[0], BIG[2], "--color-by", "cell_type", "--colors", "KC=red"],
     "error: colors: no colour for label(s) 'MBON'"),
    (["link", "motifs", "{store}"], "error: matches: give --matches FILE or --query TEXT"),
    (["link", "neurons", "celegans_cook2019_herm", "1"], "error: root_ids: 1 id(s) not in celegans_cook2019_herm"),
])
def test_errors_are_one_line(cli, fly_store, args, message):
    out = cli(*[a.replace("{store}", str(fly_store)) for a in args])
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.startswith(message), out.stderr
    assert out.stderr.count("\n") == 1


def test_the_installed_command_names_unknown_ids(fly_store):
    out = run_cli("link", "neurons", str(fly_store), BIG[0], "999", "18446744073709551615")
    assert out.returncode == 2
    assert out.stderr.startswith("error: root_ids: 2 id(s) not in flywire_toy: 999, 18446744073709551615;")


def test_open_serves_the_viewer_and_prints_its_url(shared_data):
    cutout = shared_data / "segmentation_pinky40_cutout" / "precomputed_256cube"
    exe = Path(sys.executable).with_name("connectome")
    proc = subprocess.Popen([str(exe), "open", str(cutout), "26386514", "--colors", "26386514=red",
                             "--seconds", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/v/" in url, proc.stderr.read() if not url else url
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and "<script" in r.read().decode()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_import_is_cheap_and_attribute_access_works():
    code = ("import sys, connectome as cx; assert 'neuroglancer' not in sys.modules; "
            "assert 'connectome.neuroglancer' not in sys.modules; "
            "u = cx.neuroglancer.link(None, [720575940621039145], dataset='flywire', colors='red'); "
            "assert 'neuroglancer' in sys.modules; print(u[:40])")
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("https://neuroglancer-demo.appspot.com/")


def test_example_script(tmp_path):
    out = run_python(str(ROOT / "examples" / "neuroglancer_links.py"), "--states", str(tmp_path / "s"),
                     timeout=600)
    assert out.returncode == 0, out.stderr
    assert "link for the top 3 matches:" in out.stdout and "layer 'disagreements'" in out.stdout
    urls = [line.strip() for line in out.stdout.splitlines() if line.strip().startswith("https://")]
    assert len(urls) >= 3
    for u in urls:
        state = cx.neuroglancer.resolve_link(u, store=cx.neuroglancer.StateStore(tmp_path / "s"))
        assert any(layer["type"] == "segmentation" for layer in state["layers"])
    assert os.listdir(tmp_path / "s")  # the prediction link's state was long enough to be stored
    assert all(urllib.parse.urlsplit(u).netloc == "neuroglancer-demo.appspot.com" for u in urls)
