"""Paged CAVE ingest vs a plain caveclient ``query_table`` loop, side by side on one loopback server.

    .venv/bin/python benchmarks/bench_cave_ingest.py [--synapses 2000000] [--page-rows 100000] [--repeats 2]
                                                     [--server-delay 0 0.5]

A MICrONS-format datastack (``synapses_pni_2``) is served by
``python -m connectome.ingest.testing.cave_server`` in its own process (so the server's
CPU is not the client's GIL). Both sides read the same id-range pages of the
same version through the real caveclient:

* ``caveclient loop, defaults`` -- ``query_table`` per page with its defaults
  (positions as ``[x y z]`` arrays), then ``pd.concat``: what a user writes by hand;
* ``caveclient loop, all columns`` -- the same with ``split_positions=True`` (caveclient's fast path);
* ``caveclient loop, same columns`` -- the same with the ``select_columns`` our
  ingest asks for (the strictest comparison: the reference of the ratios);
* ``ingest_cave`` -- connect, probe the id range, fetch pages concurrently,
  stage every page durably in the resume journal, normalise (int64 ids,
  positions in nm), aggregate edges, write the store atomically. Resume
  bookkeeping is on (it always is).

Each ``--server-delay`` value is one scenario: the server spends that many
seconds on every query before answering (0: the loopback server answers at
once, so the client's CPU is the bottleneck; 0.5: the order of a real CAVE
server answering a 100k-row page). Rates are synapse rows per second of wall
time, best of ``--repeats``; ratios are against the strictest loop. Results go
to ``benchmarks/RESULTS.md`` by hand.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectome.ingest.cave import CavePreset, FetchOptions, Selection, ingest_cave  # noqa: E402
from connectome.ingest.cave.fetch import plan_span  # noqa: E402
from connectome.ingest.cave.ledger import chop  # noqa: E402
from connectome.ingest.cave.session import connect  # noqa: E402

TABLE, VERSION, DATASTACK = "synapses_pni_2", 661, "minnie65_public"
SELECT = ["id", "pre_pt_root_id", "post_pt_root_id", "ctr_pt_position", "pre_pt_supervoxel_id",
          "post_pt_supervoxel_id", "size"]


def start_server(n: int, neurons: int, max_rows: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "connectome.ingest.testing.cave_server", "--datastack", "microns",
                             "--synapses", str(n), "--neurons", str(neurons), "--max-rows", str(max_rows)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    url = proc.stdout.readline().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise SystemExit(f"server did not start: {url!r}")
    return proc, url


def pages(url: str, page_rows: int) -> list[tuple[int, int]]:
    s = connect(DATASTACK, url, options=FetchOptions(page_rows=page_rows))
    span = plan_span(s, TABLE, VERSION, page_rows)
    return chop([(span["start"], span["stop"])], span["width"])


def plain_loop(url: str, spans: list[tuple[int, int]], select: list[str] | None, split: bool = True) -> int:
    from caveclient import CAVEclient

    client = CAVEclient(DATASTACK, server_address=url, write_server_cache=False)
    frames = []
    for lo, hi in spans:
        frames.append(client.materialize.query_table(
            TABLE, materialization_version=VERSION, split_positions=split, select_columns=select,
            filter_greater_equal_dict={"id": lo}, filter_less_dict={"id": hi}))
    return len(pd.concat(frames, ignore_index=True))


def set_delay(url: str, delay: float) -> None:
    import requests

    requests.delete(url + "/_testing/faults", timeout=10)
    if delay > 0:
        requests.post(url + "/_testing/faults", json={"kind": "delay", "match": "query", "times": None,
                                                       "delay": delay}, timeout=10)


def ours(url: str, page_rows: int, concurrency: int, out: Path) -> int:
    shutil.rmtree(out, ignore_errors=True)
    p = ingest_cave(CavePreset(DATASTACK, server=url), out, version=VERSION,
                    selection=Selection(autapses="keep", zero_root="keep"),
                    options=FetchOptions(page_rows=page_rows, concurrency=concurrency), progress=False)
    from connectome.store import read_manifest

    return read_manifest(p)[0].rows("synapses")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--synapses", type=int, default=2_000_000)
    ap.add_argument("--neurons", type=int, default=3_000)
    ap.add_argument("--page-rows", type=int, default=100_000)
    ap.add_argument("--max-rows", type=int, default=200_000, help="server row cap")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--server-delay", type=float, nargs="+", default=[0.0, 0.5],
                    help="seconds the server spends on each query, one scenario per value")
    a = ap.parse_args()
    proc, url = start_server(a.synapses, a.neurons, a.max_rows)
    tmp = Path(tempfile.mkdtemp(prefix="bench-cave-"))
    os.environ.setdefault("CONNECTOME_PROGRESS", "0")
    try:
        spans = pages(url, a.page_rows)
        print(f"server {url}: {TABLE} v{VERSION}, {a.synapses:,} synapses, {len(spans)} pages of "
              f"<= {a.page_rows:,} rows (cap {a.max_rows:,}); {os.cpu_count()} CPU cores shared with the server")
        runs = {
            "caveclient loop, defaults": lambda: plain_loop(url, spans, None, split=False),
            "caveclient loop, all columns": lambda: plain_loop(url, spans, None),
            "caveclient loop, same columns": lambda: plain_loop(url, spans, SELECT),
            "ingest_cave, concurrency 1": lambda: ours(url, a.page_rows, 1, tmp / "c1"),
            "ingest_cave, concurrency 4": lambda: ours(url, a.page_rows, 4, tmp / "c4"),
        }
        ref = "caveclient loop, same columns"
        for delay in a.server_delay:
            set_delay(url, delay)
            best: dict[str, float] = {}
            rows: dict[str, int] = {}
            for _ in range(a.repeats):
                for name, fn in runs.items():  # interleaved, so drift hits every side alike
                    t0 = time.perf_counter()
                    rows[name] = fn()
                    dt = time.perf_counter() - t0
                    best[name] = min(best.get(name, float("inf")), dt)
            assert len(set(rows.values())) == 1, f"row counts differ: {rows}"
            ref_rate = rows[ref] / best[ref]
            print(f"\nserver time per query: {delay:g} s")
            print(f"{'run':34s} {'rows':>10s} {'best s':>8s} {'rows/s':>11s} {'vs same-columns loop':>21s}")
            for name in runs:
                rate = rows[name] / best[name]
                print(f"{name:34s} {rows[name]:>10,d} {best[name]:>8.2f} {rate:>11,.0f} {rate / ref_rate:>20.2f}x")
        return 0
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
