"""Partners, paths, influence and layers from the command line and over HTTP (a real server on
127.0.0.1), equal to the library, with Neuroglancer links."""

from __future__ import annotations

import json
import time
from urllib.parse import unquote

import pandas as pd
import pytest

import connectome as cx
from connectome.api.testing import ServiceProcess
from connectome.cli import main
from helpers import api_client

DS = "celegans_cook2019_herm"


@pytest.fixture(scope="module")
def c():
    return cx.load(DS)


def test_cli_partners_paths_influence_layers(c, tmp_path, capsys):
    assert main(["partners", DS, "name=AVAL", "--direction", "upstream", "--min-synapses", "5",
                 "--out", str(tmp_path / "p.csv")]) == 0
    p = pd.read_csv(tmp_path / "p.csv")
    ref = cx.partners(c, cx.ids_of(c, name="AVAL"), direction="upstream", min_synapses=5)
    assert p.partner_root_id.tolist() == ref.partner_root_id.astype("int64").tolist()
    capsys.readouterr()
    assert main(["paths", DS, "--sources", "name=ASHL", "--targets", "name=AS1", "--shortest", "--min-synapses",
                 "3"]) == 0
    out = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert out.path_id.nunique() == 9
    assert main(["influence", DS, "--sources", "name=AVAL", "--hops", "2", "--top", "5", "--signed",
                 "--out", str(tmp_path / "i.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "i.parquet")) == 5
    assert main(["layers", DS, "--seeds", "super_class=sensory", "--iterations", "50",
                 "--out", str(tmp_path / "l.csv")]) == 0
    lay = pd.read_csv(tmp_path / "l.csv")
    assert (lay[lay.super_class == "sensory"].layer_mean == 1).all()
    assert main(["paths", DS, "--sources", "name=ASHL", "--targets", "cell_type", "--max-hops", "2"]) == 2
    assert "neither a root id nor a selection" in capsys.readouterr().err
    assert main(["paths", DS, "--sources", "12", "--targets", "name=AVAL", "--max-hops", "2"]) == 2
    assert "sources: 1 id(s) not in celegans_cook2019_herm: 12" in capsys.readouterr().err


def test_path_links(c):
    p = cx.shortest_paths(c, cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AS1"), min_synapses=3)
    url = cx.neuroglancer.path_link(c, p, dataset="flywire")
    state = json.loads(unquote(url.split("#!", 1)[1]))
    names = [layer["name"] for layer in state["layers"]]
    assert "all paths" in names and "path 0" in names
    segs = next(layer for layer in state["layers"] if layer["name"] == "all paths")["segments"]
    assert set(segs) == {str(int(x)) for x in p.root_id.unique()}
    t = cx.partners(c, cx.ids_of(c, name="AVAL"), min_synapses=10)
    assert cx.neuroglancer.partner_link(c, t, dataset="flywire").startswith("https://")
    i = cx.influence(c, cx.ids_of(c, name="AVAL"), hops=2, signed=True, top=20)  # ASHL: glutamate, sign 0
    assert cx.neuroglancer.influence_link(c, i, dataset="flywire").startswith("https://")
    lay = cx.flow_layers(c, cx.ids_of(c, super_class="sensory"), n_iterations=20)
    assert cx.neuroglancer.layers_link(c, lay, dataset="flywire").startswith("https://")
    with pytest.raises(cx.errors.InputError, match="paths: no paths to show"):
        cx.neuroglancer.path_link(c, p.iloc[:0], dataset="flywire")


# --------------------------------------------------------------------------- HTTP
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-pathways")
    with ServiceProcess(root / "svc", cluster="threads", env={"CONNECTOME_HOME": str(root / "home"),
                                                             "CONNECTOME_PROGRESS": "0",
                                                             "CONNECTOME_API_MAX_PAGE_SIZE": "500"}) as sp:
        yield sp


@pytest.fixture(scope="module")
def api(server):
    with api_client(server) as client:
        yield client


def test_http_partners_paths_influence_layers_equal_library(api, c):
    aval = str(int(cx.ids_of(c, name="AVAL")[0]))
    r = api.get(f"/datasets/{DS}/partners", params={"ids": [aval], "direction": "upstream", "min_synapses": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    ref = cx.partners(c, [int(aval)], direction="upstream", min_synapses=5)
    assert [row["partner_root_id"] for row in body["rows"]] == [str(int(x)) for x in ref.partner_root_id]
    assert body["rows"][0]["fraction"] == pytest.approx(float(ref.fraction.iloc[0]))
    assert api.get(f"/datasets/{DS}/partners", params={"ids": [aval], "direction": "upstream",
                                                      "min_synapses": 5}).headers["x-cache"] == "hit"

    q = {"sources": {"select": {"name": "ASHL"}}, "targets": {"select": {"name": "AS1"}}, "min_synapses": 3,
         "link": True, "source": "flywire"}
    r = api.post(f"/datasets/{DS}/paths", json=q)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["paths"] == 9 and not body["truncated"] and body["link"].startswith("https://")
    assert {row["root_id"] for row in body["rows"]} == {str(int(x)) for x in cx.shortest_paths(
        c, cx.ids_of(c, name="ASHL"), cx.ids_of(c, name="AS1"), min_synapses=3).root_id}
    r = api.post(f"/datasets/{DS}/paths", json={**q, "count": True, "link": False})
    assert r.json()["counts"][0]["paths"] == 9
    r = api.post(f"/datasets/{DS}/paths", json={**q, "shortest": False, "max_hops": 3, "limit": 4, "link": False})
    assert r.json()["paths"] == 4 and r.json()["truncated"]

    r = api.post(f"/datasets/{DS}/influence", json={"sources": {"select": {"name": "ASHL"}}, "hops": 2, "top": 3})
    assert r.status_code == 200, r.text
    ref = cx.influence(c, cx.ids_of(c, name="ASHL"), hops=2, top=3)
    assert [row["target_root_id"] for row in r.json()["rows"]] == [str(int(x)) for x in ref.target_root_id]



def _wait(api, job_id: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = api.get(f"/jobs/{job_id}").json()
        if j["state"] in ("succeeded", "failed", "cancelled"):
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {j['state']} after {timeout} s")


def test_http_layers_is_a_job_equal_to_the_library(api, server, c):
    q = {"seeds": {"select": {"super_class": "sensory"}}, "n_iterations": 100, "seed": 2}
    r = api.post(f"/datasets/{DS}/layers", json=q)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "layers" and r.headers["location"] == f"/v1/jobs/{job['id']}"
    done = _wait(api, job["id"])
    assert done["state"] == "succeeded", done
    result = api.get(f"/jobs/{job['id']}/result").json()
    ref = cx.flow_layers(c, cx.ids_of(c, super_class="sensory"), n_iterations=100, seed=2)
    assert result["neurons"] == len(ref) and result["reached"] == int((ref.reached > 0).sum())
    assert result["rows_url"] == f"/v1/datasets/{DS}/layers/{job['id']}"
    # the same request on the same dataset version: the finished job (200), nothing new is queued
    again = api.post(f"/datasets/{DS}/layers", json=q)
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    assert job["id"] in [j["id"] for j in api.get("/jobs", params={"kind": "layers"}).json()["jobs"]]

    rows, cursor = [], None
    while True:  # paged read of the whole table, earliest layer first
        page = api.get(result["rows_url"][3:], params={"limit": 100, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body["rows"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert body["total"] == len(rows) == result["reached"] and body["version"] == done["params"]["version"]
    want = ref[ref.reached > 0].sort_values(["layer_mean", "root_id"], kind="stable")
    assert [row["root_id"] for row in rows] == [str(int(x)) for x in want.root_id]
    assert [row["layer_mean"] for row in rows] == want.layer_mean.tolist()  # bitwise: the same seeded traversal
    assert [row["hist_1"] for row in rows] == want.hist_1.tolist()
    linked = api.get(result["rows_url"][3:], params={"limit": 5, "link": True, "source": "flywire"}).json()
    assert linked["link"].startswith("https://") and len(linked["rows"]) == 5

    # signed traversal: a different job, the library's signed result
    rs = api.post(f"/datasets/{DS}/layers", json={**q, "signed": True})
    assert rs.status_code == 202, rs.text
    assert _wait(api, rs.json()["id"])["state"] == "succeeded"
    page = api.get(f"/datasets/{DS}/layers/{rs.json()['id']}", params={"limit": 500}).json()
    sref = cx.flow_layers(c, cx.ids_of(c, super_class="sensory"), n_iterations=100, seed=2, signed=True)
    sref = sref[sref.reached > 0].sort_values(["layer_mean", "root_id"], kind="stable")
    assert [row["layer_mean"] for row in page["rows"]] == sref.layer_mean.tolist()[:500]
    assert page["params"]["signed"] is True and page["params"]["sign_table"] == "CELEGANS_SIGNS"

    # a damaged table is never served: 410 with the reason, never a 500
    path = server.data_root / "results" / f"{job['id']}.layers.parquet"
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    try:
        r = api.get(f"/datasets/{DS}/layers/{job['id']}", params={"limit": 7})
        assert r.status_code == 410 and r.json()["error"]["code"] == "layers_corrupt", r.text
    finally:
        path.write_bytes(raw)


def test_http_layers_job_refusals(api, server):
    def err(r, status=400):
        assert r.status_code == status, r.text
        return r.json()["error"]

    def job_err(r):  # the seeds are resolved in the job, not in the request: unknown ones fail the job
        assert r.status_code == 202, r.text
        job = _wait(api, r.json()["id"])
        assert job["state"] == "failed", job
        return job["error"]

    e = job_err(api.post(f"/datasets/{DS}/layers", json={"seeds": {"root_ids": ["12"]}}))
    assert e["message"].startswith("seeds: ") and "not in celegans_cook2019_herm: 12" in e["message"]
    e = job_err(api.post(f"/datasets/{DS}/layers", json={"seeds": {"select": {"name": "no-such-neuron"}}}))
    assert 'no node has "name": "no-such-neuron"' in e["message"]  # as it was sent
    before = len(api.get("/jobs", params={"kind": "layers", "limit": 500}).json()["jobs"])
    err(api.post(f"/datasets/{DS}/layers", json={"seeds": {"select": {"name": "ASHL"}}, "n_iterations": 10**6}))
    assert len(api.get("/jobs", params={"kind": "layers", "limit": 500}).json()["jobs"]) == before  # nothing queued
    e = err(api.get(f"/datasets/{DS}/layers/job_{'0' * 32}"), 404)
    assert e["field"] == "job_id"
    # another user's job is not readable
    mine = api.post(f"/datasets/{DS}/layers", json={"seeds": {"select": {"name": "ASHL"}}, "n_iterations": 5})
    assert mine.status_code in (200, 202), mine.text
    _wait(api, mine.json()["id"])
    with api_client(server, "bob", timeout=60) as bob:
        assert err(bob.get(f"/datasets/{DS}/layers/{mine.json()['id']}"), 403)["field"] == "job_id"


def test_http_bad_input_is_400_with_the_field(api):
    def err(r, status=400):
        assert r.status_code == status, r.text
        return r.json()["error"]

    e = err(api.get(f"/datasets/{DS}/partners", params={"ids": ["12"]}))
    assert "not in celegans_cook2019_herm: 12" in e["message"] and e["field"] == "ids"
    e = err(api.post(f"/datasets/{DS}/paths", json={"sources": {"root_ids": ["12"]},
                                                    "targets": {"select": {"name": "AVAL"}}}))
    assert e["field"] == "sources"
    err(api.post(f"/datasets/{DS}/paths", json={"sources": {"select": {"name": "ASHL"}},
                                                "targets": {"select": {"name": "AVAL"}}, "max_hops": 0}))
    e = err(api.post(f"/datasets/{DS}/paths", json={"sources": {"select": {"name": "ASHL"}},
                                                    "targets": {"select": {"name": "AVAL"}}, "shortest": False,
                                                    "max_hops": 40}))
    assert "more than 16" in e["message"]
    e = err(api.post(f"/datasets/{DS}/influence", json={"sources": {"select": {"name": "ASHL"}}, "signed": True,
                                                        "normalize": "post", "hops": 2, "top": 5,
                                                        "targets": {"root_ids": []}}))
    e = err(api.post(f"/datasets/{DS}/layers", json={"seeds": {"root_ids": ["1"], "select": {"name": "x"}}}))
    e = err(api.post(f"/datasets/{DS}/paths", json={"sources": {"select": {"name": "ASHL"}},
                                                    "targets": {"select": {"name": "AVAL"}}, "limit": 5000}))
    assert e["field"] == "limit"


def test_cli_and_http_refuse_a_diverging_alpha_and_a_typo_in_a_list(api, capsys):
    """The library's refusals (issue 23, items 4 and 5) reach both front ends with the same words."""
    assert main(["influence", DS, "--sources", "name=ASHL", "--steady", "--alpha", "2"]) == 2
    err = capsys.readouterr().err
    assert "alpha must be below 1/ρ(W) = 1" in err and "ρ(W) = 1" in err
    assert main(["influence", DS, "--sources", "name=ASHL", "--steady", "--alpha", "0.9", "--top", "2"]) == 0
    capsys.readouterr()
    assert main(["partners", DS, "name=AVAL,AVBX"]) == 2
    assert "name=AVBX (1 of the 2 values given)" in capsys.readouterr().err

    r = api.post(f"/datasets/{DS}/influence", json={"sources": {"select": {"name": "ASHL"}}, "hops": None,
                                                    "alpha": 2.0})
    assert r.status_code == 400, r.text
    e = r.json()["error"]
    assert e["field"] == "alpha" and "1/ρ(W) = 1" in e["message"]
    r = api.post(f"/datasets/{DS}/influence", json={"sources": {"select": {"name": ["ASHL", "ASHX"]}}, "hops": 2})
    assert r.status_code == 400, r.text
    e = r.json()["error"]
    assert e["field"] == "name" and "ASHX" in e["message"] and "'ASHL'" not in e["message"].split(";")[0]
    # a motif constraint on a label value that no neuron has: a 0 count with the reason beside it
    r = api.post(f"/datasets/{DS}/motifs/count", json={"query": 'A -> B\nA.cell_type == "AVX"\n'})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 0 and "no node has cell_type='AVX'" in r.json()["warnings"][0]
    r = api.post(f"/datasets/{DS}/motifs/matches", json={"query": "A -> B [weight > 0]\nA.cell_type == \"AVA\"\n"})
    assert r.status_code == 200, r.text
    assert r.json()["total"] > 0 and "always holds" in r.json()["warnings"][0]


def test_http_partners_say_what_the_fraction_is_of(api, c):
    aval = str(int(cx.ids_of(c, name="AVAL")[0]))
    body = api.get(f"/datasets/{DS}/partners", params={"ids": [aval], "min_synapses": 5}).json()
    assert "graph as loaded" in body["fraction_of"] and "pairs below min_synapses=5 included" in body["fraction_of"]
    r = api.get(f"/datasets/{DS}/partners", params={"ids": [aval], "totals": ["input_synapses", "output_synapses"]})
    assert r.status_code == 400, r.text
    assert "column 'input_synapses' not found in nodes" in r.json()["error"]["message"]
