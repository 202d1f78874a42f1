"""The HTTP service end to end: `connectome serve` (uvicorn) on 127.0.0.1 in a subprocess,
a real LocalCluster with process workers for jobs, a real SQLite (WAL) store, httpx clients.

Covers the Python-client session of the issue (datasets, census, types, jobs), access rules for
every route (401 / 403), data-use terms, limits (page size, body size, jobs per token) and JSON
errors with stable codes.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from connectome.api.testing import TERMINAL, ServiceProcess, wait_job

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    # dotmotif's parser leaves its grammar file open when the library is called in this process
    pytest.mark.filterwarnings(r"ignore:Exception ignored in.*dotmotif.*grammar\.lark:pytest.PytestUnraisableExceptionWarning"),
]

DS = "celegans_cook2019_herm"


@pytest.fixture(scope="module")
def cave():
    """A loopback CAVE server (the protocol caveclient speaks) with a small generic datastack."""
    from connectome.ingest.testing import CaveTestServer, generic_datastack

    with CaveTestServer([generic_datastack(n_synapses=800, n_neurons=40)], max_rows=300) as srv:
        yield srv


@pytest.fixture(scope="module")
def server(tmp_path_factory, cave):
    root = tmp_path_factory.mktemp("api-service")
    with ServiceProcess(root / "svc", cluster="local", workers=2, env={
        "CONNECTOME_API_CAVE_SERVERS": cave.url,
        "CONNECTOME_HOME": str(root / "home"),
        "CONNECTOME_PROGRESS": "0",
        "CONNECTOME_API_MAX_JOBS_PER_TOKEN": "2",
        "CONNECTOME_API_MAX_BODY_BYTES": "65536",
        "CONNECTOME_API_MAX_PAGE_SIZE": "500",
    }, verbose=True) as sp:  # access log and INFO messages on: tokens must still never appear
        yield sp


@pytest.fixture(scope="module")
def tokens(server):
    return {"alice": server.token("alice"), "bob": server.token("bob"), "root": server.token("root", admin=True)}


def client(server, token=None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=120)


@pytest.fixture(scope="module")
def alice(server, tokens):
    with client(server, tokens["alice"]) as c:
        yield c


@pytest.fixture(scope="module")
def bob(server, tokens):
    with client(server, tokens["bob"]) as c:
        yield c


@pytest.fixture(scope="module")
def root(server, tokens):
    with client(server, tokens["root"]) as c:
        yield c


def assert_error(r: httpx.Response, status: int, code: str, field: str | None = "?") -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["code"] == code, err
    assert err["message"]
    if field != "?":
        assert err["field"] == field, err
    return err


# --------------------------------------------------------------------------- the client session


def test_health_and_openapi(server, alice, root):
    h = httpx.get(server.url + "/v1/health").json()
    assert set(h) == {"status", "version"} and h["status"] == "ok"  # nothing about the cluster without a token
    jobs = root.get("/v1/service").json()["jobs"]
    assert jobs["kind"] == "local" and jobs["workers"] == 2 and jobs["tls"]  # a real LocalCluster, TLS only
    assert jobs["scheduler"].startswith("tls://")  # shown to admins ...
    assert alice.get("/v1/service").json()["jobs"].get("scheduler") is None  # ... and to no one else
    schema = httpx.get(server.url + "/openapi.json").json()
    paths = schema["paths"]
    assert all(p.startswith("/v1/") for p in paths)
    for must in ("/v1/datasets", "/v1/datasets/{name}", "/v1/datasets/{name}/manifest",
                 "/v1/datasets/{name}/triad-census", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/cancel",
                 "/v1/datasets/{name}/ingest", "/v1/datasets/{name}/significance", "/v1/states/{state_id}"):
        assert must in paths, must
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_list_info_manifest_summary(alice):
    names = [d["name"] for d in alice.get("/v1/datasets").json()["datasets"]]
    assert DS in names and "drosophila_larva_winding2023" in names
    info = alice.get(f"/v1/datasets/{DS}").json()
    assert info["nodes"] == 473 and info["location"] == "embedded" and info["access"] == "read"
    assert re.match(r"^v-[0-9a-f]+$", info["version"])
    assert "cell_type" in info["label_columns"] and "synapse_count" in info["edge_columns"]
    man = alice.get(f"/v1/datasets/{DS}/manifest").json()
    assert man["name"] == DS and man["store_version"] == info["version"]
    assert man["tables"]["edges"]["rows"] == info["edges"]
    s = alice.get(f"/v1/datasets/{DS}/summary").json()
    assert s["nodes"] == 473 and s["edge_kinds"]["gap_junction"]["rows"] > 0


def test_triad_census_equals_library_and_is_cached_per_version(alice):
    import connectome as cx

    expected = cx.triad_census(cx.load(DS), edge_kind="chemical", min_synapses=3)
    r1 = alice.get(f"/v1/datasets/{DS}/triad-census", params={"min_synapses": 3})
    assert r1.status_code == 200, r1.text
    body = r1.json()
    assert list(body["counts"]) == list(expected.index)  # the 16 MAN codes, in networkx order
    assert body["counts"] == {k: int(v) for k, v in expected.items()}
    assert body["version"] == alice.get(f"/v1/datasets/{DS}").json()["version"]
    r2 = alice.get(f"/v1/datasets/{DS}/triad-census", params={"min_synapses": 3})
    assert r2.headers["x-cache"] == "hit" and r2.json() == body
    d = alice.get(f"/v1/datasets/{DS}/dyad-census").json()["counts"]
    assert sum(d.values()) == 473 * 472 // 2


def test_connectivity_statistics_equal_library_and_are_cached(alice):
    import connectome as cx

    lib = cx.stats(cx.load(DS), min_synapses=2)
    r = alice.get(f"/v1/datasets/{DS}/statistics", params={"min_synapses": 2})
    assert r.status_code == 200 and r.headers["x-cache"] == "miss", r.text
    s = r.json()
    assert (s["nodes"], s["edges"], s["autapses"]) == (lib["nodes"], lib["edges"], lib["autapses"])
    assert s["reciprocity"] == pytest.approx(lib["reciprocity"])
    assert s["clustering"]["average"] == pytest.approx(lib["clustering"]["average"])
    assert s["degree"] == lib["degree"] and s["params"]["min_synapses"] == 2
    assert alice.get(f"/v1/datasets/{DS}/statistics", params={"min_synapses": 2}).headers["x-cache"] == "hit"
    assert_error(alice.get(f"/v1/datasets/{DS}/statistics", params={"path_samples": 0}), 400, "invalid_parameter",
                 "path_samples")


def test_cell_types_paged_with_a_cursor(alice):
    import connectome as cx

    full = cx.collapse(cx.load(DS), by="super_class", min_synapses=2)
    rows, cursor, pages = [], None, 0
    while True:
        params = {"by": "super_class", "min_synapses": 2, "limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = alice.get(f"/v1/datasets/{DS}/types", params=params).json()
        assert page["total"] == len(full) and len(page["rows"]) <= 4
        rows += page["rows"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == -(-len(full) // 4)
    assert [(r["pre"], r["post"], r["synapse_count"]) for r in rows] == list(
        zip(full["pre_super_class"], full["post_super_class"], full["synapse_count"].astype(int)))
    # a cursor of another query is refused, not silently applied
    first = alice.get(f"/v1/datasets/{DS}/types", params={"by": "super_class", "limit": 4}).json()
    r = alice.get(f"/v1/datasets/{DS}/types", params={"by": "cell_type", "limit": 4, "cursor": first["next_cursor"]})
    assert_error(r, 400, "invalid_cursor", "cursor")
    assert_error(alice.get(f"/v1/datasets/{DS}/types", params={"cursor": "garbage!"}), 400, "invalid_cursor", "cursor")
    assert_error(alice.get(f"/v1/datasets/{DS}/types", params={"by": "colour"}), 400, "unknown_column", "by")


def test_significance_job_runs_on_the_cluster(alice):
    import connectome as cx

    r = alice.post(f"/v1/datasets/{DS}/significance", json={"null": "er", "n": 8, "seed": 3})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}" and job["state"] in ("queued", "running")
    done = wait_job(alice, job["id"])
    assert done["state"] == "succeeded", done
    assert done["progress"] == 1.0 and done["started"] and done["finished"]
    res = alice.get(done["result_url"]).json()
    table = {row["motif"]: row for row in res["table"]}
    census = cx.triad_census(cx.load(DS))
    assert len(table) == 16 and all(table[k]["observed"] == int(v) for k, v in census.items())
    assert res["null"] == "er" and res["n"] == 8
    assert any(j["id"] == job["id"] for j in alice.get("/v1/jobs").json()["jobs"])
    # the same seeded request on the same dataset version: the finished job, not a new one
    same = alice.post(f"/v1/datasets/{DS}/significance", json={"null": "er", "n": 8, "seed": 3})
    assert same.status_code == 200 and same.json()["id"] == job["id"]


def test_ingest_job_makes_a_private_dataset(alice, bob, root, server):
    r = alice.post("/v1/datasets/alice_worm/ingest",
                   json={"source": "celegans", "cect_dataset": "celegans_witvliet2021_1"})
    assert r.status_code == 202, r.text
    done = wait_job(alice, r.json()["id"])
    assert done["state"] == "succeeded", done
    result = alice.get(done["result_url"]).json()
    assert result["nodes"] > 100 and result["version"].startswith("v-")
    time.sleep(0.1)
    mine = {d["name"]: d for d in alice.get("/v1/datasets").json()["datasets"]}
    assert mine["alice_worm"]["private"] and mine["alice_worm"]["owner"] == "alice"
    assert mine["alice_worm"]["access"] == "write" and mine["alice_worm"]["location"] == "service"
    assert alice.get("/v1/datasets/alice_worm/triad-census").status_code == 200
    # another user neither sees it in the list nor reads it
    assert "alice_worm" not in [d["name"] for d in bob.get("/v1/datasets").json()["datasets"]]
    # ... and cannot tell it from a name that does not exist (404 in both cases, same words)
    hidden = assert_error(bob.get("/v1/datasets/alice_worm"), 404, "dataset_not_found", "name")
    unknown = assert_error(bob.get("/v1/datasets/alice_wyrm"), 404, "dataset_not_found", "name")
    assert hidden["message"].replace("alice_worm", "X") == unknown["message"].replace("alice_wyrm", "X")
    assert_error(bob.get("/v1/datasets/alice_worm/triad-census"), 404, "dataset_not_found", "name")
    taken = assert_error(bob.post("/v1/datasets/alice_worm/ingest", json={"source": "larva"}), 403, "forbidden",
                         "name")
    assert "private" not in taken["message"]
    # a 404 never names another user's private dataset
    err = assert_error(bob.get("/v1/datasets/alice_wrm"), 404, "dataset_not_found", "name")
    assert "alice_worm" not in err["message"]
    # the admin sees everything; a grant opens it to bob
    assert root.get("/v1/datasets/alice_worm").status_code == 200
    svc = server.service()
    try:
        svc.policies.grant("bob", "alice_worm", "read")
    finally:
        svc.close()
    assert bob.get("/v1/datasets/alice_worm").json()["access"] == "read"
    assert_error(bob.post("/v1/datasets/alice_worm/ingest", json={"source": "larva"}), 403, "forbidden", "name")
    # nobody but admins overwrites the library's datasets
    assert_error(bob.post(f"/v1/datasets/{DS}/ingest", json={"source": "larva"}), 403, "forbidden", "name")


def test_cave_ingest_job(alice, cave):
    body = {"source": "cave", "datastack": "toy_public", "server": cave.url, "version": 2,
            "cell_tables": ["cell_types"], "min_synapses": 2}
    assert_error(alice.post("/v1/datasets/alice_cave/ingest", json={**body, "server": "http://10.0.0.1:1"}), 400,
                 "invalid_input", "server")
    assert_error(alice.post("/v1/datasets/alice_cave/ingest", json={**body, "timestamp": "2024-01-01T00:00:00Z"}),
                 400, "invalid_input", "timestamp")
    r = alice.post("/v1/datasets/alice_cave/ingest", json=body)
    assert r.status_code == 202, r.text
    done = wait_job(alice, r.json()["id"], timeout=240)
    assert done["state"] == "succeeded", done
    info = alice.get("/v1/datasets/alice_cave").json()
    assert info["release"]["materialization"] == 2 and info["voxel_resolution_nm"] == [8.0, 8.0, 40.0]
    assert info["edges"] > 0 and info["owner"] == "alice"
    census = alice.get("/v1/datasets/alice_cave/triad-census").json()["counts"]
    assert sum(census.values()) == info["nodes"] * (info["nodes"] - 1) * (info["nodes"] - 2) // 6


def test_cancel_a_running_job_then_the_cluster_still_works(alice):
    r = alice.post(f"/v1/datasets/{DS}/significance", json={"null": "degree", "n": 5000, "seed": 1})
    assert r.status_code == 202, r.text
    jid = r.json()["id"]
    wait_job(alice, jid, until={"running"} | TERMINAL, timeout=60)
    c = alice.post(f"/v1/jobs/{jid}/cancel")
    assert c.status_code == 200 and c.json()["state"] == "cancelled"
    time.sleep(1.0)
    assert alice.get(f"/v1/jobs/{jid}").json()["state"] == "cancelled"
    assert_error(alice.get(f"/v1/jobs/{jid}/result"), 409, "job_cancelled", "job_id")
    again = alice.post(f"/v1/datasets/{DS}/significance", json={"null": "er", "n": 2, "seed": 9})
    assert wait_job(alice, again.json()["id"])["state"] == "succeeded"


def test_jobs_per_token_are_bounded_with_429(alice, bob):
    ids = []
    try:
        for seed in range(2):
            r = bob.post(f"/v1/datasets/{DS}/significance", json={"null": "degree", "n": 5000, "seed": seed})
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        r = bob.post(f"/v1/datasets/{DS}/significance", json={"null": "er", "n": 2, "seed": 0})
        assert_error(r, 429, "too_many_jobs")
        assert int(r.headers["retry-after"]) >= 1
        # the bound is per token: alice is not affected
        other = alice.post(f"/v1/datasets/{DS}/significance", json={"null": "er", "n": 2, "seed": 5})
        assert other.status_code == 202
        # another user's job: 403
        assert_error(alice.get(f"/v1/jobs/{ids[0]}"), 403, "forbidden", "job_id")
        assert_error(alice.post(f"/v1/jobs/{ids[0]}/cancel"), 403, "forbidden", "job_id")
        wait_job(alice, other.json()["id"])
    finally:
        for jid in ids:
            bob.post(f"/v1/jobs/{jid}/cancel")


# --------------------------------------------------------------------------- access rules


def test_every_route_needs_a_token(server, tokens):
    """Each route of the OpenAPI schema: 401 without a token, with a malformed or revoked one."""
    schema = httpx.get(server.url + "/openapi.json").json()
    public = {"/v1/health", "/v1/states/{state_id}", "/v1/states/segment_properties/{properties_id}/info"}
    revoked = server.token("carol")
    svc = server.service()
    try:
        tid = [t["id"] for t in svc.tokens.list("carol")][0]
        assert svc.tokens.revoke(tid)
    finally:
        svc.close()
    fill = {"name": DS, "job_id": "job_" + "0" * 32, "model_id": "job_" + "0" * 32, "state_id": "a" * 64,
            "properties_id": "b" * 64}
    seen = set()
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        for path, ops in schema["paths"].items():
            for method in ops:
                seen.add((method, path))
                url = re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], path)
                if path in public:
                    assert "security" not in ops[method]
                    continue
                assert ops[method]["security"] == [{"HTTPBearer": []}], path
                for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic dXNlcjpw"},
                                {"Authorization": f"Bearer {revoked}"}):
                    r = anon.request(method, url, headers=headers, json={"garbage": True})
                    assert_error(r, 401, "unauthenticated", "Authorization")
                    assert r.headers["www-authenticate"].startswith("Bearer")
    assert len(seen) >= 20
    # valid tokens pass authentication on every route (whatever the route then says)
    with client(server, tokens["alice"]) as c:
        for method, path in seen:
            url = re.sub(r"\{(\w+)\}", lambda m: fill[m.group(1)], path)
            assert c.request(method, url, json={"__not_a_field__": 1}).status_code != 401, (method, path)


def test_every_dataset_route_hides_a_private_dataset(server, alice, bob):
    svc = server.service()
    try:
        svc.policies.set_policy("celegans_varshney2011", private=True, owner="alice")
    finally:
        svc.close()
    schema = httpx.get(server.url + "/openapi.json").json()
    invalid = {"__not_a_field__": 1}  # access is decided before the body is validated: no job starts
    checked = 0
    for path, ops in schema["paths"].items():
        if not path.startswith("/v1/datasets/{name}"):
            continue
        for method in ops:
            url = path.replace("{name}", "celegans_varshney2011").replace("{model_id}", "job_" + "1" * 32)
            if path.endswith("/ingest"):  # a name that is not free: refused without saying whose or why
                assert_error(bob.request(method, url, json=invalid), 403, "forbidden", "name")
            else:  # exactly as an unknown name
                assert_error(bob.request(method, url, json=invalid), 404, "dataset_not_found", "name")
            assert alice.request(method, url, json=invalid).status_code in (200, 400, 404), (method, path)
            checked += 1
    assert checked >= 10
    assert "celegans_varshney2011" not in [d["name"] for d in bob.get("/v1/datasets").json()["datasets"]]


def test_data_use_terms_must_be_accepted(server, bob):
    svc = server.service()
    try:
        svc.policies.set_policy("celegans_cook2019_male", terms="Cite Cook et al. 2019; no redistribution.",
                                terms_url="https://example.org/terms")
    finally:
        svc.close()
    info = bob.get("/v1/datasets/celegans_cook2019_male").json()
    assert info["terms"] == {"text": "Cite Cook et al. 2019; no redistribution.", "url": "https://example.org/terms",
                             "accepted": False}
    err = assert_error(bob.get("/v1/datasets/celegans_cook2019_male/summary"), 403, "terms_not_accepted", "name")
    assert "https://example.org/terms" in err["message"]
    ok = bob.post("/v1/datasets/celegans_cook2019_male/terms")
    assert ok.status_code == 200 and ok.json()["accepted"].endswith("+00:00")
    assert bob.get("/v1/datasets/celegans_cook2019_male/summary").status_code == 200
    assert bob.get("/v1/datasets/celegans_cook2019_male").json()["terms"]["accepted"] is True
    assert_error(bob.post(f"/v1/datasets/{DS}/terms"), 400, "no_terms", "name")


# --------------------------------------------------------------------------- errors and limits


def test_errors_are_json_with_stable_codes(alice, server):
    assert_error(alice.get("/v1/nope"), 404, "not_found")
    assert_error(alice.delete("/v1/datasets"), 405, "method_not_allowed")
    assert_error(alice.get("/v1/datasets/bad name!"), 400, "invalid_parameter", "name")
    assert_error(alice.get("/v1/datasets/no_such_dataset/summary"), 404, "dataset_not_found", "name")
    assert_error(alice.get("/v1/jobs/not-a-job"), 400, "invalid_parameter", "job_id")
    assert_error(alice.get("/v1/jobs/job_" + "f" * 32), 404, "job_not_found", "job_id")
    r = alice.post(f"/v1/datasets/{DS}/significance", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(r, 400, "invalid_json", "body")
    assert_error(alice.post(f"/v1/datasets/{DS}/significance", json={"null": "banana"}), 400, "invalid_parameter", "null")
    assert_error(alice.post(f"/v1/datasets/{DS}/significance", json={"n": 0}), 400, "invalid_parameter", "n")
    assert_error(alice.post(f"/v1/datasets/{DS}/significance", json={"n": 5, "extra": 1}), 400, "invalid_parameter",
                 "extra")
    assert_error(alice.post("/v1/datasets/x_new/ingest", json={"source": "celegans", "cect_dataset": "worm9"}), 400,
                 "invalid_input", "cect_dataset")
    assert_error(alice.post("/v1/datasets/x_new/ingest", json={"source": "tables", "edges": "../../etc/passwd"}), 400,
                 "invalid_input", "edges")
    assert_error(alice.get(f"/v1/datasets/{DS}/types", params={"limit": 501}), 400, "invalid_parameter", "limit")
    assert_error(alice.get(f"/v1/datasets/{DS}/types", params={"min_synapses": "many"}), 400, "invalid_parameter",
                 "min_synapses")


def test_request_body_size_is_limited(alice):
    big = {"null": "er", "n": 2, "pad": "x" * 70_000}
    assert_error(alice.post(f"/v1/datasets/{DS}/significance", json=big), 413, "body_too_large", "body")

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(20):
            yield b" " * 8192

    r = alice.post(f"/v1/datasets/{DS}/significance", content=chunks(), headers={"content-type": "application/json"})
    assert_error(r, 413, "body_too_large", "body")


# --------------------------------------------------------------------------- motifs, links, models

FFL = "A -> B [weight >= 3]\nB -> C [weight >= 3]\nA -> C [weight >= 3]"


def test_motif_count_equals_library_and_is_cached(alice):
    import connectome as cx

    expected = cx.count_motifs(cx.load(DS), FFL)
    r = alice.post(f"/v1/datasets/{DS}/motifs/count", json={"query": FFL, "timeout_s": 30})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == expected > 0 and r.headers["x-cache"] == "miss"
    again = alice.post(f"/v1/datasets/{DS}/motifs/count", json={"query": FFL})
    assert again.json()["count"] == expected and again.headers["x-cache"] == "hit"
    # DotMotif's options, as the library takes them (and cached apart)
    for opts in ({"exclude_automorphisms": True}, {"ignore_direction": True}):
        want = cx.count_motifs(cx.load(DS), "A -> B [weight >= 10]\nB -> C [weight >= 10]", **opts)
        got = alice.post(f"/v1/datasets/{DS}/motifs/count",
                         json={"query": "A -> B [weight >= 10]\nB -> C [weight >= 10]", **opts}).json()
        assert got["count"] == want, opts


def test_motif_matches_page_through_every_match_once(alice):
    import connectome as cx

    expected = cx.find_motifs(cx.load(DS), FFL)
    seen, cursor = [], None
    while True:
        body = {"query": FFL, "limit": 250}
        if cursor:
            body["cursor"] = cursor
        page = alice.post(f"/v1/datasets/{DS}/motifs/matches", json=body).json()
        assert page["columns"] == ["A", "B", "C"] and page["total"] == len(expected) and not page["truncated"]
        assert all(isinstance(v, str) for m in page["matches"] for v in m.values())  # root ids as strings
        seen += [tuple(int(m[k]) for k in "ABC") for m in page["matches"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [tuple(int(x) for x in row) for row in expected.itertuples(index=False)]
    r = alice.post(f"/v1/datasets/{DS}/motifs/matches", json={"query": FFL + "\nA !> C", "cursor": cursor or "x"})
    assert_error(r, 400, "invalid_cursor", "cursor")


def test_malformed_motif_queries_are_400_with_line_and_column(alice):
    r = alice.post(f"/v1/datasets/{DS}/motifs/count", json={"query": "A -> B\nB -> C [weight >= 5\nC -> A"})
    err = assert_error(r, 400, "query_syntax", "query")
    assert err["line"] == 3 and err["column"] >= 1 and "line 3" in err["message"]
    err = assert_error(alice.post(f"/v1/datasets/{DS}/motifs/matches", json={"query": "A -> B\nA.colour == \"red\""}),
                       400, "invalid_query", "query")
    assert "colour" in err["message"]
    assert_error(alice.post(f"/v1/datasets/{DS}/motifs/count", json={"query": "A -> B", "timeout_s": 1e6}), 400,
                 "invalid_parameter", "timeout_s")
    assert_error(alice.post(f"/v1/datasets/{DS}/motifs/count", json={"query": ""}), 400, "invalid_parameter", "query")


def test_links_store_states_served_without_a_token(alice, server):
    r = alice.post(f"/v1/datasets/{DS}/links", json={"select": {"cell_type": "AVA"}, "color_by": "cell_type",
                                                     "source": "precomputed://gs://example/seg", "store": True})
    assert r.status_code == 200, r.text
    link = r.json()
    assert link["state_url"] == f"{server.url}/v1/states/{link['state_id']}" and link["state_url"] in link["url"]
    st = httpx.get(link["state_url"])  # what Neuroglancer does from the browser: no token
    assert st.status_code == 200 and st.headers["access-control-allow-origin"] == "*"
    layer = st.json()["layers"][0]
    assert len(layer["segments"]) == 2 and all(isinstance(s, str) for s in layer["segments"])
    # the service runs on 127.0.0.1: the link says that it opens only on this machine
    assert any("this machine" in w for w in link["warnings"]), link
    assert alice.post(f"/v1/datasets/{DS}/links", json={"root_ids": ["1"], "source": "hemibrain:v1.2"}
                      ).json()["error"]["code"] == "invalid_input"  # a known dataset name is accepted as source
    assert_error(alice.post(f"/v1/datasets/{DS}/links", json={"root_ids": ["1"], "source": "fanc_v4"}), 400,
                 "invalid_parameter", "source")
    missing = assert_error(httpx.get(f"{server.url}/v1/states/{'0' * 64}"), 404, "not_found")
    assert "/" not in missing["message"] and str(server.data_root) not in missing["message"]  # no server paths
    assert_error(alice.post(f"/v1/datasets/{DS}/links", json={"select": {"cell_type": "AVA"}}), 400, "no_volume",
                 "source")
    assert_error(alice.post(f"/v1/datasets/{DS}/links", json={"root_ids": ["1"], "source": "flywire"}), 400,
                 "invalid_input", "root_ids")
    assert_error(alice.post(f"/v1/datasets/{DS}/links", json={"root_ids": ["1"], "source": "precomputed://file:///etc"}),
                 400, "invalid_parameter", "source")
    assert_error(alice.post(f"/v1/datasets/{DS}/links", json={"root_ids": ["18446744073709551616"]}), 400,
                 "invalid_parameter", "root_ids.0")
    page = alice.post(f"/v1/datasets/{DS}/motifs/matches",
                      json={"query": FFL, "limit": 2, "link": True, "source": "precomputed://gs://example/seg"}).json()
    assert page["link"].startswith("https://") and page["matches"][0]["A"] in page["link"]


def test_training_job_then_predictions_and_their_link(alice):
    r = alice.post(f"/v1/datasets/{DS}/models", json={"label": "super_class", "model": "sage", "epochs": 5, "seed": 1})
    assert r.status_code == 202, r.text
    job = wait_job(alice, r.json()["id"], timeout=240)
    assert job["state"] == "succeeded", job
    model_id = job["id"]
    models = alice.get(f"/v1/datasets/{DS}/models").json()["models"]
    assert model_id in [m["id"] for m in models]
    info = alice.get(f"/v1/datasets/{DS}/models/{model_id}").json()
    assert 0.0 <= info["metrics"]["test"]["accuracy"] <= 1.0 and info["params"]["label"] == "super_class"
    rows, cursor = [], None
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = alice.get(f"/v1/datasets/{DS}/models/{model_id}/predictions", params=params).json()
        rows += page["rows"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(rows) == page["total"] == 473
    assert all(isinstance(r["root_id"], str) for r in rows)
    assert {r["predicted"] for r in rows} <= {"sensory", "interneuron", "motor", "muscle", "other"}
    link = alice.get(f"/v1/datasets/{DS}/models/{model_id}/link",
                     params={"source": "precomputed://gs://example/seg"}).json()
    assert link["url"].startswith("https://")
    assert_error(alice.get(f"/v1/datasets/{DS}/models/job_{'2' * 32}"), 404, "model_not_found", "model_id")


def test_models_and_predictions_belong_to_their_owner(server, tokens, alice, bob, root):
    """Another user's models are neither listed nor readable (403 as for jobs); admins see all."""
    mine = alice.get(f"/v1/datasets/{DS}/models").json()["models"]
    assert mine, "test_training_job_then_predictions_and_their_link trains alice's model first"
    model_id = mine[0]["id"]
    assert model_id not in [m["id"] for m in bob.get(f"/v1/datasets/{DS}/models").json()["models"]]
    for path in (f"/models/{model_id}", f"/models/{model_id}/predictions", f"/models/{model_id}/link"):
        assert_error(bob.get(f"/v1/datasets/{DS}{path}", params={"source": "microns"} if "link" in path else None),
                     403, "forbidden", "model_id")
        assert root.get(f"/v1/datasets/{DS}{path}", params={"source": "microns"} if "link" in path else None
                        ).status_code == 200
    assert model_id in [m["id"] for m in root.get(f"/v1/datasets/{DS}/models").json()["models"]]


