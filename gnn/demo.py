"""The ``gnn`` step of ``connectome demo``: train a cell-type classifier on C. elegans.

Trains :class:`~gnn.models.partner_sage.PartnerSAGE` on the neurons of the demo
connectome to predict ``super_class`` (sensory / interneuron / motor), prints
the test metrics next to the flywire-gnn setup GraphSAGE on the same split, and
writes the predictions, the per-class report and the confusion matrix to the
demo output folder.

Examples
--------
>>> from importlib.metadata import entry_points
>>> [ep.value for ep in entry_points(group="connectome.demo") if ep.name == "gnn"]
['gnn.demo:step']
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["step"]

logger = logging.getLogger(__name__)


def step(ctx: Any) -> None:
    """Demo step (entry point ``connectome.demo``)."""
    import connectome as cx

    from .data import prepare
    from .training import FLYWIRE_GNN_SETUP, train

    c = ctx.connectome if ctx.connectome is not None else cx.load(ctx.dataset, progress=ctx.progress)
    label = "super_class"
    if label not in c.label_columns:
        ctx.section("GNN cell typing: skipped")
        print(f"{c.name} has no {label!r} column")
        return
    if "cell_category" in c.label_columns:
        c = cx.select(c, cell_category="neuron")
    ctx.section(f"GNN cell typing: {label} of {c.n_nodes} neurons (70/15/15 split, seed 0)")
    g = prepare(c, label)
    ours = train(g, model="partner_sage", seed=0, epochs=100, patience=30, progress=ctx.progress)
    base = train(g, model="sage", seed=0, progress=ctx.progress, **FLYWIRE_GNN_SETUP)
    for name, clf in (("partner_sage (ours)", ours), ("GraphSAGE, flywire-gnn setup", base)):
        m = clf.metrics["test"]
        print(f"{name:<30} test accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
              f"({clf.training['epochs_run']} epochs, {clf.training['seconds']:.1f} s)")
    pred = ours.predict(c, top_k=2)
    pred.to_csv(ctx.out / "gnn_predictions.csv", index=False)
    test = ours.evaluate(split="test")
    test.per_class.to_csv(ctx.out / "gnn_test_per_class.csv", index=False)
    test.plot_confusion(ctx.out / "gnn_test_confusion.png", title=f"PartnerSAGE · {label} · test split")
    ours.save(ctx.out / "gnn_model")
    print(f"predictions, per-class report, confusion matrix and model written to {ctx.out}")
