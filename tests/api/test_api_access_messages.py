"""Issue 29, items 9-11: job results follow the caller's current access, job error messages show no
server path or worker address, and a public dataset name cannot be imitated by a look-alike.

A real uvicorn server in this process (so that a job's work can be replaced by one that fails).
"""

from __future__ import annotations


import httpx
import pytest

from connectome.api.testing import wait_job
from helpers import InProcessServer

DS = "celegans_cook2019_herm"


@pytest.fixture
def srv(tmp_path, monkeypatch):
    from connectome.api.settings import Settings

    monkeypatch.setenv("CONNECTOME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONNECTOME_PROGRESS", "0")
    with InProcessServer(Settings(data_root=tmp_path / "svc", cluster="threads", workers=1)) as s:
        s.alice = s.service.tokens.create("alice").token
        s.bob = s.service.tokens.create("bob").token
        yield s


def _done(c: httpx.Client, path: str, body: dict) -> dict:
    r = c.post(path, json=body)
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["id"], timeout=120)
    assert job["state"] == "succeeded", job
    return job


# ---------------------------------------------------------------------------------------------- item 9
def test_results_and_pages_follow_the_current_access(srv):
    """After bob's read grant is revoked, every route that shows a result of his jobs on the dataset
    answers 404, as the paged routes did already (the summary carries root ids)."""
    pol = srv.service.policies
    pol.set_policy(DS, private=True, owner="alice")
    pol.grant("bob", DS, "read")
    with srv.client(srv.bob) as bob:
        cl = _done(bob, f"/v1/datasets/{DS}/cluster", {"neurons": {"select": {"super_class": "motor"}},
                                                       "method": "average", "n_clusters": 3})
        ma = _done(bob, f"/v1/datasets/{DS}/match", {"method": "bisected"})
        routes = [f"/v1/jobs/{cl['id']}/result", f"/v1/datasets/{DS}/cluster/{cl['id']}",
                  f"/v1/jobs/{ma['id']}/result", f"/v1/datasets/{DS}/match/{ma['id']}"]
        for url in routes:
            assert bob.get(url).status_code == 200, url
        assert pol.revoke("bob", DS)
        for url in routes:
            r = bob.get(url)
            assert r.status_code == 404, (url, r.text)
            assert r.json()["error"]["code"] == "dataset_not_found", url
            assert "root_id" not in r.text and "a_root_id" not in r.text
        # the job itself stays listed for its owner (no result in it)
        assert bob.get(f"/v1/jobs/{cl['id']}").status_code == 200
        pol.grant("bob", DS, "read")  # access given back: the results are back
        assert bob.get(routes[0]).status_code == 200


# ---------------------------------------------------------------------------------------------- item 10
def test_job_error_messages_show_no_path_and_no_worker_address(srv, monkeypatch):
    from connectome.api import tasks

    root = str(srv.service.settings.data_root)

    def fails(spec, progress):
        raise RuntimeError(f"'{root}/stores/alice_priv.access.json' is a file; also /opt/elsewhere/svc/x.json; "
                           "KilledWorker: ('run_job-1', <WorkerState 'tls://10.1.2.3:40123', name: 0, "
                           "status: closed>) scheduler tcp://127.0.0.1:8786 inproc://10.0.0.1/1/2 at "
                           "dask-scheduler.internal:8786")

    monkeypatch.setitem(tasks.KINDS, "significance", fails)
    with srv.client(srv.alice) as alice:
        r = alice.post(f"/v1/datasets/{DS}/significance", json={"null": "er", "n": 2, "seed": 1})
        assert r.status_code == 202, r.text
        job = wait_job(alice, r.json()["id"], timeout=120)
        assert job["state"] == "failed", job
        stored = srv.service.jobs.store.get(job["id"]).error_message
        shown = [job["error"]["message"], stored, alice.get(f"/v1/jobs/{job['id']}/result").text,
                 alice.get("/v1/jobs").text]
        for text in shown:
            for leak in (root, "/opt/elsewhere", "tls://", "tcp://", "inproc://", "10.1.2.3", "127.0.0.1:8786",
                         "dask-scheduler.internal"):
                assert leak not in text, (leak, text)
        msg = job["error"]["message"]
        assert "alice_priv.access.json' is a file" in msg and "x.json" in msg and "<address>" in msg, msg
        assert "KilledWorker" in msg


# ---------------------------------------------------------------------------------------------- item 11
CYRILLIC = "c\u0435legans_cook2019_herm"  # a Cyrillic 'е'


@pytest.mark.parametrize("name", ["celegans_cook2019_herm-", "Celegans_Cook2019_Herm", "celegans.cook2019.herm",
                                  "ce1egans_cook2O19_herm", "CELEGANS__COOK2019__HERM"])
def test_a_look_alike_of_a_public_name_is_refused(srv, name):
    from connectome.api.catalog import name_key

    assert name_key(name) == name_key(DS) == name_key(CYRILLIC)
    body = {"source": "celegans", "cect_dataset": "celegans_witvliet2021_1"}
    with srv.client(srv.bob) as bob:
        r = bob.post(f"/v1/datasets/{name}/ingest", json=body)
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert err["code"] == "name_too_similar" and err["field"] == "name" and err["existing"] == DS
        assert DS in err["message"]
        assert name not in [d["name"] for d in bob.get("/v1/datasets").json()["datasets"]]
        assert srv.service.policies.policy(name).owner is None  # nothing claimed


def test_look_alikes_are_refused_by_the_cli_and_unrelated_names_accepted(srv):
    from connectome.cli import main

    root = str(srv.service.settings.data_root)
    # the API's names are ASCII (NAME_PATTERN): a Cyrillic look-alike never reaches the check there
    with srv.client(srv.bob) as bob:
        r = bob.post(f"/v1/datasets/{CYRILLIC}/ingest", json={"source": "celegans",
                                                              "cect_dataset": "celegans_witvliet2021_1"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter", r.text
    # an admin publishing a name: the same rule
    for name in (CYRILLIC, "celegans_cook2019_herm-"):
        assert main(["access", "dataset", name, "--public", "--data-root", root]) == 2
        assert srv.service.policies.policy(name).owner is None and name not in srv.service.policies.policies()
    assert main(["access", "dataset", "worm_lab_2024", "--public", "--data-root", root]) == 0
    # a private dataset's name is never compared (it would leak), and an unrelated name is accepted
    srv.service.policies.set_policy("alice_secret", private=True, owner="alice")
    with srv.client(srv.bob) as bob:
        for name in ("alice-secret", "celegans_cook2019_male_copy"):
            r = bob.post(f"/v1/datasets/{name}/ingest", json={"source": "tables", "edges": "nope.csv"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input", r.text  # past the name
