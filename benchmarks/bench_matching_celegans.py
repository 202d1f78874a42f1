"""Matching C. elegans hemispheres and C. elegans across animals: cx.match beside graspologic 3.4's graph_match.

The companion of ``bench_matching.py`` (the larva), on the same terms: the same weighted
adjacencies (``log(1 + synapses)``, chemical) and the same similarity term (given to graspologic as
``S=``), one initialisation, 30 FAQ iterations at most, tol 0.01; graspologic runs in ``.venv-peers``.

- **L/R**: Cook et al. 2019's hermaphrodite, left against right neurons (``side``); the truth is the
  cell names (AVAL <-> AVAR: the name without its final L/R, where it is unique on each side).
- **Across animals**: the neurons of Cook 2019's hermaphrodite against Witvliet et al. 2021's adult
  (dataset 8) and against White et al. 1986 (``whole``), the neurons whose names both have; the
  truth is the shared name.

``+attributes``: ``attributes=["nt_type", "super_class"]`` at the default weight (the neurons'
transmitter and class; never a name): ours with the term, graspologic given the same total term as ``S=``.

Accuracy: the fraction of true pairs recovered (no seeds).

    .venv/bin/python benchmarks/bench_matching_celegans.py   # writes benchmarks/results/matching_celegans.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_matching import ROOT, ensure_peers  # noqa: E402

#: Node columns for ``+attributes``: transmitter and class (never a name).
ATTRIBUTES = ["nt_type", "super_class"]

PEER = r"""
import json, sys, time, numpy as np
import graspologic
from graspologic.match import graph_match
out = []
for case in json.loads(sys.argv[1]):
    d = np.load(case["path"])
    for method in case["peer_methods"]:
        kw = {}
        if method.startswith("bisected"):
            kw = dict(AB=d["ab"], BA=d["ba"])
        if method.endswith("+similarity"):
            kw["S"] = d["sim_" + method.split("+")[0]]
        if method.endswith("+attributes"):
            kw["S"] = d["simattr_" + method.split("+")[0]]
        t = time.perf_counter()
        res = graph_match(d["aa"], d["bb"], n_init=1, max_iter=30, tol=0.01, rng=0, **kw)
        out.append({"case": case["name"], "method": method, "seconds": time.perf_counter() - t,
                    "a": res.indices_A.tolist(), "b": res.indices_B.tolist()})
