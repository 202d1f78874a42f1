"""The ingest commands of the README and of the ingest guide (docs/guides/ingest.md: the command-line
list, "Bring your own export", the CAVE release-file line) really work: each is run as written, on small
files of the shapes the docs describe."""

from __future__ import annotations

import re
import shlex

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.store import read_table
from helpers import ROOT, run_cli

INGESTS = ("edgelist", "cave-files", "codex", "neuprint")
#: where the commands are written: the README's command-line example, then the ingest guide
DOCS = ("README.md", "docs/guides/ingest.md")


def _commands(section: str | None = None, docs: tuple[str, ...] = DOCS) -> list[list[str]]:
    """``connectome ingest <file source>`` / ``connectome info stores/...`` lines of the docs' bash blocks
    (each once, in the order of first appearance)."""
    out = []
    for doc in docs:
        text = (ROOT / doc).read_text()
        if section is not None:
            if f"## {section}" not in text:
                continue
            start = text.index(f"## {section}")
            end = text.find("\n## ", start + 1)
            text = text[start:end if end > 0 else None]
        out += _bash_commands(text)
    return [list(c) for c in dict.fromkeys(tuple(c) for c in out)]


def _bash_commands(text: str) -> list[list[str]]:
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            if not line.startswith("connectome ingest") and not line.startswith("connectome info stores/"):
                continue
            words = shlex.split(line, comments=True)
            if (words[1:2] == ["ingest"] and words[2] in INGESTS) or (words[1:2] == ["info"]
                                                                      and words[2].startswith("stores/")):
                out.append(words[1:])
    return out


