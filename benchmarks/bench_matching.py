"""Matching the larva's hemispheres: cx.match against graspologic 3.4's graph_match, run for real.

graspologic needs numpy < 2, so it cannot live in the project's .venv: this script makes
``.venv-peers`` (``pip install graspologic==3.4.4``) on first use and calls it there in a
subprocess on the *same* input — the larva's paired neurons (Winding et al. 2023; pair_id is the
truth, as in Pedigo et al. 2023), the same weighted adjacencies (log(1 + synapses) by default),
the same seeds (0 / 10 / 50 % of the pairs, drawn with one seed) and the same restarts.
Accuracy = fraction of the non-seed true pairs recovered.

``+similarity`` settings add the linear term of ``cx.match(..., by="merge_class")`` (partner-type
similarity across the hemispheres, partners' sides mirrored, plus the same-label bonus, weighted by
``similarity_weight``; no pair labels): cx.match builds it, and graspologic gets the same matrix as
``S=``. Seeds are the only known pairs either tool sees.

``+attributes`` settings also pass ``attributes=`` (``--attributes``: the larva's cell-class,
lineage and axon-laterality labels and its four per-compartment synapse counts; never a name or a
pair id) at ``attribute_weight`` 3 (the default); ``+attributes(auto)`` lets cx.match choose the
weight by cross-validation on the seeds (it needs seeds, so it has no no-seed figure).

    .venv/bin/python benchmarks/bench_matching.py                # writes benchmarks/results/matching.json
    .venv/bin/python benchmarks/bench_matching.py --n-init 1 --weight log --fractions 0 0.1 0.5

Also: the FlyWire-scale cosine top-20 (time and peak RSS of cx.similarity) with ``--flywire``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / ".venv-peers"
GRASPOLOGIC = "graspologic==3.4.4"
#: The larva's node columns for ``+attributes``: labels of class, lineage and axon laterality, and
#: synapse counts per compartment. Names, pair ids, sides and tracing status are left out.
ATTRIBUTES = ("lineage", "class1", "class2", "merge_class", "simple_group", "io", "brain_neurons", "sensory", "motor",
              "ipsilateral_axon", "contralateral_axon", "bilateral_axon", "axon_input", "axon_output",
              "dendrite_input", "dendrite_output")

PEER_SCRIPT = r"""
import json, sys, time, numpy as np, scipy.sparse as sp
import graspologic
from graspologic.match import graph_match
d = np.load(sys.argv[1])
out = []
for frac in json.loads(sys.argv[2]):
    k = int(frac * d["n"])
    seeds = np.stack([d["seeds_a"][:k], d["seeds_b"][:k]], axis=1) if k else None
    for method in json.loads(sys.argv[4]):
        kw = {}
        if method.startswith("bisected"):
            kw = dict(AB=d["ab"], BA=d["ba"])
        if method.endswith("+similarity"):  # the same linear term as cx.match(by=...), weighted alike
            kw["S"] = d["sim_" + method.split("+")[0]]
        if method.endswith("+attributes"):  # ... plus cx.match's attribute term (weight 3)
            kw["S"] = d["simattr_" + method.split("+")[0]]
        if method.endswith("+transport"):  # graspologic's optimal-transport relaxation
            kw["transport"] = True
        t = time.perf_counter()
        res = graph_match(d["aa"], d["bb"], partial_match=seeds, n_init=int(sys.argv[3]), max_iter=30, tol=0.01,
                          rng=0, **kw)
        out.append({"frac": frac, "method": method, "seconds": time.perf_counter() - t,
                    "a": res.indices_A.tolist(), "b": res.indices_B.tolist(), "objective": float(res.score)})
print(json.dumps({"version": graspologic.__version__, "runs": out}))
"""


def ensure_peers() -> Path:
    """``.venv-peers`` with graspologic (made once; pip's own index settings)."""
    py = PEERS / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import graspologic"], capture_output=True).returncode == 0:
        return py
    print(f"making {PEERS} with {GRASPOLOGIC} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", GRASPOLOGIC], check=True)
    return py


