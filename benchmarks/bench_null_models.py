"""100 degree-preserving null samples with their triad censuses at FlyWire scale.

    .venv/bin/python benchmarks/bench_null_models.py [--n 100] [--workers 2] [--swaps 10]

Input: ../shared/data/flywire_scale_synthetic (139,255 nodes, 2,700,513 edges). Each sample
is 10 x m attempted Maslov-Sneppen swaps (every in/out degree kept, no self-loops or
duplicate edges) followed by an exact triad census; the samples run as Dask tasks on a
LocalCluster with process workers. Reports wall time, time per sample, the swap
acceptance check, and the peak resident memory of the whole process tree (sampled).

It times the plain ``degree`` null on purpose (the figure in RESULTS.md); the default null of
``cx.motif_significance`` is ``degree_reciprocal`` (see ``bench_null_default.py`` for why).
"""

from __future__ import annotations

import argparse
import threading
import time

import psutil


class TreeRSS:
    """Peak summed RSS of this process and its children, sampled every 0.5 s."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            try:
                total = me.memory_info().rss + sum(ch.memory_info().rss for ch in me.children(recursive=True))
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            time.sleep(0.5)

    def __enter__(self) -> "TreeRSS":
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--swaps", type=float, default=10.0)
    args = ap.parse_args()
    import connectome as cx

    c = cx.load("flywire_scale_synthetic")
    with TreeRSS() as rss:
        client = cx.local_cluster(n_workers=args.workers)
        try:
            t0 = time.perf_counter()
            r = cx.motif_significance(c, null="degree", n=args.n, seed=0, swaps=args.swaps, scheduler=client,
                                      progress=True)
            elapsed = time.perf_counter() - t0
        finally:
            cx.close_client(client)
    print(f"{args.n} degree-preserving samples ({args.swaps:g} swaps/edge) + censuses on {args.workers} "
          f"process workers: {elapsed:.0f} s ({elapsed / 60:.1f} min), {elapsed / args.n:.1f} s per sample")
    print(f"peak RSS of driver + workers: {rss.peak / 2**30:.2f} GiB")
    t = r.table.set_index("motif")
    print(t[["observed", "null_mean", "null_std", "z"]].to_string(float_format="{:,.1f}".format))


if __name__ == "__main__":
    main()
