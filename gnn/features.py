"""Wiring features of every node, computed from the edge table alone (never from labels).

What :class:`FeatureSpec` asks for, and what the store has, decides the columns:

- ``degrees``: out/in partners, out/in synapses, reciprocal partners, autapse
  synapses, strongest out/in connection (chemical synapses);
- ``edge_kinds``: gap-junction partners and synapses, when the store has gap junctions;
- ``neuropils``: synapses out/in per neuropil, when edges carry ``neuropil``;
- ``transmitters``: synapses out/in per transmitter of the presynaptic neuron,
  when edges carry ``nt_type``;
- ``node_attributes``: numeric node columns you name (positions ``x_nm``, volumes, ...).

Counts enter as ``log1p``. The feature names, the options and a hash of both form
the *feature spec* saved with a model: a model refuses a store whose features differ.

Examples
--------
>>> import connectome as cx
>>> f = wiring_features(cx.load("celegans_cook2019_herm"))
>>> f.x.shape
(473, 10)
>>> f.names[:4]
['out_partners', 'in_partners', 'out_synapses', 'in_synapses']
>>> f.hash == wiring_features(cx.load("celegans_cook2019_herm")).hash
True
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from connectome.errors import ColumnError, InputError
from connectome.schema import EDGE_KIND, GAP_JUNCTION, ID_DTYPE, NEUROPIL, NT_TYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT

if TYPE_CHECKING:  # pragma: no cover
    from connectome import Connectome

logger = logging.getLogger(__name__)

__all__ = ["FeatureSpec", "WiringFeatures", "wiring_features", "node_ids"]


@dataclass(frozen=True)
class FeatureSpec:
    """Which wiring features to compute (see the module docstring).

    Parameters
    ----------
    min_synapses : int
        Edge rows with fewer synapses are ignored (FlyWire practice is 5; default 1 keeps all).
    degrees, edge_kinds, neuropils, transmitters : bool
        Feature groups to include when the store has the needed columns.
    node_attributes : tuple of str
        Numeric node columns to append (z-scored with the other features by the model).
    max_categories : int
        At most this many neuropils / transmitters (the ones with most synapses).

    Examples
    --------
    >>> FeatureSpec(min_synapses=5).to_dict()["min_synapses"]
    5
    >>> FeatureSpec.from_dict(FeatureSpec(node_attributes=("x_nm",)).to_dict()).node_attributes
    ('x_nm',)
    """

    min_synapses: int = 1
    degrees: bool = True
    edge_kinds: bool = True
    neuropils: bool = True
    transmitters: bool = True
    node_attributes: tuple[str, ...] = field(default=())
    max_categories: int = 256

    def __post_init__(self) -> None:
        if isinstance(self.min_synapses, bool) or not isinstance(self.min_synapses, (int, np.integer)) \
                or self.min_synapses < 1:
            raise InputError(f"min_synapses must be a positive integer, not {self.min_synapses!r}", "min_synapses")
        if isinstance(self.node_attributes, str):
            object.__setattr__(self, "node_attributes", (self.node_attributes,))
        object.__setattr__(self, "node_attributes", tuple(str(a) for a in self.node_attributes))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = asdict(self)
        d["node_attributes"] = list(self.node_attributes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict` (unknown keys are refused)."""
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise InputError(f"features: unknown option(s) {sorted(extra)}; known: {sorted(known)}", "features")
        d = dict(d)
        if "node_attributes" in d:
            d["node_attributes"] = tuple(d["node_attributes"])
        return cls(**d)


