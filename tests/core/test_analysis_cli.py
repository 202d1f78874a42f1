"""`connectome stats`, `census` and `motifs` from the command line, and the motif example."""

from __future__ import annotations

import json

import pandas as pd

import connectome as cx
from helpers import ROOT, run_cli, run_python


def test_stats_cli(tmp_path):
    out = run_cli("stats", "celegans_cook2019_herm", "--min-synapses", "2", "--out", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    assert "reciprocity:" in out.stdout and "exact" in out.stdout
    s = json.loads((tmp_path / "s" / "stats.json").read_text())
    assert s == json.loads(json.dumps(cx.stats(cx.load("celegans_cook2019_herm"), min_synapses=2)))
    d = pd.read_csv(tmp_path / "s" / "in_degree_distribution.csv")
    assert int(d["count"].sum()) == 473


def test_census_cli_with_null(tmp_path):
    out = run_cli("census", "celegans_witvliet2021_8", "--null", "reciprocal_er", "--n", "8", "--seed", "4",
                  "--out", str(tmp_path / "c"))
    assert out.returncode == 0, out.stderr
    t = pd.read_csv(tmp_path / "c" / "motif_significance.csv", dtype={"motif": str})
    ref = cx.motif_significance(cx.load("celegans_witvliet2021_8"), null="reciprocal_er", n=8, seed=4).table
    pd.testing.assert_frame_equal(t, ref, check_dtype=False)
    assert (tmp_path / "c" / "motif_profile.png").stat().st_size > 10_000
    plain = run_cli("census", "celegans_witvliet2021_8")
    assert plain.returncode == 0 and "030T" in plain.stdout


def test_motifs_cli(tmp_path):
    q = tmp_path / "ffl.motif"
    q.write_text("A -> B [weight >= 5]\nB -> C [weight >= 5]\nA -> C [weight >= 5]\n")
    out = run_cli("motifs", "celegans_cook2019_herm", "--query-file", str(q), "--out", str(tmp_path / "m.csv"))
    assert out.returncode == 0, out.stderr
    got = pd.read_csv(tmp_path / "m.csv", dtype=str)
    ref = cx.find_motifs(cx.load("celegans_cook2019_herm"), q.read_text()).astype(str)
    pd.testing.assert_frame_equal(got, ref)
    count = run_cli("motifs", "celegans_cook2019_herm", "--query", "A -> B; B -> A", "--count",
                    "--exclude-automorphisms")
    assert count.returncode == 0 and int(count.stdout) == 669
    both = run_cli("motifs", "celegans_cook2019_herm", "--query", "A -> B [weight >= 10]; B -> C [weight >= 10]",
                   "--count", "--ignore-direction")
    assert int(both.stdout) == cx.count_motifs(cx.load("celegans_cook2019_herm"),
                                               "A -> B [weight >= 10]\nB -> C [weight >= 10]", ignore_direction=True)


def test_motif_errors_from_cli():
    bad = run_cli("motifs", "celegans_cook2019_herm", "--query", "A -> B; B => C")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: motif query: unexpected character '=' (line 2, column 3)")  # line 2 is 'B => C'
    unknown = run_cli("motifs", "celegans_cook2019_herm", "--query", 'A -> B; A.celltype == "AVA"')
    assert unknown.returncode == 2 and "node attributes:" in unknown.stderr
    typo = run_cli("motifs", "celegans_cook2019_herm", "--query", 'A -> B; A.cell_type == "AVX"', "--count")
    assert typo.returncode == 0 and int(typo.stdout) == 0  # a 0 count, with the reason on stderr
    assert "no node has cell_type='AVX'; close values of cell_type" in typo.stderr


def test_query_text_and_query_files_are_never_confused(tmp_path):
    """--query takes text, --query-file a path; a file name given as text is refused with a word about it."""
    missing = run_cli("motifs", "celegans_cook2019_herm", "--query", "nofile.txt")
    assert missing.returncode == 2 and "looks like a file name" in missing.stderr and "--query-file" in missing.stderr
    assert "unexpected end of input" not in missing.stderr
    q = tmp_path / "pair.motif"
    q.write_text("A -> B\nB -> A\n")
    as_text = run_cli("motifs", "celegans_cook2019_herm", "--query", str(q), "--count")
    assert as_text.returncode == 2 and f"--query-file {q}" in as_text.stderr
    no_file = run_cli("motifs", "celegans_cook2019_herm", "--query-file", str(tmp_path / "none.motif"), "--count")
    assert no_file.returncode == 2 and "--query-file" in no_file.stderr and "does not exist" in no_file.stderr
    both = run_cli("motifs", "celegans_cook2019_herm", "--query", "A -> B", "--query-file", str(q))
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_motif_example():
    out = run_python(str(ROOT / "examples" / "motif_query.py"))
    assert out.returncode == 0, out.stderr
    assert "feed-forward loops onto AVA" in out.stdout and "count without materialising: 233" in out.stdout


def test_census_cli_null_defaults_to_degree_reciprocal(tmp_path):
    import argparse

    from connectome.analysis_cli import register

    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command"))
    assert p.parse_args(["census", "x", "--null"]).null == "degree_reciprocal"
    assert p.parse_args(["census", "x"]).null is None  # no --null: the plain census
    helptext = p._subparsers._group_actions[0].choices["census"].format_help()
    assert "default degree_reciprocal" in " ".join(helptext.split())
    out = run_cli("census", "celegans_witvliet2021_8", "--null", "--n", "3", "--out", str(tmp_path / "c"))
    assert out.returncode == 0, out.stderr
    assert "null model: degree_reciprocal" in out.stdout
    meta = json.loads((tmp_path / "c" / "motif_significance.json").read_text())
    assert meta["null"] == "degree_reciprocal" and meta["params"]["null"] == "degree_reciprocal"
    plain = run_cli("census", "celegans_cook2019_herm", "--null", "degree", "--n", "3")
    assert plain.returncode == 0, plain.stderr
    assert "null='degree' breaks mutual pairs" in plain.stderr and "null model: degree" in plain.stdout
