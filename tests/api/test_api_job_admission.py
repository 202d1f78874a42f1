"""Jobs under attack, round 2 (issue 29, items 5, 6 and 7): admission before any preparation, time limits,
one token never holding every worker, a real full disk.

The app runs under uvicorn on 127.0.0.1 in a thread of this process (``cluster="threads"``), so that the
log records of the job code are seen here.
"""

from __future__ import annotations

import logging
import time


from connectome.api.testing import wait_job
from helpers import InProcessServer

DS = "celegans_cook2019_herm"
OTHER = "celegans_witvliet2021_8"


class _Server(InProcessServer):
    """An in-process server whose clients each get a new token (``client(user)``, with ``.token_id``)."""

    def client(self, user: str):
        tok = self.service.tokens.create(user)
        c = super().client(tok.token)
        c.token_id = tok.id
        return c


def _server(tmp_path, **changes) -> _Server:
    from connectome.api.settings import Settings

    return _Server(Settings(data_root=tmp_path / "svc", cluster="threads", **changes))


def _preparations(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "connectome.api.tasks" and "preparing" in r.getMessage()]


# ----------------------------------------------------------------------------- item 5


def test_a_full_job_limit_answers_429_before_any_preparation(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="connectome.api.tasks")
    with _server(tmp_path, workers=2, max_jobs_per_token=1) as srv, srv.client("alice") as c:
        held = srv.service.jobs.store.create("layers", DS, {}, user="alice", token_id=c.token_id)  # the one slot
        heavy = {"other": OTHER, "set_a": {"select": {"cell_category": "neuron"}},
                 "set_b": {"select": {"cell_category": "neuron"}}, "method": "similarity", "by": "cell_type",
                 "unlabelled": "drop", "vocabulary": "strict"}  # both profiles, and a vocabulary that differs
        for path, body in ((f"/v1/datasets/{DS}/match", heavy),
                           (f"/v1/datasets/{DS}/match", {"seeds": [["648518346349538157", "720575940621039145"]]}),
                           (f"/v1/datasets/{DS}/cluster", {"method": "leiden",
                                                        "neurons": {"root_ids": ["648518346349538157"]}}),
                           (f"/v1/datasets/{DS}/layers", {"seeds": {"root_ids": ["720575940621039145"]}})):
            t0 = time.perf_counter()
            r = c.post(path, json=body)
            took = time.perf_counter() - t0
            assert r.status_code == 429, r.text  # the old code resolved the sets first and answered 400
            assert r.json()["error"]["code"] == "too_many_jobs" and "retry-after" in r.headers
            assert took < 1.0, (path, took)
        assert _preparations(caplog) == []  # no set, label or profile was resolved for a refused job
        assert srv.service.jobs.store.active_count(c.token_id) == 1

        srv.service.jobs.store.update(held.id, state="cancelled")  # the slot is free again
        r = c.post(f"/v1/datasets/{DS}/match", json={"side": "side", "method": "bisected"})
        assert r.status_code == 202, r.text
        assert wait_job(c, r.json()["id"])["state"] == "succeeded"
        assert len(_preparations(caplog)) == 1  # the preparation ran in the job
        # bad ids are the job's error, naming the parameter
        r = c.post(f"/v1/datasets/{DS}/match", json={"seeds": [["648518346349538157", "720575940621039145"]]})
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"])
        assert job["state"] == "failed" and job["error"]["code"] == "invalid_input", job
        assert job["error"]["message"].startswith("seeds:") and "not neurons of set a" in job["error"]["message"]
        # the differing vocabularies too (both profiles were computed in the job)
        r = c.post(f"/v1/datasets/{DS}/match", json=heavy)
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"])
        assert job["state"] == "failed" and "vocabulary" in job["error"]["message"], job
        # cheap checks still answer 400 up front
        r = c.post(f"/v1/datasets/{DS}/match", json={"method": "similarity", "by": "cell_typ"})
        assert r.status_code == 400 and r.json()["error"]["field"] == "by", r.text


# ----------------------------------------------------------------------------- item 7

SLOW = {"null": "er", "n": 1500}  # a few seconds of work on one core
FAST_LAYERS = {"seeds": {"select": {"name": "ASHL"}}, "n_iterations": 5}


