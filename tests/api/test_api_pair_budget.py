"""Routes whose result grows as the product of two sets (influence, paths, similar, partners by=, match) are
bounded up front by the server's ``max_pairs`` (``max_job_pairs`` for match): 400 ``too_many_pairs`` with the
estimate and what to do, before any work; within the bound influence computes only the rows returned."""

from __future__ import annotations

import time

import pandas as pd
import pytest

import connectome as cx
from connectome.api.testing import TERMINAL, ServiceProcess
from connectome.errors import PairBudgetError
from helpers import api_client

DS = "celegans_cook2019_herm"


@pytest.fixture(scope="module")
def c():
    return cx.load(DS)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-pairs")
    with ServiceProcess(root / "svc", cluster="threads", env={"CONNECTOME_HOME": str(root / "home"),
                                                             "CONNECTOME_PROGRESS": "0",
                                                             "CONNECTOME_API_MAX_PAIRS": "2000",
                                                             "CONNECTOME_API_MAX_JOB_PAIRS": "400"}) as sp:
        yield sp


@pytest.fixture(scope="module")
def api(server):
    with api_client(server) as client:
        yield client


def _refused(r, field: str, estimate: int, limit: int = 2000) -> str:
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "too_many_pairs" and err["field"] == field, err
    assert err["estimate"] == estimate and err["limit"] == limit, err
    assert f"{estimate:,} pairs" in err["message"] and f"{limit:,}" in err["message"], err
    return err["message"]


def test_influence_sources_times_every_target_is_refused_and_top_computes_only_its_rows(api, c):
    src = cx.ids_of(c, super_class="sensory")
    tgt = cx.ids_of(c, super_class=["sensory", "interneuron", "motor"])
    body = {"sources": {"select": {"super_class": "sensory"}},
            "targets": {"select": {"super_class": ["sensory", "interneuron", "motor"]}}, "hops": 3}
    msg = _refused(api.post(f"/datasets/{DS}/influence", json=body), "targets", len(src) * len(tgt))
    assert f"{len(src)} sources x {len(tgt)} targets" in msg and "top" in msg and "fewer sources" in msg
    r = api.post(f"/datasets/{DS}/influence", json={**body, "top": 20})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["total"] == len(src) * 20 and not got["truncated"]
    want = cx.influence(c, src, tgt, hops=3, top=20)
    assert [(x["source_root_id"], x["target_root_id"], x["rank"]) for x in got["rows"]] == \
        [(str(s), str(t), int(k)) for s, t, k in zip(want.source_root_id, want.target_root_id, want["rank"])]
    # without targets: sources x top (default 100)
    _refused(api.post(f"/datasets/{DS}/influence", json={"sources": body["sources"]}), "top", len(src) * 100)


def test_paths_sources_times_targets_is_refused(api, c):
    n_s, n_t = len(cx.ids_of(c, super_class="sensory")), len(cx.ids_of(c, super_class="motor"))
    body = {"sources": {"select": {"super_class": "sensory"}}, "targets": {"select": {"super_class": "motor"}},
            "shortest": True, "count": True}
    msg = _refused(api.post(f"/datasets/{DS}/paths", json=body), "targets", n_s * n_t)
    assert "fewer sources or targets" in msg
    ok = api.post(f"/datasets/{DS}/paths", json={**body, "sources": {"select": {"name": "ASHL"}}})
    assert ok.status_code == 200, ok.text


def test_similar_queries_times_top_k_is_refused(api, c):
    ids = [str(int(x)) for x in c.node_table().root_id.to_numpy()[:21]]
    _refused(api.get(f"/datasets/{DS}/similar", params={"root_id": ids, "top_k": 100}), "top_k", 21 * 100)
    assert api.get(f"/datasets/{DS}/similar", params={"root_id": ids, "top_k": 10}).status_code == 200


def test_partners_grouped_by_a_column_is_refused_above_the_bound(api, c):
    ids = [str(int(x)) for x in cx.ids_of(c, super_class=["interneuron", "motor"])]
    r = api.get(f"/datasets/{DS}/partners", params={"ids": ids, "by": "cell_type"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_pairs", r.text
    err = r.json()["error"]
    assert err["field"] == "by" and err["estimate"] > 2000 and "groups of 'cell_type'" in err["message"]
    # the partners themselves (without by) and a small grouped request are answered
    assert api.get(f"/datasets/{DS}/partners", params={"ids": ids[:5], "by": "cell_type"}).status_code == 200
    assert api.get(f"/datasets/{DS}/partners", params={"ids": ids, "limit": 10}).status_code == 200


def test_match_set_a_times_set_b_is_refused_before_a_job(api, c):
    ids = [str(int(x)) for x in c.node_table().root_id.to_numpy()[:42]]
    r = api.post(f"/datasets/{DS}/match", json={"set_a": {"root_ids": ids[:21]}, "set_b": {"root_ids": ids[21:]},
                                                 "method": "gm"})
    msg = _refused(r, "set_b", 21 * 21, limit=400)
    assert "max_job_pairs" in msg


def test_library_match_refuses_sets_above_max_pairs(c):
    with pytest.raises(PairBudgetError, match=r"dense \d+ x \d+ block.*above the limit of 100 \(max_pairs\)") as e:
        cx.match(c, side="side", max_pairs=100)
    assert e.value.parameter == "side" and e.value.estimate > 100
    small = cx.ids_of(c, cell_type="AVA")
    assert len(cx.match(c, ids_a=small[:1], ids_b=small[1:], max_pairs=1).pairs) == 1


def test_influence_rows_match_the_full_table_top(c):
    src, tgt = cx.ids_of(c, super_class="sensory")[:10], cx.ids_of(c, super_class="motor")
    full = cx.influence(c, src, tgt, hops=2)
    top = cx.influence(c, src, tgt, hops=2, top=3)
    pd.testing.assert_frame_equal(top, full[full["rank"] <= 3].reset_index(drop=True))


def test_match_sets_resolved_in_the_job_are_refused_there(api, c):
    r = api.post(f"/datasets/{DS}/match", json={"side": "side", "method": "gm"})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 120
    while (job := api.get(f"/jobs/{r.json()['id']}").json())["state"] not in TERMINAL:
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["state"] == "failed", job
    assert job["error"]["code"] == "too_many_pairs", job
    assert "above the limit of 400" in job["error"]["message"], job
