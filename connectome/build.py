"""Build a :class:`Connectome` from users' own pandas tables.

Examples
--------
>>> import pandas as pd, connectome as cx
>>> edges = pd.DataFrame({"pre": [1, 1, 2], "post": [2, 3, 3], "syn": [5, 1, 7]})
>>> c = cx.from_edges(edges, columns={"pre": "pre_root_id", "post": "post_root_id",
...                                    "syn": "synapse_count"})
>>> c.n_nodes, c.n_edges
(3, 3)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import InputError
from .manifest import Manifest
from .schema import (
    POST,
    PRE,
    ROOT_ID,
    apply_aliases,
    normalize_edges,
    normalize_nodes,
    normalize_synapses,
)

if TYPE_CHECKING:  # graph.py imports store, which imports this module: Connectome comes late, in _connectome
    from .graph import Connectome

logger = logging.getLogger(__name__)

__all__ = ["from_edges", "assemble"]

_MISSING = ("add", "error", "drop")


def _rename(df: pd.DataFrame | None, columns: dict[str, str] | None, table: str,
            parameter: str) -> tuple[pd.DataFrame | None, dict[str, str]]:
    if df is None:
        if columns:
            raise InputError(f"{parameter}: there is no {table} table to rename columns of", parameter)
        return None, {}
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{table} must be a pandas DataFrame, not {type(df).__name__}", table)
    return apply_aliases(df, table, columns, parameter=parameter)


def assemble(
    edges: pd.DataFrame,
    nodes: pd.DataFrame | None = None,
    synapses: pd.DataFrame | None = None,
    *,
    duplicates: str = "error",
    missing_nodes: str = "add",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Validate and normalise the three tables of a connectome.

    Returns ``(nodes, edges, synapses)`` in canonical form, or raises an
    :class:`~connectome.errors.InputError` subclass naming the table and column.
    """
    if missing_nodes not in _MISSING:
        raise InputError(f"missing_nodes must be one of {list(_MISSING)}, not {missing_nodes!r}", "missing_nodes")
    e = normalize_edges(edges, duplicates=duplicates)
    syn = normalize_synapses(synapses) if synapses is not None else None
    endpoint_ids = np.unique(np.concatenate([e[PRE].to_numpy(), e[POST].to_numpy()]))
    if nodes is None:
        n = pd.DataFrame({ROOT_ID: endpoint_ids})
    else:
        n = normalize_nodes(nodes)
        missing = np.setdiff1d(endpoint_ids, n[ROOT_ID].to_numpy(), assume_unique=True)
        if len(missing):
            if missing_nodes == "error":
                raise InputError(
                    f"edges: {len(missing)} id(s) are not in nodes, e.g. {int(missing[0])}; add them to "
                    "nodes, or pass missing_nodes='add' (add unlabelled nodes) or 'drop' (drop their edges)",
                    "missing_nodes",
                )
            if missing_nodes == "add":
                logger.info("adding %d unlabelled node(s) that appear only in edges", len(missing))
                extra = pd.DataFrame({ROOT_ID: missing})
                n = normalize_nodes(pd.concat([n, extra], ignore_index=True))
            else:
                keep = e[PRE].isin(n[ROOT_ID]) & e[POST].isin(n[ROOT_ID])
                logger.info("dropping %d edge row(s) whose ids are not in nodes", int((~keep).sum()))
                e = e[keep].reset_index(drop=True)
    return n, e, syn


