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

BIG = ["720575940621039145", "720575940626960862", "720575940615043368", "9223372036854775803"]  # up to 2**63-1


@pytest.fixture()
def fly_store(tmp_path) -> Path:
    """A FlyWire-like store (ids above 2**53, a feed-forward loop, labels and a predicted column)."""
    ids = np.array([int(x) for x in BIG], dtype="uint64")
    nodes = pd.DataFrame({"root_id": ids, "cell_type": ["KC", "KC", "MBON", "DAN"],
                          "predicted": ["KC", "MBON", "MBON", "DAN"], "probability": [0.9, 0.5, 0.8, 0.7]})
    edges = pd.DataFrame({"pre_root_id": ids[[0, 1, 0, 2]], "post_root_id": ids[[1, 2, 2, 3]],
                          "synapse_count": [12, 7, 5, 9]})
    path = tmp_path / "flywire_toy"
    cx.from_edges(edges, nodes, name="flywire_toy", manifest={"source": {"datastack": "flywire_fafb_public"},
                                                              "version": {"materialization": 783}}).save(path)
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
    assert len(urls) == 1 and urls[0].startswith("https://ngl.flywire.ai/#!")  # a FlyWire store: FlyWire's viewer
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
    assert out.stdout.startswith("https://ngl.flywire.ai/#!")  # a FlyWire store: FlyWire's viewer


@pytest.mark.parametrize("args,message", [
    (["link", "neurons", "{store}", BIG[0], "999"], "error: root_ids: 1 id(s) not in flywire_toy: 999;"),
    (["link", "neurons", "{store}", BIG[0], "--prefix", "ngl.flywire.ai"], "error: --prefix: 'ngl.flywire.ai' is not a viewer URL"),
    (["link", "neurons", "{store}", BIG[0], BIG[2], "--color-by", "cell_type", "--colors", "KC=red"],
     "error: --colors: no colour for label(s) 'MBON'"),
    (["link", "motifs", "{store}"], "error: --matches: give --matches FILE or --query TEXT"),
    (["link", "neurons", "celegans_cook2019_herm", "1"], "error: root_ids: 1 id(s) not in celegans_cook2019_herm"),
])
def test_errors_are_one_line(cli, fly_store, args, message):
    out = cli(*[a.replace("{store}", str(fly_store)) for a in args])
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.startswith(message), out.stderr
    assert out.stderr.count("\n") == 1


def test_the_installed_command_names_unknown_ids(fly_store):
    out = run_cli("link", "neurons", str(fly_store), BIG[0], "999", "9223372036854775807")
    assert out.returncode == 2
    assert out.stderr.startswith("error: root_ids: 2 id(s) not in flywire_toy: 999, 9223372036854775807;")
    out = run_cli("link", "neurons", str(fly_store), BIG[0], "18446744073709551615")  # not an int64: refused
    assert out.returncode == 2 and "id 18446744073709551615 is 2**63 or more; root ids are int64" in out.stderr


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
    assert out.stdout.startswith("https://ngl.flywire.ai/")  # FlyWire's volumes: FlyWire's viewer


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
    assert all(urllib.parse.urlsplit(u).netloc == "ngl.flywire.ai" for u in urls)  # FlyWire volumes, FlyWire viewer
    assert "link: this link loads" in out.stderr and "127.0.0.1:8000" in out.stderr  # says it only works here


# ---------------------------------------------------------------------- issue 16: links that show what they claim
PINKY = ["648518346349538235", "648518346349539462"]
MINNIE = ["864691135000000001", "864691135000000002"]


def test_a_pinky100_export_links_to_pinky100_not_minnie65(cli, tmp_path):
    pd.DataFrame({"pre_pt_root_id": PINKY, "post_pt_root_id": PINKY[::-1], "syn_count": [3, 4]}).to_csv(
        tmp_path / "conn.csv", index=False)
    store = tmp_path / "pinky"
    out = cli("ingest", "cave-files", "--connections", str(tmp_path / "conn.csv"), "--preset", "microns",
              "--datastack", "pinky100", "--version", "185", "--out", str(store))
    assert out.returncode == 0, out.stderr
    m = cx.load(store).manifest
    assert m.title == "CAVE datastack pinky100 (release v185)" and "minnie65" not in m.title
    # pinky100's voxel frame (4 x 4 x 40 nm, the frame of its released tables and volumes) is taken from the
    # known datastacks table, not assumed from the microns preset: said on stderr and recorded
    assert m.voxel_resolution_nm == [4.0, 4.0, 40.0] and m.source["voxel_resolution_from"] == "known datastacks table"
    assert "voxel resolution of datastack pinky100" in out.stderr
    out = cli("link", "neurons", str(store), *PINKY, "--states", str(tmp_path / "s"), "--json",
              "--state-server", "https://connectome.lab.example.org/v1/states")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    urls = {layer["name"]: layer["source"][0]["url"] for layer in res["state"]["layers"]}
    assert urls == {"em": "precomputed://gs://microns_public_datasets/pinky100_v0/son_of_alignment_v15_rechunked",
                    "pinky100": "precomputed://gs://microns_public_datasets/pinky100_v185/seg"}
    assert res["warnings"] == [] and "warning:" not in out.stderr
    # the same pinky ids with the microns preset alone would be shown in minnie65: refused (issue 23, item 8)
    out = cli("ingest", "cave-files", "--connections", str(tmp_path / "conn.csv"), "--preset", "microns",
              "--version", "661", "--out", str(tmp_path / "wrong"))
    assert out.returncode == 2 and "are pinky100 ids (6485183...), not ids of microns" in out.stderr
    # a MICrONS materialization without a static segmentation: said on stderr and in --json
    pd.DataFrame({"pre_pt_root_id": MINNIE, "post_pt_root_id": MINNIE[::-1], "syn_count": [3, 4]}).to_csv(
        tmp_path / "minnie.csv", index=False)
    out = cli("ingest", "cave-files", "--connections", str(tmp_path / "minnie.csv"), "--preset", "microns",
              "--version", "661", "--out", str(tmp_path / "m661"))
    assert out.returncode == 0, out.stderr
    out = cli("link", "neurons", str(tmp_path / "m661"), *MINNIE, "--states", str(tmp_path / "s"), "--json",
              "--state-server", "https://connectome.lab.example.org/v1/states")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert len(res["warnings"]) == 1 and "version 661, which has no public static segmentation" in res["warnings"][0]
    assert "warning: dataset: microns_release_v661 is microns version 661" in out.stderr


