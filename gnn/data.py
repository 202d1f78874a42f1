"""A ``Connectome`` and a label column → model inputs and a torch-geometric ``Data``.

:func:`prepare` builds :class:`GraphInputs`: the sorted root ids, the wiring
features (:mod:`connectome.gnn.features`, label-free), the synapse-weighted adjacency
(chemical synapses plus gap junctions, self-loops removed), and the class
codes of the label column (``-1`` for unlabelled nodes). :func:`to_data` wraps
the same in a ``torch_geometric.data.Data`` with ``x``, ``edge_index``
(pre → post), ``edge_weight`` (synapses), ``edge_attr`` (chemical and
gap-junction synapses), ``y`` and, given a split, ``train_mask`` /
``val_mask`` / ``test_mask``.

Examples
--------
>>> import connectome as cx
>>> data = to_data(cx.load("celegans_cook2019_herm"), "super_class", seed=0)
>>> data.num_nodes, data.x.shape[1], int(data.train_mask.sum()) > int(data.test_mask.sum())
(473, 10, True)
>>> data.label_names[:3]
['interneuron', 'motor', 'muscle']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from connectome.schema import EDGE_KIND, GAP_JUNCTION, ID_DTYPE, POST, PRE, SYNAPSE_COUNT

from .features import FeatureSpec, WiringFeatures, _edge_frame, node_ids, wiring_features
from .labels import UNLABELLED, LabelEncoding, label_codes
from .splits import DEFAULT_FRACTIONS, Split, stratified_split

if TYPE_CHECKING:  # pragma: no cover
    from connectome import Connectome

logger = logging.getLogger(__name__)

__all__ = ["GraphInputs", "prepare", "to_data"]


@dataclass
class GraphInputs:
    """What models need from a connectome, before any split.

    Attributes
    ----------
    ids : numpy.ndarray of int64
        Root ids, sorted; row ``i`` of every matrix is ``ids[i]``.
    features : WiringFeatures
        Label-free wiring features.
    adjacency : scipy.sparse.csr_array
        Synapses from row to column (chemical + gap junction), no self-loops.
    gap_junctions : scipy.sparse.csr_array
        The gap-junction part of ``adjacency`` (empty if the store has none).
    y : numpy.ndarray of int64 or None
        Class code per node (``-1`` unlabelled); ``None`` without a label.
    labels : LabelEncoding or None
    dataset : dict
        Name and version of the source connectome.
    """

    ids: np.ndarray
    features: WiringFeatures
    adjacency: Any
    gap_junctions: Any
    y: np.ndarray | None = None
    labels: LabelEncoding | None = None
    dataset: dict[str, Any] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.ids)

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of labelled nodes."""
        if self.y is None:
            return np.zeros(self.n_nodes, dtype=bool)
        return self.y >= 0

    def class_members(self) -> np.ndarray:
        """Labelled nodes per class (code order)."""
        assert self.y is not None and self.labels is not None
        return np.bincount(self.y[self.y >= 0], minlength=self.labels.n_classes)

    def index_of(self, root_ids: Any) -> np.ndarray:
        """Positions of ``root_ids`` (``-1`` where absent)."""
        r = np.asarray(root_ids, dtype=ID_DTYPE)
        if len(self.ids) == 0:
            return np.full(len(r), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.ids, r), 0, len(self.ids) - 1)
        return np.where(self.ids[pos] == r, pos, -1).astype(np.int64)


def _dataset_info(c: Connectome) -> dict[str, Any]:
    m = c.manifest
    info: dict[str, Any] = {"name": m.name}
    for attr in ("version", "species"):
        v = getattr(m, attr, None)
        if v:
            info[attr] = v
    derived = m.extra.get("derived") if isinstance(getattr(m, "extra", None), dict) else None
    if derived:
        info["derived"] = list(derived)
    return info


