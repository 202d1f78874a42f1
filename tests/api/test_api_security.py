"""Service hardening (issue 18, items 2, 4 and part of 13), each against the real parts:

- the service's Dask cluster speaks TLS only: nobody else on the machine can connect to its scheduler
  (and so run code as the service); no dashboard or status pages listen unless asked; ``/v1/health``
  tells an anonymous caller nothing about the cluster; the data root is private to the service's user;
- a lost, emptied or foreign database makes the service refuse to start (unless ``--init``), and a
  private dataset stays private by its own stored policy;
- tokens may expire, and a schema-1 database is migrated in place;
- ``.cancel`` marker files are removed once nothing runs the cancelled job.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from connectome.api.auth import Policies, Principal, TokenStore
from connectome.api.db import SCHEMA_VERSION, Database
from connectome.api.service import DatabaseLostError, Service
from connectome.api.settings import Settings
from connectome.api.testing import ServiceProcess, wait_job
from helpers import run_cli

DS = "celegans_cook2019_herm"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _listening(pid: int) -> set[int]:
    """TCP ports a process and its children listen on."""
    import psutil

    ports = set()
    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    for p in procs:
        try:
            for c in p.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN:
                    ports.add(c.laddr.port)
        except psutil.NoSuchProcess:
            pass
    return ports


# --------------------------------------------------------------------------- the cluster and the data root


@pytest.mark.cluster
@pytest.mark.slow
def test_the_service_cluster_is_tls_only_and_the_data_root_private(tmp_path):
    from distributed import Client
    from distributed.security import Security

    root = tmp_path / "svc"
    env = {"CONNECTOME_HOME": str(tmp_path / "home"), "CONNECTOME_PROGRESS": "0"}
    with ServiceProcess(root, cluster="local", workers=2, env=env, log=tmp_path / "server.log") as sp:
        # /v1/health: liveness and version only; the jobs backend needs a token, its address an admin token
        health = httpx.get(sp.url + "/v1/health").json()
        assert set(health) == {"status", "version"}, health
        assert httpx.get(sp.url + "/v1/service").status_code == 401
        user = {"Authorization": f"Bearer {sp.token('alice')}"}
        admin = {"Authorization": f"Bearer {sp.token('root', admin=True)}"}
        mine = httpx.get(sp.url + "/v1/service", headers=user).json()["jobs"]
        assert mine["kind"] == "local" and mine["tls"] and mine.get("scheduler") is None, mine
        address = httpx.get(sp.url + "/v1/service", headers=admin).json()["jobs"]["scheduler"]
        assert address.startswith("tls://127.0.0.1:"), address

        # a client without the service's certificate cannot connect, let alone run code on the scheduler
        ran = []
        for attempt in (lambda: Client(address, timeout="3s", set_as_default=False),
                        lambda: Client(address.replace("tls://", "tcp://"), timeout="3s", set_as_default=False),
                        lambda: Client(address, timeout="3s", set_as_default=False,
                                       security=Security.temporary())):  # its own certificate: not trusted
            try:
                c = attempt()
            except Exception:
                continue
            try:
                ran.append(c.run_on_scheduler(os.getpid))
            except Exception:
                pass
            finally:
                c.close()
        assert ran == [], "a client without the service's certificate ran code on its scheduler"

        # nothing but the API and the cluster's TLS ports listen: no dashboard, no status pages
        ports = _listening(sp.proc.pid)
        assert sp.port in ports and 8787 not in ports, ports
        for port in ports - {sp.port}:
            with pytest.raises(httpx.HTTPError):  # a TLS listener answers no plain HTTP
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=3)

        # jobs still run, including one whose task uses worker_client() on the TLS cluster; a cancelled
        # job's .cancel marker is gone once its worker stopped it
        with httpx.Client(base_url=sp.url, headers=user, timeout=60) as c:
            long = c.post(f"/v1/datasets/{DS}/significance", json={"null": "degree", "n": 300, "seed": 2}).json()
            assert wait_job(c, long["id"], until={"running", "succeeded", "failed"}, timeout=60)["state"] == "running"
            assert c.post(f"/v1/jobs/{long['id']}/cancel").json()["state"] == "cancelled"
            marker = root / "results" / f"{long['id']}.cancel"
            deadline = time.monotonic() + 90
            while marker.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not marker.exists()
            job = c.post(f"/v1/datasets/{DS}/significance", json={"null": "er", "n": 4, "seed": 1}).json()
            done = wait_job(c, job["id"])
            assert done["state"] == "succeeded", done
            result_file = root / "results" / f"{job['id']}.json"
            assert result_file.is_file()

        # the data root and what the service wrote in it are the service's user's only
        assert _mode(root) == 0o700
        for name in ("service.db", "service.db-wal", "service.db-shm", "server.lock", "service.id"):
            assert _mode(root / name) == 0o600, name
        assert _mode(result_file) & 0o077 == 0
        for folder in ("results", "stores", "models", "states", "cache"):
            assert _mode(root / folder) & 0o077 == 0, folder


@pytest.mark.cluster
def test_local_cluster_dashboard_only_when_asked():
    from connectome.scheduler import local_cluster
    from connectome.api.testing import free_port

    def close(client):
        from connectome.scheduler import close_client

        close_client(client)

    client = local_cluster(n_workers=1, security=True)
    try:
        assert client.scheduler.address.startswith("tls://")
        # Dask listens on 127.0.0.1:8787 even with dashboard_address=None: that listener is closed
        assert all(sock.fileno() == -1 for sock in client.cluster.scheduler.http_server._sockets.values())
    finally:
        close(client)
    port = free_port()
    client = local_cluster(n_workers=1, dashboard=f"127.0.0.1:{port}")
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        close(client)


def test_settings_and_flags_for_the_dashboard_and_an_external_tls_cluster(tmp_path):
    assert Settings(data_root=tmp_path).dashboard is False
    assert Settings.from_env({"CONNECTOME_API_DASHBOARD": "1"}).dashboard is True
    with pytest.raises(Exception, match="CONNECTOME_API_DASHBOARD"):
        Settings.from_env({"CONNECTOME_API_DASHBOARD": "maybe"})
    env = {"CONNECTOME_API_CLUSTER": "tls://10.0.0.5:8786", "CONNECTOME_API_CLUSTER_TLS_CA": "/etc/ca.pem",
           "CONNECTOME_API_CLUSTER_TLS_CERT": "/etc/me.pem", "CONNECTOME_API_CLUSTER_TLS_KEY": "/etc/me.key"}
    s = Settings.from_env(env)
    assert (s.cluster_tls_ca, s.cluster_tls_cert, s.cluster_tls_key) == ("/etc/ca.pem", "/etc/me.pem", "/etc/me.key")
    with pytest.raises(Exception, match="external cluster"):
        Settings(cluster="local", cluster_tls_ca="/etc/ca.pem", cluster_tls_cert="/etc/me.pem")
    with pytest.raises(Exception, match="give both"):
        Settings(cluster="tls://10.0.0.5:8786", cluster_tls_ca="/etc/ca.pem")
    h = run_cli("serve", "--help")
    assert all(f in h.stdout for f in ("--init", "--dashboard", "--cluster-tls-ca", "--cluster-tls-cert",
                                        "--cluster-tls-key"))


@pytest.mark.cluster
def test_an_external_tls_cluster_is_reached_with_the_operators_files(tmp_path):
    from distributed import LocalCluster
    from distributed.security import Security

    from connectome.api.jobs import _external_client
    from connectome.errors import SchedulerError

    sec = Security.temporary()  # stands for the operator's certificates
    files = {}
    for name, pem in (("ca", sec.tls_ca_file), ("cert", sec.tls_client_cert), ("key", sec.tls_client_key)):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(pem)
    with LocalCluster(n_workers=1, processes=False, security=sec, host="127.0.0.1", dashboard_address=None) as lc:
        address = lc.scheduler_address
        with pytest.raises(SchedulerError, match="--cluster-tls-ca"):
            _external_client(address, None)
        with pytest.raises(SchedulerError, match="--cluster-tls-key"):
            _external_client(address, (str(files["ca"]), str(files["cert"]), str(tmp_path / "missing.pem")))
        client = _external_client(address, (str(files["ca"]), str(files["cert"]), str(files["key"])))
        try:
            assert client.submit(sum, [1, 2]).result(timeout=30) == 3
        finally:
            client.close()


# --------------------------------------------------------------------------- a lost database


def _open(root: Path, **kw) -> Service:
    return Service(Settings(data_root=root, cluster="threads")).open(lock=False, **kw)


def test_a_lost_or_foreign_database_is_refused_unless_init(tmp_path):
    root = tmp_path / "svc"
    svc = _open(root)
    first_id = svc.service_id
    assert first_id and json.loads((root / "service.id").read_text())["service_id"] == first_id
    svc.tokens.create("alice")
    svc.close()
    _open(root).close()  # the same database again: fine

    # missing, emptied (0 bytes) or another service's database: refused, with the way out in the message
    db = root / "service.db"
    backup = tmp_path / "backup.db"
    shutil.copy(db, backup)
    other = _open(tmp_path / "other")
    other.close()
    for damage in ("missing", "empty", "foreign"):
        for f in root.glob("service.db*"):
            f.unlink()
        if damage == "empty":
            db.write_bytes(b"")
        elif damage == "foreign":
            shutil.copy(tmp_path / "other" / "service.db", db)
        with pytest.raises(DatabaseLostError, match="restore service.db") as refused:
            _open(root)
        assert "--init" in str(refused.value) and "\n" not in str(refused.value)
    for f in root.glob("service.db*"):
        f.unlink()
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseLostError, match="cannot be read"):
        _open(root)
    # restoring the backup is the way back
    for f in root.glob("service.db*"):
        f.unlink()
    shutil.copy(backup, db)
    svc = _open(root)
    assert svc.service_id == first_id and [t["user"] for t in svc.tokens.list()] == ["alice"]
    svc.close()

    # without the marker, job results or stores beside an empty database are enough to refuse
    bare = tmp_path / "bare"
    (bare / "results").mkdir(parents=True)
    (bare / "results" / "job_0.json").write_text("{}")
    with pytest.raises(DatabaseLostError, match="1 job results"):
        _open(bare)
    svc = _open(bare, init=True)  # --init: start over explicitly
    assert svc.service_id and json.loads((bare / "service.id").read_text())["service_id"] == svc.service_id
    svc.close()
    _open(bare).close()

    # a database of an older version (records, no identity) is adopted, not refused
    legacy = tmp_path / "legacy"
    svc = _open(legacy)
    svc.tokens.create("carol")
    svc.db.execute("DELETE FROM meta WHERE key = 'service_id'")
    svc.close()
    (legacy / "service.id").unlink()
    svc = _open(legacy)
    assert svc.service_id and [t["user"] for t in svc.tokens.list()] == ["carol"]
    svc.close()


def test_admin_cli_on_a_fresh_root_and_on_a_foreign_database(tmp_path):
    root = tmp_path / "fresh" / "svc"
    r = run_cli("token", "create", "alice", "--data-root", str(root), "--json")
    assert r.returncode == 0, r.stderr
    assert _mode(root) == 0o700 and _mode(root / "service.db") == 0o600 and _mode(root / "service.id") == 0o600
    (root / "service.db").unlink()
    for f in root.glob("service.db-*"):
        f.unlink()
    for argv in (("token", "create", "bob"), ("token", "list"), ("serve", "--cluster", "threads")):
        r = run_cli(*argv, "--data-root", str(root), timeout=120)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1 and "restore service.db" in lines[0] and "--init" in lines[0], r.stderr


def test_policies_outlive_the_database(tmp_path):
    stores = tmp_path / "stores"
    (stores / "alice_ds").mkdir(parents=True)
    (stores / "orphan_ds").mkdir()
    db = Database(tmp_path / "a.db")
    db.migrate()
    Policies(db, stores).set_policy("alice_ds", owner="alice", private=True)
    side = stores / "alice_ds.access.json"
    assert json.loads(side.read_text())["owner"] == "alice" and _mode(side) == 0o600
    fresh = Database(tmp_path / "b.db")
    fresh.migrate()
    p = Policies(fresh, stores)
    alice, bob, admin = Principal("alice", "t1"), Principal("bob", "t2"), Principal("root", "t3", admin=True)
    assert [p.access(x, "alice_ds") for x in (alice, bob, admin)] == ["write", None, "write"]
    # a store in the service's folder with no policy at all: private, no owner, admins only
    assert [p.access(x, "orphan_ds") for x in (alice, bob, admin)] == [None, None, "write"]
    listed = p.policies()
    assert listed["alice_ds"].private and listed["orphan_ds"].private and listed["orphan_ds"].owner is None
    assert not p.policy(DS).private  # datasets outside the service's stores keep their defaults


@pytest.mark.slow
def test_after_the_database_is_emptied_the_server_refuses_and_init_keeps_private_data_private(tmp_path):
    root = tmp_path / "svc"
    env = {"CONNECTOME_HOME": str(tmp_path / "home"), "CONNECTOME_PROGRESS": "0"}

    def server(*args: str) -> ServiceProcess:
        return ServiceProcess(root, cluster="threads", workers=1, env=env, log=tmp_path / "server.log", args=args)

    sp = server().start()
    try:
        with httpx.Client(base_url=sp.url, headers={"Authorization": f"Bearer {sp.token('alice')}"}, timeout=60) as a:
            r = a.post("/v1/datasets/alice_worm/ingest",
                       json={"source": "celegans", "cect_dataset": "celegans_witvliet2021_1", "private": True})
            assert r.status_code == 202, r.text
            assert wait_job(a, r.json()["id"])["state"] == "succeeded"
    finally:
        sp.stop()
    for f in root.glob("service.db*"):  # the database is lost
        f.unlink()
    (root / "service.db").write_bytes(b"")

    with pytest.raises(RuntimeError, match="restore service.db"):
        server().start(timeout=60)

    sp = server("--init").start()
    try:
        bob = {"Authorization": f"Bearer {sp.token('bob')}"}
        alice = {"Authorization": f"Bearer {sp.token('alice')}"}
        assert httpx.get(sp.url + "/v1/datasets/alice_worm", headers=bob).status_code in (403, 404)
        assert httpx.get(sp.url + "/v1/datasets/alice_worm/triad-census", headers=bob).status_code in (403, 404)
        listed = httpx.get(sp.url + "/v1/datasets", headers=bob).json()["datasets"]
        assert "alice_worm" not in [d["name"] for d in listed]
        r = httpx.post(sp.url + "/v1/datasets/alice_worm/ingest", headers=bob, json={"source": "larva"})
        assert r.status_code in (403, 404), r.text
        info = httpx.get(sp.url + "/v1/datasets/alice_worm", headers=alice)  # its owner still reads it
        assert info.status_code == 200 and info.json()["owner"] == "alice", info.text
    finally:
        sp.stop()


# --------------------------------------------------------------------------- token expiry


_SCHEMA_1_TOKENS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tokens (id TEXT PRIMARY KEY, user TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
    admin INTEGER NOT NULL DEFAULT 0, note TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, revoked TEXT);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def test_tokens_expire_and_a_schema_1_database_is_migrated(tmp_path):
    from connectome.api.auth import hash_token

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_SCHEMA_1_TOKENS)
    conn.execute("INSERT INTO tokens (id, user, hash, created) VALUES ('tok_old', 'alice', ?, '2024-01-01')",
                 (hash_token("cx_old-secret"),))
    conn.commit()
    conn.close()
    db = Database(path)
    db.migrate()
    db.migrate()  # idempotent
    assert db.schema_version() == SCHEMA_VERSION == 3
    tokens = TokenStore(db)
    assert tokens.authenticate("cx_old-secret").user == "alice"  # old tokens never expire

    short = tokens.create("bob", expires="90d")
    listed = {t["id"]: t for t in tokens.list()}
    assert listed[short.id]["expires"] and not listed[short.id]["expired"] and listed["tok_old"]["expires"] is None
    assert tokens.authenticate(short.token).user == "bob"
    db.execute("UPDATE tokens SET expires = '2020-01-01T00:00:00+00:00' WHERE id = ?", (short.id,))
    assert tokens.authenticate(short.token) is None
    assert "expired" in tokens.refusal(short.token) and short.token not in tokens.refusal(short.token)
    assert "expired" not in tokens.refusal("cx_unknown")
    assert {t["id"]: t for t in tokens.list()}[short.id]["expired"]
    with pytest.raises(Exception, match="--expires"):
        tokens.create("bob", expires="3 weeks")
    newer = Database(tmp_path / "new.db")
    newer.migrate()
    newer.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(Exception, match="upgrade"):
        newer.migrate()


def test_expired_token_answers_401_saying_so_and_the_cli_shows_expiry(tmp_path):
    root = tmp_path / "svc"
    r = run_cli("token", "create", "alice", "--expires", "2h", "--json", "--data-root", str(root))
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["expires"]
    listed = run_cli("token", "list", "--data-root", str(root))
    assert made["id"] in listed.stdout and "expires " + made["expires"] in listed.stdout
    bad = run_cli("token", "create", "alice", "--expires", "2w", "--data-root", str(root))
    assert bad.returncode == 2 and "--expires" in bad.stderr

    env = {"CONNECTOME_HOME": str(tmp_path / "home"), "CONNECTOME_PROGRESS": "0"}
    with ServiceProcess(root, cluster="threads", workers=1, env=env, log=tmp_path / "server.log") as sp:
        headers = {"Authorization": f"Bearer {made['token']}"}
        assert httpx.get(sp.url + "/v1/whoami", headers=headers).json()["user"] == "alice"
        svc = sp.service()
        try:
            svc.db.execute("UPDATE tokens SET expires = '2020-01-01T00:00:00+00:00' WHERE id = ?", (made["id"],))
        finally:
            svc.close()
        for path in ("/v1/whoami", f"/v1/datasets/{DS}"):
            r = httpx.get(sp.url + path, headers=headers)
            assert r.status_code == 401, r.text
            assert "expired" in r.json()["error"]["message"] and made["token"] not in r.text
    assert "expired " in run_cli("token", "list", "--data-root", str(root)).stdout


# --------------------------------------------------------------------------- cancel markers


def test_cancel_markers_are_removed_once_nothing_runs_the_job(tmp_path, monkeypatch):
    from connectome.api import tasks as api_tasks

    release = threading.Event()

    def sleepy(spec, progress):
        for i in range(600):
            progress(i / 600, "working")
            if release.wait(0.05):
                break
        return {"ok": True}

    monkeypatch.setitem(api_tasks.KINDS, "sleepy", sleepy)
    svc = _open(tmp_path / "svc")
    try:
        svc.jobs.start()
        who = Principal("alice", "tok_a")
        job = svc.jobs.submit("sleepy", None, {}, who, {"params": {}})
        deadline = time.monotonic() + 30
        while svc.jobs.store.get(job.id).state != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        marker = svc.settings.results_dir / f"{job.id}.cancel"
        assert svc.jobs.cancel(job.id).state == "cancelled"
        deadline = time.monotonic() + 30
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not marker.exists(), "the .cancel marker outlived its job"
        assert svc.jobs.store.get(job.id).state == "cancelled"

        # markers left by a previous server: stale ones go; an unrecorded cancel request is honoured
        store = svc.jobs.store
        done = store.create("sleepy", None, {}, user="alice", token_id="tok_a")
        store.update(done.id, state="succeeded")
        pending = store.create("sleepy", None, {}, user="alice", token_id="tok_a")
        results = svc.settings.results_dir
        for job_id in (done.id, pending.id, "job_" + "f" * 32):
            (results / f"{job_id}.cancel").touch()
        svc.jobs.recover()
        assert sorted(results.glob("*.cancel")) == []
        assert store.get(pending.id).state == "cancelled"
    finally:
        release.set()
        svc.close()
