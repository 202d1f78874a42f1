"""Property-based fuzzing of every endpoint from the service's own OpenAPI schema (schemathesis).

The real server (`connectome serve`, uvicorn on 127.0.0.1, LocalCluster) gets, for every
operation in /openapi.json, a fixed number of schema-conforming requests with random path
parameters, the same with real ones (a real dataset, a real job and model), and schema-violating
(negative) requests. Checks: never a 5xx, only documented status codes, JSON responses that
match the documented schemas. Bounded: a fixed number of examples per operation, no shrinking.
"""

from __future__ import annotations

import time

import httpx
import pytest

from connectome.api.testing import ServiceProcess

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

DS = "celegans_cook2019_herm"
POSITIVE, FIXED, NEGATIVE = 12, 12, 8  # examples per operation and mode


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("api-fuzz")
    sp = ServiceProcess(root / "svc", cluster="local", workers=1, env={
        "CONNECTOME_HOME": str(root / "home"), "CONNECTOME_PROGRESS": "0",
        "CONNECTOME_API_MAX_JOBS_PER_TOKEN": "2", "CONNECTOME_API_QUERY_TIMEOUT_S": "10"})
    sp.start()
    try:
        yield sp
    finally:
        sp.stop()


def _real_ids(server, token: str) -> dict[str, str]:
    """A finished job and model to aim at, so fuzzed requests reach past the 404s."""
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        job = c.post(f"/v1/datasets/{DS}/models", json={"label": "super_class", "model": "mlp", "epochs": 2}).json()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            state = c.get(f"/v1/jobs/{job['id']}").json()["state"]
            if state in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.3)
        assert state == "succeeded"
        link = c.post(f"/v1/datasets/{DS}/links", json={"select": {"cell_type": "AVA"}, "store": True,
                                                        "source": "precomputed://gs://example/seg"}).json()
        state_id = link["state_id"]
        props = c.get(f"/v1/states/{state_id}").json()["layers"][0]["source"][1]["url"].rsplit("/", 1)[-1]
    return {"name": DS, "job_id": job["id"], "model_id": job["id"], "state_id": state_id, "properties_id": props}


