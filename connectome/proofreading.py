"""Edges of proofread neurons only: the standard caveat of MICrONS analyses.

Automatic segmentation wrongly merges axon fragments far more often than
dendrites, so MICrONS analyses count the outputs of a cell only when its
axon was proofread (and, for some questions, the inputs of a cell only when
its dendrite was). A store carries that as the node columns
``axon_proofread`` and ``dendrite_proofread``; for MICrONS they come from the
``proofreading_status_and_strategy`` table
(``from connectome.ingest import add_proofreading``).

Examples
--------
>>> import pandas as pd, connectome as cx
>>> c = cx.from_edges(pd.DataFrame({"pre_root_id": [1, 2, 3], "post_root_id": [2, 3, 1],
...                                 "synapse_count": [5, 6, 7]}))
>>> c = c.with_node_columns(pd.DataFrame({"root_id": [1, 2, 3], "axon_proofread": [True, False, True],
...                                       "dendrite_proofread": [False, True, False]}))
>>> proofread_edges(c, axon=True).edge_table()[["pre_root_id", "post_root_id"]].values.tolist()
[[1, 2], [3, 1]]
>>> proofread_edges(c, axon=True, dendrite=True).edge_table()[["pre_root_id", "post_root_id"]].values.tolist()
[[1, 2]]
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from .errors import ColumnError, InputError
from .graph import Connectome
from .schema import POST, PRE, ROOT_ID

__all__ = ["proofread_edges", "AXON_PROOFREAD", "DENDRITE_PROOFREAD"]

AXON_PROOFREAD = "axon_proofread"
DENDRITE_PROOFREAD = "dendrite_proofread"


def _keep(df: pd.DataFrame, pre_ok: np.ndarray | None, post_ok: np.ndarray | None) -> pd.DataFrame:
    mask = np.ones(len(df), dtype=bool)
    if pre_ok is not None:
        mask &= df[PRE].isin(pre_ok).to_numpy()
    if post_ok is not None:
        mask &= df[POST].isin(post_ok).to_numpy()
    return df[mask]


def proofread_edges(c: Connectome, axon: bool = True, dendrite: bool = False) -> Connectome:
    """Keep edges whose presynaptic axon (and, optionally, postsynaptic dendrite) is proofread.

    All nodes stay (as :func:`connectome.filter_edges`); a per-synapse table
    keeps the synapses of the edges kept.

    Parameters
    ----------
    c : Connectome
        With the node column ``axon_proofread`` (and ``dendrite_proofread``
        when ``dendrite=True``), booleans.
    axon : bool
        Only edges whose presynaptic neuron has ``axon_proofread`` True.
    dendrite : bool
        Only edges whose postsynaptic neuron has ``dendrite_proofread`` True.

    Returns
    -------
    Connectome

    Raises
    ------
    ColumnError
        The store lacks the column; the message says how to add it.
    InputError
        Neither ``axon`` nor ``dendrite`` asked for, or a column that is not boolean.
    """
    if not isinstance(axon, (bool, np.bool_)) or not isinstance(dendrite, (bool, np.bool_)):
        raise InputError("axon and dendrite must be True or False", "axon")
    if not axon and not dendrite:
        raise InputError("axon / dendrite: ask for at least one (axon=True is the usual MICrONS filter)", "axon")
    cols = c.node_table().columns
    wanted = [col for col, on in ((AXON_PROOFREAD, axon), (DENDRITE_PROOFREAD, dendrite)) if on]
    for col in wanted:
        if col not in cols:
            raise ColumnError("nodes", col, cols,
                              "Add proofreading status first: from connectome.ingest import add_proofreading; "
                              "add_proofreading(store, 'proofreading_status_and_strategy.csv').")
    nodes = c.node_table([ROOT_ID, *wanted])
    ok: dict[str, np.ndarray] = {}
    for col in wanted:
        v = nodes[col]
        if v.dtype != bool and str(v.dtype) != "boolean":
            raise InputError(f"{col}: node column must be boolean, not {v.dtype}", col)
        ok[col] = nodes.loc[v.fillna(False).to_numpy(dtype=bool), ROOT_ID].to_numpy()
    pre_ok = ok.get(AXON_PROOFREAD)
    post_ok = ok.get(DENDRITE_PROOFREAD)
    fn = functools.partial(_keep, pre_ok=pre_ok, post_ok=post_ok)
    step = f"proofread_edges(axon={bool(axon)}, dendrite={bool(dendrite)})"
    return c._apply(step, None, fn, fn if c.has_synapses else None)
