"""Whole-brain data at its real size: streaming ingest, synapse bbox reads, statistics on per-neuropil stores.

    .venv/bin/python benchmarks/bench_scale.py [--part codex|synapses|bbox|stats|all] [--scale 1.0]
                                               [--workdir /tmp/connectome-bench-scale] [--no-peers]

Each measurement runs in a fresh child process; wall time and peak RSS come from
``os.wait4`` (the child's own ``ru_maxrss``). Files are SYNTHETIC with the real
releases' shape (:mod:`scale_data`, seeded), generated once into ``--workdir``
(git-ignored, outside the project):

* ``codex``: the 16.8 M-row (×scale) Codex connections feather → store with
  ``ingest_codex(stream=True)``, beside the in-memory path (``stream=False``),
  pandas ``read_feather`` + ``groupby`` and DuckDB SQL over the same file;
* ``synapses``: the 130 M-row (×scale) FlyWire-style synapse feather → store with
  ``ingest_cave_files(preset="flywire", stream=True)``, beside pandas (in a child
  with an address-space cap of ``--pandas-cap-gib``; when it cannot finish, the
  table says what it would need) and DuckDB;
* ``bbox``: ``c.synapse_table(bbox=...)`` of about 1% of the synapses;
* ``stats``: ``cx.stats`` and ``cx.triad_census`` on the per-neuropil store and on
  the pair store of the same pairs.

Adding a part: write ``def my_part(ctx: Context) -> None`` that calls
``ctx.record(...)`` and register it with ``@part("name")`` below the others
(the ``update-ids`` part goes there); ``--part name`` then runs it and
``--part all`` runs every registered part in order.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CODEX_ROWS = 16_800_000
SYNAPSE_ROWS = 130_000_000
GiB = 2**30


# ----------------------------------------------------------------------------- child processes

def _child_main(name: str, args: list[str], cap: int) -> None:
    if cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    out = CHILDREN[name](*args)
    print("RESULT " + json.dumps(out), flush=True)
    sys.stderr.flush()
    # skip the interpreter's teardown: Arrow's thread pools can abort there ("terminate called without an
    # active exception", apache/arrow#34314 and #36980) after the work is done and reported
    os._exit(0)


def run_child(name: str, *args: Any, cap_bytes: int = 0, timeout: float = 3600) -> dict[str, Any]:
    """Run ``CHILDREN[name](*args)`` in a fresh interpreter: its result, wall seconds, peak RSS (GiB), status."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--cap", str(cap_bytes), "--",
           *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
        status = "ok"
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        status = f"timeout after {timeout:.0f} s"
    wall = time.perf_counter() - t0
    rss = _last_child_rss(proc.pid)  # kept by the os.wait4 that reaped it (_patch_subprocess)
    result = None
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
    if status == "ok" and (proc.returncode != 0 or result is None):
        tail = (err or "").strip().splitlines()[-1:] or ["no output"]
        status = f"failed (exit {proc.returncode}): {tail[0][:160]}"
    return {"result": result, "seconds": wall, "peak_rss_gib": rss, "status": status}


_RSS: dict[int, float] = {}


def _wait4(pid: int, options: int) -> Any:
    res = os.wait4(pid, options)
    if res[0] == pid:
        _RSS[pid] = res[2].ru_maxrss * 1024 / GiB  # Linux reports KiB
    return res


def _last_child_rss(pid: int) -> float:
    return _RSS.get(pid, float("nan"))


def _patch_subprocess() -> None:
    """Make subprocess reap its children with ``os.wait4`` so each child's peak RSS is kept."""
    orig = os.waitpid

    def waitpid(pid: int, options: int) -> tuple[int, int]:
        if pid > 0:
            got, status, _ = _wait4(pid, options)
            return got, status
        return orig(pid, options)

    os.waitpid = waitpid  # the benchmark's own process only


# ----------------------------------------------------------------------------- child functions

def c_generate(what: str, out: str, rows: str, seed: str) -> dict:
    import scale_data

    fn = scale_data.codex_connections if what == "codex" else scale_data.synapse_table
    return fn(out, int(rows), int(seed))


def c_codex_stream(src: str, out: str) -> dict:
    from connectome.ingest.release import ingest_codex

    import connectome as cx

    p = ingest_codex(src, out=out, stream=True, progress=False)
    m = cx.load(p).manifest
    return {"edges": m.rows("edges"), "pairs": m.rows("pairs"), "nodes": m.rows("nodes")}


