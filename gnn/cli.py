"""``connectome train …`` and ``connectome predict …`` (registered via the ``connectome.cli`` entry point).

Examples
--------
>>> import argparse
>>> p = argparse.ArgumentParser(); sub = p.add_subparsers(dest="command")
>>> register(sub)
>>> a = p.parse_args(["train", "drosophila_larva_winding2023", "--label", "merge_class", "--seed", "3"])
>>> a.model, a.seed, a.device
('partner_sage', 3, 'cpu')
>>> p.parse_args(["predict", "models/larva", "drosophila_larva_winding2023"]).top_k
3
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import connectome as cx
from connectome.errors import InputError

from .models import DEFAULT_MODEL, MODELS

__all__ = ["register"]

logger = logging.getLogger(__name__)


def _where(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--where expects COLUMN=VALUE, not {item!r}", "--where")
        out[key.strip()] = value.strip()
    return out


def _load(dataset: str, where: list[str] | None, progress: bool | None) -> Any:
    c = cx.load(dataset, progress=progress)
    sel = _where(where)
    return cx.select(c, **sel) if sel else c


def _train(args: argparse.Namespace) -> int:
    from .features import FeatureSpec  # lazy: keeps connectome --help cheap
    from .training import FLYWIRE_GNN_SETUP, train  # lazy: keeps connectome --help cheap

    c = _load(args.dataset, args.where, args.progress)
    options: dict[str, Any] = dict(FLYWIRE_GNN_SETUP) if args.recipe == "flywire-gnn" else {}
    for name in ("epochs", "patience", "hidden", "lr", "dropout"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    clf = train(c, args.label, args.model, seed=args.seed, device=args.device, threads=args.threads,
                features=FeatureSpec(min_synapses=args.min_synapses), progress=args.progress,
                min_class_size=args.min_class_size, **options)
    print(f"{clf!r}")
    print(f"  best epoch {clf.training['best_epoch']} of {clf.training['epochs_run']}, "
          f"{clf.training['seconds_per_epoch']:.3f} s/epoch on {clf.training['device']}")
    for part in ("val", "test"):
        m = clf.metrics[part]
        rare = "n/a" if m["rare_macro_f1"] is None else f"{m['rare_macro_f1']:.3f}"
        print(f"  {part:<5} n={m['n']:<5} accuracy {m['accuracy']:.3f} (always {m['majority_class']!r}: "
              f"{m['majority_accuracy']:.3f})  balanced accuracy {m['balanced_accuracy']:.3f}  "
              f"macro-F1 {m['macro_f1']:.3f} (always {m['majority_class']!r}: {m['majority_macro_f1']:.3f})  "
              f"rare-class macro-F1 {rare}")
    print("  (val picked the epoch; test is the held-out score. 'always X': the majority-class baseline)")
    for w in clf.metrics.get("warnings", []):
        print(f"  warning: {w}")
    if args.out:
        out = clf.save(args.out)
        test = clf.evaluate(split="test")
        test.per_class.to_csv(out / "test_per_class.csv", index=False)
        (out / "test_metrics.json").write_text(json.dumps(test.to_dict(per_class=True), indent=2, default=str))
        test.plot_confusion(out / "test_confusion.png", title=f"{clf.config.model} · {clf.label} · test split")
        print(f"model, per-class report and confusion matrix written to {out}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .classifier import load_model  # lazy: keeps connectome --help cheap

    clf = load_model(args.model, device=args.device)
    c = _load(args.dataset, args.where, args.progress)
    df = clf.predict(c, top_k=args.top_k, known=args.known)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".parquet":
            df.to_parquet(out, index=False)  # root_id int64, as every table of the library
        else:
            df.to_csv(out, index=False)
        print(f"{len(df)} predictions written to {out}")
    else:
        print(df.head(args.show).to_string(index=False))
    if args.write_store:
        c2 = clf.annotate(c, top_k=args.top_k, known=args.known, overwrite=True)
        c2.save(args.write_store, progress=args.progress)
        print(f"store with prediction columns written to {args.write_store}")
    if clf.label in c.label_columns:
        _score(clf, c, args.known)
    return 0


def _score(clf: Any, c: Any, known: str) -> None:
    """Print the scores on the test split and on labelled nodes new to the model, never on validation nodes."""
    n = clf.labelled_counts(c)
    scored = False
    if n["test"]:
        print(f"test split ({n['test']} labelled nodes held out from training and from picking the epoch): "
              f"{clf.evaluate(c, split='test', known=known)}")
        scored = True
    if n["new"]:
        print(f"new nodes ({n['new']} labelled nodes in none of the model's splits): "
              f"{clf.evaluate(c, split='new', known=known)}")
        scored = True
    skipped = [f"{n[p]} {name}" for p, name in (("val", "validation nodes (they picked the epoch)"),
                                                 ("train", "training nodes")) if n[p]]
    if skipped:
        print(f"not scored: {' and '.join(skipped)}")
    if not scored:
        print("no labelled test or new nodes of this model in the store: nothing to score")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``predict`` to the ``connectome`` parser."""
    t = sub.add_parser("train", help="train a GNN cell-type classifier on a dataset's label column",
                       description="Train a cell-type classifier (70/15/15 stratified split, early stopping on "
                                   "validation macro-F1) and print validation and test metrics beside the "
                                   "majority-class baseline, with warnings about classes too small to learn or "
                                   "score.")
    t.add_argument("dataset", help="dataset name or store path")
    t.add_argument("--label", required=True, help="node column with the cell types (e.g. merge_class)")
    t.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS), help=f"default {DEFAULT_MODEL}")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    t.add_argument("--out", help="folder for the saved model, metrics and confusion matrix PNG")
    t.add_argument("--where", action="append", metavar="COLUMN=VALUE",
                   help="train on the subgraph of matching nodes (e.g. cell_category=neuron); repeatable")
    t.add_argument("--min-synapses", type=int, default=1, help="ignore edge rows with fewer synapses")
    t.add_argument("--min-class-size", type=int, default=5, dest="min_class_size",
                   help="warn about classes with fewer labelled members (default 5)")
    t.add_argument("--recipe", choices=["ours", "flywire-gnn"], default="ours",
                   help="training recipe: ours (class weights, macro-F1 early stopping) or flywire-gnn")
    t.add_argument("--epochs", type=int)
    t.add_argument("--patience", type=int)
    t.add_argument("--hidden", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--dropout", type=float)
    t.set_defaults(func=_train)

    p = sub.add_parser("predict", help="apply a saved cell-type classifier to a dataset",
                       description="Predict the cell type of every node with a model saved by `connectome train`; "
                                   "where the store has the label, score the test split (and labelled nodes new "
                                   "to the model), never the validation split that picked the epoch.")
    p.add_argument("model", help="model folder written by `connectome train --out`")
    p.add_argument("dataset", help="dataset name or store path")
    p.add_argument("--out", help="predictions file (.csv or .parquet); default: print the first rows")
    p.add_argument("--top-k", type=int, default=3, dest="top_k")
    p.add_argument("--known", choices=["train", "labels"], default="train",
                   help="labels that build partner-type profiles: the training labels or every label in the store")
    p.add_argument("--where", action="append", metavar="COLUMN=VALUE", help="restrict to matching nodes")
    p.add_argument("--write-store", help="write the dataset with prediction node columns to this store path")
    p.add_argument("--device", default="cpu")
    p.add_argument("--show", type=int, default=10, help="rows to print without --out")
    p.set_defaults(func=_predict)
