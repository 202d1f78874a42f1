"""Cell-type classification, side by side: flywire-gnn setup baselines, our models, non-GNN references.

    .venv/bin/python benchmarks/bench_gnn_celltypes.py [--tasks larva_merge_class ...] [--seeds 5]
                     [--threads 1] [--out benchmarks/results/gnn_celltypes.json]

Tasks: larval Drosophila (Winding et al. 2023) merge_class and simple_group ('unk' unlabelled);
C. elegans Cook 2019 hermaphrodite, super_class (sensory / interneuron / motor) and cell class
(cell_type, AVAL -> AVA) on the neuron-only subgraph, and the same labels of neurons with
muscles and other cells kept in the graph as unlabelled nodes ("_whole_graph").

For every task and seed, one 70/15/15 stratified split (gnn.stratified_split,
seed = 0 … seeds-1) and one set of wiring features are shared by every method (flywire-gnn
itself takes the part of them it computes):

- flywire-gnn 0.1.0 itself (``pip install flywire-gnn``): its MLP, GCN and GraphSAGE trained by
  its own ``train_one`` (3 layers as its models default, hidden 128, 200 epochs, plain
  cross-entropy, validation accuracy every 10 epochs) on the graph as its dataset builds one:
  its wiring features (unscaled log1p degrees and synapse totals, plus per-neuropil and
  per-transmitter columns where the store has them) and the directed pre → post
  ``edge_index`` — ``connectome.gnn.references.flywire_gnn_peer``;
- its published setup re-implemented on our features (2 layers, hidden 128, full batch,
  plain cross-entropy, 200 epochs, best validation accuracy): MLP, GCN, GraphSAGE, GCN and
  GraphSAGE on the undirected graph — ``gnn.FLYWIRE_GNN_SETUP`` — a stronger form;
- the same three architectures with our training recipe (class weights, early stopping on
  validation macro-F1), to separate recipe from architecture;
- ours: DirSAGE (direction + synapse weights), PartnerSAGE (+ partner-type profiles from
  training labels, with two rounds of prediction reuse: the model's predictions for
  partners without a training label feed back into the profiles), and as ablations
  PartnerSAGE without prediction reuse and with the label trick (half the training
  labels as inputs each epoch) instead;
- references: cosine kNN on raw connectivity (k picked on validation), gradient boosting
  (scikit-learn HistGradientBoosting) on partner-type profiles from training labels.

Metrics on the test nodes (unlabelled nodes never count): accuracy, balanced accuracy,
macro-F1, and macro-F1 over rare classes (< 10 labelled members). Every figure is
mean ± std over the seeds. Prints Markdown tables; --out also keeps every run as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

import connectome as cx
from connectome import gnn
from connectome.gnn.references import flywire_gnn_peer, knn_connectivity, profile_boosting

TASKS = {
    # name: (dataset, node selection, label, label only these nodes (others stay in the graph, unlabelled))
    "larva_merge_class": ("drosophila_larva_winding2023", None, "merge_class", None),
    "larva_simple_group": ("drosophila_larva_winding2023", None, "simple_group", None),
    "celegans_super_class": ("celegans_cook2019_herm", {"cell_category": "neuron"}, "super_class", None),
    "celegans_cell_class": ("celegans_cook2019_herm", {"cell_category": "neuron"}, "cell_type", None),
    "celegans_super_class_whole_graph": ("celegans_cook2019_herm", None, "super_class", {"cell_category": "neuron"}),
    "celegans_cell_class_whole_graph": ("celegans_cook2019_herm", None, "cell_type", {"cell_category": "neuron"}),
}

METHODS = [
    # name, kind, model, training options
    ("MLP (flywire-gnn 0.1.0)", "peer", "mlp", None),
    ("GCN (flywire-gnn 0.1.0)", "peer", "gcn", None),
    ("GraphSAGE (flywire-gnn 0.1.0)", "peer", "sage", None),
    ("MLP (flywire-gnn setup, our features)", "gnn", "mlp", gnn.FLYWIRE_GNN_SETUP),
    ("GCN (flywire-gnn setup, undirected, our features)", "gnn", "gcn", gnn.FLYWIRE_GNN_SETUP),
    ("GraphSAGE (flywire-gnn setup, undirected, our features)", "gnn", "sage", gnn.FLYWIRE_GNN_SETUP),
    ("MLP + our recipe", "gnn", "mlp", {}),
    ("GCN + our recipe", "gnn", "gcn", {}),
    ("GraphSAGE + our recipe", "gnn", "sage", {}),
    ("DirSAGE (ours, no profiles)", "gnn", "dir_sage", {}),
    ("PartnerSAGE with label trick 0.5, no reuse (ablation)", "gnn", "partner_sage", {"label_keep": 0.5, "reuse": 0}),
    ("PartnerSAGE without prediction reuse (ablation)", "gnn", "partner_sage", {"reuse": 0}),
    ("PartnerSAGE (ours)", "gnn", "partner_sage", {}),
    ("cosine kNN on connectivity", "ref", "knn", None),
    ("gradient boosting on partner profiles", "ref", "gb", None),
]
#: flywire-gnn 0.1.0 itself (its models, features and training loop) …
PEER = [m[0] for m in METHODS if m[1] == "peer"]
#: … and its architectures and recipe re-implemented on our features (GCN, GraphSAGE undirected).
FLYWIRE = [m[0] for m in METHODS if m[3] is gnn.FLYWIRE_GNN_SETUP]
REFS = [m[0] for m in METHODS if m[1] == "ref"]
OURS = "PartnerSAGE (ours)"
KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "rare_macro_f1")
MAX_RARE_ROWS = 30


def run_task(task: str, seeds: int, threads: int, methods: list[str] | None) -> list[dict]:
    dataset, where, label, label_only = TASKS[task]
    c = cx.load(dataset, progress=False)
    if where:
        c = cx.select(c, **where)
    if label_only:  # e.g. C. elegans neurons labelled, muscles and other cells kept as unlabelled nodes
        nodes = c.node_table()
        keep = np.logical_and.reduce([nodes[k].astype(object).to_numpy() == v for k, v in label_only.items()])
        masked = f"{label}_of_{'_'.join(str(v) for v in label_only.values())}s"
        c = c.with_node_columns(pd.DataFrame({"root_id": nodes["root_id"],
                                              masked: np.where(keep, nodes[label].astype(object), None)}))
        label = masked
    g = gnn.prepare(c, label)
    members = g.class_members()
    print(f"\n## {task}: {dataset} {label}: {g.n_nodes} nodes, {int(g.labelled.sum())} labelled, "
          f"{g.labels.n_classes} classes ({int((members < 10).sum())} rare), {len(g.features.names)} features",
          flush=True)
    rows = []
    for seed in range(seeds):
        split = gnn.stratified_split(g.y, seed=seed)
        for name, kind, model, options in METHODS:
            if methods and name not in methods:
                continue
            t0 = time.perf_counter()
            if kind == "gnn":
                opts = dict(options)
                clf = gnn.train(g, model=model, seed=seed, split=split, threads=threads, progress=False, **opts)
                pred = clf.probabilities().argmax(1)
                extra = {"epochs": clf.training["epochs_run"], "best_epoch": clf.training["best_epoch"]}
            elif kind == "peer":
                pred = flywire_gnn_peer(g, split, model, seed=seed, threads=threads)
                extra = {}
            else:
                pred = knn_connectivity(g, split) if model == "knn" else profile_boosting(g, split, seed=seed, threads=threads)
                extra = {}
            m = gnn.classification_metrics(g.y[split.test], pred[split.test], g.labels.classes,
                                           class_members=members)
            pc = m.per_class
            rare_f1 = {str(r.label): float(r.f1) for r in pc[pc["rare"] & (pc["support"] > 0)].itertuples()}
            row = {"task": task, "seed": seed, "method": name, **{k: getattr(m, k) for k in KEYS},
                   "seconds": time.perf_counter() - t0, "n_test": m.n, "rare_f1": rare_f1,
                   "members": {str(k): int(v) for k, v in zip(g.labels.classes, members) if v < 10}, **extra}
            rows.append(row)
            rare = "n/a" if m.rare_macro_f1 is None else f"{m.rare_macro_f1:.3f}"
            print(f"  seed {seed} {name:<40} acc {m.accuracy:.3f}  macro-F1 {m.macro_f1:.3f}  rare {rare}  "
                  f"({row['seconds']:.1f} s)", flush=True)
    return rows


def _ms(values: list[float | None]) -> str:
    v = np.array([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return "n/a"
    return f"{v.mean():.3f} ± {v.std(ddof=0):.3f}"


def _best(tr: list[dict], group: list[str]) -> list[str]:
    """The method of ``group`` with the highest mean macro-F1 in ``tr`` (none if none ran)."""
    ran = [n for n in group if any(r["method"] == n for r in tr)]
    return [max(ran, key=lambda n: np.mean([r["macro_f1"] for r in tr if r["method"] == n]))] if ran else []


def report(rows: list[dict]) -> str:
    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        tr = [r for r in rows if r["task"] == task]
        out.append(f"\n### {task} (test split, mean ± std over {len({r['seed'] for r in tr})} seeds)\n")
        out.append("| method | accuracy | balanced accuracy | macro-F1 | rare-class macro-F1 | s / run |")
        out.append("|---|---:|---:|---:|---:|---:|")
        names = list(dict.fromkeys(r["method"] for r in tr))
        for name in names:
            mr = [r for r in tr if r["method"] == name]
            cells = [_ms([r[k] for r in mr]) for k in KEYS]
            if name == OURS:
                cells = [f"**{x}**" for x in cells]
            out.append(f"| {name} | " + " | ".join(cells) + f" | {np.mean([r['seconds'] for r in mr]):.1f} |")
        if OURS in names:
            out.append("")
            out.append("Paired differences (ours − other, same seed and split), mean ± std:\n")
            out.append("| vs | Δ accuracy | Δ macro-F1 | Δ rare-class macro-F1 |")
            out.append("|---|---:|---:|---:|")
            ours = {r["seed"]: r for r in tr if r["method"] == OURS}
            best_fly = _best(tr, PEER) + _best(tr, FLYWIRE)
            for name in [n for n in REFS if n in names] + best_fly:
                other = {r["seed"]: r for r in tr if r["method"] == name}
                diffs = {k: [ours[s][k] - other[s][k] for s in ours if s in other
                             and ours[s][k] is not None and other[s][k] is not None] for k in
                         ("accuracy", "macro_f1", "rare_macro_f1")}
                label = name if name in REFS else f"best flywire-gnn baseline: {name}"
                out.append(f"| {label} | " + " | ".join(_ms(diffs[k]) for k in diffs) + " |")
            out.append(rare_table(tr, [OURS] + [n for n in REFS if n in names] + best_fly))
    return "\n".join(out)


def rare_table(tr: list[dict], methods: list[str]) -> str:
    """Per rare class: test F1 averaged over the seeds where the class has test nodes."""
    members = tr[0]["members"]
    if not members:
        return ""
    if len(members) > MAX_RARE_ROWS:
        return (f"\n{len(members)} rare classes (< 10 labelled members; most have 1–2): their macro-F1 is the "
                "rare-class column above; per-class F1 of every run is in the JSON (--out).")
    lines = ["", "Rare classes (< 10 labelled members): test F1, mean over the seeds where the class has "
             "test nodes (seeds)\n", "| class | members | " + " | ".join(methods) + " |",
             "|---|---:|" + "---:|" * len(methods)]
    for cls in sorted(members, key=lambda k: (-members[k], k)):
        cells = []
        for name in methods:
            vals = [r["rare_f1"][cls] for r in tr if r["method"] == name and cls in r["rare_f1"]]
            cells.append(f"{np.mean(vals):.2f} ({len(vals)})" if vals else "–")
        lines.append(f"| {cls} | {members[cls]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--methods", nargs="+", help="only these methods (names as printed)")
    ap.add_argument("--out", help="JSON file for every run")
    ap.add_argument("--merge", help="JSON of an earlier run: its rows of methods and tasks not run now are kept "
                                    "(to re-run one method without re-running the others)")
    ap.add_argument("--report", help="print the tables of a JSON written by --out, and run nothing")
    args = ap.parse_args()
    if args.report:
        print(report(json.loads(Path(args.report).read_text())))
        return
    rows = []
    for task in args.tasks:
        rows += run_task(task, args.seeds, args.threads, args.methods)
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(rows, indent=1))
    if args.merge:
        done = {(r["task"], r["method"]) for r in rows}
        old = [r for r in json.loads(Path(args.merge).read_text()) if (r["task"], r["method"]) not in done]
        order = {name: i for i, (name, *_rest) in enumerate(METHODS)}
        rows = sorted(old + rows, key=lambda r: (list(TASKS).index(r["task"]), r["seed"], order[r["method"]]))
        if args.out:
            Path(args.out).write_text(json.dumps(rows, indent=1))
    print(report(rows))


if __name__ == "__main__":
    main()