def test_damaged_or_missing_result_files_are_never_served(server, alice):
    """A result file edited, cut or deleted on the server answers 410 with a code, never a 500 or wrong data."""
    model_id = alice.get(f"/v1/datasets/{DS}/models").json()["models"][0]["id"]
    preds = server.data_root / "models" / model_id / "predictions.parquet"
    raw = preds.read_bytes()
    result = server.data_root / "results" / f"{model_id}.json"
    good = result.read_bytes()
    try:
        preds.write_bytes(raw[:-100])  # truncated predictions: checked against the job's checksum
        r = alice.get(f"/v1/datasets/{DS}/models/{model_id}/predictions", params={"limit": 7})
        assert_error(r, 410, "predictions_corrupt", "model_id")
        preds.unlink()
        assert_error(alice.get(f"/v1/datasets/{DS}/models/{model_id}/link", params={"source": "microns"}), 410,
                     "predictions_missing", "model_id")
        result.write_bytes(good.replace(b'"predictions": 473', b'"predictions": 474'))  # edited
        assert_error(alice.get(f"/v1/jobs/{model_id}/result"), 410, "result_corrupt", "job_id")
        result.unlink()
        assert_error(alice.get(f"/v1/jobs/{model_id}/result"), 410, "result_missing", "job_id")
    finally:
        preds.write_bytes(raw)
        result.write_bytes(good)
    assert alice.get(f"/v1/jobs/{model_id}/result").json()["predictions"] == 473


