"""The ``gnn`` step of ``connectome demo``: train a cell-type classifier and score it honestly.

Trains :class:`~connectome.gnn.models.partner_sage.PartnerSAGE` on a task that represents it,
the larval *Drosophila* ``simple_group`` (17 classes) when the larva is available
offline (``../shared/data``), else the C. elegans neurons' ``cell_type`` (118
classes, mostly left/right pairs). It prints the test scores next to the
flywire-gnn setup GraphSAGE on the same split and to the majority-class baseline
(always predicting the most frequent training class), lists the training
warnings (classes too small to learn or score), and writes the predictions, the
per-class report, the confusion matrix and the model to the demo output folder.

Why not the demo dataset's own ``super_class``: with 3 classes and ~45 test
neurons, one seed's macro-F1 swings by ±0.08 and ranks the models at random
(``benchmarks/RESULTS.md``: every task, 5 seeds).

Examples
--------
>>> from importlib.metadata import entry_points
>>> [ep.value for ep in entry_points(group="connectome.demo") if ep.name == "gnn"]
['connectome.gnn.demo:step']
>>> [t.label for t in TASKS]
['simple_group', 'cell_type']
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import connectome as cx
from connectome import registry

from .data import prepare
from .training import FLYWIRE_GNN_SETUP, train

__all__ = ["step", "DemoTask", "TASKS", "pick_task"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoTask:
    """One task the demo step can train on.

    Attributes
    ----------
    dataset : str
        Dataset name (:func:`connectome.load`).
    label : str
        Node column with the cell types.
    what : str
        What the nodes are, for the section title.
    where : dict
        Node selection (:func:`connectome.select`).
    epochs, patience : int
        PartnerSAGE's training length (the baseline trains in its own setup).
    """

    dataset: str
    label: str
    what: str
    where: dict[str, Any] = field(default_factory=dict)
    epochs: int = 100
    patience: int = 30


#: The demo's tasks, best first; the step trains on the first whose dataset is available offline.
TASKS: tuple[DemoTask, ...] = (
    DemoTask("drosophila_larva_winding2023", "simple_group", "larval Drosophila neurons"),
    DemoTask("celegans_cook2019_herm", "cell_type", "C. elegans neurons", {"cell_category": "neuron"}),
)


def pick_task(tasks: tuple[DemoTask, ...] = TASKS) -> DemoTask | None:
    """The first task whose dataset is available offline (built, embedded or buildable from local data).

    Examples
    --------
    >>> pick_task((DemoTask("no_such_dataset", "x", "nodes"), TASKS[-1])).dataset
    'celegans_cook2019_herm'
    """
    known = registry.dataset_entries()  # the module's attribute: tests swap it
    return next((t for t in tasks if t.dataset in known), None)


def _table(rows: list[tuple[str, str, str, str]]) -> str:
    """Rows of (name, accuracy, macro-F1, note) as aligned text."""
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"  {n:<{w}}  {a:>8}  {f:>8}  {t}".rstrip() for n, a, f, t in rows)


def step(ctx: Any, tasks: tuple[DemoTask, ...] = TASKS) -> None:
    """Demo step (entry point ``connectome.demo``)."""
    task = pick_task(tasks)
    if task is None:
        ctx.section("GNN cell typing: skipped")
        print(f"none of the demo's datasets is available offline: {', '.join(t.dataset for t in tasks)}")
        return
    c = ctx.connectome if ctx.connectome is not None and ctx.connectome.name == task.dataset else None
    c = c if c is not None else cx.load(task.dataset, progress=ctx.progress)
    if task.where:
        c = cx.select(c, **task.where)
    g = prepare(c, task.label)
    ctx.section(f"GNN cell typing: {task.label} of {g.n_nodes} {task.what} ({task.dataset}; "
                f"{int(g.labelled.sum())} labelled, {g.labels.n_classes} classes; 70/15/15 split, seed 0)")
    ours = train(g, model="partner_sage", seed=0, epochs=task.epochs, patience=task.patience, progress=ctx.progress)
    base = train(g, model="sage", seed=0, progress=ctx.progress, **FLYWIRE_GNN_SETUP)
    test = ours.metrics["test"]
    rows = [(f"test split ({test['n']} neurons)", "accuracy", "macro-F1", "")]
    for name, clf in (("PartnerSAGE (ours)", ours), ("GraphSAGE, flywire-gnn setup", base)):
        m = clf.metrics["test"]
        rows.append((name, f"{m['accuracy']:.3f}", f"{m['macro_f1']:.3f}",
                     f"{clf.training['epochs_run']} epochs, {clf.training['seconds']:.1f} s"))
    rows.append((f"always {test['majority_class']!r} (majority class)", f"{test['majority_accuracy']:.3f}",
                 f"{test['majority_macro_f1']:.3f}", "the baseline to beat"))
    print(_table(rows))
    for w in ours.metrics["warnings"]:
        print(f"  warning: {w}")
    pred = ours.predict(c, top_k=2)
    pred.to_csv(ctx.out / "gnn_predictions.csv", index=False)
    m = ours.evaluate(split="test")
    m.per_class.to_csv(ctx.out / "gnn_test_per_class.csv", index=False)
    m.plot_confusion(ctx.out / "gnn_test_confusion.png", title=f"PartnerSAGE · {task.label} · test split")
    ours.save(ctx.out / "gnn_model")
    print(f"predictions, per-class report, confusion matrix and model written to {ctx.out}")
