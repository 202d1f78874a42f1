"""Training speed and memory on the FlyWire-scale graph: our model vs the baseline GraphSAGE.

    .venv/bin/python benchmarks/bench_gnn_speed.py [--seeds 5] [--epochs 6] [--threads 2] [--device cpu]

Graph: ``flywire_scale_synthetic`` (139,255 real FlyWire v783 neurons, 2,700,513 synthetic
edges, ≥ 5 synapses each, transmitter per edge), label ``super_class`` (9 classes). **For
performance only: its edges are synthetic, so accuracy on it means nothing.**

Each (variant, seed) runs in a fresh subprocess, so the peak RSS is that run's own:
load + features + operators + ``gnn.train`` for ``--epochs`` full-batch epochs (forward,
backward, Adam step, and the validation forward pass each epoch). Seconds per epoch
leave out the first (warm-up) epoch. Variants:

- GraphSAGE of flywire-gnn 0.1.0 itself (its 3-layer model on its own features and the
  directed ``edge_index``; the epoch is its ``train_one`` step plus one validation forward
  pass, as ours — ``train_one`` itself validates every 10th epoch),
- GraphSAGE (flywire-gnn setup) with the CSR adjacency (what ``gnn`` uses),
- GraphSAGE (flywire-gnn setup) with ``edge_index`` message passing (torch-geometric's default),
- PartnerSAGE (ours), CSR,
- DirSAGE (ours), CSR.

Every figure is mean ± std over seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from connectome import gnn

VARIANTS = {
    "GraphSAGE of flywire-gnn 0.1.0 itself, edge_index": ("sage", "flywire-gnn"),
    "GraphSAGE (flywire-gnn setup), CSR adjacency": ("sage", "csr"),
    "GraphSAGE (flywire-gnn setup), edge_index": ("sage", "edge_index"),
    "DirSAGE (ours), CSR": ("dir_sage", "csr"),
    "PartnerSAGE (ours), CSR": ("partner_sage", "csr"),
}


def flywire_gnn_epochs(g, model: str, seed: int, epochs: int, threads: int, device: str) -> list[float]:
    """Seconds of each epoch after the first: flywire-gnn's model, its train_one step, one validation pass."""
    import torch
    import torch.nn.functional as F
    from flywire_gnn.train import MODELS

    from connectome.gnn.references import flywire_gnn_data

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    data, (train, val, _) = flywire_gnn_data(g, gnn.stratified_split(g.y, seed=seed))
    data, train, val = data.to(device), train.to(device), val.to(device)
    net = MODELS[model](data.x.shape[1], hidden=128, out_dim=int(data.y.max()) + 1).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=5e-4)
    secs = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.train()
        opt.zero_grad()
        loss = F.cross_entropy(net(data.x, data.edge_index)[train], data.y[train])
        loss.backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            float((net(data.x, data.edge_index)[val].argmax(1) == data.y[val]).float().mean())
        secs.append(time.perf_counter() - t0)
    return secs[1:]


def child(model: str, mode: str, seed: int, epochs: int, threads: int, device: str) -> dict:
    import resource

    import torch

    import connectome as cx

    t0 = time.perf_counter()
    c = cx.load("flywire_scale_synthetic", progress=False)
    g = gnn.prepare(c, "super_class")
    t_prep = time.perf_counter() - t0
    if mode == "edge_index":
        from connectome.gnn.models import operators as ops_mod

        real = ops_mod.build_operators

        def edge_index_ops(adjacency, names, device="cpu"):
            import scipy.sparse as sp

            from connectome.gnn.models.operators import _undirected

            out = real(adjacency, [n for n in names if n != "undirected"], device)
            s = sp.coo_array(_undirected(adjacency))
            out["undirected"] = torch.from_numpy(np.vstack([s.col, s.row]).astype(np.int64)).to(device)
            return out

        ops_mod.build_operators = edge_index_ops  # the training loop imports it from this module
    if mode == "flywire-gnn":
        secs = flywire_gnn_epochs(g, model, seed, epochs, threads, device)
    else:
        opts = dict(gnn.FLYWIRE_GNN_SETUP) if model == "sage" else {}
        opts.update(epochs=epochs, patience=epochs)
        clf = gnn.train(g, model=model, seed=seed, threads=threads, device=device, progress=False, **opts)
        secs = [h["seconds"] for h in clf.history[1:]]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    gpu = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return {"seconds_per_epoch": float(np.mean(secs)), "prepare_seconds": t_prep, "peak_rss_gib": rss,
            "peak_gpu_gib": gpu, "features": len(g.features.names), "nodes": g.n_nodes,
            "pairs": int(g.adjacency.nnz), "threads": threads, "epochs_timed": len(secs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    ap.add_argument("--out", help="JSON file for every run")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        model, mode, seed, epochs, threads = args.child
        print(json.dumps(child(model, mode, int(seed), int(epochs), int(threads), args.device)))
        return
    rows = []
    print(f"load average before: {os.getloadavg()}", flush=True)
    for seed in range(args.seeds):
        for name in args.variants:
            model, mode = VARIANTS[name]
            cmd = [sys.executable, __file__, "--device", args.device, "--child", model, mode, str(seed),
                   str(args.epochs), str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 env={**os.environ, "CONNECTOME_PROGRESS": "0"})
            if out.returncode != 0:
                raise SystemExit(f"{name} seed {seed} failed:\n{out.stderr[-3000:]}")
            r = {"variant": name, "seed": seed, **json.loads(out.stdout.strip().splitlines()[-1])}
            rows.append(r)
            print(f"  seed {seed} {name:<48} {r['seconds_per_epoch']:.3f} s/epoch  peak RSS "
                  f"{r['peak_rss_gib']:.2f} GiB  (prepare {r['prepare_seconds']:.1f} s)", flush=True)
    print(f"load average after: {os.getloadavg()}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(rows, fh, indent=1)
    first = rows[0]
    print(f"\n### FlyWire-scale graph: {first['nodes']:,} nodes, {first['pairs']:,} neuron pairs, "
          f"{first['features']} wiring features; device {args.device}, {first['threads']} threads; "
          f"mean ± std over {args.seeds} seeds\n")
    print("| variant | s / epoch | peak RSS (GiB) |" + (" peak GPU memory (GiB) |" if args.device != "cpu" else ""))
    print("|---|---:|---:|" + ("---:|" if args.device != "cpu" else ""))
    for name in args.variants:
        rr = [r for r in rows if r["variant"] == name]
        s = np.array([r["seconds_per_epoch"] for r in rr])
        m = np.array([r["peak_rss_gib"] for r in rr])
        line = f"| {name} | {s.mean():.2f} ± {s.std():.2f} | {m.mean():.2f} ± {m.std():.2f} |"
        if args.device != "cpu":
            gm = np.array([r["peak_gpu_gib"] for r in rr])
            line += f" {gm.mean():.2f} ± {gm.std():.2f} |"
        print(line)


if __name__ == "__main__":
    main()
