"""HTTP service under load: p50/p99 latency and requests/s with 50 concurrent clients.

Starts ``connectome serve`` (uvicorn on 127.0.0.1, LocalCluster for jobs) in a subprocess with
its own data root, warms the caches, then drives each scenario with 50 concurrent loopback
clients (asyncio + httpx, one keep-alive connection each) for a fixed number of requests:

- cached statistics: ``GET /v1/datasets/{ds}/statistics`` (cx.stats), ``GET .../triad-census``
  and ``GET .../summary``;
- a cached motif count: ``POST /v1/datasets/{ds}/motifs/count`` (feed-forward loop);
- the first (uncached) motif count, single request, for reference.

Usage::

    .venv/bin/python benchmarks/bench_api.py [--requests 5000] [--clients 50] [--json out.json]

Numbers go to benchmarks/RESULTS.md (section "HTTP service"). The client runs on the same
machine as the server, so both share its cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

DS = "celegans_cook2019_herm"
FFL = "A -> B [weight >= 3]\nB -> C [weight >= 3]\nA -> C [weight >= 3]"


def main() -> None:
    import httpx

    from api.testing import ServiceProcess, run_load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=5000, help="requests per scenario")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--dataset", default=DS)
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    env = {"CONNECTOME_HOME": os.environ.get("CONNECTOME_HOME", str(tmp / "home")), "CONNECTOME_PROGRESS": "0"}
    sp = ServiceProcess(tmp / "svc", cluster="local", workers=2, env=env).start()
    rows = []
    try:
        token = sp.token("bench")
        ds = args.dataset
        with httpx.Client(base_url=sp.url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as c:
            t0 = time.perf_counter()
            r = c.post(f"/v1/datasets/{ds}/motifs/count", json={"query": FFL, "timeout_s": 60})
            cold_ms = (time.perf_counter() - t0) * 1000
            assert r.status_code == 200, r.text
            count = r.json()["count"]
            for path in (f"/v1/datasets/{ds}/statistics", f"/v1/datasets/{ds}/triad-census",
                         f"/v1/datasets/{ds}/summary"):
                assert c.get(path).status_code == 200
                assert c.get(path).headers["x-cache"] == "hit"
        scenarios = {
            "cached connectivity statistics (GET /statistics)": [("GET", f"/v1/datasets/{ds}/statistics", None)],
            "cached triad census (GET /triad-census)": [("GET", f"/v1/datasets/{ds}/triad-census", None)],
            "cached summary statistics (GET /summary)": [("GET", f"/v1/datasets/{ds}/summary", None)],
            f"cached motif count, feed-forward loop = {count} (POST /motifs/count)":
                [("POST", f"/v1/datasets/{ds}/motifs/count", {"query": FFL})],
        }
        load_before = os.getloadavg()
        for name, reqs in scenarios.items():
            run_load(sp.url, token, reqs, clients=args.clients, total=min(500, args.requests))  # warm connections
            res = run_load(sp.url, token, reqs, clients=args.clients, total=args.requests, max_seconds=300)
            assert res.errors == 0, res.samples
            rows.append({"scenario": name, "clients": args.clients, "requests": res.requests,
                         "p50_ms": round(res.p50_ms, 1), "p99_ms": round(res.p99_ms, 1), "rps": round(res.rps),
                         "errors": res.errors})
            print(res.summary(), "—", name, flush=True)
        load_after = os.getloadavg()
    finally:
        sp.stop()

    print()
    print(f"dataset {args.dataset}; first (uncached) motif count: {cold_ms:.0f} ms; machine: {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {load_before[0]:.1f} before / {load_after[0]:.1f} after")
    print()
    print("| scenario | clients | requests | p50 (ms) | p99 (ms) | requests/s | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['scenario']} | {r['clients']} | {r['requests']} | {r['p50_ms']} | {r['p99_ms']} | {r['rps']} | "
              f"{r['errors']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "cold_motif_count_ms": cold_ms,
                                               "loadavg": [load_before, load_after]}, indent=2))


if __name__ == "__main__":
    main()
