"""The service's parts on their own: settings, tokens at rest, policies, the admin CLI, limits
(413 / 503 / compute queue), the result cache per dataset version, job recovery rules."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time

import pytest

from connectome.api.auth import Policies, Principal, TokenStore, hash_token
from connectome.api.cache import CacheKey, ResultCache
from connectome.api.db import Database
from connectome.api.errors import ApiError
from connectome.api.limits import ComputePool, LimitsMiddleware
from connectome.api.service import Service
from connectome.api.settings import Settings
from helpers import run_cli


def test_settings_from_the_environment_and_safe_defaults(tmp_path):
    s = Settings.from_env({"CONNECTOME_API_HOME": str(tmp_path), "CONNECTOME_API_MAX_JOBS_PER_TOKEN": "5",
                           "CONNECTOME_API_CLUSTER": "tcp://127.0.0.1:8786", "CONNECTOME_API_QUERY_TIMEOUT_S": "2.5"})
    assert (s.data_root, s.max_jobs_per_token, s.cluster, s.query_timeout_s) == (tmp_path, 5, "tcp://127.0.0.1:8786",
                                                                                2.5)
    d = Settings(data_root=tmp_path)
    assert d.host == "127.0.0.1" and d.cluster == "local" and d.base_url == "http://127.0.0.1:8000"
    with pytest.raises(Exception, match="CONNECTOME_API_PORT"):
        Settings.from_env({"CONNECTOME_API_PORT": "eighty"})
    with pytest.raises(Exception, match="cluster must be"):
        Settings(cluster="kubernetes")
    assert not (tmp_path / "service.db").exists()  # settings create nothing


def test_tokens_are_hashed_at_rest(tmp_path):
    db = Database(tmp_path / "s.db")
    db.migrate()
    tokens = TokenStore(db)
    issued = tokens.create("alice", admin=True, note="laptop")
    assert "token" not in repr(issued) and issued.token not in repr(issued)
    raw = (tmp_path / "s.db").read_bytes() + (tmp_path / "s.db-wal").read_bytes()
    assert issued.token.encode() not in raw and hash_token(issued.token).encode() in raw
    assert tokens.authenticate(issued.token) == Principal("alice", issued.id, True)
    assert tokens.authenticate(issued.token + "x") is None
    assert [t["id"] for t in tokens.list()] == [issued.id] and "hash" not in tokens.list()[0]
    assert tokens.revoke(issued.id) and not tokens.revoke(issued.id)
    assert tokens.authenticate(issued.token) is None


def test_policies_owner_grants_and_terms(tmp_path):
    db = Database(tmp_path / "s.db")
    db.migrate()
    p = Policies(db)
    alice, bob, admin = Principal("alice", "t1"), Principal("bob", "t2"), Principal("root", "t3", admin=True)
    p.set_policy("fw", private=True, owner="alice", terms="FlyWire terms", terms_url="https://codex.flywire.ai")
    assert [p.access(x, "fw") for x in (alice, bob, admin)] == ["write", None, "write"]
    p.grant("bob", "fw", "write")
    assert p.access(bob, "fw") == "write"
    assert p.revoke("bob", "fw") and p.access(bob, "fw") is None
    pol = p.policy("fw")
    assert not p.terms_pending(alice, pol) and p.terms_pending(admin, pol)  # owners are exempt
    p.accept_terms(admin, pol)
    assert not p.terms_pending(admin, pol)
    p.set_policy("fw", terms="FlyWire terms, version 2")  # new terms must be accepted again
    assert p.terms_pending(admin, p.policy("fw"))
    assert p.policy("unknown") == p.policy("unknown") and not p.policy("unknown").private


def test_admin_cli_creates_lists_and_revokes_tokens(tmp_path):
    root = str(tmp_path / "svc")
    r = run_cli("token", "create", "alice", "--data-root", root, "--json")
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["token"].startswith("cx_") and made["id"].startswith("tok_")
    listed = run_cli("token", "list", "--data-root", root)
    assert made["id"] in listed.stdout and made["token"] not in listed.stdout
    svc = Service(Settings(data_root=root)).open(lock=False)
    try:
        assert svc.tokens.authenticate(made["token"]).user == "alice"
    finally:
        svc.close()
    assert run_cli("token", "revoke", made["id"], "--data-root", root).returncode == 0
    again = run_cli("token", "revoke", made["id"], "--data-root", root)
    assert again.returncode == 2 and "no active token" in again.stderr
    bad = run_cli("token", "create", "not a user", "--data-root", root)
    assert bad.returncode == 2 and "user" in bad.stderr
    r = run_cli("access", "dataset", "flywire_v783_neurons", "--private", "--owner", "alice", "--terms",
                "FlyWire data terms", "--data-root", root)
    assert r.returncode == 0 and json.loads(r.stdout)["private"] is True
    assert run_cli("access", "grant", "bob", "flywire_v783_neurons", "--data-root", root).returncode == 0
    shown = json.loads(run_cli("access", "show", "flywire_v783_neurons", "--data-root", root).stdout)
    assert shown[0]["grants"] == [{"dataset": "flywire_v783_neurons", "user": "bob", "permission": "read"}]
    h = run_cli("serve", "--help")
    assert h.returncode == 0 and "127.0.0.1" in h.stdout


def test_two_servers_never_share_a_data_root(tmp_path):
    a = Service(Settings(data_root=tmp_path, cluster="threads")).open()
    try:
        with pytest.raises(Exception, match="another server is using"):
            Service(Settings(data_root=tmp_path, cluster="threads")).open()
    finally:
        a.close()
    Service(Settings(data_root=tmp_path, cluster="threads")).open().close()  # free again


def _asgi_call(app, body: bytes, headers: list[tuple[bytes, bytes]], chunks: int = 1) -> tuple[int, dict, bytes]:
    sent: list[dict] = []
    parts = [body[i::chunks] for i in range(chunks)] if chunks > 1 else [body]

    async def receive():
        if parts:
            return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": "POST", "path": "/", "headers": headers}, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent if "body" in m)


def test_limits_middleware_body_size_and_inflight():
    async def echo(scope, receive, send):
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    mw = LimitsMiddleware(echo, max_body_bytes=10, max_inflight=1)
    assert _asgi_call(mw, b"short", [])[0] == 200
    status, _, body = _asgi_call(mw, b"x" * 11, [(b"content-length", b"11")])
    assert status == 413 and json.loads(body)["error"]["code"] == "body_too_large"
    status, _, body = _asgi_call(mw, b"y" * 40, [], chunks=4)  # no Content-Length: counted while streaming
    assert status == 413
    assert _asgi_call(mw, b"", [(b"content-length", b"ten")])[0] == 400
    mw.inflight = 1  # one request already being handled
    status, headers, body = _asgi_call(mw, b"", [])
    assert status == 503 and headers[b"retry-after"] == b"1" and json.loads(body)["error"]["code"] == "overloaded"


def test_compute_pool_single_flight_queue_bound_and_budget():
    pool = ComputePool(threads=1, max_waiting=2)
    release = threading.Event()
    calls = []

    def slow():
        calls.append(1)
        release.wait(5)
        return "done"

    async def scenario():
        first = asyncio.create_task(pool.run("a", slow, budget_s=5))
        second = asyncio.create_task(pool.run("a", slow, budget_s=5))  # joins the same computation
        await asyncio.sleep(0.05)
        with pytest.raises(ApiError) as late:
            await pool.run("b", lambda: "b", budget_s=0.05)  # queued behind "a": budget runs out
        assert late.value.status == 503 and late.value.code == "still_computing"
        assert "Retry-After" in late.value.headers
        with pytest.raises(ApiError) as full:
            await pool.run("c", lambda: "c", budget_s=1)
        assert full.value.code == "overloaded"
        release.set()
        return await first, await second

    try:
        assert asyncio.run(scenario()) == ("done", "done")
        assert len(calls) == 1
        time.sleep(0.1)
        assert pool.pending == 0
    finally:
        pool.close()


def test_cache_is_per_dataset_version(tmp_path):
    cache = ResultCache(tmp_path, entries=1)
    old = CacheKey("ds", "v-1", "census", {"edge_kind": "chemical"})
    new = CacheKey("ds", "v-2", "census", {"edge_kind": "chemical"})
    cache.put(old, b"1")
    assert cache.get(new) is None and cache.get(old) == b"1"
    cache.put(new, b"2")  # evicts the old one from memory; disk keeps it
    assert cache.get(old) == b"1" and cache.get(new) == b"2"
    assert cache.get(CacheKey("ds", "v-1", "census", {"edge_kind": "gap_junction"})) is None


def test_recovery_resumes_or_fails_with_a_reason(tmp_path):
    settings = Settings(data_root=tmp_path, cluster="threads", job_attempts=2)
    svc = Service(settings).open(lock=False)
    try:
        store = svc.jobs.store
        a = store.create("significance", "x", {}, user="u", token_id="t", spec={"params": {}})
        b = store.create("significance", "x", {}, user="u", token_id="t", spec={"params": {}})
        store.update(a.id, state="running", attempts=1)
        store.update(b.id, state="running", attempts=2)
        dispatched = []
        svc.jobs._dispatch = lambda job, spec: dispatched.append(job.id) or job  # no cluster needed here
        assert svc.jobs.recover() == [a.id] and dispatched == [a.id]
        assert store.get(a.id).state == "queued" and "resumed" in store.get(a.id).message
        failed = store.get(b.id)
        assert failed.state == "failed" and failed.error_code == "interrupted"
        assert "2 time(s)" in failed.error_message
    finally:
        svc.close()


def test_job_records_are_committed_durably(tmp_path):
    settings = Settings(data_root=tmp_path, cluster="threads")
    svc = Service(settings).open(lock=False)
    job = svc.jobs.store.create("ingest", "x", {"source": "larva"}, user="u", token_id="t", max_per_token=1)
    with pytest.raises(ApiError) as over:
        svc.jobs.store.create("ingest", "y", {}, user="u", token_id="t", max_per_token=1)
    assert over.value.status == 429 and over.value.headers["Retry-After"]
    svc.close()
    conn = sqlite3.connect(settings.db_path)  # another process's view: the row is there, WAL mode on
    assert conn.execute("SELECT state FROM jobs WHERE id = ?", (job.id,)).fetchone() == ("queued",)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()


def test_significance_request_defaults_to_the_reciprocity_preserving_null():
    from pathlib import Path

    import connectome
    from connectome.api.schemas import SignificanceRequest
    from connectome.api.tasks import KINDS

    req = SignificanceRequest()
    assert req.null == "degree_reciprocal"
    assert SignificanceRequest.model_json_schema()["properties"]["null"]["default"] == "degree_reciprocal"
    store = Path(connectome.__file__).parent / "snapshots" / "celegans_witvliet2021_8"
    params = {**req.model_dump(exclude={"by"}), "n": 2}
    out = KINDS["significance"]({"dataset": "w", "store": str(store), "params": params}, lambda *a: None)
    assert out["null"] == "degree_reciprocal" and out["params"]["null"] == "degree_reciprocal"
    assert out["params"]["warnings"] == [] and out["params"]["reciprocal_pairs"]["observed"] > 0
