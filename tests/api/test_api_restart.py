"""Jobs survive server restarts: a crash (SIGKILL of the server and its Dask workers) and a
graceful stop (SIGTERM) while jobs run. Finished results stay readable; running jobs resume, or
are marked failed with a reason once their attempts are used up — never silently lost.

Real parts: `connectome serve` under uvicorn in a subprocess, a LocalCluster with process
workers, the SQLite (WAL) job store on disk.
"""

from __future__ import annotations

import httpx
import pytest

from connectome.api.testing import TERMINAL, ServiceProcess, wait_job

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

DS = "celegans_cook2019_herm"


def test_jobs_survive_a_crash_and_a_graceful_restart(tmp_path):
    root = tmp_path / "svc"
    env = {"CONNECTOME_HOME": str(tmp_path / "home"), "CONNECTOME_PROGRESS": "0", "CONNECTOME_API_JOB_ATTEMPTS": "2"}

    def start(**extra: str) -> ServiceProcess:
        return ServiceProcess(root, cluster="local", workers=2, env={**env, **extra},
                              log=tmp_path / "server.log").start()

    # ---- server A: one job finishes, one is running when the server crashes
    a = start()
    token = a.token("alice")
    c = httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    quick = c.post(f"/v1/datasets/{DS}/significance", json={"null": "er", "n": 4, "seed": 11}).json()
    done = wait_job(c, quick["id"])
    assert done["state"] == "succeeded"
    quick_result = c.get(done["result_url"]).json()

    long = c.post(f"/v1/datasets/{DS}/significance", json={"null": "degree", "n": 300, "seed": 2}).json()
    running = wait_job(c, long["id"], until={"running"} | TERMINAL, timeout=60)
    assert running["state"] == "running", running  # still at work when the server dies
    a.kill()  # SIGKILL to the server, its scheduler and its workers: a crash
    c.close()

    # ---- server B on the same data root: the finished job is intact, the running one resumes
    b = start()  # a fresh port; the data root is what matters
    c = httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    same = c.get(f"/v1/jobs/{quick['id']}").json()
    assert same["state"] == "succeeded" and same["finished"] == done["finished"]
    assert c.get(same["result_url"]).json() == quick_result
    resumed = c.get(f"/v1/jobs/{long['id']}").json()
    assert resumed["attempts"] == 2, resumed
    assert resumed["state"] in ("queued", "running", "succeeded"), resumed
    final = wait_job(c, long["id"], timeout=240)
    assert final["state"] == "succeeded", final
    table = c.get(final["result_url"]).json()["table"]
    assert len(table) == 16 and {r["motif"] for r in table} >= {"003", "030T", "300"}

    # ---- a job running during a graceful stop (SIGTERM) resumes too; with its attempts used up it fails
    third = c.post(f"/v1/datasets/{DS}/significance", json={"null": "degree", "n": 300, "seed": 3}).json()
    assert wait_job(c, third["id"], until={"running"} | TERMINAL, timeout=60)["state"] == "running"
    b.stop()  # SIGTERM: uvicorn shuts down, the job stays 'running' in the store
    c.close()

    d = ServiceProcess(root, cluster="local", workers=2, env={**env, "CONNECTOME_API_JOB_ATTEMPTS": "1"},
                       log=tmp_path / "server.log").start()
    try:
        c = httpx.Client(base_url=d.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        failed = c.get(f"/v1/jobs/{third['id']}").json()
        assert failed["state"] == "failed", failed
        assert failed["error"]["code"] == "interrupted"
        assert "server stopped" in failed["error"]["message"] and "submit it again" in failed["error"]["message"]
        r = c.get(f"/v1/jobs/{third['id']}/result")
        assert r.status_code == 409 and r.json()["error"]["code"] == "job_failed"
        # everything finished before stays readable
        assert c.get(f"/v1/jobs/{long['id']}/result").json()["table"] == table
        assert c.get(f"/v1/jobs/{quick['id']}/result").json() == quick_result
        states = {j["id"]: j["state"] for j in c.get("/v1/jobs").json()["jobs"]}
        assert states == {quick["id"]: "succeeded", long["id"]: "succeeded", third["id"]: "failed"}
        c.close()
    finally:
        d.stop()


def _job_with_a_result(tmp_path, result: dict):
    """A running job whose result file was written just before a crash (the record still says running)."""
    from connectome.api.service import Service
    from connectome.api.settings import Settings

    settings = Settings(data_root=tmp_path / "svc", cluster="threads")
    svc = Service(settings).open(lock=False)
    try:
        job = svc.jobs.store.create("significance", DS, {"n": 1}, user="alice", token_id="tok_x",
                                    spec={"params": {"n": 1}})
        svc.jobs.store.update(job.id, state="running", attempts=1)
        path = svc.jobs._write_result(job.id, result)
    finally:
        svc.close()
    return settings, job, path


def test_a_result_written_before_a_crash_completes_its_job(tmp_path):
    """A crash between writing the result file and updating the record loses nothing."""
    from connectome.api.service import Service

    settings, job, _ = _job_with_a_result(tmp_path, {"table": []})
    svc = Service(settings).open(lock=False)
    try:
        assert svc.jobs.recover() == []  # recovery alone: nothing to start again
        after = svc.jobs.store.get(job.id)
        assert after.state == "succeeded" and after.progress == 1.0
        assert svc.jobs.read_result(job.id) == b'{"table": []}'
    finally:
        svc.close()


def test_a_torn_result_file_is_never_taken_for_a_finished_job(tmp_path):
    """A result file cut short by the crash (no valid checksum) does not complete the job: it runs again."""
    from connectome.api.service import Service

    settings, job, path = _job_with_a_result(tmp_path, {"table": [1, 2, 3]})
    path.write_bytes(path.read_bytes()[:-4])  # torn
    svc = Service(settings).open(lock=False)
    try:
        svc.jobs._started.set()  # recovery without a cluster: record what it would dispatch
        sent = []
        svc.jobs._dispatch = lambda job, spec: sent.append(job.id) or job
        svc.jobs.recover()
        assert sent == [job.id] and svc.jobs.store.get(job.id).state == "queued"
    finally:
        svc.close()