def test_an_unknown_datastack_names_source(cli, tmp_path):
    path = tmp_path / "fanc"
    cx.from_edges(pd.DataFrame({"pre_root_id": [1], "post_root_id": [2], "synapse_count": [3]}), name="fanc",
                  manifest={"source": {"datastack": "fanc_production_mar2021"}}).save(path)
    out = cli("link", "neurons", str(path), "1", "2", "--states", str(tmp_path / "s"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("error: --source: fanc comes from datastack 'fanc_production_mar2021'")
    assert "--source" in out.stderr
    out = cli("link", "neurons", str(path), "1", "2", "--states", str(tmp_path / "s"),
              "--source", "precomputed://gs://bucket/fanc_seg")
    assert out.returncode == 0, out.stderr


def test_link_says_when_it_opens_only_on_this_machine(cli, fly_store, tmp_path, monkeypatch):
    monkeypatch.delenv("CONNECTOME_STATE_SERVER", raising=False)
    monkeypatch.delenv("CONNECTOME_VIEWER", raising=False)
    args = ["link", "neurons", str(fly_store), BIG[0], BIG[1], "--color-by", "cell_type",
            "--states", str(tmp_path / "s")]
    out = cli(*args)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("https://ngl.flywire.ai/#!")  # a FlyWire store opens in FlyWire's viewer
    warning = [line for line in out.stderr.splitlines() if line.startswith("warning: link:")]
    assert len(warning) == 1
    assert "segment labels from http://127.0.0.1:8000, a loopback address: it opens only on this machine" in warning[0]
    res = json.loads(cli(*args, "--max-length", "0", "--json").stdout)
    assert res["stored"] and res["link"].startswith("https://ngl.flywire.ai/?json_url=http://127.0.0.1:8000/")
    assert any("loads its state and its segment labels from http://127.0.0.1:8000" in w for w in res["warnings"])
    # a shared state server: --state-server or CONNECTOME_STATE_SERVER
    out = cli(*args, "--state-server", "https://connectome.lab.example.org/v1/states", "--max-length", "0")
    assert out.returncode == 0 and "warning:" not in out.stderr
    assert out.stdout.startswith("https://ngl.flywire.ai/?json_url=https://connectome.lab.example.org/v1/states/")
    monkeypatch.setenv("CONNECTOME_STATE_SERVER", "https://connectome.lab.example.org/v1/states")
    out = cli(*args, "--prefix", "neuroglancer-demo")
    assert out.returncode == 0 and "warning:" not in out.stderr
    assert out.stdout.startswith("https://neuroglancer-demo.appspot.com/#!")  # --prefix still chooses


def test_color_by_a_label_no_selected_neuron_has_warns(cli, tmp_path):
    ids = np.array([int(x) for x in BIG[:3]], dtype="uint64")
    nodes = pd.DataFrame({"root_id": ids, "cell_type": [None, None, "KC"], "primary_type": ["oviIN", "oviIN", None],
                          "side": ["left", "right", "left"]})
    path = tmp_path / "fw"
    cx.from_edges(pd.DataFrame({"pre_root_id": ids[:2], "post_root_id": ids[1:], "synapse_count": [5, 6]}), nodes,
                  name="fw", manifest={"source": {"kind": "flywire-codex"}, "version": {"materialization": 783}}
                  ).save(path)
    out = cli("link", "neurons", str(path), BIG[0], BIG[1], "--color-by", "cell_type", "--json",
              "--states", str(tmp_path / "s"), "--state-server", "https://connectome.lab.example.org/v1/states")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    expected = ("color_by: none of the 2 selected neurons has a value in 'cell_type', so all are drawn in grey "
                "(#808080); columns with values for them: primary_type (2 of 2), side (2 of 2); colour by one of "
                "those with color_by= (CLI: --color-by)")
    assert res["warnings"] == [expected]
    assert f"warning: {expected}" in out.stderr
    seg = [layer for layer in res["state"]["layers"] if layer["type"] == "segmentation"][0]
    assert set(seg["segmentColors"].values()) == {"#808080"}
    out = cli("link", "neurons", str(path), BIG[0], BIG[2], "--color-by", "cell_type", "--states",
              str(tmp_path / "s"), "--state-server", "https://connectome.lab.example.org/v1/states")
    assert out.returncode == 0 and "warning:" not in out.stderr  # one of them has a cell_type: no warning