def c_codex_memory(src: str, out: str) -> dict:
    from connectome.ingest.release import ingest_codex

    import connectome as cx

    p = ingest_codex(src, out=out, stream=False, progress=False)
    m = cx.load(p).manifest
    return {"edges": m.rows("edges"), "pairs": m.rows("pairs"), "nodes": m.rows("nodes")}


def c_pandas_groupby(src: str, pre: str, post: str, count: str) -> dict:
    import pandas as pd

    df = pd.read_feather(src, columns=None)
    g = df.groupby([pre, post])[count].sum() if count != "-" else df.groupby([pre, post]).size()
    return {"pairs": len(g), "rows": len(df)}


def c_duckdb_groupby(src: str, pre: str, post: str, count: str) -> dict:
    import duckdb
    import pyarrow.dataset as ds

    tbl = ds.dataset(src, format="ipc")  # noqa: F841 - scanned by name in the SQL
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute("SET memory_limit = '4GB'")  # a shared machine: DuckDB spills to disk beyond this
    agg = f"sum({count})" if count != "-" else "count(*)"
    n = con.execute(f"SELECT count(*) FROM (SELECT {pre}, {post}, {agg} FROM tbl GROUP BY {pre}, {post})").fetchone()
    rows = con.execute("SELECT count(*) FROM tbl").fetchone()
    return {"pairs": int(n[0]), "rows": int(rows[0])}


def c_synapses_stream(src: str, out: str) -> dict:
    from connectome.ingest.cave import ingest_cave_files

    import connectome as cx

    p = ingest_cave_files(synapses=src, preset="flywire", out=out, stream=True, progress=False)
    m = cx.load(p).manifest
    return {"synapses": m.rows("synapses"), "edges": m.rows("edges"), "pairs": m.rows("pairs"),
            "files": len(m.tables["synapses"].files)}


def c_bbox(store: str, fraction: str) -> dict:
    import numpy as np
    import connectome as cx

    c = cx.load(store, in_memory=False)
    m = c.manifest
    # a spatially fair sample of positions: the output synapses of 300 random neurons (files and row groups are
    # laid out by position, so a sample of files would not be fair); it sizes a cube holding ~``fraction``
    cols = ["x_nm", "y_nm", "z_nm"]
    ids = c.node_table(["root_id"])["root_id"].to_numpy()
    pick = np.random.default_rng(0).choice(ids, size=min(300, len(ids)), replace=False)
    sample = c.synapse_table(ids=pick, side="pre", columns=cols).to_numpy(dtype=float)
    mid = np.median(sample, axis=0)
    span = sample.max(axis=0) - sample.min(axis=0)
    lo_s, hi_s = 0.0, 1.0
    for _ in range(30):
        s = (lo_s + hi_s) / 2
        inside = np.all(np.abs(sample - mid) <= span * s / 2, axis=1).mean()
        lo_s, hi_s = (s, hi_s) if inside < float(fraction) else (lo_s, s)
    box = [list(mid - span * hi_s / 2), list(mid + span * hi_s / 2)]
    t0 = time.perf_counter()
    df = c.synapse_table(bbox=box)
    dt = time.perf_counter() - t0
    total = m.rows("synapses")
    t0 = time.perf_counter()
    ids = c.synapse_table(ids=df["pre_root_id"].iloc[:1].tolist(), side="pre")
    dt_ids = time.perf_counter() - t0
    return {"rows": len(df), "share": len(df) / total, "read_s": dt, "box_nm": box, "ids_read_s": dt_ids,
            "ids_rows": len(ids)}


def c_pair_store(store: str, out: str) -> dict:
    import connectome as cx
    from connectome.store import read_table

    pairs = read_table(store, "pairs")[["pre_root_id", "post_root_id", "synapse_count", "edge_kind"]]
    nodes = read_table(store, "nodes")
    cx.write_store(out, pairs, nodes, name="pairs_of_" + Path(store).name, progress=False)
    return {"edges": len(pairs)}


def c_analysis(store: str, what: str) -> dict:
    import connectome as cx

    c = cx.load(store)
    t0 = time.perf_counter()
    if what == "stats":
        s = cx.stats(c)
        out = {"edges": s["edges"] if "edges" in s else None, "synapses": s["synapses"]["total"]}
    else:
        t = cx.triad_census(c)
        out = {"030T": int(t["030T"]) if "030T" in t else None}
    return {**out, "compute_s": time.perf_counter() - t0, "store_rows": c.manifest.rows("edges"),
            "in_memory": c.in_memory}


CHILDREN: dict[str, Callable[..., dict]] = {
    "generate": c_generate, "codex_stream": c_codex_stream, "codex_memory": c_codex_memory,
    "pandas": c_pandas_groupby, "duckdb": c_duckdb_groupby, "synapses_stream": c_synapses_stream,
    "bbox": c_bbox, "pair_store": c_pair_store, "analysis": c_analysis,
}


