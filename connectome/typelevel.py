"""Collapse neurons to types: type × type synapse and connection counts.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> t = cx.collapse(c, by="super_class")
>>> list(t.columns)
['pre_super_class', 'post_super_class', 'synapse_count', 'connection_count', 'n_pre', 'n_post', 'connection_probability']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ColumnError, InputError
from .pair_table import read_pairs
from .scheduler import compute
from .schema import EDGE_KIND, EDGE_KINDS, POST, PRE, ROOT_ID, SYNAPSE_COUNT
from .unlabelled import check_unlabelled, group_by_label

if TYPE_CHECKING:  # graph.py imports this module; Connectome is named here for typing only
    from .graph import Connectome

__all__ = ["collapse", "pair_totals"]


def _pair_sum(df: pd.DataFrame) -> pd.DataFrame:
    return df.groupby([PRE, POST], sort=False)[SYNAPSE_COUNT].sum().reset_index()


def pair_totals(c: Connectome, edge_kind: str | None = "chemical", scheduler: Any = None) -> pd.DataFrame:
    """Synapses per (pre, post) neuron pair, summed over neuropils.

    A per-neuropil store keeps these totals in its ``pairs`` table
    (:mod:`connectome.pair_table`) and they are read from there; older stores
    and derived connectomes sum the edge rows.

    Parameters
    ----------
    edge_kind : str or None
        Only this kind of edge (``None``: all kinds summed).

    Returns
    -------
    pandas.DataFrame
        ``pre_root_id``, ``post_root_id``, ``synapse_count``, sorted by ids.

    Examples
    --------
    >>> import connectome as cx
    >>> p = cx.pair_totals(cx.load("celegans_cook2019_herm"))
    >>> bool(p.duplicated(["pre_root_id", "post_root_id"]).any())
    False
    """
    if edge_kind is not None and edge_kind not in EDGE_KINDS:
        raise InputError(f"edge_kind: unknown kind {edge_kind!r}; use one of {list(EDGE_KINDS)} or None", "edge_kind")
    stored = read_pairs(c, edge_kind)  # per-neuropil stores keep the pair totals (written at ingest)
    if stored is not None:
        return stored
    if c.in_memory:
        e = c.edge_table([PRE, POST, SYNAPSE_COUNT, EDGE_KIND])
        if edge_kind is not None:
            e = e[e[EDGE_KIND] == edge_kind]
        e = e[[PRE, POST, SYNAPSE_COUNT]]
        pre, post = e[PRE].to_numpy(), e[POST].to_numpy()
        ordered = len(e) < 2 or bool(np.all((pre[1:] > pre[:-1]) | ((pre[1:] == pre[:-1]) & (post[1:] > post[:-1]))))
        # stores and from_edges keep edges sorted: one kind, no neuropil -> already unique pairs
        out = e.reset_index(drop=True) if ordered else _pair_sum(e)
    else:
        e = c.edges[[PRE, POST, SYNAPSE_COUNT, EDGE_KIND]]
        if edge_kind is not None:
            e = e[e[EDGE_KIND] == edge_kind]
        agg = e[[PRE, POST, SYNAPSE_COUNT]].groupby([PRE, POST])[SYNAPSE_COUNT].sum()
        out = compute(agg, scheduler=scheduler)[0].reset_index()
    out[SYNAPSE_COUNT] = out[SYNAPSE_COUNT].astype("int64")
    pre, post = out[PRE].to_numpy(), out[POST].to_numpy()
    if len(out) > 1 and not np.all((pre[1:] > pre[:-1]) | ((pre[1:] == pre[:-1]) & (post[1:] > post[:-1]))):
        out = out.sort_values([PRE, POST], ignore_index=True)
    return out


def collapse(
    c: Connectome,
    by: str = "cell_type",
    *,
    min_synapses: int | None = None,
    edge_kind: str | None = "chemical",
    missing: str | None = "unknown",
    unlabelled: str | None = None,
    scheduler: Any = None,
) -> pd.DataFrame:
    """Type-level connectivity: one row per (pre type, post type).

    Parameters
    ----------
    c : Connectome
    by : str
        Node label column that defines types (``cell_type``, ``class``, ...).
    min_synapses : int, optional
        A neuron pair counts as a connection only with at least this many
        synapses (summed over neuropils). FlyWire practice is 5.
    edge_kind : str or None
        Edge kind to count (default chemical synapses; ``None`` for all).
    missing : str or None
        Name of the pooled group of neurons without a type (``unlabelled="pool"``);
        ``None`` drops them (as ``unlabelled="drop"``).
    unlabelled : {"pool", "drop", "keep"}, optional
        Neurons without a ``by`` label (missing or a placeholder such as
        ``"unknown"``; see :mod:`connectome.unlabelled`): pooled into one group
        ``missing`` (the default, said with their count and share as a warning
        and in ``.attrs``: a pool of unrelated neurons is not a type, and its
        ``connection_probability`` is not one), left out, or kept each as a
        group of its own (named by its root id).

    Returns
    -------
    pandas.DataFrame
        ``pre_<by>``, ``post_<by>``, ``synapse_count`` (sum), ``connection_count``
        (neuron pairs), ``n_pre``, ``n_post`` (neurons per type) and
        ``connection_probability`` (connections / possible ordered pairs,
        self-pairs excluded), sorted by synapse count. ``.attrs`` holds the
        parameters, the unlabelled neurons' count and share, and ``warnings``.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> t = cx.collapse(c, by="cell_type", min_synapses=5)
    >>> row = t[(t.pre_cell_type == "AVA") & (t.post_cell_type == "DA")]
    >>> int(row.connection_count.iloc[0]) > 0
    True
    """
    nodes = c.node_table()
    if by not in nodes.columns or by == ROOT_ID:
        raise ColumnError("nodes", by, [x for x in nodes.columns if x != ROOT_ID], "Choose a label column.")
    if min_synapses is not None and (not isinstance(min_synapses, (int, np.integer)) or min_synapses < 1):
        raise InputError(f"min_synapses must be a positive integer, not {min_synapses!r}", "min_synapses")
    if check_unlabelled(unlabelled) is None and missing is None:
        unlabelled = "drop"  # missing=None: the older spelling of unlabelled="drop"
    grouping = group_by_label(nodes[by], nodes[ROOT_ID].to_numpy(), by=by, unlabelled=unlabelled,
                              pool_as="unknown" if missing is None else str(missing), where="collapse")
    labels = grouping.groups
    lut = pd.Series(labels.to_numpy(), index=nodes[ROOT_ID].to_numpy())
    pairs = pair_totals(c, edge_kind=edge_kind, scheduler=scheduler)
    if min_synapses is not None:
        pairs = pairs[pairs[SYNAPSE_COUNT] >= min_synapses]
    pre_t, post_t = f"pre_{by}", f"post_{by}"
    typed = pd.DataFrame({
        pre_t: lut.reindex(pairs[PRE].to_numpy()).to_numpy(),
        post_t: lut.reindex(pairs[POST].to_numpy()).to_numpy(),
        SYNAPSE_COUNT: pairs[SYNAPSE_COUNT].to_numpy(),
    }).dropna(subset=[pre_t, post_t])
    out = typed.groupby([pre_t, post_t], sort=True).agg(
        synapse_count=(SYNAPSE_COUNT, "sum"), connection_count=(SYNAPSE_COUNT, "size")
    ).reset_index()
    sizes = labels.dropna().value_counts()
    out["n_pre"] = out[pre_t].map(sizes).astype("int64")
    out["n_post"] = out[post_t].map(sizes).astype("int64")
    possible = out["n_pre"] * out["n_post"] - np.where(out[pre_t] == out[post_t], out["n_pre"], 0)
    out["connection_probability"] = np.where(possible > 0, out["connection_count"] / possible.clip(lower=1), np.nan)
    out[pre_t] = out[pre_t].astype("string[pyarrow]")
    out[post_t] = out[post_t].astype("string[pyarrow]")
    out = out.sort_values(["synapse_count", pre_t, post_t], ascending=[False, True, True], ignore_index=True)
    out.attrs = {"dataset": c.name, "by": by, "min_synapses": min_synapses, "edge_kind": edge_kind,
                 **grouping.meta, "warnings": list(grouping.warnings)}
    return out