def test_fuzz_every_endpoint_from_the_openapi_schema(server):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    token = server.token("fuzzer")
    fixed = _real_ids(server, token)
    raw = httpx.get(server.url + "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    headers = {"Authorization": f"Bearer {token}"}
    statuses: dict[str, set[int]] = {}
    failures: list[str] = []
    sent = [0]

    def run(op, mode, n: int, path_parameters=None) -> None:
        strategy = op.as_strategy(generation_mode=mode, path_parameters=path_parameters)

        @settings(max_examples=n, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def one(case) -> None:
            response = case.call(base_url=server.url, headers=headers, timeout=60)
            statuses.setdefault(op.label, set()).add(response.status_code)
            sent[0] += 1
            if response.status_code >= 500:
                failures.append(f"{op.label} -> {response.status_code}: {response.text[:300]}\n{case.as_curl_command()}")
            if mode == schemathesis.GenerationMode.POSITIVE:
                case.validate_response(response, checks=checks, headers=headers)

        one()

    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) == sum(len(v) for v in raw["paths"].values()) >= 25
    # first, real successes match their documented schemas (random queries rarely parse)
    ffl = "A -> B [weight >= 3]\nB -> C [weight >= 3]\nA -> C [weight >= 3]"
    good = {
        "POST /v1/datasets/{name}/motifs/count": {"body": {"query": ffl}},
        "POST /v1/datasets/{name}/motifs/matches": {"body": {"query": ffl, "limit": 5, "link": True,
                                                             "source": "precomputed://gs://example/seg"}},
        "POST /v1/datasets/{name}/links": {"body": {"select": {"super_class": "motor"}, "color_by": "cell_type",
                                                    "source": "flywire", "store": True}},
        "GET /v1/datasets/{name}/types": {"query": {"by": "super_class", "limit": 3}},
        "GET /v1/datasets/{name}/models/{model_id}/link": {"query": {"source": "microns"}},
        "POST /v1/datasets/{name}/significance": {"body": {"null": "er", "n": 2, "seed": 7}},
    }
    by_label = {op.label: op for op in operations}
    for label, kwargs in good.items():
        op = by_label[label]
        params = {p.name for p in op.path_parameters}
        case = op.Case(path_parameters={k: fixed[k] for k in params}, media_type="application/json"
                       if "body" in kwargs else None, **kwargs)
        response = case.call(base_url=server.url, headers=headers, timeout=120)
        assert response.status_code in (200, 202), (label, response.status_code, response.text[:300])
        case.validate_response(response, checks=checks, headers=headers)
        sent[0] += 1
    for op in operations:
        params = {p.name for p in op.path_parameters}
        run(op, schemathesis.GenerationMode.POSITIVE, POSITIVE)
        if params:
            run(op, schemathesis.GenerationMode.POSITIVE, FIXED, {k: fixed[k] for k in params})
        # negative: violate the body and query of real resources, or else the path parameters
        aim = {k: fixed[k] for k in params} if (op.query or op.body) else None
        try:
            run(op, schemathesis.GenerationMode.NEGATIVE, NEGATIVE, aim)
        except Unsatisfiable:  # nothing to violate: no parameters, no body
            assert not op.query and not op.body and not params, op.label
    # leave no fuzzed job running
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
        for state in ("queued", "running"):
            for job in c.get("/v1/jobs", params={"state": state}).json()["jobs"]:
                c.post(f"/v1/jobs/{job['id']}/cancel")
    assert not failures, "\n\n".join(failures[:10])
    print(f"{sent[0]} fuzzed requests; statuses by operation:")
    for label, codes in sorted(statuses.items()):
        print(f"  {label}: {sorted(codes)}")
    assert sent[0] >= 25 * (POSITIVE + NEGATIVE)
    # the fuzzer got past authentication and validation on real resources
    assert any(200 in s for s in statuses.values())
    assert 200 in statuses["GET /v1/datasets/{name}/triad-census"]
    assert all(code < 500 for s in statuses.values() for code in s)


def _string_fields(schema: dict, raw: dict, seen: frozenset = frozenset()) -> set[str]:
    """Names of the string properties of a (possibly referenced, possibly union) body schema."""
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return set() if name in seen else _string_fields(raw["components"]["schemas"][name], raw, seen | {name})
    out: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            out |= _string_fields(sub, raw, seen)
    for prop, sub in schema.get("properties", {}).items():
        types = {sub.get("type")} | {s.get("type") for s in sub.get("anyOf", [])}
        if "string" in types:
            out.add(prop)
    return out


def test_fuzz_hostile_strings_in_every_string_field(server):
    """Every string parameter and body field, filled with NUL characters, paths, huge and odd text:
    a clear JSON 4xx (or a success), never a 5xx or a reset connection."""
    from hypothesis import strategies as st

    token = server.token("hostile")
    raw = httpx.get(server.url + "/openapi.json").json()
    hostile = st.one_of(
        st.text(max_size=30).map(lambda s: s + "\x00" + s),
        st.sampled_from(["\x00", "%00", "../../../etc/passwd", "/etc/passwd", "a" * 5000, "\U0001f4a5" * 200,
                         "' OR 1=1 --", "${jndi:ldap://x}", "\r\nX-Injected: 1", "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]),
    )
    fixed = {"name": DS, "job_id": "job_" + "0" * 32, "model_id": "job_" + "0" * 32, "state_id": "0" * 64,
             "properties_id": "0" * 64}
    base_bodies = {"/v1/datasets/{name}/ingest": {"source": "tables", "edges": "e.csv"},
                   "/v1/datasets/{name}/motifs/count": {"query": "A -> B"},
                   "/v1/datasets/{name}/motifs/matches": {"query": "A -> B"}}
    failures: list[str] = []
    sent = [0]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        for path, ops in raw["paths"].items():
            for method, op in ops.items():
                url = path
                for k, v in fixed.items():
                    url = url.replace("{" + k + "}", v)
                queries = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"
                           and "string" in ({p["schema"].get("type")} | {s.get("type") for s in p["schema"].get("anyOf", [])})]
                body_schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                fields = sorted(_string_fields(body_schema, raw)) if body_schema else []
                targets = [("query", q) for q in queries] + [("body", f) for f in fields]
                for where, fld in targets:
                    _hostile_case(c, hostile, method, path, url, where, fld, base_bodies.get(path, {}), failures,
                                  sent)()
    assert not failures, "\n".join(failures[:10])
    assert sent[0] >= 60


def _hostile_case(c, hostile, method, path, url, where, fld, base, failures, sent):
    """A hypothesis test sending hostile values in one field of one operation."""
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(max_examples=6, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(value=hostile)
    def one(value) -> None:
        kwargs: dict = {"params": {fld: value}} if where == "query" else {"json": {**base, fld: value}}
        try:
            r = c.request(method.upper(), url, **kwargs)
        except httpx.HTTPError as exc:
            failures.append(f"{method} {path} {where}.{fld}={value[:40]!r}: {exc!r}")
            return
        sent[0] += 1
        if r.status_code >= 500 or not r.headers.get("content-type", "").startswith("application/json"):
            failures.append(f"{method} {path} {where}.{fld}={value[:40]!r} -> {r.status_code}: {r.text[:200]}")
        elif r.status_code >= 400:
            assert r.json()["error"]["code"]

    return one