def test_tokens_are_never_logged(server, tokens, alice):
    alice.get("/v1/whoami")
    httpx.get(server.url + "/v1/whoami", headers={"Authorization": "Bearer cx_wrong-token-for-the-log"})
    # a token put in the URL is not accepted (header only) and never reaches the access log either
    assert httpx.get(server.url + "/v1/whoami", params={"token": tokens["bob"]}).status_code == 401
    alice.get("/v1/whoami", params={"access_token": "cx_in-a-query-string", "api_key": "k-secret"})
    log = server.log_text()
    assert '"GET /v1/whoami HTTP/1.1" 200' in log and "job" in log  # requests and jobs are logged ...
    assert "token=REDACTED" in log and "api_key=REDACTED" in log
    for secret in [*tokens.values(), "cx_wrong-token-for-the-log", "cx_in-a-query-string", "k-secret"]:
        assert secret not in log  # ... tokens never
    assert "Bearer" not in log


def test_unlabelled_neurons_are_said_and_chosen_over_http(alice):
    import connectome as cx

    t = alice.get(f"/v1/datasets/{DS}/types", params={"by": "nt_type", "limit": 500}).json()
    lib = cx.collapse(cx.load(DS), by="nt_type")
    n = lib.attrs["unlabelled_neurons"]
    assert n > 0 and t["unlabelled"]["unlabelled"] == "pool" and t["unlabelled"]["unlabelled_neurons"] == n
    assert any(f"{n} of " in w for w in t["warnings"]) and "unknown" in {r["pre"] for r in t["rows"]}
    d = alice.get(f"/v1/datasets/{DS}/types", params={"by": "nt_type", "unlabelled": "drop", "limit": 500}).json()
    assert "unknown" not in {r["pre"] for r in d["rows"]} and d["warnings"] == []
    ids = [str(x) for x in cx.ids_of(cx.load(DS), cell_type="AVA")]
    p = alice.get(f"/v1/datasets/{DS}/partners", params={"ids": ids, "by": "nt_type"}).json()
    assert any("partners(by='nt_type')" in w for w in p["warnings"])
    k = alice.get(f"/v1/datasets/{DS}/partners", params={"ids": ids, "by": "nt_type", "unlabelled": "keep"}).json()
    assert k["warnings"] == [] and "unknown" not in {r["partner_nt_type"] for r in k["rows"]}
    assert_error(alice.get(f"/v1/datasets/{DS}/types", params={"by": "nt_type", "unlabelled": "ignore"}), 400,
                 "invalid_parameter", "unlabelled")