def test_a_job_past_its_time_limit_fails_with_timeout_and_frees_its_slot(tmp_path):
    with _server(tmp_path, workers=1, max_jobs_per_token=1, job_time_limits="significance=0.5") as srv, \
            srv.client("alice") as c:
        r = c.post(f"/v1/datasets/{DS}/significance", json={**SLOW, "seed": 1})
        assert r.status_code == 202, r.text
        assert r.json()["time_limit_s"] == 0.5  # the job record states its limit
        slow = wait_job(c, r.json()["id"], timeout=60)
        assert slow["state"] == "failed" and slow["error"]["code"] == "timeout", slow
        assert "time limit of 0.5 s" in slow["error"]["message"] and "job_time_limits" in slow["error"]["message"]
        assert srv.service.jobs.store.active_count(c.token_id) == 0  # the token's slot is free at once
        # ... and the worker too: the next job (limit 1 per token, one worker) is admitted and runs
        r = c.post(f"/v1/datasets/{DS}/layers", json=FAST_LAYERS)
        assert r.status_code == 202, r.text
        assert r.json()["time_limit_s"] == 3600.0  # the default of its kind
        assert wait_job(c, r.json()["id"], timeout=120)["state"] == "succeeded"
        again = c.get(f"/v1/jobs/{slow['id']}").json()
        assert again["state"] == "failed" and again["error"]["code"] == "timeout"  # never flips to succeeded


def test_one_token_never_holds_every_worker(tmp_path):
    with _server(tmp_path, workers=2, max_jobs_per_token=4) as srv, srv.client("alice") as alice, \
            srv.client("bob") as bob:
        assert srv.service.settings.running_jobs_per_token == 1  # workers - 1
        mine = []
        for seed in (1, 2):  # two long jobs of one token
            r = alice.post(f"/v1/datasets/{DS}/significance", json={**SLOW, "seed": seed})
            assert r.status_code == 202, r.text
            mine.append(r.json()["id"])
        r = bob.post(f"/v1/datasets/{DS}/layers", json=FAST_LAYERS)  # another token's short job
        assert r.status_code == 202, r.text
        assert wait_job(bob, r.json()["id"], timeout=60)["state"] == "succeeded"
        first, second = (alice.get(f"/v1/jobs/{j}").json() for j in mine)
        # bob's job ran beside alice's first one, not after it; alice's second waits for her first
        assert first["state"] in ("queued", "running"), first
        assert second["state"] == "queued" and "waiting" in second["message"], second
        for j in mine:
            assert alice.post(f"/v1/jobs/{j}/cancel").status_code == 200
        assert srv.service.jobs.store.active_count() == 0


# ----------------------------------------------------------------------------- item 6


def _fill(folder, name="filler") -> None:
    """Write zeros into ``folder`` until its filesystem is full."""
    import errno

    chunk = b"\0" * 65536
    with open(folder / name, "ab", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    for size in (4096, 512, 1):  # and the last blocks
        try:
            with open(folder / f"{name}-{size}", "ab", buffering=0) as f:
                while True:
                    f.write(b"\0" * size)
        except OSError:
            pass  # the disk is full down to its last blocks: what this filler is for


def _small_filesystem(path, size: str = "16m") -> None:
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True,
                   capture_output=True)


def test_a_full_disk_on_a_real_small_filesystem(tmp_path, caplog):
    import os
    import subprocess
    import sys

    if os.geteuid() != 0:  # a mount namespace of our own, where we may mount a tmpfs
        r = subprocess.run(["unshare", "-Urm", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            f"{__file__}::test_a_full_disk_on_a_real_small_filesystem"], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        return
    caplog.set_level(logging.INFO, logger="connectome.api.jobs")
    root = tmp_path / "svc"
    _small_filesystem(root)
    try:
        with _server(tmp_path, workers=1, max_jobs_per_token=1) as srv, srv.client("alice") as alice, \
                srv.client("bob") as bob:
            r = alice.post(f"/v1/datasets/{DS}/significance", json={**SLOW, "seed": 3})
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            wait_job(alice, job_id, until=("running", "succeeded", "failed"), timeout=60)
            _fill(root)  # the disk fills while the job runs: its result cannot be written
            r = bob.post(f"/v1/datasets/{DS}/layers", json=FAST_LAYERS)
            assert r.status_code == 507 and r.json()["error"]["code"] == "disk_full", r.text
            assert str(root) not in r.text
            deadline = time.monotonic() + 60  # the job ends; its result and then its record cannot be written
            while not any(job_id in r.getMessage() and "could not" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, srv.service.jobs.store.get(job_id)
                time.sleep(0.2)
            for f in root.glob("filler*"):  # space is freed
                f.unlink()
            job = wait_job(alice, job_id, timeout=30)
            assert job["state"] == "failed" and job["error"]["code"] == "disk_full", job
            assert srv.service.jobs.store.active_count() == 0  # its slot is free
            r = alice.post(f"/v1/datasets/{DS}/layers", json=FAST_LAYERS)  # and things work again
            assert r.status_code == 202, r.text
            assert wait_job(alice, r.json()["id"], timeout=120)["state"] == "succeeded"
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False, capture_output=True)
