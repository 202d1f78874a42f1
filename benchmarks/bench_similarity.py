"""Connectivity similarity on the larva: cx.similarity against navis 1.12 and scikit-learn, run for real.

Same vectors for every tool: each neuron's output and input synapse counts side by side
(``direction="both"``, chemical, the larva of Winding et al. 2023: 3,591 neurons, 7,182 columns),
taken from :func:`connectome.connectivity_profiles` and handed to the peers as dense arrays.

- **navis** ``connectivity_similarity`` (dense; a Python loop over all N² neuron pairs, one
  ``scipy.spatial.distance`` call each): cosine, ``matching_index`` (= our ``jaccard``) and
  ``vertex_normalized``, on ``--navis-n`` neurons drawn with one seed (the whole larva is 12.9 M
  pairs: pass ``--navis-n 3591`` to run it, minutes per metric), against the same block of
  ``cx.similarity``.
- **scikit-learn** ``NearestNeighbors(metric="cosine", algorithm="brute")``: the 20 nearest
  neighbours of every larva neuron, against ``cx.similarity(top_k=20)``; and the dense cosine
  block of all 3,591 neurons (``cosine_similarity``) against ``cx.similarity`` dense.

Every tool runs in its own process (``--worker``), so that its time and peak memory (RSS above the
process after loading the data) are its own. Results must agree to 1e-9 (NaN where a vector is
empty, as navis gives); the script exits 1 if they do not.

    .venv/bin/python benchmarks/bench_similarity.py                 # writes benchmarks/results/similarity.json
    .venv/bin/python benchmarks/bench_similarity.py --navis-n 3591  # navis on the whole larva (slow)

navis is in the ``benchmark`` extra (``pip install -e .[benchmark]``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DS = "drosophila_larva_winding2023"
TOL = 1e-9


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _vectors() -> tuple[np.ndarray, np.ndarray]:
    import connectome as cx

    c = cx.load(DS)
    p = cx.connectivity_profiles(c, direction="both")
    return p.ids, p.matrix.toarray()


def _subset(n_all: int, n: int) -> np.ndarray:
    return np.sort(np.random.default_rng(0).choice(n_all, size=min(n, n_all), replace=False))


def worker(name: str, navis_n: int, out: Path) -> None:
    """Run one tool, save its result array to ``out`` (.npy), print seconds and memory as JSON."""
    import connectome as cx

    os.environ.setdefault("CONNECTOME_PROGRESS", "0")
    ids, x = _vectors()
    c = cx.load(DS)
    sub = _subset(len(ids), navis_n)
    base = _rss_gib()
    t = time.perf_counter()
    if name.startswith("navis-"):
        import navis

        metric = name.split("-", 1)[1]
        res = navis.connectivity_similarity(x[sub], metric=metric, n_cores=1).to_numpy()
    elif name.startswith("cx-block-"):
        metric = {"cosine": "cosine", "matching_index": "jaccard", "vertex_normalized": "vertex_normalized"}[
            name.split("-", 2)[2]]
        res = cx.similarity(c, ids[sub], direction="both", metric=metric, progress=False).to_numpy()
    elif name == "sklearn-dense":
        from sklearn.metrics.pairwise import cosine_similarity

        res = cosine_similarity(x)
        empty = ~x.any(axis=1)
        res[empty, :] = np.nan
        res[:, empty] = np.nan
    elif name == "cx-dense":
        res = cx.similarity(c, direction="both", progress=False).to_numpy()
    elif name == "sklearn-knn":
        from sklearn.neighbors import NearestNeighbors

        live = np.flatnonzero(x.any(axis=1))
        nn = NearestNeighbors(n_neighbors=21, metric="cosine", algorithm="brute").fit(x[live])
        dist, idx = nn.kneighbors(x[live])
        # drop each neuron itself (similarity 1, but ties at 1 may put another neuron first)
        sim = 1 - dist
        keep = np.ones_like(idx, dtype=bool)
        for r in range(len(live)):
            hit = np.flatnonzero(idx[r] == r)
            keep[r, hit[0] if len(hit) else -1] = False
        res = np.full((len(ids), 20), np.nan)
        res[live] = sim[keep].reshape(len(live), 20)
    elif name == "cx-knn":
        t20 = cx.similarity(c, direction="both", top_k=20, progress=False)
        res = np.full((len(ids), 20), np.nan)
        res[x.any(axis=1)] = 0.0  # fewer than 20 neurons share a partner: the rest are similarity 0 for sklearn
        rows = np.searchsorted(ids, t20["root_id"].to_numpy(np.int64))
        res[rows, t20["rank"].to_numpy() - 1] = t20["similarity"].to_numpy()
    else:
        raise SystemExit(f"unknown worker {name!r}")
    sec = time.perf_counter() - t
    peak = _rss_gib()
    np.save(out, res)
    print(json.dumps({"tool": name, "seconds": sec, "peak_rss_gib": peak, "extra_rss_gib": max(0.0, peak - base),
                      "shape": list(res.shape)}))


def _run(name: str, navis_n: int, tmp: Path) -> tuple[dict, np.ndarray]:
    out = tmp / f"{name}.npy"
    r = subprocess.run([sys.executable, __file__, "--worker", name, "--navis-n", str(navis_n), "--tmp", str(tmp)],
                       capture_output=True, text=True, check=True,
                       env={**os.environ, "CONNECTOME_PROGRESS": "0", "OMP_NUM_THREADS": os.environ.get(
                           "OMP_NUM_THREADS", "2")})
    info = json.loads(r.stdout.strip().splitlines()[-1])
    print(info, flush=True)
    return info, np.load(out)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return float("inf")
    both = ~np.isnan(a)
    return float(np.abs(a[both] - b[both]).max()) if both.any() else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--navis-n", type=int, default=600, help="neurons in navis's dense block (default 600)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "similarity.json"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.navis_n, Path(args.tmp) / f"{args.worker}.npy")
        return 0
    import tempfile

    rows, checks = [], []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for metric in ("cosine", "matching_index", "vertex_normalized"):
            ours, a = _run(f"cx-block-{metric}", args.navis_n, t)
            peer, b = _run(f"navis-{metric}", args.navis_n, t)
            rows += [ours, peer]
            checks.append({"compare": f"{metric}: cx.similarity vs navis ({args.navis_n} neurons)",
                           "max_abs_diff": _diff(a, b)})
        for ours_name, peer_name, what in (("cx-dense", "sklearn-dense", "cosine, dense 3,591 x 3,591"),
                                           ("cx-knn", "sklearn-knn", "cosine top-20 of every neuron")):
            ours, a = _run(ours_name, args.navis_n, t)
            peer, b = _run(peer_name, args.navis_n, t)
            rows += [ours, peer]
            checks.append({"compare": f"{what}: cx.similarity vs scikit-learn", "max_abs_diff": _diff(a, b)})
    import navis
    import sklearn

    result = {"dataset": DS, "direction": "both", "navis": navis.__version__, "sklearn": sklearn.__version__,
              "navis_n": args.navis_n, "tolerance": TOL, "rows": rows, "checks": checks,
              "cpus": os.cpu_count(), "load_average": os.getloadavg()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    for ch in checks:
        print(f"{ch['compare']}: max |diff| {ch['max_abs_diff']:.2e}")
    ok = all(ch["max_abs_diff"] <= TOL for ch in checks)
    print("all equal to 1e-9" if ok else "DIFFERENCES ABOVE 1e-9")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
