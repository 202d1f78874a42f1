"""The `connectome` command: --help everywhere, datasets, info, ingest, demo, and one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from helpers import ROOT, run_cli, run_python

SUBCOMMANDS = [[], ["datasets"], ["info"], ["demo"], ["ingest"], ["ingest", "celegans"], ["ingest", "larva"],
               ["ingest", "edgelist"], ["ingest", "codex"], ["ingest", "neuprint"], ["ingest", "cave-files"]]


@pytest.mark.parametrize("args", SUBCOMMANDS, ids=lambda a: " ".join(a) or "connectome")
def test_help_everywhere(args):
    out = run_cli(*args, "--help")
    assert out.returncode == 0, out.stderr
    assert "usage: connectome" in out.stdout


def test_datasets_json():
    out = run_cli("datasets", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert rows["celegans_cook2019_herm"]["location"] == "embedded"
    assert rows["celegans_cook2019_herm"]["nodes"] == 473
    assert rows["drosophila_larva_winding2023"]["edges"] == 119010


def test_info_and_verify():
    out = run_cli("info", "celegans_cook2019_herm", "--verify")
    assert out.returncode == 0, out.stderr
    assert "473" in out.stdout and "checksums:    all files match" in out.stdout
    js = json.loads(run_cli("info", "celegans_witvliet2021_8", "--json").stdout)
    assert js["edge_kinds"]["gap_junction"]["rows"] > 0


def test_ingest_edgelist_and_celegans(tmp_path, data_home):
    pd.DataFrame({"a": [1, 2], "b": [2, 3], "w": [5, 6]}).to_csv(tmp_path / "e.csv", index=False)
    out = run_cli("ingest", "edgelist", str(tmp_path / "e.csv"), "--name", "mine",
                  "--map", "a=pre_root_id", "b=post_root_id", "w=synapse_count")
    assert out.returncode == 0, out.stderr
    assert (data_home / "mine" / "CURRENT").is_file()
    assert "synapses:     11" in out.stdout
    out = run_cli("ingest", "celegans", "celegans_white1986_n2u", "--out", str(tmp_path / "n2u"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "n2u" / "CURRENT").is_file()


@pytest.mark.parametrize("args,message", [
    (["info", "celegans_cook2019"], "error: unknown dataset 'celegans_cook2019'; did you mean"),
    (["info", "/no/such/store"], "error: path: '/no/such/store' does not exist"),
    (["ingest", "edgelist", "/no/such.csv"], "error: edges: '/no/such.csv' does not exist"),
    (["ingest", "celegans", "celegans_nope"], "error: unknown dataset 'celegans_nope'"),
    (["--scheduler", "fast", "datasets"], "error: --scheduler: unknown value 'fast'"),
])
def test_errors_are_one_line_with_exit_code_2(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert out.stderr.startswith(message), out.stderr
    assert "Traceback" not in out.stderr


def test_bad_column_mapping_from_cli(tmp_path):
    pd.DataFrame({"a": [1], "b": [2], "w": [5]}).to_csv(tmp_path / "e.csv", index=False)
    out = run_cli("ingest", "edgelist", str(tmp_path / "e.csv"), "--out", str(tmp_path / "s"),
                  "--map", "a=pre_root_id", "b=post_root_id")
    assert out.returncode == 2
    assert "column 'synapse_count' not found in edges (columns: pre_root_id, post_root_id, w)" in out.stderr
    assert not (tmp_path / "s").exists()


def test_demo_runs_and_writes_results(tmp_path):
    out = run_cli("demo", "--out", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    assert "celegans_cook2019_herm" in out.stdout
    t = pd.read_csv(tmp_path / "demo" / "super_class_wiring.csv")
    assert {"pre_super_class", "post_super_class", "synapse_count"} <= set(t.columns)


def test_example_load_and_summarize():
    out = run_python(str(ROOT / "examples" / "load_and_summarize.py"))
    assert out.returncode == 0, out.stderr
    assert "celegans_cook2019_herm" in out.stdout and "CSR adjacency: (473, 473)" in out.stdout
