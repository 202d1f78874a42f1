"""Train a cell-type classifier on the larval Drosophila connectome, apply it, write predictions back.

    python examples/train_celltypes.py [OUT_FOLDER] [--label simple_group] [--model partner_sage]
                                       [--epochs 500] [--seed 0] [--threads N]

Steps: load the larva (Winding et al. 2023, built from ../shared/data on first
use) → train on the labelled neurons (70/15/15 stratified split; 'unk' stays in
the graph but out of loss and metrics) → print test metrics beside the
majority-class baseline, the warnings about small classes, the rare classes
and the same split scored by the flywire-gnn setup GraphSAGE → save the model
→ load it again → predict every neuron (the 'unk' ones included) → write the
predictions as node columns of a new store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import connectome as cx
from connectome import gnn


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="celltype-output")
    ap.add_argument("--dataset", default="drosophila_larva_winding2023")
    ap.add_argument("--label", default="simple_group")
    ap.add_argument("--model", default=gnn.DEFAULT_MODEL)
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    out = Path(args.out)

    c = cx.load(args.dataset)
    inputs = gnn.prepare(c, args.label)             # wiring features + adjacency + labels, built once
    print(f"{c.name}: {inputs.n_nodes} neurons, {int(inputs.labelled.sum())} labelled, "
          f"{inputs.labels.n_classes} classes of {args.label!r}; features: {len(inputs.features.names)}")

    clf = gnn.train(inputs, model=args.model, seed=args.seed, epochs=args.epochs, threads=args.threads)
    test = clf.evaluate(split="test")
    print(f"{args.model}: {test}")                  # with the majority-class baseline beside the scores
    for warning in clf.metrics["warnings"]:          # small classes, classes missing from the test split
        print(f"warning: {warning}")
    rare = test.per_class[test.per_class["rare"]]
    if len(rare):
        print(f"rare classes (< 10 members) on the test split:\n{rare.to_string(index=False)}")

    base = gnn.train(inputs, model="sage", seed=args.seed, threads=args.threads,
                     **{**gnn.FLYWIRE_GNN_SETUP, "epochs": min(args.epochs, gnn.FLYWIRE_GNN_SETUP["epochs"])})
    print(f"GraphSAGE, flywire-gnn setup, same split: {base.evaluate(split='test')}")

    model_dir = clf.save(out / "model")
    test.plot_confusion(out / "confusion_test.png")
    again = gnn.load_model(model_dir)
    pred = again.predict(c, top_k=3)
    pred.to_csv(out / "predictions.csv", index=False)
    unlabelled = pred[pred["split"] == ""]
    print(f"predicted {len(pred)} neurons ({len(unlabelled)} outside the split, e.g. 'unk'); most common "
          f"predictions for them:\n{unlabelled['predicted'].value_counts().head(5).to_string()}")

    annotated = again.annotate(c, top_k=1)
    annotated.save(out / "store", progress=False)
    cols = [x for x in cx.load(out / "store").label_columns if x.startswith("predicted_")]
    print(f"store with prediction columns {cols} written to {out / 'store'}")


if __name__ == "__main__":
    main()