def from_edges(
    edges: pd.DataFrame,
    nodes: pd.DataFrame | None = None,
    *,
    synapses: pd.DataFrame | None = None,
    columns: dict[str, str] | None = None,
    node_columns: dict[str, str] | None = None,
    name: str = "user",
    duplicates: str = "error",
    missing_nodes: str = "add",
    manifest: dict[str, Any] | None = None,
) -> Connectome:
    """A :class:`Connectome` from pandas tables, like ``networkx.from_pandas_edgelist``.

    Parameters
    ----------
    edges : pandas.DataFrame
        One row per connection: ``pre_root_id``, ``post_root_id``,
        ``synapse_count``; optional ``edge_kind`` (``"chemical"`` or
        ``"gap_junction"``), ``neuropil``, ``nt_type`` and other columns.
    nodes : pandas.DataFrame, optional
        One row per neuron keyed by ``root_id``, with label columns
        (``cell_type``, ``class``, ``super_class``, ``side``, ``nt_type``, ...).
        Derived from the edge endpoints when omitted.
    synapses : pandas.DataFrame, optional
        One row per synapse: ids and ``x_nm``, ``y_nm``, ``z_nm``.
    columns, node_columns : dict, optional
        Renames applied to ``edges`` / ``nodes`` first, e.g.
        ``{"pre": "pre_root_id", "weight": "synapse_count"}``; a key that is
        not a column is refused. Then the field's usual names are renamed as
        ``connectome ingest`` renames them (:data:`connectome.schema.COLUMN_ALIASES`:
        ``syn_count``, ``weight``, ``bodyId_pre``, ``pre_pt_root_id``, ...), with a
        log warning; every rename is recorded in the manifest
        (``source["renamed_columns"]``).
    name : str
        Dataset name recorded in the manifest.
    duplicates : {"error", "sum", "first"}
        Policy for repeated (pre, post, kind[, neuropil]) rows.
    missing_nodes : {"add", "error", "drop"}
        Policy for edge ids absent from ``nodes``.
    manifest : dict, optional
        Extra manifest fields (``source``, ``version``, ``species``, ...).

    Returns
    -------
    Connectome
        In memory (pandas path); ``.nodes`` / ``.edges`` are Dask views.

    Examples
    --------
    >>> import pandas as pd, connectome as cx
    >>> e = pd.DataFrame({"pre_root_id": [10, 20], "post_root_id": [20, 10],
    ...                   "synapse_count": [4, 9]})
    >>> n = pd.DataFrame({"root_id": [10, 20], "cell_type": ["KC", "MBON"]})
    >>> c = cx.from_edges(e, n)
    >>> c.node_table()["cell_type"].tolist()
    ['KC', 'MBON']

    The names of Codex, neuPrint and CAVE exports are understood as the command line understands them:

    >>> np_export = pd.DataFrame({"bodyId_pre": [1, 2], "bodyId_post": [2, 1], "weight": [3, 8]})
    >>> c = cx.from_edges(np_export)
    >>> c.n_edges, c.manifest.source["renamed_columns"]["edges"]["weight"]
    (2, 'synapse_count')
    """
    edges, renamed_e = _rename(edges, columns, "edges", "columns")
    nodes, renamed_n = _rename(nodes, node_columns, "nodes", "node_columns")
    n, e, s = assemble(edges, nodes, synapses, duplicates=duplicates, missing_nodes=missing_nodes)
    fields = dict(manifest or {})
    fields["source"] = dict(fields.get("source") or {"kind": "user"})
    renamed = {t: r for t, r in (("edges", renamed_e), ("nodes", renamed_n)) if r}
    if renamed:
        fields["source"].setdefault("renamed_columns", renamed)
    return _connectome(Manifest(name=name, **fields), n, e, s)


def _connectome(manifest: Manifest, nodes: pd.DataFrame, edges: pd.DataFrame,
                synapses: pd.DataFrame | None) -> Connectome:
    """An in-memory :class:`Connectome` of normalised tables: the one place a functional module constructs one.

    ``connectome.graph`` imports the functional modules at its top (``store`` among them, which
    imports this module for :func:`assemble`), so the class is imported here, at call time.
    """
    from .graph import Connectome, Tables  # late: graph -> store -> build (see the docstring)

    return Connectome(manifest, tables=Tables(nodes, edges, synapses), in_memory=True)
