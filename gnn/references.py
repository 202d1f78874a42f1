"""Non-GNN references for cell typing, run on the same splits as the models (benchmarks, sanity checks).

- :func:`knn_connectivity` — cosine nearest neighbours on raw connectivity: each node
  is its row and column of the synapse matrix (whom it drives, who drives it);
  the training neighbours vote, weighted by similarity; ``k`` is chosen on the
  validation nodes.
- :func:`profile_boosting` — scikit-learn's ``HistGradientBoostingClassifier`` on
  partner-type profiles (:mod:`connectome.gnn.profiles`) built from training labels only.
- :func:`flywire_gnn_inputs` — the same graph with only the wiring features flywire-gnn
  0.1.0 computes;
- :func:`flywire_gnn_peer` — flywire-gnn 0.1.0 itself (the PyPI package, its models and its
  ``train_one`` loop) on that graph and split.

Both take :class:`~connectome.gnn.data.GraphInputs` and a :class:`~connectome.gnn.splits.Split` and
return predicted class codes for every node.

Examples
--------
>>> import connectome as cx
>>> from connectome import gnn
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

from connectome.errors import DependencyError, InputError

from .data import GraphInputs
from .features import WiringFeatures
from .metrics import classification_metrics
from .profiles import partner_type_profiles
from .splits import Split

logger = logging.getLogger(__name__)

__all__ = ["knn_connectivity", "profile_boosting", "flywire_gnn_inputs", "flywire_gnn_data", "flywire_gnn_peer",
           "FLYWIRE_GNN_FEATURES", "REFERENCES"]

#: Reference name → function, as the benchmarks list them.
REFERENCES = ("knn_connectivity", "profile_boosting")


#: The per-node features flywire-gnn 0.1.0 builds (``flywire_gnn/dataset.py``): log1p out/in
#: degree and out/in synapses, then per-neuropil out/in synapses and per-transmitter profiles.
FLYWIRE_GNN_FEATURES = ("out_partners", "in_partners", "out_synapses", "in_synapses")
_FLYWIRE_GNN_GROUPS = ("out_synapses_neuropil_", "in_synapses_neuropil_", "out_synapses_nt_", "in_synapses_nt_")


def flywire_gnn_inputs(g: GraphInputs) -> GraphInputs:
    """``g`` with the wiring features flywire-gnn 0.1.0 computes, and no others.

    Kept: out/in partners and synapses, per-neuropil and per-transmitter synapses
    where the store has them (flywire-gnn's transmitter columns are fractions of
    the synapses, ours log1p counts: the same information). Dropped: reciprocal
    partners, autapses, strongest connections and gap junctions, which
    flywire-gnn does not compute. On the larva this leaves its four degree features.

    Examples
    --------
    >>> import connectome as cx
    >>> from connectome import gnn
    >>> flywire_gnn_inputs(gnn.prepare(cx.load("drosophila_larva_winding2023"), "simple_group")).features.names
    ['out_partners', 'in_partners', 'out_synapses', 'in_synapses']
    """
    f = g.features
    keep = [i for i, n in enumerate(f.names) if n in FLYWIRE_GNN_FEATURES or n.startswith(_FLYWIRE_GNN_GROUPS)]
    feats = WiringFeatures(f.ids, np.ascontiguousarray(f.x[:, keep]), [f.names[i] for i in keep], f.spec)
    return GraphInputs(g.ids, feats, g.adjacency, g.gap_junctions, g.y, g.labels, g.dataset)


def flywire_gnn_data(g: GraphInputs, split: Split) -> tuple[Any, tuple[Any, Any, Any]]:
    """``g`` as flywire-gnn's dataset builds a graph: ``Data(x, edge_index, y)`` and (train, val, test) masks.

    ``x``: :func:`flywire_gnn_inputs` features, unscaled; ``edge_index``: pre → post pairs;
    ``y``: class codes, ``-1`` unlabelled.
    """
    import torch
    from torch_geometric.data import Data

    assert g.y is not None
    f = flywire_gnn_inputs(g).features
    a = g.adjacency.tocoo()
    data = Data(x=torch.from_numpy(np.ascontiguousarray(f.x, dtype=np.float32)),
                edge_index=torch.from_numpy(np.vstack([a.row, a.col]).astype(np.int64)),
                y=torch.from_numpy(g.y.astype(np.int64)))
    masks = []
    for idx in (split.train, split.val, split.test):
        m = torch.zeros(g.n_nodes, dtype=torch.bool)
        m[torch.as_tensor(np.asarray(idx), dtype=torch.long)] = True
        masks.append(m)
    return data, (masks[0], masks[1], masks[2])


def flywire_gnn_peer(g: GraphInputs, split: Split, model: str, *, seed: int = 0, threads: int | None = None,
                     **options: Any) -> np.ndarray:
    """Train flywire-gnn 0.1.0's ``model`` (``"mlp"``, ``"gcn"``, ``"sage"``) with its own code; predicted codes.

    The package's ``train_one`` runs unchanged (its defaults: 3-layer models, hidden 128,
    200 epochs, Adam lr 0.01, weight decay 5e-4, plain cross-entropy, validation accuracy
    every 10 epochs picks the weights) on a torch-geometric ``Data`` as its dataset builds
    one: its wiring features (:func:`flywire_gnn_inputs`, unscaled ``log1p`` values), the
    directed pre → post ``edge_index`` of ``g`` and labels ``-1`` where unlabelled; the
    masks are ``split``. ``options`` go to ``train_one`` (``epochs=``, ``hidden=``, …).
    Only the fitted model is taken from it, to predict every node.

    Examples
    --------
    >>> import connectome as cx
    >>> from connectome import gnn
    >>> g = gnn.prepare(cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron"), "super_class")
    >>> pred = flywire_gnn_peer(g, gnn.stratified_split(g.y, seed=0), "sage", epochs=20)
    >>> pred.shape
    (302,)
    """
    import torch

    try:
        from flywire_gnn import train as fg_train
    except ImportError as exc:
        raise DependencyError("flywire_gnn_peer runs the flywire-gnn package: pip install flywire-gnn==0.1.0") from exc
    if model not in fg_train.MODELS:
        raise InputError(f"model: flywire-gnn has no model {model!r}; use one of {', '.join(fg_train.MODELS)}", "model")
    data, masks = flywire_gnn_data(g, split)
    built: list[Any] = []
    cls = fg_train.MODELS[model]

    def build(*args: Any, **kwargs: Any) -> Any:
        built.append(cls(*args, **kwargs))
        return built[-1]

    prev = torch.get_num_threads()
    fg_train.MODELS[model] = build
    try:
        if threads:
            torch.set_num_threads(threads)
        fg_train.train_one(model, data, masks, seed=seed, log_every=0, **options)
        net = built[-1].eval()
        with torch.no_grad():
            return net(data.x, data.edge_index).argmax(1).numpy()
    finally:
        fg_train.MODELS[model] = cls
        torch.set_num_threads(prev)


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