# ----------------------------------------------------------------------------- parts

@dataclass
class Context:
    scale: float
    workdir: Path
    seed: int
    peers: bool
    pandas_cap_gib: float
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, part: str, what: str, r: dict[str, Any], target: str = "", note: str = "") -> None:
        row = {"part": part, "what": what, "seconds": round(r["seconds"], 1),
               "peak_rss_gib": round(r["peak_rss_gib"], 2), "status": r["status"], "target": target,
               "note": note, "result": r["result"]}
        self.rows.append(row)
        print(f"  {part:9s} {what:46s} {row['seconds']:8.1f} s {row['peak_rss_gib']:6.2f} GiB  {r['status']}  "
              f"{note}", flush=True)

    def file(self, what: str, rows: int) -> Path:
        f = self.workdir / f"{what}_{rows}_s{self.seed}.feather"
        if not f.exists():
            tmp = f.with_suffix(".part")
            r = run_child("generate", what, tmp, rows, self.seed, timeout=7200)
            if r["status"] != "ok":
                raise SystemExit(f"generating {f.name}: {r['status']}")
            tmp.rename(f)
            print(f"  generated {f.name}: {r['result']} in {r['seconds']:.0f} s", flush=True)
        return f


PARTS: dict[str, Callable[[Context], None]] = {}


def part(name: str) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register a benchmark part under ``name`` (``--part name``)."""
    def deco(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        PARTS[name] = fn
        return fn
    return deco


def _rows(src: Path) -> int:
    import pyarrow.dataset as ds

    return int(ds.dataset(str(src), format="ipc").count_rows())


def _fresh(p: Path) -> Path:
    import shutil

    shutil.rmtree(p, ignore_errors=True)
    return p


@part("codex")
def codex(ctx: Context) -> None:
    rows = int(CODEX_ROWS * ctx.scale)
    src = ctx.file("codex", rows)
    r = run_child("codex_stream", src, _fresh(ctx.workdir / f"codex_store_{rows}"))
    ctx.record("codex", f"ingest_codex(stream=True), {_rows(src):,} rows", r, "<= 60 s, <= 2 GiB")
    if ctx.peers:
        r = run_child("codex_memory", src, _fresh(ctx.workdir / f"codex_store_mem_{rows}"))
        ctx.record("codex", "ingest_codex(stream=False) (before)", r)
        r = run_child("pandas", src, "pre_pt_root_id", "post_pt_root_id", "syn_count")
        ctx.record("codex", "pandas read_feather + groupby (pairs only)", r)
        r = run_child("duckdb", src, "pre_pt_root_id", "post_pt_root_id", "syn_count")
        ctx.record("codex", "DuckDB SQL GROUP BY (pairs only)", r)


@part("synapses")
def synapses(ctx: Context) -> None:
    rows = int(SYNAPSE_ROWS * ctx.scale)
    src = ctx.file("synapses", rows)
    r = run_child("synapses_stream", src, _fresh(ctx.workdir / f"synapse_store_{rows}"), timeout=7200)
    ctx.record("synapses", f"ingest_cave_files(stream=True), {_rows(src):,} rows", r, "<= 15 min, <= 6 GiB")
    if ctx.peers:
        cap = int(ctx.pandas_cap_gib * GiB)
        r = run_child("pandas", src, "pre_pt_root_id", "post_pt_root_id", "-", cap_bytes=cap)
        from pyarrow import ipc

        schema = ipc.open_file(str(src)).schema
        width = sum(t.type.bit_width // 8 for t in schema)
        need = rows * width * 2 / GiB  # the decoded table, plus the copy groupby makes of its keys
        note = (f"address space capped at {ctx.pandas_cap_gib:g} GiB; needs about {need:.1f} GiB "
                f"({width} bytes a row decoded, ×2 for the group-by)") if r["status"] != "ok" else ""
        ctx.record("synapses", "pandas read_feather + groupby (edges only)", r, note=note)
        r = run_child("duckdb", src, "pre_pt_root_id", "post_pt_root_id", "-")
        ctx.record("synapses", "DuckDB SQL GROUP BY (edges only)", r)


@part("bbox")
def bbox(ctx: Context) -> None:
    rows = int(SYNAPSE_ROWS * ctx.scale)
    store = ctx.workdir / f"synapse_store_{rows}"
    if not store.exists():
        synapses(ctx)
    r = run_child("bbox", store, 0.01)
    res = r["result"] or {}
    r2 = {**r, "seconds": res.get("read_s", float("nan"))}
    ctx.record("bbox", "c.synapse_table(bbox=~1% of the volume)", r2, "<= 2 s",
               note=f"{res.get('rows', 0):,} rows = {100 * res.get('share', 0):.2f}% of the synapses; "
                    f"one neuron's outputs by ids: {res.get('ids_read_s', float('nan')):.2f} s "
                    f"({res.get('ids_rows', 0):,} rows); RSS is the whole child")


@part("stats")
def stats(ctx: Context) -> None:
    rows = int(CODEX_ROWS * ctx.scale)
    store = ctx.workdir / f"codex_store_{rows}"
    if not store.exists():
        codex(ctx)
    pair_store = ctx.workdir / f"pair_store_{rows}"
    if not pair_store.exists():
        r = run_child("pair_store", store, pair_store)
        if r["status"] != "ok":
            raise SystemExit(f"pair store: {r['status']}")
    for what in ("stats", "census"):
        best: dict[str, dict[str, Any]] = {}
        # twice each, in the order A B B A, the faster kept: the machine is shared and its load varies
        for label, s in (("per-neuropil store", store), ("pair store", pair_store),
                         ("pair store", pair_store), ("per-neuropil store", store)):
            r = run_child("analysis", s, what)
            res = r["result"] or {}
            r2 = {**r, "seconds": res.get("compute_s", float("nan")), "result": res}
            if label not in best or r2["seconds"] < best[label]["seconds"]:
                best[label] = r2
        for label, r2 in best.items():
            res = r2["result"]
            ctx.record("stats", f"cx.{'stats' if what == 'stats' else 'triad_census'} on the {label}", r2,
                       "<= 15 s" if what == "stats" and label.startswith("per") else "",
                       note=f"{res.get('store_rows', 0):,} edge rows, "
                            f"{'in memory' if res.get('in_memory') else 'lazy (Dask)'}; best of 2")
        a, b = best["per-neuropil store"]["seconds"], best["pair store"]["seconds"]
        print(f"  {what}: per-neuropil / pair store = {a / b:.2f} (target <= 1.20)", flush=True)


@part("update-ids")
def update_ids(ctx: Context) -> None:
    """``update_ids`` of 100,000 ids (x scale) against the loopback CAVE server, beside caveclient's loop."""
    import scale_update_ids

    n = max(1000, int(100_000 * ctx.scale))
    out = scale_update_ids.run(argparse.Namespace(update_ids_ids=n, update_ids_seed=ctx.seed))
    print(scale_update_ids.report(out), flush=True)
    r = {"seconds": out["update_ids_s"], "peak_rss_gib": float("nan"), "status": "ok", "result": out}
    ctx.record("update-ids", f"update_ids of {n:,} ids (loopback CAVE)", r, ">= 0.80 of the loop's rate",
               note=f"{out['ratio']:.1f}x the rate of caveclient's get_latest_roots loop "
                    f"({out['loop_ids']:,} ids in {out['loop_s']:.1f} s); agreement {out['agree']}")


