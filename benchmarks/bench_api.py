"""HTTP service under load: p50/p99 latency and requests/s with 50 concurrent clients.

Starts ``connectome serve`` (uvicorn on 127.0.0.1, LocalCluster for jobs) in a subprocess with
its own data root, warms the caches, then drives each scenario with 50 concurrent loopback
clients (asyncio + httpx, one keep-alive connection each) for a fixed number of requests:

- cached statistics: ``GET /v1/datasets/{ds}/statistics`` (cx.stats), ``GET .../triad-census``
  and ``GET .../summary``;
- a cached motif count: ``POST /v1/datasets/{ds}/motifs/count`` (feed-forward loop);
- the first (uncached) motif count, single request, for reference;
- under attack: the cached summary for 50 clients of one user while another token runs 300 slow-body
  connections (a declared 100 kB body sent one byte per 10 s), 16 query bombs (macros nested 16 deep,
  ``timeout_s: 1``) and a job flood (significance jobs as fast as it can), side by side with the same
  scenario when the server is idle, three rounds in alternation. Target: zero errors and a median p99
  at most twice the idle one.

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

    from connectome.api.testing import ServiceProcess, run_load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=5000, help="requests per scenario")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--dataset", default=DS)
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    ap.add_argument("--attack", default="slow,bombs,flood",
                    help="what the attacking token does in the under-attack scenario (comma-separated subset of "
                         "slow,bombs,flood; 'none' skips the scenario)")
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
        if args.attack != "none":
            rows += under_attack(sp, token, reqs=[("GET", f"/v1/datasets/{ds}/summary", None)], clients=args.clients,
                                 total=args.requests, parts=set(args.attack.split(",")))
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


def under_attack(sp, token: str, reqs: list, clients: int, total: int,
                 parts: set[str] = frozenset({"slow", "bombs", "flood"}), rounds: int = 3) -> list[dict]:
    """The same cheap scenario idle, then while another token attacks (slow bodies, query bombs, a job flood),
    ``rounds`` times in alternation (the p99 of one run on a shared 2-core machine varies by 2x on its own)."""
    import statistics
    import threading
    from collections import Counter

    import httpx

    from connectome.api.attack import SlowBodyClients, query_bomb
    from connectome.api.testing import run_load

    def row(name, res, extra=""):
        print(res.summary(), "—", name, extra, flush=True)
        return {"scenario": name, "clients": clients, "requests": res.requests, "p50_ms": round(res.p50_ms, 1),
                "p99_ms": round(res.p99_ms, 1), "rps": round(res.rps), "errors": res.errors}

    mallory = sp.token("mallory")
    attacker = {"Authorization": f"Bearer {mallory}"}

    def attack_once() -> tuple:
        answers: dict[str, list[int]] = {"bombs": [], "jobs": []}
        stop = threading.Event()

        def bombs() -> None:
            with httpx.Client(base_url=sp.url, headers=attacker, timeout=120) as c:
                def one() -> None:
                    r = c.post("/v1/datasets/celegans_cook2019_herm/motifs/count",
                               json={"query": query_bomb(16), "timeout_s": 1})
                    answers["bombs"].append(r.status_code)
                ts = [threading.Thread(target=one) for _ in range(16)]
                for t in ts:
                    t.start()
                for t in ts:
                    t.join(120)

        def flood() -> None:
            with httpx.Client(base_url=sp.url, headers=attacker, timeout=60) as c:
                seed = 0
                while not stop.is_set() and seed < 2000:
                    r = c.post("/v1/datasets/celegans_cook2019_herm/significance",
                               json={"null": "er", "n": 50, "seed": seed})
                    answers["jobs"].append(r.status_code)
                    seed += 1

        threads = [threading.Thread(target=fn) for name, fn in (("bombs", bombs), ("flood", flood)) if name in parts]
        for t in threads:  # bombs and the flood first, so they reach the server before the slow bodies take
            t.start()      # all of the token's request slots
        time.sleep(0.5)
        with SlowBodyClients(sp.url, mallory, connections=300 if "slow" in parts else 0, declared_bytes=100_000,
                             interval_s=10.0, max_seconds=300) as slow:
            time.sleep(1.0)
            hit = run_load(sp.url, token, reqs, clients=clients, total=total, max_seconds=300)
            stop.set()
            for t in threads:
                t.join(120)
        with httpx.Client(base_url=sp.url, headers=attacker, timeout=60) as c:  # leave no attacker job running
            for state in ("queued", "running"):
                for job in c.get("/v1/jobs", params={"state": state}).json()["jobs"]:
                    c.post(f"/v1/jobs/{job['id']}/cancel")
        extra = (f"(attacker: slow bodies {dict(slow.statuses)}, bombs {dict(Counter(answers['bombs']))}, "
                 f"jobs {dict(Counter(answers['jobs']))})")
        return hit, extra

    run_load(sp.url, token, reqs, clients=clients, total=min(500, total))
    out, ratios, errors = [], [], 0
    label = "+".join(sorted(parts))
    for i in range(rounds):
        idle = run_load(sp.url, token, reqs, clients=clients, total=total, max_seconds=300)
        out.append(row(f"round {i + 1}, idle: cached summary (GET /summary)", idle))
        hit, extra = attack_once()
        out.append(row(f"round {i + 1}, under attack ({label}): cached summary (GET /summary)", hit, extra))
        ratios.append(hit.p99_ms / idle.p99_ms)
        errors += hit.errors + idle.errors
        time.sleep(2.0)  # let the cancelled attacker jobs stop
    idle_p99 = statistics.median(r["p99_ms"] for r in out[0::2])
    hit_p99 = statistics.median(r["p99_ms"] for r in out[1::2])
    print(f"under attack / idle p99, median of {rounds} rounds: {hit_p99:.1f} / {idle_p99:.1f} ms = "
          f"{hit_p99 / idle_p99:.2f}x (target <= 2x; per round: {', '.join(f'{x:.2f}x' for x in ratios)}); "
          f"errors {errors} (target 0)")
    return out


if __name__ == "__main__":
    main()