def _files(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """The files the README's commands name, as small tables of the shapes it describes."""
    fw_ids = np.arange(6, dtype=np.uint64) + np.uint64(720575940600000000)
    fw_all = np.concatenate([fw_ids, np.arange(200, dtype=np.uint64) + np.uint64(720575940610000000)])
    n = 50
    pinky = pd.DataFrame({"id": np.arange(n) + 1, "presyn_segid": rng.choice([648518346349538001, 648518346349538002], n),
                          "postsyn_segid": rng.choice([648518346349538003, 648518346349538004], n)})
    for p in ("ctr", "pre", "post"):
        for a in "xyz":
            pinky[f"{p}_pos_{a}_vx"] = rng.integers(1, 40_000 if a != "z" else 2_000, n)
    pinky["spine_vol_um3"] = rng.random(n).round(5)
    pinky["cleft_vx"] = rng.integers(20, 400, n)
    pni = pd.DataFrame({"id": np.arange(n) + 1, "pre_pt_root_id": rng.choice([864691135000000001, 864691135000000002], n),
                        "post_pt_root_id": rng.choice([864691135000000003, 864691135000000004], n),
                        "ctr_pt_position": [f"[{x} {y} {z}]" for x, y, z in rng.integers(1, 1000, (n, 3))],
                        "size": rng.integers(50, 500, n)})
    return {
        "pinky_synapses.csv": pinky,
        "fw_connections.csv": pd.DataFrame({"pre_root": fw_ids[[0, 1, 2, 3, 4]], "post_root": fw_ids[[1, 2, 3, 4, 5]],
                                            "neuropil": ["ME_R", "LO_R", "ME_R", "AL_L", "AL_L"],
                                            "syn_count": [12, 5, 7, 30, 9], "nt_type": ["ACH", "GABA", "ACH", "GLUT",
                                                                                        "ACH"]}),
        "fw_neurons.csv": pd.DataFrame({"root_id": fw_all, "primary_type": [f"T{i % 17}" for i in range(len(fw_all))],
                                        "super_class": "central", "side": "left"}),
        "my.csv": pd.DataFrame({"from": [1, 2, 3], "to": [2, 3, 1], "n": [4, 5, 6]}),
        "labels.csv": pd.DataFrame({"root_id": range(1, 51), "cell_type": [f"c{i}" for i in range(50)]}),
        "connections.csv.gz": pd.DataFrame({"pre_root_id": fw_ids[:3], "post_root_id": fw_ids[1:4],
                                            "neuropil": "ME_R", "syn_count": [5, 6, 7], "nt_type": "ACH"}),
        "classification.csv.gz": pd.DataFrame({"root_id": fw_ids, "super_class": "optic", "class": "x",
                                               "cell_type": [f"T{i}" for i in range(6)], "side": "right"}),
        "edges.csv": pd.DataFrame({"bodyId_pre": [10, 11], "bodyId_post": [11, 10], "weight": [3, 8],
                                   "roi": ["MB", "LH"]}),
        "neurons.csv": pd.DataFrame({"bodyId": [10, 11], "type": ["KC", "APL"]}),
        "synapses_pni_2.csv": pni,
        # FlyWire's synapse release (Zenodo feather): CAVE columns, positions split per axis in 4 x 4 x 40 nm voxels
        "flywire_synapses_783.feather": pd.DataFrame({
            "id": np.arange(n) + 1, "pre_pt_root_id": rng.choice(fw_ids[:3], n).astype(np.int64),
            "post_pt_root_id": rng.choice(fw_ids[3:], n).astype(np.int64),
            **{f"post_pt_position_{a}": rng.integers(1, 50_000, n).astype(np.int32) for a in "xyz"},
            "cleft_score": rng.integers(50, 200, n).astype(np.int16),
            "connection_score": rng.random(n).astype(np.float32)}),
        "aibs_metamodel_celltypes_v661.csv": pd.DataFrame({
            "id": [1, 2], "pt_root_id": [864691135000000003, 864691135000000004],
            "classification_system": ["excitatory_neuron", "inhibitory_neuron"], "cell_type": ["23P", "BC"],
            "pt_position": ["[100 200 30]", "[110 210 31]"]}),
    }


@pytest.fixture()
def workdir(tmp_path):
    for name, df in _files(np.random.default_rng(16)).items():
        if name.endswith(".feather"):
            df.to_feather(tmp_path / name)
        else:
            df.to_csv(tmp_path / name, index=False)
    return tmp_path


def test_readme_ingest_commands_run(workdir, data_home):
    commands = _commands()
    assert len(commands) >= 6, commands
    byoe = _commands("Bring your own export")
    assert [c[:2] for c in byoe] == [["ingest", "cave-files"], ["ingest", "edgelist"], ["info", "stores/fw_subgraph"]]
    for words in commands:
        for w in words:
            if re.search(r"\.(csv|csv\.gz|feather)$", w):
                assert (workdir / w).is_file(), f"the test writes no {w} (named by the README's {' '.join(words)})"
        r = run_cli(*words, cwd=workdir)
        assert r.returncode == 0, (" ".join(words), r.stderr)
        assert "Traceback" not in r.stderr

    # MICrONS-style: ids mapped, ctr_pos in voxels at 4 x 4 x 40 nm (pinky100's frame), extra columns kept
    raw = pd.read_csv(workdir / "pinky_synapses.csv").set_index("id").sort_index()
    syn = read_table(workdir / "stores" / "pinky", "synapses").set_index("synapse_id").sort_index()
    keep = raw.index[raw["presyn_segid"] != raw["postsyn_segid"]]
    np.testing.assert_allclose(syn.loc[keep, "x_nm"].to_numpy(), raw.loc[keep, "ctr_pos_x_vx"].to_numpy() * 4.0)
    np.testing.assert_array_equal(syn.loc[keep, "spine_vol_um3"].to_numpy(), raw.loc[keep, "spine_vol_um3"].to_numpy())
    pinky = cx.load(workdir / "stores" / "pinky")
    assert pinky.manifest.source["renamed_columns"]["synapses"] == {"presyn_segid": "pre_pt_root_id",
                                                                    "postsyn_segid": "post_pt_root_id"}
    assert pinky.manifest.voxel_resolution_nm == [4.0, 4.0, 40.0] and pinky.manifest.species == "Mus musculus"

    # FlyWire-style: only the neurons of the connections, labels renamed, syn_count understood
    fw = cx.load(workdir / "stores" / "fw_subgraph")
    conn = pd.read_csv(workdir / "fw_connections.csv")
    assert fw.n_nodes == len(set(conn["pre_root"]) | set(conn["post_root"])) == 6
    assert fw.n_edges == len(conn) and int(fw.edge_table()["synapse_count"].sum()) == int(conn["syn_count"].sum())
    assert fw.node_table()["cell_type"].notna().all()
    assert fw.manifest.source["renamed_columns"]["edges"]["syn_count"] == "synapse_count"

    # FlyWire's synapse release: every synapse kept (no autapses in the file); edges are the pair counts at or
    # above the preset's threshold (FlyWire's own: 5 synapses), recorded in the manifest
    raw = pd.read_feather(workdir / "flywire_synapses_783.feather")
    fws = cx.load(workdir / "stores" / "fw_syn")
    assert len(fws.synapse_table(columns=["pre_root_id"])) == len(raw)
    pairs = raw.groupby(["pre_pt_root_id", "post_pt_root_id"]).size()
    strong = pairs[pairs >= fws.manifest.extra["min_synapses"]]
    assert fws.manifest.extra["min_synapses"] == 5 and 0 < len(strong) < len(pairs)
    assert fws.n_edges == len(strong) and int(fws.edge_table()["synapse_count"].sum()) == int(strong.sum())

    # the command-line list: --nodes-in-edges keeps the 3 neurons of my.csv, not the 50 of labels.csv
    assert cx.load(data_home / "mine").n_nodes == 3