def larva_input(weight: str, draw: int = 0) -> tuple[dict, np.ndarray, np.ndarray]:
    import connectome as cx
    from connectome import matching as M

    c = cx.load("drosophila_larva_winding2023")
    n = c.node_table()
    n = n[n.pair_id != -1]
    n = n[n.groupby("pair_id").hemisphere.transform(lambda s: set(s) == {"L", "R"})]
    left = np.sort(n[n.hemisphere == "L"].root_id.to_numpy())
    pid = n.set_index("root_id").pair_id
    right_of = pd.Series(n[n.hemisphere == "R"].root_id.to_numpy(), index=pid.loc[n[n.hemisphere == "R"].root_id])
    right = np.sort(right_of.to_numpy())
    adj, ids = M._adjacency(c, weight, 1, "chemical", None)
    k = len(left)
    blocks = {"aa": M._block(adj, ids, left, left, k), "bb": M._block(adj, ids, right, right, k),
              "ab": M._block(adj, ids, left, right, k), "ba": M._block(adj, ids, right, left, k)}
    truth = np.searchsorted(right, right_of.loc[pid.loc[left]].to_numpy())  # index in right of left i's pair
    order = np.random.default_rng(draw).permutation(k)  # seed draws: the first 10% / 50% of one permutation
    return {**{x: m.toarray() for x, m in blocks.items()}, "n": k, "seeds_a": order,
            "seeds_b": truth[order]}, left, right


def similarity_term(c, left: np.ndarray, right: np.ndarray, data: dict, method: str, by: str,
                    weight: float) -> np.ndarray:
    """The weighted linear term ``lam S`` that ``cx.match(..., by=by, similarity_weight=weight)`` adds."""
    import scipy.sparse as sp

    from connectome import matching as M

    blocks = [sp.csr_array(data[k]) for k in ("aa", "bb")]
    cd = [sp.csr_array(data[k]) for k in ("ab", "ba")] if method == "bisected" else [None, None]
    s, _ = M._similarity_term(c, None, left, right, data["n"], *blocks, *cd, by=by, side_column="hemisphere",
                              weight_=weight, direction="both", metric="cosine", min_synapses=1,
                              edge_kind="chemical", unlabelled=None, vocabulary="shared", scheduler=None)
    return s


def attribute_term(c, left: np.ndarray, right: np.ndarray, data: dict, method: str, attributes: list[str],
                   weight: float = 3.0) -> np.ndarray:
    """The weighted attribute term that ``cx.match(..., attributes=attributes, attribute_weight=weight)`` adds."""
    import scipy.sparse as sp

    from connectome import matching as M

    mats = [sp.csr_array(data[k]) for k in ("aa", "bb")]
    mats += [sp.csr_array(data[k]) for k in ("ab", "ba")] if method == "bisected" else [None, None]
    term, _ = M._attribute_term(c, c, left, right, data["n"], *mats, attributes=attributes, side_column="hemisphere")
    return weight * term


