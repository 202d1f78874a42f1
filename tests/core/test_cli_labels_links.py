"""``--labels`` (one option for every command that shows node labels) and ``--link`` on a dataset without a
volume (issue 23, "Also from the same run").

- FlyWire users switch the label shown between ``primary_type``, ``cell_type`` and ``hemibrain_type``:
  ``--labels COLUMN[,COLUMN]`` chooses it in ``partners``, ``paths``, ``influence``, ``layers``, ``similar``,
  ``cluster`` and ``match``; a column the store lacks is refused (exit 2, nothing printed) with close names.
- ``--link`` on a dataset with no known volume (C. elegans) used to print the whole table and then exit 2;
  now the volume is resolved first: exit 2 and nothing on stdout.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.cli import main

DS = "celegans_cook2019_herm"
#: FlyWire-style ids above 2**53 (float64 would change them)
IDS = np.array([720575940621039145, 720575940621039146, 720575940621039147, 720575940621039148,
                720575940621039149, 720575940621039150], dtype=np.uint64)
COMMANDS = ("partners", "paths", "influence", "layers", "similar", "cluster", "match")


@pytest.fixture(scope="module")
def flywire_store(tmp_path_factory):
    """Six FlyWire-style neurons with the three label columns FlyWire users switch between."""
    a, b, c, d, e, f = (int(x) for x in IDS)
    edges = pd.DataFrame({"pre_root_id": [a, a, b, c, d, e, f, b], "post_root_id": [b, c, c, d, e, f, a, e],
                          "synapse_count": [12, 7, 9, 30, 6, 11, 8, 5]})
    nodes = pd.DataFrame({"root_id": IDS, "primary_type": ["ORN_DA1", "DA1_lPN", "LHAV4a4", "ORN_DA1", "DA1_lPN",
                                                           "LHAV4a4"],
                          "cell_type": ["ORN_DA1", "DA1_lPN", None, "ORN_DA1", "DA1_lPN", None],
                          "hemibrain_type": ["hb_ORN", "hb_PN", "hb_LHN", "hb_ORN", "hb_PN", "hb_LHN"],
                          "side": ["left", "left", "left", "right", "right", "right"]})
    path = tmp_path_factory.mktemp("fw-labels") / "fw"
    cx.from_edges(edges.astype({"pre_root_id": np.uint64, "post_root_id": np.uint64}), nodes).save(path)
    return str(path)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["--no-progress", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def _csv(text: str) -> pd.DataFrame:
    """The CSV table of a command's stdout (after the summary lines that cluster and match print first)."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.split(",")[0] in ("root_id", "a_root_id", "query_root_id",
                                                                          "path_id", "source_root_id"))
    return pd.read_csv(io.StringIO("\n".join(lines[start:])), dtype=str)


def test_labels_chooses_the_label_shown_in_partners_and_paths(flywire_store, capsys):
    rc, out, err = _run(capsys, "partners", flywire_store, "primary_type=ORN_DA1", "--labels", "hemibrain_type")
    assert rc == 0, err
    t = _csv(out)
    assert "partner_hemibrain_type" in t.columns and "partner_cell_type" not in t.columns, t.columns
    assert set(t["partner_root_id"]) <= {str(int(x)) for x in IDS}  # exact ids, as text
    assert set(t["partner_hemibrain_type"]) <= {"hb_ORN", "hb_PN", "hb_LHN"}

    rc, out, err = _run(capsys, "partners", flywire_store, "primary_type=ORN_DA1", "--labels",
                        "primary_type,cell_type")
    assert rc == 0, err
    assert {"partner_primary_type", "partner_cell_type"} <= set(_csv(out).columns)

    rc, out, err = _run(capsys, "paths", flywire_store, "--sources", "primary_type=ORN_DA1", "--targets",
                        "primary_type=LHAV4a4", "--shortest", "--labels", "primary_type")
    assert rc == 0, err
    t = _csv(out)
    assert "primary_type" in t.columns and "hemibrain_type" not in t.columns and "side" not in t.columns
    assert set(t["root_id"]) <= {str(int(x)) for x in IDS}


