"""DotMotif queries: connectome-service vs DotMotif 0.18 GrandIsoExecutor, side by side.

    .venv/bin/python benchmarks/bench_motifs.py [--skip-flywire]

1. Larval Drosophila (Winding et al. 2023, ../shared/data): the same DotMotif text run by
   GrandIsoExecutor on the networkx graph of the store (edge attribute ``weight`` = synapse
   count) and by ``cx.find_motifs`` on the store; the match sets must be identical.
2. FlyWire scale (../shared/data/flywire_scale_synthetic): the unconstrained feed-forward loop
   count with ``cx.count_motifs`` (GrandIso is not run: it enumerates matches one by one in
   Python).
3. FlyWire scale with per-neuropil rows (the store of ``make_flywire_neuropil_store.py``, built
   on first use, seeded): a feed-forward loop with all three edges inside one neuropil, >= 5
   synapses each (the multi-row semantics: rows selected, summed per pair, then thresholded).

Each side runs in its own process (peak RSS is its own). Ours: first call (includes loading
the compiled kernels) and the median of 3 warm calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import measure  # noqa: E402

LARVA = "drosophila_larva_winding2023"
QUERIES = {
    "feed-forward loop, weight >= 5 on all edges":
        "A -> B [weight >= 5]\nB -> C [weight >= 5]\nA -> C [weight >= 5]\n",
    'feed-forward loop, weight >= 3, A.simple_group == "PNs"':
        'A -> B [weight >= 3]\nB -> C [weight >= 3]\nA -> C [weight >= 3]\nA.simple_group == "PNs"\n',
}
FFL = "A -> B\nB -> C\nA -> C\n"
NEUROPIL_FFL = ('A -> B [neuropil == "ME_R", weight >= 5]\nB -> C [neuropil == "ME_R", weight >= 5]\n'
                'A -> C [neuropil == "ME_R", weight >= 5]\n')


def ours(name: str, query: str, count: bool = False) -> tuple[list[float], object]:
    import connectome as cx

    c = cx.load(name)
    times, result = [], None
    for _ in range(4):
        t0 = time.perf_counter()
        result = cx.count_motifs(c, query) if count else cx.find_motifs(c, query)
        times.append(time.perf_counter() - t0)
    if not count:
        result = sorted(map(tuple, result.to_numpy().tolist()))
    return times, result


def grandiso(name: str, query: str) -> tuple[float, list]:
    import connectome as cx
    from connectome.motifs.query import dotmotif

    Motif = dotmotif().Motif
    from dotmotif.executors import GrandIsoExecutor

    g = cx.to_networkx(cx.load(name), edge_kind="chemical")
    for _, _, d in g.edges(data=True):
        d["weight"] = d["synapse_count"]
    motif = Motif(query)
    t0 = time.perf_counter()
    found = GrandIsoExecutor(graph=g).find(motif)
    elapsed = time.perf_counter() - t0
    cols = list(motif.to_nx().nodes)
    return elapsed, sorted(tuple(m[v] for v in cols) for m in found)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-flywire", action="store_true")
    args = ap.parse_args()
    import connectome as cx

    cx.load(LARVA)
    print(f"{os.cpu_count()} CPU cores")
    for label, q in QUERIES.items():
        _, (t_ours, m_ours), rss_ours = measure(ours, LARVA, q)
        _, (t_gi, m_gi), rss_gi = measure(grandiso, LARVA, q)
        warm = statistics.median(t_ours[1:])
        print(f"\nlarva, {label}")
        print(f"  DotMotif GrandIsoExecutor: {t_gi:8.2f} s  {len(m_gi):7,} matches  peak RSS {rss_gi:6.0f} MiB")
        print(f"  connectome-service:        {warm:8.3f} s  {len(m_ours):7,} matches  peak RSS {rss_ours:6.0f} MiB"
              f"  (first call {t_ours[0]:.2f} s)")
        print(f"  identical matches: {m_ours == [tuple(int(x) for x in r) for r in m_gi]}; "
              f"speed-up {t_gi / warm:.0f}x warm, {t_gi / t_ours[0]:.0f}x first call")
    if not args.skip_flywire:
        cx.load("flywire_scale_synthetic")
        _, (t_ffl, n_ffl), rss = measure(ours, "flywire_scale_synthetic", FFL, True)
        print("\nFlyWire-scale synthetic graph (139,255 nodes, 2,700,513 edges), unconstrained feed-forward loops")
        print(f"  connectome-service count_motifs: {n_ffl:,} in {t_ffl[0]:.1f} s first call, "
              f"{statistics.median(t_ffl[1:]):.1f} s warm; peak RSS {rss:.0f} MiB")
        from make_flywire_neuropil_store import NAME, build

        try:
            cx.load(NAME)
        except cx.errors.DatasetNotFoundError:
            t0 = time.perf_counter()
            build()
            print(f"\n(built {NAME} in {time.perf_counter() - t0:.0f} s)")
        rows = cx.load(NAME).n_edges
        _, (t_np, n_np), rss = measure(ours, NAME, NEUROPIL_FFL, True)
        _, (t_all, n_all), _ = measure(ours, NAME, FFL, True)
        print(f"\nFlyWire scale, per-neuropil rows ({rows:,} edge rows), feed-forward loop with all three edges in "
              "ME_R, >= 5 synapses each")
        print(f"  connectome-service count_motifs: {n_np:,} in {t_np[0]:.1f} s first call, "
              f"{statistics.median(t_np[1:]):.1f} s warm; peak RSS {rss:.0f} MiB "
              f"(unconstrained FFL on the same store: {n_all:,}, equal to the above: {n_all == n_ffl})")


if __name__ == "__main__":
    main()