def accuracy(a_idx: np.ndarray, b_idx: np.ndarray, truth: np.ndarray, seeded: np.ndarray) -> float:
    got = pd.Series(b_idx, index=a_idx)
    free = np.setdiff1d(np.arange(len(truth)), seeded)
    return float((got.reindex(free).to_numpy() == truth[free]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weight", default="log", choices=["log", "synapse_count", "binary"])
    ap.add_argument("--n-init", type=int, default=1)
    ap.add_argument("--draw", type=int, default=0, help="random seed of the permutation the seed pairs come from")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.0, 0.1, 0.5])
    ap.add_argument("--skip-peer", action="store_true", help="only cx.match")
    ap.add_argument("--by", default="merge_class", help="label column of the similarity term (cx.match by=)")
    ap.add_argument("--similarity-weight", type=float, default=0.1, help="cx.match similarity_weight=")
    ap.add_argument("--attributes", nargs="+", default=list(ATTRIBUTES),
                    help="node columns for the +attributes settings (cx.match attributes=)")
    ap.add_argument("--methods", nargs="+", default=["gm", "bisected", "gm+similarity", "bisected+similarity",
                                                     "bisected+similarity+attributes",
                                                     "bisected+similarity+attributes(auto)"],
                    help="cx.match settings to run")
    ap.add_argument("--peer-methods", nargs="+", default=["gm", "bisected", "bisected+similarity",
                                                          "bisected+similarity+attributes", "bisected+transport"],
                    help="graspologic settings to run (+similarity: given our similarity term as S=; "
                         "+similarity+attributes: our similarity and attribute terms (weight 3) as S=; "
                         "+transport: transport=True, e.g. bisected+transport)")
    ap.add_argument("--flywire", action="store_true", help="also time cosine top-20 on the FlyWire-scale graph")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "matching.json"))
    args = ap.parse_args()
    os.environ.setdefault("CONNECTOME_PROGRESS", "0")

    import connectome as cx

    data, left, right = larva_input(args.weight, args.draw)
    truth = data["seeds_b"][np.argsort(data["seeds_a"])]
    rows = []
    c = cx.load("drosophila_larva_winding2023")
    for base in ("gm", "bisected"):  # the similarity term, as cx.match builds it, for graspologic's S=
        data[f"sim_{base}"] = similarity_term(c, left, right, data, base, args.by, args.similarity_weight)
        data[f"simattr_{base}"] = data[f"sim_{base}"] + attribute_term(c, left, right, data, base, args.attributes)
    for frac in args.fractions:
        k = int(frac * data["n"])
        seeded = data["seeds_a"][:k]
        seeds = pd.DataFrame({"a_root_id": left[seeded], "b_root_id": right[data["seeds_b"][:k]]}) if k else None
        for method in args.methods:
            base, *extras = method.split("+")
            kw = {"by": args.by, "similarity_weight": args.similarity_weight} if "similarity" in extras else {}
            if any(x.startswith("attributes") for x in extras):
                if "attributes(auto)" in extras and not k:
                    continue  # the weight is chosen on the seeds
                kw.update(attributes=args.attributes, attribute_weight="auto" if "attributes(auto)" in extras else 3.0)
            t = time.perf_counter()
            m = cx.match(c, ids_a=left, ids_b=right, side="hemisphere", method=base, seeds=seeds,
                         weight=args.weight, n_init=args.n_init, seed=0, **kw)
            sec = time.perf_counter() - t
            acc = accuracy(np.searchsorted(left, m.pairs.a_root_id), np.searchsorted(right, m.pairs.b_root_id),
                           truth, seeded)
            rows.append({"tool": "connectome", "method": method, "seeds": frac, "accuracy": acc, "seconds": sec,
                         "objective": m.meta["objective"],
                         "attribute_weight": m.meta.get("attributes", {}).get("weight"),
                         "cross_validation": m.meta.get("attributes", {}).get("cross_validation")})
            print(rows[-1], flush=True)
    peer_version = None
    if not args.skip_peer:
        py = ensure_peers()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "larva.npz"
            np.savez(path, **data)
            script = Path(tmp) / "peer.py"
            script.write_text(PEER_SCRIPT)
            res = subprocess.run([str(py), str(script), str(path), json.dumps(args.fractions), str(args.n_init),
                                  json.dumps(args.peer_methods)],
                                 capture_output=True, text=True, check=True)
        peer = json.loads(res.stdout.strip().splitlines()[-1])
        peer_version = peer["version"]
        for r in peer["runs"]:
            k = int(r["frac"] * data["n"])
            acc = accuracy(np.asarray(r["a"]), np.asarray(r["b"]), truth, data["seeds_a"][:k])
            rows.append({"tool": f"graspologic {peer_version}", "method": r["method"], "seeds": r["frac"],
                         "accuracy": acc, "seconds": r["seconds"], "objective": r["objective"]})
            print(rows[-1], flush=True)
    result = {"dataset": "drosophila_larva_winding2023 (paired neurons)", "pairs": int(data["n"]), "draw": args.draw,
              "weight": args.weight, "n_init": args.n_init, "by": args.by,
              "similarity_weight": args.similarity_weight, "rows": rows,
              "load_average": os.getloadavg(), "cpus": os.cpu_count()}
    if args.flywire:
        import resource

        fw = cx.load("flywire_scale_synthetic")
        t = time.perf_counter()
        s = cx.similarity(fw, top_k=20, direction="both")
        result["flywire_top20"] = {"seconds": time.perf_counter() - t, "rows": int(len(s)),
                                   "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
        print(result["flywire_top20"], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    table = pd.DataFrame(rows).pivot_table(index=["tool", "method"], columns="seeds", values="accuracy")
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
