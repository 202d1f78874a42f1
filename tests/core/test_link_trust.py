"""Links that show what they claim (issue 23, items 3 and 8): one viewer rule for every link kind, partner
links that say what they leave out, ids of another volume refused, a store resolution that differs from the
known volume's said."""

from __future__ import annotations

import json
import urllib.parse

import numpy as np
import pandas as pd
import pytest

import connectome as cx
from connectome.errors import IdNamespaceError
from connectome.neuroglancer import collect_warnings
from connectome.neuroglancer.paths import influence_link, layers_link, partner_link, path_link
from connectome.neuroglancer.similarity_links import cluster_link, match_link

FLY = np.array([720575940621039145, 720575940626960862, 720575940615043368, 720575940604407468,
                720575940619385765, 720575940630273530, 720575940628857210], dtype=np.int64)
PINKY = np.array([648518346349538157, 648518346349539887, 648518346349538235, 648518346349539462], dtype=np.int64)


def _store(ids, manifest, positions=True):
    """A chain 0 -> 1 -> 2 plus partners 3..n onto 0 (so 0 has many upstream partners)."""
    n = len(ids)
    pre = [ids[0], ids[1]] + list(ids[3:])
    post = [ids[1], ids[2]] + [ids[0]] * (n - 3)
    counts = [12, 9] + list(range(n - 3 + 2, 2, -1))
    edges = pd.DataFrame({"pre_root_id": pre, "post_root_id": post, "synapse_count": counts})
    nodes = pd.DataFrame({"root_id": ids, "cell_type": [f"t{i % 3}" for i in range(n)]})
    if positions:
        nodes = nodes.assign(x_nm=np.arange(n) * 400.0, y_nm=1000.0, z_nm=4000.0)
    return cx.from_edges(edges, nodes, name="toy", manifest=manifest)


FLYWIRE = {"source": {"datastack": "flywire_fafb_public"}, "version": {"materialization": 783}}


@pytest.fixture()
def fly(monkeypatch, tmp_path):
    monkeypatch.delenv("CONNECTOME_VIEWER", raising=False)
    monkeypatch.setenv("CONNECTOME_STATES", str(tmp_path / "states"))
    return _store(FLY, FLYWIRE)


def test_every_link_kind_of_a_flywire_store_opens_in_flywires_viewer(fly):
    a, b, c2 = (int(x) for x in FLY[:3])
    urls = {
        "neurons": cx.neuroglancer.link(fly, [a, b]),
        "path": path_link(fly, cx.shortest_paths(fly, [a], [c2])),
        "partners": partner_link(fly, cx.partners(fly, [a])),
        "influence": influence_link(fly, cx.influence(fly, [a])),
        "layers": layers_link(fly, cx.flow_layers(fly, [int(FLY[3])], n_iterations=20, seed=1, progress=False),
                              min_reached=0.0),
        "clusters": cluster_link(fly, pd.DataFrame({"root_id": FLY, "cluster": [0, 0, 1, 1, 2, 2, 2]})),
        "match": match_link(fly, pd.DataFrame({"a_root_id": [a], "b_root_id": [b]})),
    }
    hosts = {k: urllib.parse.urlsplit(u).netloc for k, u in urls.items()}
    assert set(hosts.values()) == {"ngl.flywire.ai"}, hosts
    # prefix= still wins, for every kind alike
    assert path_link(fly, cx.shortest_paths(fly, [a], [c2]), prefix="neuroglancer-demo").startswith(
        "https://neuroglancer-demo.appspot.com/")


def test_partner_links_say_how_many_partners_they_leave_out(fly):
    q = int(FLY[0])
    t = cx.partners(fly, [q])
    assert (t["direction"] == "upstream").sum() == len(FLY) - 3 + 0  # 0 <- 3..6 (and 0 -> 1 downstream)
    with collect_warnings(log=False) as found:
        url = partner_link(fly, t, top_k=2, prefix="neuroglancer-demo")
    assert found == ["link: shows 3 of the 5 partners (2 of 4 upstream, 1 of 1 downstream): the 2 with the most "
                     "synapses per query neuron and direction; top_k= (CLI: --top-k N, or --top-k all) shows more"]
    state = json.loads(urllib.parse.unquote(url.split("#!", 1)[1]))
    names = [layer["name"] for layer in state["layers"]]
    assert "upstream (top 2 per query: 2 of 4)" in names and "downstream" in names
    with collect_warnings(log=False) as found:
        partner_link(fly, t, top_k=None, prefix="neuroglancer-demo")
    assert found == []


def test_partners_cli_top_k(fly, tmp_path):
    from helpers import run_cli

    fly.save(tmp_path / "fw")
    q = str(FLY[0])
    r = run_cli("partners", str(tmp_path / "fw"), q, "--link", "--top-k", "2", env={"CONNECTOME_STATES":
                                                                                    str(tmp_path / "s")})
    assert r.returncode == 0, r.stderr
    assert "link: shows 3 of the 5 partners" in r.stderr and "neuroglancer: https://ngl.flywire.ai/" in r.stderr
    r = run_cli("partners", str(tmp_path / "fw"), q, "--link", "--top-k", "all",
                env={"CONNECTOME_STATES": str(tmp_path / "s")})
    assert r.returncode == 0 and "link: shows" not in r.stderr, r.stderr
    r = run_cli("partners", str(tmp_path / "fw"), q, "--link", "--top-k", "0")
    assert r.returncode == 2 and "--top-k" in r.stderr


def test_ids_of_another_volume_are_refused_when_a_link_is_built(monkeypatch, tmp_path):
    monkeypatch.setenv("CONNECTOME_STATES", str(tmp_path / "states"))
    # a pinky100 export ingested as minnie65 (the store records the wrong datastack)
    c = _store(PINKY, {"source": {"datastack": "minnie65_public"}, "version": {"materialization": 1300}})
    with pytest.raises(IdNamespaceError, match=r"are pinky100 ids \(6485183...\), not ids of microns"):
        cx.neuroglancer.link(c, [int(PINKY[0])])
    with pytest.raises(IdNamespaceError):
        partner_link(c, cx.partners(c, [int(PINKY[0])]))
    with pytest.raises(IdNamespaceError, match="not ids of flywire"):  # and FlyWire's volume for pinky ids
        cx.neuroglancer.link(None, [int(x) for x in PINKY], dataset="flywire")
    # the right volume is accepted; small ids (no volume claims them) pass anywhere
    cx.neuroglancer.link(c, [int(PINKY[0])], dataset="pinky100")
    cx.neuroglancer.link(None, [1, 2], dataset="flywire")


def test_a_store_resolution_that_differs_from_the_volumes_is_said_with_both(monkeypatch, tmp_path):
    monkeypatch.setenv("CONNECTOME_STATES", str(tmp_path / "states"))
    c = _store(PINKY, {"source": {"datastack": "pinky100"}, "version": {"materialization": 185},
                       "voxel_resolution_nm": [3.58, 3.58, 40.0]})
    with collect_warnings(log=False) as found:
        cx.neuroglancer.link(c, [int(PINKY[0])])
    assert any("records a voxel resolution of 3.58 x 3.58 x 40 nm, but the pinky100 volume's is 4 x 4 x 40 nm"
               in w for w in found), found
    ok = _store(PINKY, {"source": {"datastack": "pinky100"}, "version": {"materialization": 185},
                        "voxel_resolution_nm": [4.0, 4.0, 40.0]})
    with collect_warnings(log=False) as found:
        cx.neuroglancer.link(ok, [int(PINKY[0])])
    assert not any("voxel resolution" in w for w in found), found