@dataclass
class WiringFeatures:
    """A node × feature matrix with its names and spec.

    Attributes
    ----------
    ids : numpy.ndarray of int64
        Root id of each row, sorted ascending.
    x : numpy.ndarray of float32
        One row per node.
    names : list of str
        One name per column.
    spec : FeatureSpec
        The options that produced it.
    """

    ids: np.ndarray
    x: np.ndarray
    names: list[str]
    spec: FeatureSpec

    @property
    def hash(self) -> str:
        """Hash of the spec and the feature names (what a saved model checks)."""
        blob = json.dumps({"spec": self.spec.to_dict(), "names": self.names}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """The saved form: spec, names and hash (no values)."""
        return {"spec": self.spec.to_dict(), "names": list(self.names), "hash": self.hash}


def node_ids(c: Connectome) -> np.ndarray:
    """Root ids of ``c`` sorted ascending: the node order of every gnn matrix.

    Examples
    --------
    >>> import connectome as cx, numpy as np
    >>> ids = node_ids(cx.load("celegans_cook2019_herm"))
    >>> bool(np.all(np.diff(ids.astype(float)) > 0))
    True
    """
    return np.sort(c.node_table([ROOT_ID])[ROOT_ID].to_numpy(dtype=ID_DTYPE))


def _bincount(idx: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(idx, weights=weights, minlength=n).astype(np.float64)


def _categories(values: pd.Series, weights: np.ndarray, limit: int) -> list[str]:
    s = pd.Series(weights, index=values.astype(object).to_numpy())
    s = s[s.index.notna()]
    tot = s.groupby(level=0).sum().sort_values(ascending=False, kind="stable")
    return sorted(str(k) for k in tot.index[:limit])


def _per_category(values: pd.Series, cats: list[str], idx: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    code = pd.Categorical(values.astype(object), categories=cats).codes.astype(np.int64)
    keep = code >= 0
    flat = idx[keep] * len(cats) + code[keep]
    return np.bincount(flat, weights=w[keep], minlength=n * len(cats)).reshape(n, len(cats))


def _edge_frame(c: Connectome, spec: FeatureSpec) -> pd.DataFrame:
    cols = [PRE, POST, SYNAPSE_COUNT, EDGE_KIND]
    for col, want in ((NEUROPIL, spec.neuropils), (NT_TYPE, spec.transmitters)):
        if want and col in c.edge_columns:
            cols.append(col)
    e = c.edge_table(cols)
    if spec.min_synapses > 1:
        e = e[e[SYNAPSE_COUNT].to_numpy() >= spec.min_synapses]
    return e


def wiring_features(c: Connectome, spec: FeatureSpec | None = None, *, edges: pd.DataFrame | None = None,
                    ids: np.ndarray | None = None) -> WiringFeatures:
    """Wiring features of every node of ``c`` (rows in :func:`node_ids` order).

    Parameters
    ----------
    c : Connectome
    spec : FeatureSpec, optional
        Which features (default: every group the store supports).
    edges, ids : optional
        The edge table and sorted node ids, when the caller already has them.

    Returns
    -------
    WiringFeatures

    Examples
    --------
    >>> import connectome as cx
    >>> f = wiring_features(cx.load("celegans_cook2019_herm"), FeatureSpec(transmitters=False))
    >>> [n for n in f.names if n.startswith("gap")]
    ['gap_junction_partners', 'gap_junction_synapses']
    """
    spec = spec or FeatureSpec()
    ids = node_ids(c) if ids is None else ids
    e = _edge_frame(c, spec) if edges is None else edges
    n = len(ids)
    pre = np.searchsorted(ids, e[PRE].to_numpy(dtype=ID_DTYPE))
    post = np.searchsorted(ids, e[POST].to_numpy(dtype=ID_DTYPE))
    w = e[SYNAPSE_COUNT].to_numpy(dtype=np.float64)
    kind = e[EDGE_KIND].astype(object).to_numpy()
    chem = kind != GAP_JUNCTION
    cols: list[np.ndarray] = []
    names: list[str] = []

    if spec.degrees:
        import scipy.sparse as sp

        m = chem & (pre != post)
        a = sp.csr_array((w[m], (pre[m], post[m])), shape=(n, n))
        a.sum_duplicates()
        b = (a > 0).astype(np.float64)
        rec = (b * b.T).sum(axis=1)
        self_w = _bincount(pre[chem & (pre == post)], n, w[chem & (pre == post)])
        out_max = np.zeros(n)
        in_max = np.zeros(n)
        if a.nnz:
            out_max = np.asarray(a.max(axis=1).todense()).ravel()
            in_max = np.asarray(a.max(axis=0).todense()).ravel()
        cols += [np.asarray(b.sum(axis=1)).ravel(), np.asarray(b.sum(axis=0)).ravel(),
                 np.asarray(a.sum(axis=1)).ravel(), np.asarray(a.sum(axis=0)).ravel(),
                 np.asarray(rec).ravel(), self_w, out_max, in_max]
        names += ["out_partners", "in_partners", "out_synapses", "in_synapses", "reciprocal_partners",
                  "autapse_synapses", "max_out_synapses", "max_in_synapses"]

    if spec.edge_kinds and (~chem).any():
        g = ~chem & (pre != post)
        pairs = np.unique(pre[g].astype(np.int64) * n + post[g])
        cols += [_bincount(pairs // n, n), _bincount(pre[g], n, w[g])]
        names += ["gap_junction_partners", "gap_junction_synapses"]

    for col, want, tag in ((NEUROPIL, spec.neuropils, "neuropil"), (NT_TYPE, spec.transmitters, "nt")):
        if not want or col not in e.columns:
            continue
        vals = e[col]
        cats = _categories(vals[chem], w[chem], spec.max_categories)
        if not cats:
            continue
        out = _per_category(vals[chem], cats, pre[chem], w[chem], n)
        inn = _per_category(vals[chem], cats, post[chem], w[chem], n)
        cols += list(out.T) + list(inn.T)
        names += [f"out_synapses_{tag}_{k}" for k in cats] + [f"in_synapses_{tag}_{k}" for k in cats]

    x = np.log1p(np.stack(cols, axis=1)) if cols else np.zeros((n, 0))
    if spec.node_attributes:
        x = np.hstack([x, _node_attributes(c, ids, spec.node_attributes)])
        names += [f"node_{a}" for a in spec.node_attributes]
    if x.shape[1] == 0:
        raise InputError("features: the spec selects no feature for this store; enable degrees=True",
                         "features")
    return WiringFeatures(ids, np.ascontiguousarray(x, dtype=np.float32), names, spec)


def _node_attributes(c: Connectome, ids: np.ndarray, attrs: tuple[str, ...]) -> np.ndarray:
    nodes = c.node_table()
    out = []
    for a in attrs:
        if a not in nodes.columns or a == ROOT_ID:
            raise ColumnError("nodes", a, [x for x in nodes.columns if x != ROOT_ID],
                              "Pass numeric node columns as node_attributes=.")
        if not (pd.api.types.is_numeric_dtype(nodes[a]) or pd.api.types.is_bool_dtype(nodes[a])):
            raise InputError(f"node_attributes: column {a!r} is not numeric ({nodes[a].dtype}); pass numeric "
                             "columns such as positions (x_nm) or volumes", "node_attributes")
        v = pd.Series(nodes[a].to_numpy(dtype=np.float64, na_value=np.nan), index=nodes[ROOT_ID].to_numpy())
        v = v.reindex(ids).to_numpy()
        fill = np.nanmean(v) if np.isfinite(v).any() else 0.0
        out.append(np.where(np.isfinite(v), v, fill))
    return np.stack(out, axis=1)
