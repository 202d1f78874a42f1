"""Non-GNN references for cell typing, run on the same splits as the models (benchmarks, sanity checks).

- :func:`knn_connectivity` — cosine nearest neighbours on raw connectivity: each node
  is its row and column of the synapse matrix (whom it drives, who drives it);
  the training neighbours vote, weighted by similarity; ``k`` is chosen on the
  validation nodes.
- :func:`profile_boosting` — scikit-learn's ``HistGradientBoostingClassifier`` on
  partner-type profiles (:mod:`gnn.profiles`) built from training labels only.

Both take :class:`~gnn.data.GraphInputs` and a :class:`~gnn.splits.Split` and
return predicted class codes for every node.

Examples
--------
>>> import connectome as cx, gnn
>>> g = gnn.prepare(cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron"), "super_class")
>>> split = gnn.stratified_split(g.y, seed=0)
>>> pred = knn_connectivity(g, split)
>>> m = gnn.classification_metrics(g.y[split.test], pred[split.test], g.labels.classes)
>>> m.accuracy > 0.5
True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from .data import GraphInputs
from .metrics import classification_metrics
from .profiles import partner_type_profiles
from .splits import Split

logger = logging.getLogger(__name__)

__all__ = ["knn_connectivity", "profile_boosting", "REFERENCES"]

#: Reference name → function, as the benchmarks list them.
REFERENCES = ("knn_connectivity", "profile_boosting")


def _connectivity_rows(g: GraphInputs) -> Any:
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    a = sp.csr_array(g.adjacency, dtype=np.float64)
    return normalize(sp.hstack([a, a.T]).tocsr())


def knn_connectivity(g: GraphInputs, split: Split, *, k_values: Sequence[int] = (1, 3, 5, 10, 20),
                     batch: int = 4096) -> np.ndarray:
    """Cosine k-nearest-neighbour vote on raw connectivity; ``k`` picked by validation macro-F1.

    Only training labels vote, so the prediction of a node never reads a
    validation or test label.
    """
    assert g.y is not None and g.labels is not None
    n_classes = g.labels.n_classes
    feats = _connectivity_rows(g)
    train = np.asarray(split.train)
    y_train = g.y[train]
    ref = feats[train].T.tocsc()
    kmax = min(max(k_values), len(train))
    top_idx = np.empty((g.n_nodes, kmax), dtype=np.int64)
    top_sim = np.empty((g.n_nodes, kmax))
    for start in range(0, g.n_nodes, batch):
        sim = (feats[start:start + batch] @ ref).toarray()
        idx = np.argpartition(-sim, kmax - 1, axis=1)[:, :kmax] if kmax < sim.shape[1] else \
            np.tile(np.arange(sim.shape[1]), (sim.shape[0], 1))
        s = np.take_along_axis(sim, idx, axis=1)
        order = np.argsort(-s, axis=1, kind="stable")
        top_idx[start:start + batch] = np.take_along_axis(idx, order, axis=1)
        top_sim[start:start + batch] = np.take_along_axis(s, order, axis=1)
    rows = np.arange(g.n_nodes)
    best_f1, best = -1.0, None
    for k in sorted({min(k, kmax) for k in k_values}):
        votes = np.zeros((g.n_nodes, n_classes))
        for j in range(k):
            np.add.at(votes, (rows, y_train[top_idx[:, j]]), top_sim[:, j] + 1e-9)
        pred = votes.argmax(1)
        f1 = classification_metrics(g.y[split.val], pred[split.val], g.labels.classes).macro_f1
        if f1 > best_f1:
            best_f1, best = f1, pred
        logger.debug("knn k=%d: val macro-F1 %.3f", k, f1)
    assert best is not None
    return best


def profile_boosting(g: GraphInputs, split: Split, *, seed: int = 0, max_iter: int = 200,
                     learning_rate: float = 0.05, class_weight: str | None = "balanced",
                     threads: int | None = None, **params: Any) -> np.ndarray:
    """Gradient boosting (scikit-learn ``HistGradientBoostingClassifier``) on partner-type profiles.

    Profiles (fractions and log synapse counts to and from each known type, in
    and out) are built from the training labels only. Classes are weighted
    ``"balanced"`` (on the larva this scored higher on validation macro-F1 than
    no weighting, and than 100 iterations at learning rate 0.1). ``threads`` caps
    the OpenMP threads scikit-learn uses (default: all cores).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    assert g.y is not None and g.labels is not None
    known = np.zeros(g.n_nodes, dtype=bool)
    known[split.train] = True
    prof = partner_type_profiles(g.adjacency, g.y, known, g.labels.n_classes)
    clf = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=learning_rate, random_state=seed,
                                         early_stopping=False, class_weight=class_weight, **params)
    with threadpool_limits(limits=threads):
        clf.fit(prof[split.train], g.y[split.train])
        return clf.classes_[clf.predict_proba(prof).argmax(1)]
