"""`connectome similar | cluster | match` and the HTTP routes /similar (a read), /cluster and /match (jobs): equal
to the library; matches across datasets; Neuroglancer links."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from connectome.api.testing import ServiceProcess

import connectome as cx
from connectome.cli import main
from helpers import api_client

DS = "celegans_cook2019_herm"


@pytest.fixture(scope="module")
def c():
    return cx.load(DS)


def test_cli_similar_cluster_match(c, tmp_path, capsys):
    assert main(["similar", DS, "--name", "AVAL", "--top-k", "3", "--label", "name"]) == 0
    out = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    ref = cx.similarity(c, cx.ids_of(c, name="AVAL"), top_k=3)
    assert out.similar_root_id.tolist() == ref.similar_root_id.astype("int64").tolist()
    assert out.similar_name.iloc[0] == "AVAR"

    assert main(["cluster", DS, "--where", "super_class=motor", "--method", "ward", "--n-clusters", "5",
                 "--compare", "cell_type", "--out", str(tmp_path / "cl.csv"), "--plot", str(tmp_path / "d.png")]) == 0
    text = capsys.readouterr().out
    assert "5 clusters" in text and "adjusted Rand index against cell_type" in text
    assert len(pd.read_csv(tmp_path / "cl.csv")) == len(cx.ids_of(c, super_class="motor"))
    assert (tmp_path / "d.png").stat().st_size > 0

    assert main(["match", DS, "--method", "bisected", "--out", str(tmp_path / "m.csv")]) == 0
    pairs = pd.read_csv(tmp_path / "m.csv")
    ref = cx.match(c, side="side", method="bisected")
    assert pairs.a_root_id.tolist() == ref.pairs.a_root_id.astype("int64").tolist()
    assert pairs.b_root_id.tolist() == ref.pairs.b_root_id.astype("int64").tolist()


def test_cli_errors_name_the_flag(capsys):
    assert main(["similar", DS, "--name", "AVAL", "--top-k", "0"]) == 2
    assert "--top-k must be a positive integer" in capsys.readouterr().err
    assert main(["cluster", DS, "--method", "ward"]) == 2
    assert "--n-clusters" in capsys.readouterr().err


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-similarity")
    with ServiceProcess(root / "svc", cluster="threads", env={"CONNECTOME_HOME": str(root / "home"),
                                                             "CONNECTOME_PROGRESS": "0"}) as sp:
        yield sp


@pytest.fixture(scope="module")
def api(server):
    with api_client(server) as client:
        yield client


def _wait(api, job_id: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = api.get(f"/jobs/{job_id}").json()
        if j["state"] in ("succeeded", "failed", "cancelled"):
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {j['state']} after {timeout} s")


def _job(api, path: str, body: dict) -> tuple[dict, dict]:
    """Submit a job (202), wait for it, return (job, result)."""
    r = api.post(path, json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    done = _wait(api, job["id"])
    assert done["state"] == "succeeded", done
    return done, api.get(f"/jobs/{job['id']}/result").json()


def _all_rows(api, url: str, key: str, limit: int = 50) -> tuple[list, dict]:
    rows, cursor = [], None
    while True:
        page = api.get(url, params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        body = page.json()
        rows += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, body


def test_http_similar_equal_library(api, c):
    aval = str(int(cx.ids_of(c, name="AVAL")[0]))
    r = api.get(f"/datasets/{DS}/similar", params={"root_id": [aval], "top_k": 4, "direction": "input"})
    assert r.status_code == 200, r.text
    ref = cx.similarity(c, [int(aval)], top_k=4, direction="input")
    assert [x["similar_root_id"] for x in r.json()["rows"]] == [str(int(v)) for v in ref.similar_root_id]
    assert r.json()["rows"][0]["similarity"] == pytest.approx(float(ref.similarity.iloc[0]))
    again = api.get(f"/datasets/{DS}/similar", params={"root_id": [aval], "top_k": 4, "direction": "input"})
    assert again.headers["x-cache"] == "hit"


def test_http_cluster_is_a_job_equal_to_the_library(api, c):
    q = {"neurons": {"select": {"super_class": "motor"}}, "method": "average", "n_clusters": 4,
         "compare": ["cell_type"]}
    done, result = _job(api, f"/datasets/{DS}/cluster", q)
    assert done["kind"] == "cluster" and done["params"]["version"]
    ref = cx.cluster(c, cx.ids_of(c, super_class="motor"), method="average", n_clusters=4)
    assert result["n_clusters"] == 4 and result["rows_url"] == f"/v1/datasets/{DS}/cluster/{done['id']}"
    rows, body = _all_rows(api, result["rows_url"][3:], "rows")
    assert [x["root_id"] for x in rows] == [str(int(i)) for i in ref.labels.root_id]
    assert [x["cluster"] for x in rows] == ref.labels.cluster.tolist()
    assert body["total"] == len(ref.labels) and body["adjusted_rand"]["cell_type"] == pytest.approx(
        ref.adjusted_rand(c, "cell_type"))
    # the same request on the same dataset version: the finished job, nothing queued
    again = api.post(f"/datasets/{DS}/cluster", json=q)
    assert again.status_code == 200 and again.json()["id"] == done["id"]
    assert done["id"] in [j["id"] for j in api.get("/jobs", params={"kind": "cluster"}).json()["jobs"]]
    # coloured by cluster in Neuroglancer
    linked = api.get(result["rows_url"][3:], params={"limit": 5, "link": True, "source": "flywire"}).json()
    state = cx.neuroglancer.resolve_link(linked["link"])
    seg = next(layer for layer in state["layers"] if layer["name"] == "clusters")
    colour = {str(int(i)): seg["segmentColors"][str(int(i))] for i in ref.labels.root_id}
    for _, grp in ref.labels.groupby("cluster"):
        assert len({colour[str(int(i))] for i in grp.root_id}) == 1  # one colour per cluster
    assert len(set(colour.values())) == 4

    _, lres = _job(api, f"/datasets/{DS}/cluster", {"method": "leiden", "resolution": 1.0, "seed": 3})
    ref = cx.cluster(c, method="leiden", resolution=1.0, seed=3)
    rows, body = _all_rows(api, lres["rows_url"][3:], "rows", limit=100)
    assert [x["cluster"] for x in rows] == [None if pd.isna(v) else int(v) for v in ref.labels.cluster]
    assert body["modularity"] == pytest.approx(ref.meta["modularity"])


def test_http_match_is_a_job_equal_to_the_library(api, c):
    _, result = _job(api, f"/datasets/{DS}/match", {"method": "bisected", "truth": "name"})
    ref = cx.match(c, side="side", method="bisected")
    assert result["matched"] == len(ref.pairs) and len(result["unmatched_b"]) == 1
    pairs, body = _all_rows(api, result["rows_url"][3:], "pairs", limit=40)
    assert [p["a_root_id"] for p in pairs] == [str(int(x)) for x in ref.pairs.a_root_id]
    assert [p["b_root_id"] for p in pairs] == [str(int(x)) for x in ref.pairs.b_root_id]
    assert body["total"] == len(ref.pairs) and body["objective"] == pytest.approx(ref.meta["objective"])
    assert body["unmatched_b"] == [str(int(x)) for x in ref.unmatched_b]
    linked = api.get(result["rows_url"][3:], params={"limit": 5, "link": True, "source": "flywire"}).json()
    assert linked["link"].startswith("https://")

    # seeds are kept
    aval, avar = (str(int(cx.ids_of(c, name=n)[0])) for n in ("AVAL", "AVAR"))
    _, res = _job(api, f"/datasets/{DS}/match", {"method": "gm", "seeds": [[aval, avar]]})
    pairs, _ = _all_rows(api, res["rows_url"][3:], "pairs", limit=500)
    assert {"a_root_id": aval, "b_root_id": avar} in [{k: p[k] for k in ("a_root_id", "b_root_id")}
                                                      for p in pairs if p["seed"]]


def test_http_match_with_attributes_equals_the_library(api, c):
    body = {"method": "bisected", "attributes": ["nt_type", "super_class"], "attribute_weight": 2}
    _, result = _job(api, f"/datasets/{DS}/match", body)
    ref = cx.match(c, side="side", method="bisected", attributes=["nt_type", "super_class"], attribute_weight=2)
    assert result["attributes"]["weight"] == 2 and result["attributes"]["chosen"] == "given"
    pairs, page = _all_rows(api, result["rows_url"][3:], "pairs", limit=200)
    assert [p["b_root_id"] for p in pairs] == [str(int(x)) for x in ref.pairs.b_root_id]
    assert set(page["attributes"]["columns"]) == {"nt_type", "super_class"}


OTHER = "celegans_witvliet2021_8"


def test_http_match_across_datasets(api, server, c):
    adult = cx.load(OTHER)
    body = {"other": OTHER, "set_a": {"select": {"cell_category": "neuron"}},
            "set_b": {"select": {"cell_category": "neuron"}}, "method": "similarity", "by": "cell_type",
            "unlabelled": "drop", "truth": "name"}
    # the label vocabularies differ: the job (which computes both profiles, not the request) fails naming
    # the labels each side lacks
    r = api.post(f"/datasets/{DS}/match", json=body)
    assert r.status_code == 202, r.text
    e = _wait(api, r.json()["id"])["error"]
    assert e["code"] == "invalid_input" and e["message"].startswith("by: ")
    assert f"only in '{DS}'" in e["message"] and f"only in '{OTHER}'" in e["message"]
    assert "'AVG'" in e["message"] and "vocabulary" in e["message"]

    done, result = _job(api, f"/datasets/{DS}/match", {**body, "vocabulary": "shared"})
    ref = cx.match(c, adult, ids_a=cx.ids_of(c, cell_category="neuron"), ids_b=cx.ids_of(adult, cell_category="neuron"),
                   method="similarity", by="cell_type", unlabelled="drop", vocabulary="shared")
    assert done["params"]["other"] == OTHER and done["params"]["other_version"]
    pairs, page = _all_rows(api, result["rows_url"][3:], "pairs", limit=100)
    assert page["other"] == OTHER
    assert [(p["a_root_id"], p["b_root_id"]) for p in pairs] == [
        (str(int(x)), str(int(y))) for x, y in zip(ref.pairs.a_root_id, ref.pairs.b_root_id)]
    assert result["accuracy"]["accuracy"] == pytest.approx(ref.accuracy("name")["accuracy"])
    linked = api.get(result["rows_url"][3:], params={"limit": 5, "link": True, "source": "flywire",
                                                     "source_b": "microns"}).json()
    state = cx.neuroglancer.resolve_link(linked["link"])
    segs = [layer for layer in state["layers"] if layer["type"] == "segmentation"]
    assert [layer["name"] for layer in segs] == [DS, OTHER] and segs[0]["source"] != segs[1]["source"]

    # the second dataset must be readable by the caller: someone else's private dataset is an unknown name
    svc = server.service()
    try:
        svc.policies.set_policy("celegans_varshney2011", private=True, owner="bob")
    finally:
        svc.close()
    hidden = api.post(f"/datasets/{DS}/match", json={**body, "other": "celegans_varshney2011"})
    unknown = api.post(f"/datasets/{DS}/match", json={**body, "other": "celegans_nosuch2099"})
    for r in (hidden, unknown):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "dataset_not_found" and r.json()["error"]["field"] == "other"
    for r, name in ((hidden, "celegans_varshney2011"), (unknown, "celegans_nosuch2099")):  # the same words
        head, _, hint = r.json()["error"]["message"].partition(f"'{name}'")
        assert head == "other: unknown dataset " and hint.endswith("(GET /v1/datasets lists them)")
        assert "varshney" not in hint  # a close name the caller may see, never the hidden one
    with api_client(server, "bob", timeout=60) as bob:  # the owner may
        r = bob.post(f"/datasets/{DS}/match", json={**body, "other": "celegans_varshney2011", "vocabulary": "shared"})
        assert r.status_code == 202, r.text
        assert _wait(bob, r.json()["id"])["state"] == "succeeded"
        # and alice cannot read bob's job
        assert bob.get(f"/datasets/{DS}/match/{r.json()['id']}").status_code == 200
        assert api.get(f"/datasets/{DS}/match/{r.json()['id']}").status_code == 403


def test_http_bad_input_is_400_with_the_field(api):
    def err(r, status=400):
        assert r.status_code == status, r.text
        return r.json()["error"]

    before = len(api.get("/jobs", params={"limit": 500}).json()["jobs"])
    e = err(api.get(f"/datasets/{DS}/similar", params={"root_id": ["12"]}))
    assert e["field"] == "ids" and "not neurons of celegans_cook2019_herm" in e["message"]
    err(api.get(f"/datasets/{DS}/similar", params={"root_id": ["1"], "top_k": 0}))
    e = err(api.post(f"/datasets/{DS}/cluster", json={"method": "ward"}))
    assert e["field"] == "n_clusters"
    e = err(api.post(f"/datasets/{DS}/cluster", json={"method": "average", "n_clusters": 3, "compare": ["cel_type"]}))
    assert e["field"] == "compare" and "cell_type" in e["message"]
    e = err(api.post(f"/datasets/{DS}/match", json={"method": "similarity", "by": "cell_typ"}))
    assert e["field"] == "by" and "cell_type" in e["message"]
    e = err(api.post(f"/datasets/{DS}/match", json={"other": OTHER, "method": "bisected"}))
    assert e["field"] == "method"
    e = err(api.post(f"/datasets/{DS}/match", json={"other": OTHER, "method": "similarity"}))
    assert e["field"] == "by"
    err(api.post(f"/datasets/{DS}/match", json={"other": OTHER, "side": "side"}))
    e = err(api.post(f"/datasets/{DS}/match", json={"attributes": ["nt_typ"]}))
    assert e["field"] == "attributes" and "nt_type" in e["message"]
    e = err(api.post(f"/datasets/{DS}/match", json={"attributes": ["side"]}))
    assert e["field"] == "attributes" and "splits the two sets" in e["message"]
    e = err(api.post(f"/datasets/{DS}/match", json={"attribute_weight": 2}))
    assert "attribute_weight needs attributes" in e["message"]
    err(api.post(f"/datasets/{DS}/match", json={"attributes": ["nt_type"], "attribute_weight": "best"}))
    e = err(api.post(f"/datasets/{DS}/match", json={"attributes": ["nt_type"], "attribute_weight": "auto"}))
    assert e["field"] == "attribute_weight" and "at least 10 seed pairs (got 0)" in e["message"]
    e = err(api.post(f"/datasets/{DS}/match", json={"method": "similarity", "by": "cell_type",
                                                    "attributes": ["nt_type"]}))
    assert "graph matching" in e["message"]
    assert len(api.get("/jobs", params={"limit": 500}).json()["jobs"]) == before  # nothing was queued

    def job_err(r):  # sets and seeds are resolved in the job, not in the request: unknown ids fail the job
        assert r.status_code == 202, r.text
        job = _wait(api, r.json()["id"])
        assert job["state"] == "failed", job
        return job["error"]

    e = job_err(api.post(f"/datasets/{DS}/cluster", json={"method": "leiden", "neurons": {"root_ids": ["12"]}}))
    assert e["message"].startswith("ids: ") and "12" in e["message"]
    e = job_err(api.post(f"/datasets/{DS}/match", json={"seeds": [["1", "2"]]}))
    assert e["message"].startswith("seeds: ") and "not neurons of set a" in e["message"]
    e = err(api.get(f"/datasets/{DS}/match/job_{'0' * 32}"), 404)
    assert e["field"] == "job_id"