print(json.dumps({"version": graspologic.__version__, "runs": out}))
"""


def _truth(keys_a: pd.Series, keys_b: pd.Series) -> np.ndarray:
    """For each a index, the b index with the same key (unique on both sides), else -1."""
    ka = keys_a[~keys_a.duplicated(keep=False)]
    kb = keys_b[~keys_b.duplicated(keep=False)]
    pos_b = pd.Series(np.arange(len(keys_b)), index=keys_b.to_numpy())[kb.to_numpy()]
    out = np.full(len(keys_a), -1)
    hit = ka.isin(kb)
    out[ka.index[hit]] = pos_b.loc[ka[hit].to_numpy()].to_numpy()
    return out


def _acc(a_idx: np.ndarray, b_idx: np.ndarray, truth: np.ndarray) -> float:
    pred = np.full(len(truth), -2)
    pred[a_idx] = b_idx
    known = truth >= 0
    return float((pred[known] == truth[known]).mean())


def cases() -> list[dict]:
    import connectome as cx

    herm = cx.load("celegans_cook2019_herm")
    n = herm.node_table()
    out = []
    left = np.sort(n.root_id[n.side == "left"].to_numpy())
    right = np.sort(n.root_id[n.side == "right"].to_numpy())
    key = n.set_index("root_id").name.str.replace(r"[LR]$", "", regex=True)
    out.append({"name": "C. elegans L/R (Cook 2019 herm.)", "a": herm, "b": None, "ids_a": left, "ids_b": right,
                "truth": _truth(key.loc[left].reset_index(drop=True), key.loc[right].reset_index(drop=True)),
                "by": "super_class", "unlabelled": "pool",
                "ours": ["gm", "bisected", "gm+similarity", "bisected+similarity", "gm+similarity+attributes",
                         "bisected+similarity+attributes"],
                "peer": ["gm", "bisected", "bisected+similarity", "bisected+similarity+attributes"]})
    for other in ("celegans_witvliet2021_8", "celegans_white1986_whole"):
        o = cx.load(other)
        no = o.node_table()
        shared = set(n.name[n.cell_category == "neuron"]) & set(no.name[no.cell_category == "neuron"])
        a = np.sort(n.root_id[n.name.isin(shared)].to_numpy())
        b = np.sort(no.root_id[no.name.isin(shared)].to_numpy())
        na, nb = n.set_index("root_id").name, no.set_index("root_id").name
        out.append({"name": f"Cook 2019 herm. vs {other}", "a": herm, "b": o, "ids_a": a, "ids_b": b,
                    "truth": _truth(na.loc[a].reset_index(drop=True), nb.loc[b].reset_index(drop=True)),
                    "by": "cell_type", "unlabelled": "drop",
                    "ours": ["similarity", "gm", "gm+similarity", "gm+similarity+attributes"],
                    "peer": ["gm", "gm+similarity", "gm+similarity+attributes"]})
    return out


def main() -> None:
    os.environ.setdefault("CONNECTOME_PROGRESS", "0")
    import connectome as cx
    from connectome import matching as M
    from connectome.match_attributes import DEFAULT_WEIGHT

    rows, peer_cases = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases()):
            a, b, ia, ib = case["a"], case["b"], case["ids_a"], case["ids_b"]
            one = b is None
            side = {"side": "side"} if one else {}
            for method in case["ours"]:
                base, *extras = method.split("+")
                kw = {"by": case["by"], "unlabelled": case["unlabelled"]} if (extras or base == "similarity") else {}
                if "attributes" in extras:
                    kw["attributes"] = ATTRIBUTES
                t = time.perf_counter()
                m = cx.match(a, b, ids_a=ia, ids_b=ib, method=base, progress=False, **side, **kw)
                sec = time.perf_counter() - t
                acc = _acc(np.searchsorted(ia, m.pairs.a_root_id), np.searchsorted(ib, m.pairs.b_root_id),
                           case["truth"])
                rows.append({"case": case["name"], "tool": "connectome", "method": method, "accuracy": acc,
                             "true_pairs": int((case["truth"] >= 0).sum()), "seconds": sec})
                print(rows[-1], flush=True)
            # the peer's input: the same blocks (unpadded) and the same similarity term
            ma, ida = M._adjacency(a, "log", 1, "chemical", None)
            mb, idb = (ma, ida) if one else M._adjacency(b, "log", 1, "chemical", None)
            na_, nb_ = len(ia), len(ib)
            d = {"aa": M._block(ma, ida, ia, ia, na_).toarray(), "bb": M._block(mb, idb, ib, ib, nb_).toarray()}
            n = max(na_, nb_)
            blocks = {"aa": M._block(ma, ida, ia, ia, n), "bb": M._block(mb, idb, ib, ib, n)}
            if one:
                d["ab"] = M._block(ma, ida, ia, ib, n).toarray()[:na_, :nb_]
                d["ba"] = M._block(ma, ida, ib, ia, n).toarray()[:nb_, :na_]
            for base in ("gm", "bisected") if one else ("gm",):
                cd = [M._block(ma, ida, ia, ib, n), M._block(ma, ida, ib, ia, n)] if base == "bisected" else [None, None]
                s, _ = M._similarity_term(a, b, ia, ib, n, blocks["aa"], blocks["bb"], *cd, by=case["by"],
                                          side_column="side" if one else None, weight_=None, direction="both",
                                          metric="cosine", min_synapses=1, edge_kind="chemical",
                                          unlabelled=case["unlabelled"], vocabulary="shared", scheduler=None)
                d[f"sim_{base}"] = s[:na_, :nb_]
                t, _ = M._attribute_term(a, a if one else b, ia, ib, n, blocks["aa"], blocks["bb"], *cd,
                                         attributes=ATTRIBUTES, side_column="side" if one else None)
                d[f"simattr_{base}"] = d[f"sim_{base}"] + DEFAULT_WEIGHT * t[:na_, :nb_]
            path = Path(tmp) / f"case{i}.npz"
            np.savez(path, **d)
            peer_cases.append({"name": case["name"], "path": str(path), "peer_methods": case["peer"],
                               "truth": case["truth"]})
        py = ensure_peers()
        script = Path(tmp) / "peer.py"
        script.write_text(PEER)
        res = subprocess.run([str(py), str(script), json.dumps([{k: v for k, v in c.items() if k != "truth"}
                                                               for c in peer_cases])],
                             capture_output=True, text=True, check=True)
    peer = json.loads(res.stdout.strip().splitlines()[-1])
    truth = {c["name"]: c["truth"] for c in peer_cases}
    for r in peer["runs"]:
        acc = _acc(np.asarray(r["a"]), np.asarray(r["b"]), truth[r["case"]])
        rows.append({"case": r["case"], "tool": f"graspologic {peer['version']}", "method": r["method"],
                     "accuracy": acc, "true_pairs": int((truth[r["case"]] >= 0).sum()), "seconds": r["seconds"]})
        print(rows[-1], flush=True)
    out = ROOT / "benchmarks" / "results" / "matching_celegans.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "load_average": os.getloadavg()}, indent=2))
    print(pd.DataFrame(rows).pivot_table(index=["tool", "method"], columns="case", values="accuracy").round(3)
          .to_string())


if __name__ == "__main__":
    main()
