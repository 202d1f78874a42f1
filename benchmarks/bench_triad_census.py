"""Triad census on the FlyWire-scale graph: connectome-service vs igraph, side by side.

    .venv/bin/python benchmarks/bench_triad_census.py [--skip-igraph]

Input: ../shared/data/flywire_scale_synthetic (139,255 real FlyWire v783 neurons,
2,700,513 synthetic directed edges). Both sides get the same directed simple graph
(autapses dropped); each runs in its own process so peak RSS is its own.
Reports wall time, peak RSS, identical counts and the speed ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import measure  # noqa: E402

NAMES = ("003", "012", "102", "021D", "021U", "021C", "111D", "111U", "030T", "030C", "201",
         "120D", "120U", "120C", "210", "300")


def ours_from_store() -> list[int]:
    """Everything a user pays: load the store, build the pair graph, census."""
    import connectome as cx

    c = cx.load("flywire_scale_synthetic")
    return [int(x) for x in cx.triad_census(c)]


def ours_from_arrays(n: int, src: np.ndarray, dst: np.ndarray) -> list[int]:
    """The census alone, from the same edge arrays igraph gets."""
    from connectome.pair_arrays import from_arrays
    from connectome.triads import census_of

    return [int(x) for x in census_of(from_arrays(n, src, dst))]


def igraph_census(n: int, src: np.ndarray, dst: np.ndarray) -> tuple[list[int], float]:
    """igraph's census; the graph construction is not counted (returned: counts, census seconds)."""
    import igraph as ig

    g = ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist(), directed=True)
    t0 = time.perf_counter()
    counts = [int(x) for x in g.triad_census()]
    return counts, time.perf_counter() - t0


def edge_arrays() -> tuple[int, np.ndarray, np.ndarray]:
    import connectome as cx
    from connectome.pair_arrays import directed_pairs

    g = directed_pairs(cx.load("flywire_scale_synthetic"), self_loops=False)
    return g.n, g.src, g.dst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-igraph", action="store_true", help="only time connectome-service")
    args = ap.parse_args()
    import connectome as cx

    cx.load("flywire_scale_synthetic")  # build the store once (not timed)
    n, src, dst = edge_arrays()
    print(f"graph: {n:,} nodes, {len(src):,} edges (autapses dropped); {os.cpu_count()} CPU cores")
    measure(ours_from_arrays, n, src[:1000], dst[:1000])  # compile/cache the kernels outside the timing
    t_store, c_store, rss_store = measure(ours_from_store)
    t_arr, c_arr, rss_arr = measure(ours_from_arrays, n, src, dst)
    print(f"connectome-service, store -> census:  {t_store:8.2f} s  peak RSS {rss_store:7.0f} MiB")
    print(f"connectome-service, arrays -> census: {t_arr:8.2f} s  peak RSS {rss_arr:7.0f} MiB")
    assert c_store == c_arr
    if not args.skip_igraph:
        _, (c_ig, t_ig), rss_ig = measure(igraph_census, n, src, dst)
        print(f"igraph {__import__('igraph').__version__} Graph.triad_census:  {t_ig:8.2f} s  peak RSS {rss_ig:7.0f} MiB"
              " (graph construction not counted)")
        print(f"identical counts: {c_ig == c_arr}")
        print(f"speed-up: {t_ig / t_arr:.0f}x (arrays), {t_ig / t_store:.0f}x (from the store)")
    print("census:", dict(zip(NAMES, c_arr)))


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"benchmark wall time {time.time() - t0:.0f} s")
