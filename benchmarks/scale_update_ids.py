"""``update_ids`` of 100,000 root ids against the loopback CAVE server, beside caveclient's own loop.

What users do today to bring root ids up to date is a loop of caveclient's
``chunkedgraph.get_latest_roots(root_id, timestamp=...)`` (two requests per id:
``root_timestamps`` and ``lineage_graph_multiple``; fafbseg's ``update_ids``
without supervoxels is the same per id). ``connectome.ingest.update_ids``
batches: ``is_latest_roots`` over all ids, then the lineage graph of the
changed ones (2,000 per request), then ``get_leaves_many`` + ``get_roots`` for
split ids. Both run against the same server, on the same ids, at the same
moment, and must agree (every ``new_id`` is one of ``get_latest_roots``'s
answers).

The chunkedgraph: ``--ids`` FlyWire-like root ids of 4 supervoxels each, of
which ``--changed`` (a fraction) were edited after the store's moment: half
merged in pairs, half split in two (the store's ids are the ones before the
edits). The server runs in its own process (``spawn``), as a real server would.

Run alone::

    .venv/bin/python benchmarks/scale_update_ids.py                  # 100,000 ids, the full loop
    .venv/bin/python benchmarks/scale_update_ids.py --ids 20000 --loop-ids 5000

or from ``benchmarks/bench_scale.py`` (its ``update-ids`` part) through :func:`run`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = {"ids": 100_000, "changed": 0.1, "loop_ids": None, "seed": 0, "supervoxels": True}
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
T_EDITS = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)


def build_datastack(n_ids: int, changed: float, seed: int) -> Any:
    """A datastack whose chunkedgraph holds ``n_ids`` roots (4 supervoxels each) and the edits of ``changed``."""
    from connectome.ingest.testing.cave_data import Chunkedgraph, Datastack, VersionInfo

    rng = np.random.default_rng(seed)
    per = 4
    roots = np.sort(720575940_600000000 + rng.choice(10**10, size=n_ids, replace=False)).astype(np.uint64)
    svs = (79_000_000_000_000_000 + np.arange(n_ids * per)).astype(np.uint64)
    cg = Chunkedgraph("fly_v31", svs, np.repeat(roots, per), T0.timestamp())
    n_edit = int(round(n_ids * changed))
    edited = rng.permutation(n_ids)[:n_edit]
    merges, splits = edited[: n_edit // 2], edited[n_edit // 2:]
    t = T_EDITS.timestamp()
    for i in range(0, len(merges) - 1, 2):
        t += 1.0
        cg.merge([int(roots[merges[i]]), int(roots[merges[i + 1]])], t)
    for i in splits:
        t += 1.0
        cg.split(int(roots[i]), t)
    ds = Datastack("flywire_bench", "fafb_seung_alignment", None, {}, cg,
                   [VersionInfo(1, dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc))],
                   description="update_ids benchmark")
    return ds


def _serve(n_ids: int, changed: float, seed: int, conn: Any) -> None:
    from connectome.ingest.testing import CaveTestServer

    ds = build_datastack(n_ids, changed, seed)
    srv = CaveTestServer([ds]).start()
    roots = np.unique(ds.chunkedgraph.root0)
    first_sv = ds.chunkedgraph.sv[ds.chunkedgraph.supervoxels_of(int(roots[0]))]
    conn.send((srv.url, ds.name, len(ds.chunkedgraph.edits), int(first_sv[0])))
    conn.recv()  # wait for "stop"
    srv.stop()


def _opt(args: Any, name: str) -> Any:
    """``args.update_ids_<name>`` (for a caller with its own ``--ids`` / ``--seed``), else ``args.<name>``."""
    v = getattr(args, f"update_ids_{name}", None) if args is not None else None
    if v is None:
        v = getattr(args, name, None) if args is not None else None
    return DEFAULTS[name] if v is None else v


def run(args: Any = None) -> dict:
    """Run the comparison; returns the numbers (print them with :func:`report`).

    ``args`` is any namespace (or None) with optional ``ids``, ``changed``, ``loop_ids``, ``seed``,
    ``supervoxels``; the same names prefixed ``update_ids_`` win (for a caller whose own flags use those
    names). ``loop_ids`` None runs caveclient's loop over all ids (about 5 min for 100,000 on 2 quiet cores).
    """
    from caveclient import CAVEclient

    from connectome.ingest import update_ids
    from connectome.ingest.cave import FetchOptions

    n_ids, changed, seed = int(_opt(args, "ids")), float(_opt(args, "changed")), int(_opt(args, "seed"))
    loop_n = _opt(args, "loop_ids")
    loop_n = n_ids if loop_n is None else min(int(loop_n), n_ids)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    t_build = time.perf_counter()
    proc = ctx.Process(target=_serve, args=(n_ids, changed, seed, child), daemon=True)
    proc.start()
    try:
        url, name, n_edits, _ = parent.recv()
        t_build = time.perf_counter() - t_build
        # the store's ids: every root before the edits (what a store made at version 1 names)
        rng = np.random.default_rng(seed)
        ids = np.sort(720575940_600000000 + rng.choice(10**10, size=n_ids, replace=False)).astype(np.uint64)
        sv = (79_000_000_000_000_000 + np.arange(n_ids) * 4 + 3).astype(np.uint64)  # each id's last supervoxel
        to = dt.datetime.now(dt.timezone.utc)
        client = CAVEclient(name, server_address=url, write_server_cache=False)
        opts = FetchOptions(retries=3, timeout=120.0)
        out: dict[str, Any] = {"ids": n_ids, "edits": n_edits, "changed_fraction": changed, "server_build_s": t_build}

        t = time.perf_counter()
        res = update_ids(ids, to=to, client=client, options=opts, progress=False)
        out["update_ids_s"] = time.perf_counter() - t
        out["update_ids_rate"] = n_ids / out["update_ids_s"]
        meta = res.attrs["update_ids"]
        out["methods"] = meta["methods"]
        out["requests"] = meta["requests"]
        if _opt(args, "supervoxels"):
            t = time.perf_counter()
            res_sv = update_ids(ids, to=to, client=client, supervoxels=sv, options=opts, progress=False)
            out["update_ids_supervoxels_s"] = time.perf_counter() - t
            out["update_ids_supervoxels_rate"] = n_ids / out["update_ids_supervoxels_s"]
            out["methods_supervoxels"] = res_sv.attrs["update_ids"]["methods"]
            t = time.perf_counter()
            plain = client.chunkedgraph.get_roots(sv, timestamp=to)  # caveclient's one call, for reference
            out["get_roots_s"] = time.perf_counter() - t
            out["supervoxel_rows_agree"] = bool(np.array_equal(
                res_sv["new_id"].to_numpy(np.uint64), np.asarray(plain, dtype=np.uint64)))

        # caveclient's own loop, on the same ids (the first loop_n of them, in order)
        cgc = client.chunkedgraph
        loop_ids = ids[:loop_n]
        t = time.perf_counter()
        latest = [cgc.get_latest_roots(int(i), timestamp=to) for i in loop_ids]
        out["loop_ids"] = loop_n
        out["loop_s"] = time.perf_counter() - t
        out["loop_rate"] = loop_n / out["loop_s"]
        out["ratio"] = out["update_ids_rate"] / out["loop_rate"]
        new = res["new_id"].to_numpy(np.uint64)[:loop_n]
        nsucc = res["n_successors"].to_numpy()[:loop_n]
        agree = [int(new[k]) in set(int(x) for x in latest[k]) and 1 <= nsucc[k] <= len(latest[k])
                 for k in range(loop_n)]
        out["agree"] = f"{sum(agree)}/{loop_n}"
        out["target"] = ">= 0.80 of the loop's rate"
        out["meets_target"] = out["ratio"] >= 0.8
    finally:
        parent.send("stop")
        proc.join(timeout=30)
        if proc.is_alive():  # pragma: no cover
            proc.terminate()
    return out


def report(out: dict) -> str:
    lines = [f"update_ids benchmark: {out['ids']:,} root ids, {out['edits']:,} edits "
             f"({out['changed_fraction']:.0%} of the ids changed), loopback CAVE server in its own process",
             "", "| run | ids | s | ids/s | vs caveclient loop |", "|---|---:|---:|---:|---:|"]
    lines.append(f"| caveclient `get_latest_roots` loop | {out['loop_ids']:,} | {out['loop_s']:.2f} | "
                 f"{out['loop_rate']:,.0f} | 1.00x |")
    lines.append(f"| `update_ids` (lineage / overlap) | {out['ids']:,} | {out['update_ids_s']:.2f} | "
                 f"{out['update_ids_rate']:,.0f} | {out['ratio']:.1f}x |")
    if "update_ids_supervoxels_s" in out:
        lines.append(f"| `update_ids(supervoxels=...)` | {out['ids']:,} | {out['update_ids_supervoxels_s']:.2f} | "
                     f"{out['update_ids_supervoxels_rate']:,.0f} | "
                     f"{out['update_ids_supervoxels_rate'] / out['loop_rate']:.1f}x |")
        lines.append(f"| caveclient `get_roots` (one call, supervoxels only) | {out['ids']:,} | "
                     f"{out['get_roots_s']:.2f} | {out['ids'] / out['get_roots_s']:,.0f} | "
                     f"{out['ids'] / out['get_roots_s'] / out['loop_rate']:.1f}x |")
    lines += ["", f"methods: {out['methods']}; requests: {out['requests']}",
              f"agreement with get_latest_roots: {out['agree']}"
              + (f"; supervoxel rows equal to get_roots: {out['supervoxel_rows_agree']}"
                 if "supervoxel_rows_agree" in out else ""),
              f"target {out['target']}: {'met' if out['meets_target'] else 'MISSED'} ({out['ratio']:.1f}x)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ids", type=int, default=DEFAULTS["ids"], help="root ids to update (default 100,000)")
    p.add_argument("--changed", type=float, default=DEFAULTS["changed"],
                   help="fraction of the ids edited after the store's moment (default 0.1)")
    p.add_argument("--loop-ids", type=int, help="ids for caveclient's loop (default: all; it makes 2 requests an id)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-supervoxels", dest="supervoxels", action="store_false",
                   help="skip the supervoxel-exact run")
    p.add_argument("--json", help="also write the numbers to this file")
    a = p.parse_args(argv)
    out = run(a)
    print(report(out))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
