"""`connectome similar | cluster | match` and the HTTP routes /similar, /cluster, /match: equal to the library."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

import connectome as cx
from connectome.api.testing import ServiceProcess
from connectome.cli import main

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
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-similarity")
    sp = ServiceProcess(root / "svc", cluster="threads", env={"CONNECTOME_HOME": str(root / "home"),
                                                             "CONNECTOME_PROGRESS": "0"})
    sp.start()
    try:
        with httpx.Client(base_url=sp.url + "/v1", headers={"Authorization": f"Bearer {sp.token('alice')}"},
                          timeout=120) as client:
            yield client
    finally:
        sp.stop()


def test_http_similar_cluster_match_equal_library(api, c):
    aval = str(int(cx.ids_of(c, name="AVAL")[0]))
    r = api.get(f"/datasets/{DS}/similar", params={"root_id": [aval], "top_k": 4, "direction": "input"})
    assert r.status_code == 200, r.text
    ref = cx.similarity(c, [int(aval)], top_k=4, direction="input")
    assert [x["similar_root_id"] for x in r.json()["rows"]] == [str(int(v)) for v in ref.similar_root_id]
    assert r.json()["rows"][0]["similarity"] == pytest.approx(float(ref.similarity.iloc[0]))
    again = api.get(f"/datasets/{DS}/similar", params={"root_id": [aval], "top_k": 4, "direction": "input"})
    assert again.headers["x-cache"] == "hit"

    r = api.post(f"/datasets/{DS}/cluster", json={"neurons": {"select": {"super_class": "motor"}},
                                                  "method": "average", "n_clusters": 4, "compare": ["cell_type"]})
    assert r.status_code == 200, r.text
    body = r.json()
    ref = cx.cluster(c, cx.ids_of(c, super_class="motor"), method="average", n_clusters=4)
    assert body["n_clusters"] == 4 and [x["cluster"] for x in body["rows"]] == ref.labels.cluster.tolist()
    assert body["adjusted_rand"]["cell_type"] == pytest.approx(ref.adjusted_rand(c, "cell_type"))

    r = api.post(f"/datasets/{DS}/match", json={"method": "bisected", "truth": "name"})
    assert r.status_code == 200, r.text
    body = r.json()
    ref = cx.match(c, side="side", method="bisected")
    assert body["matched"] == len(ref.pairs) and len(body["unmatched_b"]) == 1
    assert [p["b_root_id"] for p in body["pairs"]] == [str(int(x)) for x in ref.pairs.b_root_id]


def test_http_bad_input_is_400_with_the_field(api):
    def err(r, status=400):
        assert r.status_code == status, r.text
        return r.json()["error"]

    e = err(api.get(f"/datasets/{DS}/similar", params={"root_id": ["12"]}))
    assert e["field"] == "ids" and "not neurons of celegans_cook2019_herm" in e["message"]
    err(api.get(f"/datasets/{DS}/similar", params={"root_id": ["1"], "top_k": 0}))
    e = err(api.post(f"/datasets/{DS}/cluster", json={"method": "ward"}))
    assert e["field"] == "n_clusters"
    e = err(api.post(f"/datasets/{DS}/match", json={"seeds": [["1", "2"]]}))
    assert e["field"] == "seeds" and "not neurons of set a" in e["message"]
    e = err(api.post(f"/datasets/{DS}/match", json={"method": "similarity", "by": "cell_typ"}))
    assert "cell_type" in e["message"]