def test_labels_in_similar_cluster_and_match(flywire_store, capsys):
    rc, out, err = _run(capsys, "similar", flywire_store, "--where", "primary_type=ORN_DA1", "--top-k", "2",
                        "--labels", "hemibrain_type")
    assert rc == 0, err
    assert "similar_hemibrain_type" in _csv(out).columns

    rc, out, err = _run(capsys, "cluster", DS, "--where", "super_class=motor", "--method", "ward", "--n-clusters",
                        "3", "--labels", "name,cell_type")
    assert rc == 0, err
    t = _csv(out)
    assert list(t.columns) == ["root_id", "cluster", "name", "cell_type"]
    assert t["name"].notna().all()

    rc, out, err = _run(capsys, "match", DS, "--method", "bisected", "--labels", "name")
    assert rc == 0, err
    t = _csv(out)
    assert {"a_name", "b_name"} <= set(t.columns)
    assert (t["a_name"].str[:-1] == t["b_name"].str[:-1]).mean() > 0.5  # AVAL <-> AVAR ...

    rc, out, err = _run(capsys, "influence", DS, "--sources", "name=AVAL", "--top", "3", "--labels", "name")
    assert rc == 0, err
    assert "target_name" in _csv(out).columns and "target_cell_type" not in _csv(out).columns


@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_label_column_is_refused_with_close_names(flywire_store, capsys, command):
    select = {"partners": ["primary_type=ORN_DA1"],
              "paths": ["--sources", "primary_type=ORN_DA1", "--targets", "primary_type=LHAV4a4"],
              "influence": ["--sources", "primary_type=ORN_DA1"], "layers": ["--seeds", "primary_type=ORN_DA1"],
              "similar": ["--where", "primary_type=ORN_DA1"], "cluster": ["--method", "leiden"],
              "match": ["--method", "bisected"]}[command]
    rc, out, err = _run(capsys, command, flywire_store, *select, "--labels", "hemibrain_typ")
    assert rc == 2, (out, err)
    assert out == ""
    assert "hemibrain_typ" in err and "hemibrain_type" in err and "--labels" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["partners", DS, "cell_type=AVA", "--direction", "upstream", "--min-synapses", "5", "--link"],
    ["paths", DS, "--sources", "name=ASHL", "--targets", "name=AVAL", "--shortest", "--link"],
    ["influence", DS, "--sources", "name=AVAL", "--top", "3", "--link"],
    ["layers", DS, "--seeds", "name=ASHL", "--iterations", "10", "--link"],
    ["cluster", DS, "--where", "super_class=motor", "--method", "ward", "--n-clusters", "3", "--link"],
    ["match", DS, "--method", "bisected", "--link"],
], ids=lambda a: a[0])
def test_link_without_a_volume_fails_before_anything_is_printed(capsys, args):
    rc, out, err = _run(capsys, *args)
    assert rc == 2
    assert out == "", "the table was printed before the link failed"
    assert "no image or segmentation volume is known" in err and "--source" in err, err


def test_link_of_ids_from_another_volume_fails_before_anything_is_printed(tmp_path, capsys):
    """pinky100 ids shown in the minnie65 volume (``--source microns``): refused before the table is printed."""
    ids = [648518346349538157, 648518346349539887, 648518346349538176]
    edges = pd.DataFrame({"pre_root_id": ids[:2], "post_root_id": ids[1:], "synapse_count": [4, 6]})
    cx.from_edges(edges.astype({"pre_root_id": np.uint64, "post_root_id": np.uint64})).save(tmp_path / "pinky")
    rc, out, err = _run(capsys, "partners", str(tmp_path / "pinky"), str(ids[0]), "--link", "--source", "microns")
    assert rc == 2 and out == "", (out, err)
    assert "pinky100" in err and "--source" in err, err
    rc, out, err = _run(capsys, "partners", str(tmp_path / "pinky"), str(ids[0]), "--link", "--source", "pinky100")
    assert rc == 0, err
    assert out.splitlines()[1].split(",")[2] == str(ids[1])  # the partner's id, exact (above 2**53)
