"""Partners, paths, influence and flow layers against their peers, on the same store and parameters.

1. Paths: networkx ``all_shortest_paths`` / ``all_simple_paths(cutoff=k)`` on the thresholded pair
   graph; the path sets must be identical. Larva: 20 × 20 neurons; FlyWire scale
   (../shared/data/flywire_scale_synthetic): 100 sources × 100 targets, min_synapses=5 — networkx
   runs on the first ``--nx-sources`` sources only (one BFS per pair in Python) and its time is
   scaled to 100 sources; the path sets are compared on those sources.
2. Influence: dense numpy k-hop sum on the larva (exactness); FlyWire scale, 100 sources, k = 5.
3. Flow layers: navis ``TraversalModel`` (navis 1.12, its default linear activation, threshold 0.3)
   against ``cx.flow_layers(rule="per_edge")`` on the larva with the sensory neurons as seeds, same
   iterations; mean layers compared with a per-neuron Welch z; FlyWire scale with 10,000 seeds and
   1,000 iterations.
4. Partners: pandas groupby on the edge table (identical numbers); FlyWire-scale partner table of
   1,000 neurons, warm.

Run: ``.venv/bin/python benchmarks/bench_pathways.py [--quick]`` (needs the ``benchmark`` extra: navis).
Each measurement runs in a fresh process (wall time and peak RSS, benchmarks/_common.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measure  # noqa: E402


def _pairs_graph(name: str, min_syn: int):
    import networkx as nx

    import connectome as cx

    p = cx.pair_totals(cx.load(name))
    p = p[(p.synapse_count >= min_syn) & (p.pre_root_id != p.post_root_id)]
    g = nx.DiGraph()
    g.add_edges_from(zip(p.pre_root_id.astype("int64").tolist(), p.post_root_id.astype("int64").tolist()))
    return g


def _pick(name: str, n: int, seed: int) -> np.ndarray:
    import connectome as cx

    ids = cx.load(name).node_table().root_id.to_numpy()
    return np.random.default_rng(seed).choice(ids, size=n, replace=False)


def nx_shortest(name: str, src, tgt, min_syn: int):
    import networkx as nx

    g = _pairs_graph(name, min_syn)
    t0 = time.perf_counter()
    out = set()
    for s in src:
        for t in tgt:
            s, t = int(s), int(t)
            if s != t and s in g and t in g and nx.has_path(g, s, t):
                out |= {tuple(p) for p in nx.all_shortest_paths(g, s, t)}
    return time.perf_counter() - t0, out


def nx_simple(name: str, src, tgt, min_syn: int, k: int):
    import networkx as nx

    g = _pairs_graph(name, min_syn)
    t0 = time.perf_counter()
    out = set()
    for s in src:
        for t in tgt:
            s, t = int(s), int(t)
            if s != t and s in g and t in g:
                out |= {tuple(p) for p in nx.all_simple_paths(g, s, t, cutoff=k)}
    return time.perf_counter() - t0, out


def ours_paths(name: str, src, tgt, min_syn: int, k: int | None, warm: bool = True):
    import connectome as cx

    c = cx.load(name)
    if warm:  # the pair graph and the compiled kernels, as a service holds them
        cx.count_paths(c, src[:1], tgt[:1], None, min_syn, shortest=True)
    t0 = time.perf_counter()
    if k is None:
        df = cx.shortest_paths(c, src, tgt, min_synapses=min_syn, labels=[], max_paths=50_000_000)
    else:
        df = cx.paths(c, src, tgt, max_hops=k, min_synapses=min_syn, labels=[], max_paths=50_000_000)
    elapsed = time.perf_counter() - t0
    ids = df.root_id.astype("int64").to_numpy()
    bounds = np.flatnonzero(np.r_[True, np.diff(df.path_id.to_numpy()) != 0, True])
    paths = {tuple(ids[a:b]) for a, b in zip(bounds[:-1], bounds[1:])}
    return elapsed, paths


def dense_influence(name: str, src, k: int):
    import connectome as cx

    c = cx.load(name)
    ids = c.node_table().root_id.to_numpy()
    p = cx.pair_totals(c)
    t0 = time.perf_counter()
    n = len(ids)
    a = np.zeros((n, n))
    np.add.at(a, (np.searchsorted(ids, p.post_root_id), np.searchsorted(ids, p.pre_root_id)), p.synapse_count)
    tot = a.sum(axis=1, keepdims=True)
    w = np.divide(a, tot, out=np.zeros_like(a), where=tot > 0)
    x = np.eye(n)[:, np.searchsorted(ids, src)]
    acc = np.zeros_like(x)
    for _ in range(k):
        x = w @ x
        acc += x
    return time.perf_counter() - t0, acc


def ours_influence(name: str, src, k: int, dense_targets: bool):
    import connectome as cx

    c = cx.load(name)
    cx.influence(c, src[:1], hops=1)  # warm: pair graph
    t0 = time.perf_counter()
    ids = c.node_table().root_id.to_numpy() if dense_targets else None
    df = cx.influence(c, src, ids, hops=k, labels=[])
    elapsed = time.perf_counter() - t0
    if not dense_targets:
        return elapsed, len(df)
    m = df.pivot(index="target_root_id", columns="source_root_id", values="influence")
    return elapsed, m.reindex(index=ids, columns=src).to_numpy()


def navis_layers(name: str, seeds, iterations: int, max_steps: int):
    import pandas as pd
    from navis.models import TraversalModel

    import connectome as cx

    p = cx.pair_totals(cx.load(name))
    p = p[p.pre_root_id != p.post_root_id]
    edges = pd.DataFrame({"source": p.pre_root_id.astype("int64"), "target": p.post_root_id.astype("int64"),
                          "weight": p.synapse_count / p.groupby("post_root_id").synapse_count.transform("sum")})
    import navis

    navis.set_pbars(hide=True)
    t0 = time.perf_counter()
    model = TraversalModel(edges, seeds=[int(s) for s in seeds], max_steps=max_steps)
    res = model.run(iterations=iterations)
    elapsed = time.perf_counter() - t0
    s = res.groupby("node").steps.agg(["mean", "var", "count"])
    return elapsed, s


def ours_layers(name: str, seeds, iterations: int, max_steps: int, rule: str = "per_edge"):
    import connectome as cx

    c = cx.load(name)
    cx.flow_layers(c, seeds, max_steps=max_steps, n_iterations=2, rule=rule, labels=[])  # warm
    t0 = time.perf_counter()
    df = cx.flow_layers(c, seeds, max_steps=max_steps, n_iterations=iterations, rule=rule, labels=[], seed=1)
    return time.perf_counter() - t0, df


def partners_run(name: str, ids):
    import connectome as cx

    c = cx.load(name)
    cx.partners(c, ids[:2])
    t0 = time.perf_counter()
    df = cx.partners(c, ids)
    return time.perf_counter() - t0, len(df)


def pandas_partners(name: str, ids):
    import connectome as cx

    e = cx.load(name).edge_table()
    t0 = time.perf_counter()
    e = e[e.edge_kind == "chemical"]
    pairs = e.groupby(["pre_root_id", "post_root_id"], as_index=False).synapse_count.sum()
    up = pairs[pairs.post_root_id.isin(ids)]
    down = pairs[pairs.pre_root_id.isin(ids)]
    return time.perf_counter() - t0, len(up) + len(down)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="larva only")
    ap.add_argument("--nx-sources", type=int, default=3, help="FlyWire-scale sources run through networkx")
    args = ap.parse_args()
    larva, fw = "drosophila_larva_winding2023", "flywire_scale_synthetic"
    out: dict = {}

    src, tgt = _pick(larva, 20, 1), _pick(larva, 20, 2)
    t_nx, ref = measure(nx_shortest, larva, src, tgt, 5)[1]
    t_us, got = measure(ours_paths, larva, src, tgt, 5, None)[1]
    out["larva_shortest"] = {"networkx_s": t_nx, "ours_s": t_us, "paths": len(got), "identical": got == ref}
    t_nx, ref = measure(nx_simple, larva, src, tgt, 5, 3)[1]
    t_us, got = measure(ours_paths, larva, src, tgt, 5, 3)[1]
    out["larva_simple_k3"] = {"networkx_s": t_nx, "ours_s": t_us, "paths": len(got), "identical": got == ref}
    print(json.dumps(out, indent=1), flush=True)

    lsrc = _pick(larva, 100, 3)
    t_d, dense = measure(dense_influence, larva, lsrc, 5)[1]
    t_o, mine = measure(ours_influence, larva, lsrc, 5, True)[1]
    out["larva_influence_k5"] = {"dense_numpy_s": t_d, "ours_s": t_o,
                                 "max_abs_diff": float(np.nanmax(np.abs(np.nan_to_num(mine) - dense)))}

    import connectome as cx

    seeds = cx.ids_of(cx.load(larva), simple_group="sensories")
    # navis drops seeds that are no edge's source (silently); give both the same seeds
    seeds = np.intersect1d(seeds, cx.pair_totals(cx.load(larva)).pre_root_id.to_numpy())
    t_n, nav = measure(navis_layers, larva, seeds, 300, 15)[1]
    t_o, lay = measure(ours_layers, larva, seeds, 300, 15)[1]
    m = lay.set_index("root_id").join(nav, how="inner")
    m = m[(m["count"] >= 30) & (m.reached >= 0.3)]
    hist = m[[f"hist_{k}" for k in range(1, 16)]].to_numpy()
    var = (hist * (np.arange(1, 16)[None, :] - m.layer_mean.to_numpy()[:, None]) ** 2).sum(axis=1) / \
        np.maximum(hist.sum(axis=1) - 1, 1)
    se = np.sqrt(var / hist.sum(axis=1) + m["var"].fillna(0) / m["count"]) + 1e-12
    z = ((m.layer_mean - m["mean"]).abs() / se)[se > 1e-6]
    out["larva_layers_300it"] = {"navis_s": t_n, "ours_s": t_o, "neurons_compared": int(len(m)),
                                 "max_abs_z": float(z.max()), "mean_abs_diff": float((m.layer_mean - m["mean"]).abs().mean())}
    ids = cx.load(larva).node_table().root_id.to_numpy()[::4]
    out["larva_partners"] = {"pandas_s": measure(pandas_partners, larva, ids)[1][0],
                             "ours_warm_s": measure(partners_run, larva, ids)[1][0]}
    print(json.dumps(out, indent=1), flush=True)
    if args.quick:
        return

    src, tgt = _pick(fw, 100, 1), _pick(fw, 100, 2)
    t_us, got = measure(ours_paths, fw, src, tgt, 5, None)[1]
    few = src[: args.nx_sources]
    t_nx, ref = measure(nx_shortest, fw, few, tgt, 5)[1]
    sub = {p for p in got if p[0] in set(int(x) for x in few)}
    out["flywire_shortest_100x100"] = {"ours_s": t_us, "paths": len(got),
                                       "networkx_s_for_%d_sources" % len(few): t_nx,
                                       "networkx_s_scaled_to_100": t_nx * 100 / len(few),
                                       "identical_on_networkx_sources": sub == ref}
    print(json.dumps(out, indent=1), flush=True)
    wall, (t_o, n), rss = measure(ours_influence, fw, src, 5, False)
    out["flywire_influence_100src_k5"] = {"ours_s": t_o, "rows": n, "peak_rss_mib": rss}
    fseeds = _pick(fw, 10_000, 5)
    wall, (t_o, _), rss = measure(ours_layers, fw, fseeds, 1000, 15, "summed")
    out["flywire_layers_10k_seeds_1000it"] = {"ours_s": t_o, "peak_rss_mib": rss}
    ids = cx.load(fw).node_table().root_id.to_numpy()[::139][:1000]
    out["flywire_partners_1000"] = {"ours_warm_s": measure(partners_run, fw, ids)[1][0],
                                    "pandas_groupby_s": measure(pandas_partners, fw, ids)[1][0]}
    print(json.dumps(out, indent=1), flush=True)


if __name__ == "__main__":
    main()
