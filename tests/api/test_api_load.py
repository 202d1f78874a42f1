"""Load on the real server (uvicorn on 127.0.0.1, loopback only, bounded in count and time):
50 concurrent clients on cached endpoints (summaries, censuses, motif counts, the partner table)
get answers with zero errors (p50/p99 reported);
a server with a small in-flight bound sheds the excess with 503 + Retry-After and stays up.
Speed itself is measured in benchmarks/bench_api.py, not asserted here.
"""

from __future__ import annotations

import httpx
import pytest

from connectome.api.testing import ServiceProcess, run_load

pytestmark = [pytest.mark.slow]

DS = "celegans_cook2019_herm"
FFL = "A -> B [weight >= 3]\nB -> C [weight >= 3]\nA -> C [weight >= 3]"
AVA = ("731397032572649", "1526757977875442")  # AVAL, AVAR
PARTNERS = f"/v1/datasets/{DS}/partners?ids={AVA[0]}&ids={AVA[1]}&direction=both&by=cell_type&min_synapses=2"
CACHED = [
    ("GET", f"/v1/datasets/{DS}/triad-census", None),
    ("GET", f"/v1/datasets/{DS}/summary", None),
    ("GET", f"/v1/datasets/{DS}/types?by=super_class&limit=50", None),
    ("POST", f"/v1/datasets/{DS}/motifs/count", {"query": FFL}),
    ("GET", f"/v1/datasets/{DS}/dyad-census", None),
    ("GET", f"/v1/datasets/{DS}/statistics", None),
    ("GET", PARTNERS, None),  # a new read route: cached per dataset version like the others
]


def _warm(sp: ServiceProcess, token: str) -> None:
    with httpx.Client(base_url=sp.url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
        for method, path, body in CACHED:
            r = c.request(method, path, json=body)
            assert r.status_code == 200, r.text
            assert c.request(method, path, json=body).headers["x-cache"] == "hit"
        assert c.get(PARTNERS).json()["total"] > 0  # the ids are AVA's: a real table, not an empty one


def test_fifty_clients_on_cached_endpoints_see_no_errors(tmp_path):
    sp = ServiceProcess(tmp_path / "svc", cluster="threads", env={
        "CONNECTOME_HOME": str(tmp_path / "home"), "CONNECTOME_PROGRESS": "0"}).start()
    try:
        token = sp.token("loader")
        _warm(sp, token)
        result = run_load(sp.url, token, CACHED, clients=50, total=1500, max_seconds=90)
        print("\n" + result.summary())
        assert result.errors == 0, result.samples
        assert result.requests == 1500 and result.statuses == {200: 1500}
        assert result.p50_ms <= result.p99_ms < 30_000
        assert httpx.get(sp.url + "/v1/health").json()["status"] == "ok"
    finally:
        sp.stop()


def test_overload_is_answered_503_with_retry_after_and_the_server_stays_up(tmp_path):
    sp = ServiceProcess(tmp_path / "svc", cluster="threads", env={
        "CONNECTOME_HOME": str(tmp_path / "home"), "CONNECTOME_PROGRESS": "0",
        "CONNECTOME_API_MAX_INFLIGHT": "3"}).start()
    try:
        token = sp.token("loader")
        _warm(sp, token)
        result = run_load(sp.url, token, CACHED, clients=60, total=1200, max_seconds=90)
        print("\n" + result.summary(), result.statuses)
        assert set(result.statuses) <= {200, 503}, result.samples  # no failed connections, no 500s
        assert result.statuses.get(503, 0) > 0 and result.statuses.get(200, 0) > 0
        assert result.missing_retry_after == 0
        # once the burst is over, everything is answered again
        with httpx.Client(base_url=sp.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            assert all(c.request(m, p, json=b).status_code == 200 for m, p, b in CACHED)
    finally:
        sp.stop()