def prepare(c: Connectome, label: str | None = None, *, features: FeatureSpec | dict | None = None,
            unlabelled: Iterable[str] = UNLABELLED) -> GraphInputs:
    """Features, adjacency and labels of ``c`` (see the module docstring).

    Parameters
    ----------
    c : Connectome
    label : str, optional
        Node column with the cell types; a missing column raises
        :class:`~connectome.errors.ColumnError` listing the ones that exist.
    features : FeatureSpec or dict, optional
        Which wiring features (default: all the store supports).
    unlabelled : iterable of str
        Label values meaning "no label" (default :data:`connectome.gnn.labels.UNLABELLED`).

    Examples
    --------
    >>> import connectome as cx
    >>> g = prepare(cx.load("celegans_cook2019_herm"), "cell_type")
    >>> g.n_nodes, g.labels.n_classes, float(g.adjacency.diagonal().sum())
    (473, 149, 0.0)
    """
    import scipy.sparse as sp

    spec = FeatureSpec.from_dict(features) if isinstance(features, dict) else (features or FeatureSpec())
    y = enc = None
    if label is not None:
        nodes = c.node_table()
        y_raw, enc = label_codes(nodes, label, unlabelled)
        order = np.argsort(nodes["root_id"].to_numpy(dtype=ID_DTYPE), kind="stable")
        y = y_raw[order]
    ids = node_ids(c)
    edges = _edge_frame(c, spec)
    feats = wiring_features(c, spec, edges=edges, ids=ids)
    n = len(ids)
    pre = np.searchsorted(ids, edges[PRE].to_numpy(dtype=ID_DTYPE))
    post = np.searchsorted(ids, edges[POST].to_numpy(dtype=ID_DTYPE))
    w = edges[SYNAPSE_COUNT].to_numpy(dtype=np.float64)
    keep = pre != post
    gap = (edges[EDGE_KIND].astype(object).to_numpy() == GAP_JUNCTION) & keep
    adj = sp.csr_array((w[keep], (pre[keep], post[keep])), shape=(n, n))
    adj.sum_duplicates()
    gj = sp.csr_array((w[gap], (pre[gap], post[gap])), shape=(n, n))
    gj.sum_duplicates()
    logger.info("prepared %s: %d nodes, %d neuron pairs, %d features", c.name, n, adj.nnz, feats.x.shape[1])
    return GraphInputs(ids, feats, adj, gj, y, enc, _dataset_info(c))


def to_data(c: Connectome | GraphInputs, label: str | None = None, *, features: FeatureSpec | dict | None = None,
            split: Split | None = None, seed: int | None = None,
            fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
            unlabelled: Iterable[str] = UNLABELLED) -> Any:
    """A ``torch_geometric.data.Data`` of ``c`` with the label column as ``y``.

    Parameters
    ----------
    c : Connectome or GraphInputs
    label : str, optional
        Label column (``y = -1`` for unlabelled nodes).
    features : FeatureSpec or dict, optional
    split : Split, optional
        Adds ``train_mask``, ``val_mask``, ``test_mask``; or give ``seed`` for a
        :func:`~connectome.gnn.splits.stratified_split` with ``fractions``.

    Returns
    -------
    torch_geometric.data.Data
        Also carries ``root_ids`` (numpy int64), ``feature_names``, ``label_names``.
    """
    import torch
    from torch_geometric.data import Data

    g = c if isinstance(c, GraphInputs) else prepare(c, label, features=features, unlabelled=unlabelled)
    a = g.adjacency.tocoo()
    gj = g.gap_junctions.tocsr()
    gap_w = np.asarray(gj[a.row, a.col]).ravel() if gj.nnz else np.zeros(len(a.data))
    data = Data(
        x=torch.from_numpy(g.features.x.copy()),
        edge_index=torch.from_numpy(np.vstack([a.row, a.col]).astype(np.int64)),
        edge_weight=torch.from_numpy(a.data.astype(np.float32)),
        edge_attr=torch.from_numpy(np.stack([a.data - gap_w, gap_w], axis=1).astype(np.float32)),
        num_nodes=g.n_nodes,
    )
    data.root_ids = g.ids
    data.feature_names = list(g.features.names)
    data.edge_attr_names = ["chemical_synapses", "gap_junction_synapses"]
    if g.y is not None:
        data.y = torch.from_numpy(g.y.copy())
        data.label_names = list(g.labels.classes) if g.labels else []
        if split is None and seed is not None:
            split = stratified_split(g.y, fractions=fractions, seed=seed)
    if split is not None:
        tr, va, te = split.masks(g.n_nodes)
        data.train_mask, data.val_mask, data.test_mask = (torch.from_numpy(m) for m in (tr, va, te))
    return data