# Register further parts here: @part("name") def name(ctx): ... ctx.record(...)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="all", help=f"one of {sorted(PARTS)} or 'all'")
    ap.add_argument("--scale", type=float, default=1.0, help="share of the real sizes (16.8 M / 130 M rows)")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "connectome-bench-scale")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-peers", action="store_true", help="skip pandas, DuckDB and the in-memory path")
    ap.add_argument("--pandas-cap-gib", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default WORKDIR/results-<part>.json)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cap", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child_main(a.child, a.rest, a.cap)
        return
    if a.part != "all" and a.part not in PARTS:
        ap.error(f"--part must be one of {sorted(PARTS)} or 'all', not {a.part!r}")
    _patch_subprocess()
    a.workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(a.scale, a.workdir, a.seed, not a.no_peers, a.pandas_cap_gib)
    print(f"bench_scale: scale {a.scale:g}, workdir {a.workdir}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    for name in (PARTS if a.part == "all" else [a.part]):
        PARTS[name](ctx)
    out = a.out or a.workdir / f"results-{a.part}-{a.scale:g}.json"
    out.write_text(json.dumps({"scale": a.scale, "load": os.getloadavg(), "rows": ctx.rows}, indent=1, default=str))
    print("| part | what | s | peak RSS GiB | target | status | note |\n|---|---|---|---|---|---|---|")
    for r in ctx.rows:
        print(f"| {r['part']} | {r['what']} | {r['seconds']} | {r['peak_rss_gib']} | {r['target']} | {r['status']} | "
              f"{r['note']} |")


if __name__ == "__main__":
    main()
