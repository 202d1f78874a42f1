"""Filters that return a new :class:`~connectome.Connectome`.

Edge filters (:func:`filter_edges`) keep every node; node filters
(:func:`select`, :func:`subgraph`, :func:`neighborhood`) return the subgraph
induced on the chosen nodes. All are lazy on the Dask path.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> strong = cx.filter_edges(c, min_synapses=5, edge_kind="chemical")
>>> int(strong.edge_table()["synapse_count"].min())
5
>>> ava = cx.neighborhood(c, cx.ids_of(c, name="AVAL"), k=1, direction="in")
>>> ava.n_nodes > 10
True
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .errors import ColumnError, InputError, LabelError
from .scheduler import compute
from .validate import check_int
from .schema import EDGE_KIND, EDGE_KINDS, ID_DTYPE, NEUROPIL, POST, PRE, ROOT_ID, SYNAPSE_COUNT, coerce_ids

if TYPE_CHECKING:  # graph.py imports this module; the filters reach Connectome through its methods
    from .graph import Connectome

__all__ = ["filter_edges", "select", "subgraph", "neighborhood", "ids_of", "unknown_labels", "unknown_labels_message",
           "check_edge_labels"]


def _as_list(value: Any) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def _edge_mask(df: pd.DataFrame, min_synapses: int | None, kinds: list | None, neuropils: list | None) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    if min_synapses is not None:
        mask &= df[SYNAPSE_COUNT] >= min_synapses
    if kinds is not None:
        mask &= df[EDGE_KIND].isin(kinds)
    if neuropils is not None:
        mask &= df[NEUROPIL].isin(neuropils)
    return df[mask]


def _pairs_mask(df: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    key = pd.MultiIndex.from_arrays([df[PRE], df[POST]])
    keep = pd.MultiIndex.from_arrays([pairs[PRE], pairs[POST]])
    return df[key.isin(keep)]


def filter_edges(
    c: Connectome,
    min_synapses: int | None = None,
    edge_kind: str | list[str] | None = None,
    neuropil: str | list[str] | None = None,
) -> Connectome:
    """Keep edge rows by synapse count, kind and neuropil (all nodes stay).

    Parameters
    ----------
    c : Connectome
    min_synapses : int, optional
        Keep rows with ``synapse_count >= min_synapses``. FlyWire's convention
        for a "connection" is 5 (Dorkenwald et al. 2024); it is never applied
        unless you ask.
    edge_kind : str or list of str, optional
        ``"chemical"`` and/or ``"gap_junction"``.
    neuropil : str or list of str, optional
        Keep rows in these neuropils (needs a ``neuropil`` column).

    Returns
    -------
    Connectome

    Notes
    -----
    A per-synapse table, if present, keeps the synapses of the (pre, post)
    pairs that still have an edge row.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> gj = cx.filter_edges(c, edge_kind="gap_junction")
    >>> sorted(gj.edge_table()["edge_kind"].unique())
    ['gap_junction']
    """
    if min_synapses is not None:
        min_synapses = check_int(min_synapses, "min_synapses", low=1)
    kinds = None
    if edge_kind is not None:
        kinds = _as_list(edge_kind)
        bad = [k for k in kinds if k not in EDGE_KINDS]
        if bad:
            raise InputError(f"edge_kind: unknown kind {bad[0]!r}; use one of {list(EDGE_KINDS)}", "edge_kind")
    neuropils = None
    if neuropil is not None:
        if NEUROPIL not in c.edge_columns:
            raise ColumnError("edges", NEUROPIL, c.edge_columns, "This dataset has no per-neuropil edges.")
        neuropils = _as_list(neuropil)
        check_edge_labels(c, NEUROPIL, neuropils)
    step = f"filter_edges(min_synapses={min_synapses!r}, edge_kind={kinds!r}, neuropil={neuropils!r})"
    fn = functools.partial(_edge_mask, min_synapses=min_synapses, kinds=kinds, neuropils=neuropils)
    syn_fn = None
    if c.has_synapses:
        pairs = fn(c.edge_table())[[PRE, POST]].drop_duplicates()
        syn_fn = functools.partial(_pairs_mask, pairs=pairs)
    return c._apply(step, None, fn, syn_fn,
                    record={"min_synapses": min_synapses, "edge_kind": kinds, "neuropil": neuropils})


def _node_ids(c: Connectome, root_ids: Any, parameter: str = "root_ids", check: bool = True) -> np.ndarray:
    if isinstance(root_ids, (int, np.integer, str)):
        root_ids = [root_ids]
    ids = np.unique(coerce_ids(pd.Series(list(root_ids)) if not isinstance(root_ids, (np.ndarray, pd.Series))
                               else root_ids, parameter))
    if check:
        known = c.node_table([ROOT_ID])[ROOT_ID].to_numpy()
        missing = np.setdiff1d(ids, known, assume_unique=True)
        if len(missing):
            shown = ", ".join(str(int(x)) for x in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise InputError(
                f"{parameter}: {len(missing)} id(s) not in {c.name}: {shown}{more}; check the ids "
                "(and the dataset version: root ids change with proofreading)",
                parameter,
            )
    return ids.astype(ID_DTYPE)


def _nodes_in(df: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    return df[df[ROOT_ID].isin(ids)]


def both_in(df: pd.DataFrame, ids: Any) -> pd.DataFrame:
    """Rows whose pre and post ids are both in ``ids`` (an array of int64)."""
    return df[df[PRE].isin(ids) & df[POST].isin(ids)]


def _induced(c: Connectome, ids: np.ndarray, step: str) -> Connectome:
    node_fn = functools.partial(_nodes_in, ids=ids)
    edge_fn = functools.partial(both_in, ids=ids)
    return c._apply(step, node_fn, edge_fn, edge_fn, record={"nodes": [step]})


def subgraph(c: Connectome, root_ids: Any) -> Connectome:
    """The subgraph induced on ``root_ids`` (edges with both ends in the set).

    Raises :class:`~connectome.errors.InputError` naming ids not in ``c``.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> s = cx.subgraph(c, cx.ids_of(c, cell_type=["AVA", "AVB"]))
    >>> s.n_nodes
    4
    """
    ids = _node_ids(c, root_ids)
    return _induced(c, ids, f"subgraph({len(ids)} ids)")


def ids_of(c: Connectome, query: str | None = None, *, allow_empty: bool = False, **labels: Any) -> np.ndarray:
    """Root ids of the nodes whose labels match (all conditions must hold).

    Parameters
    ----------
    query : str, optional
        A :meth:`pandas.DataFrame.query` expression over node columns.
    allow_empty : bool
        Return an empty array when nothing matches, and accept values of a list
        that no node has, instead of raising :class:`~connectome.errors.LabelError`.
    **labels
        ``column=value`` or ``column=[values]``. Every value of a list is checked:
        one that no node has (a typo) is refused like a single value.

    Raises
    ------
    ColumnError
        A column that does not exist.
    connectome.errors.LabelError
        No node matches, or a value (of a list too) that no node has (unless
        ``allow_empty``). The message lists the values
        of the column closest to the one asked for, and the other columns
        where that value does occur (e.g. ``primary_type`` for a FlyWire type).

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> len(cx.ids_of(c, cell_type="AVA"))
    2
    >>> cx.ids_of(c, celltype="AVA")
    Traceback (most recent call last):
    ...
    connectome.errors.ColumnError: column 'celltype' not found in nodes (columns: ...); did you mean 'cell_type'?
    >>> cx.ids_of(c, cell_type="AVAL")
    Traceback (most recent call last):
    ...
    connectome.errors.LabelError: cell_type: no node has cell_type='AVAL'; close values of cell_type: 'AVL', 'AVA', 'VA'; 'AVAL' occurs in column name; pass allow_empty=True to accept an empty result
    >>> len(cx.ids_of(c, cell_type="AVAL", allow_empty=True))
    0
    """
    nodes = c.node_table()
    mask = pd.Series(True, index=nodes.index)
    for col, value in labels.items():
        if col not in nodes.columns:
            raise ColumnError("nodes", col, nodes.columns)
        rows = nodes[col].isin(_as_list(value)).fillna(False).astype(bool)
        if not allow_empty and len(nodes):
            msg = unknown_labels_message(nodes, col, value, rows=rows)
            if msg is not None:
                raise LabelError(msg + "; pass allow_empty=True to accept " + (
                    "an empty result" if not rows.any() else "values that match no node"), col)
        mask &= rows
    if query is not None:
        try:
            hit = nodes.eval(query)
        except Exception as exc:  # pandas raises many types for bad expressions
            raise InputError(f"query: cannot evaluate {query!r} over node columns ({exc})", "query") from None
        mask &= pd.Series(hit, index=nodes.index).fillna(False).astype(bool)
    if not mask.any() and not allow_empty and (labels or query is not None) and len(nodes):
        raise _no_match(nodes, labels, query)
    return nodes.loc[mask, ROOT_ID].to_numpy(dtype=ID_DTYPE)


def unknown_labels(nodes: pd.DataFrame, column: str, value: Any, *, rows: pd.Series | None = None) -> list:
    """The values of ``value`` (one value or a list) that no row of ``nodes[column]`` has.

    ``rows`` is ``nodes[column].isin(values)`` when the caller has it already.

    Examples
    --------
    >>> import connectome as cx
    >>> nodes = cx.load("celegans_cook2019_herm").node_table()
    >>> unknown_labels(nodes, "cell_type", ["AVA", "AVAL", "AVB"])
    ['AVAL']
    """
    wanted = _as_list(value)
    if rows is None:
        rows = nodes[column].isin(wanted).fillna(False).astype(bool)
    found = set(pd.unique(nodes.loc[rows.to_numpy(), column]))
    return [w for w in wanted if w not in found]


def unknown_labels_message(nodes: pd.DataFrame, column: str, value: Any, *,
                           rows: pd.Series | None = None, what: str = "node") -> str | None:
    """Why values of ``column`` match no row: the unknown values, close values of the column and
    the other columns where they occur; ``None`` when every value occurs. The one wording of
    :func:`ids_of`, the CLI and HTTP selections, neuropil lists (``what="edge"``) and motif node
    constraints.

    Examples
    --------
    >>> import connectome as cx
    >>> nodes = cx.load("celegans_cook2019_herm").node_table()
    >>> unknown_labels_message(nodes, "cell_type", ["AVA", "AVBX"])
    "cell_type: no node has cell_type='AVBX' (1 of the 2 values given); close values of cell_type: 'AVB', 'VB'"
    >>> unknown_labels_message(nodes, "cell_type", "AVA") is None
    True
    """
    import difflib

    unknown = unknown_labels(nodes, column, value, rows=rows)
    if not unknown:
        return None
    wanted = _as_list(value)
    present = [str(v) for v in pd.unique(nodes[column].dropna())]
    close: list[str] = []
    for w in unknown:
        close += [v for v in difflib.get_close_matches(str(w), present, n=5, cutoff=0.6) if v not in close]
    where = [other for other in nodes.columns if other not in (column, ROOT_ID) and nodes[other].isin(unknown).any()]
    shown = unknown[0] if len(unknown) == 1 else unknown
    msg = f"{column}: no {what} has {column}={shown!r}"
    if len(unknown) < len(wanted):
        msg += f" ({len(unknown)} of the {len(wanted)} values given)"
    if close:
        msg += f"; close values of {column}: {', '.join(repr(v) for v in close)}"
    if where:
        msg += f"; {shown!r} occurs in column{'s' if len(where) > 1 else ''} {', '.join(where)}"
    return msg


def check_edge_labels(c: Connectome, column: str, values: list) -> None:
    """Refuse values of an edge column (``neuropil``) that no edge row has, like :func:`ids_of` does
    for node labels (a typo in a list is not dropped silently).

    Raises
    ------
    connectome.errors.LabelError
        The unknown values, with close values of the column.
    """
    msg = unknown_labels_message(c.edge_table([column]), column, values, what="edge")
    if msg is not None:
        raise LabelError(msg, column)


def _no_match(nodes: pd.DataFrame, labels: dict[str, Any], query: str | None) -> LabelError:
    """Why nothing matched: the first condition that matches no node, with close values and other columns."""
    for col, value in labels.items():
        msg = unknown_labels_message(nodes, col, value)
        if msg is not None:
            return LabelError(msg + "; pass allow_empty=True to accept an empty result", col)
    conds = [f"{k}={v!r}" for k, v in labels.items()] + ([f"query={query!r}"] if query is not None else [])
    return LabelError(f"no node matches all of {', '.join(conds)} (each condition alone matches some); pass "
                      "allow_empty=True to accept an empty result", next(iter(labels), "query"))


def select(c: Connectome, query: str | None = None, *, allow_empty: bool = False, **labels: Any) -> Connectome:
    """The subgraph induced on nodes whose labels match (see :func:`ids_of`; an empty match raises
    :class:`~connectome.errors.LabelError` unless ``allow_empty``).

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> sensory = cx.select(c, super_class="sensory")
    >>> set(sensory.node_table()["super_class"])
    {'sensory'}
    """
    ids = ids_of(c, query, allow_empty=allow_empty, **labels)
    desc = ", ".join([f"{k}={v!r}" for k, v in labels.items()] + ([f"query={query!r}"] if query else []))
    return _induced(c, ids, f"select({desc})")


def _neighbours(edges: pd.DataFrame, frontier: np.ndarray, direction: str) -> np.ndarray:
    parts = []
    if direction in ("out", "both"):
        parts.append(edges.loc[edges[PRE].isin(frontier), POST].to_numpy())
    if direction in ("in", "both"):
        parts.append(edges.loc[edges[POST].isin(frontier), PRE].to_numpy())
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, ID_DTYPE)


def _neighbours_part(edges: pd.DataFrame, frontier: np.ndarray, direction: str) -> pd.DataFrame:
    return pd.DataFrame({ROOT_ID: _neighbours(edges, frontier, direction)})


def neighborhood(c: Connectome, root_ids: Any, k: int = 1, direction: str = "both") -> Connectome:
    """The subgraph induced on all nodes within ``k`` hops of ``root_ids``.

    Parameters
    ----------
    root_ids : int or sequence of int
        Seed neurons.
    k : int
        Number of hops (0 gives the seeds alone).
    direction : {"both", "out", "in"}
        Follow edges downstream (``"out"``), upstream (``"in"``) or both.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> seeds = cx.ids_of(c, name="AVAL")
    >>> cx.neighborhood(c, seeds, k=0).n_nodes
    1
    """
    if direction not in ("both", "out", "in"):
        raise InputError(f"direction must be 'both', 'out' or 'in', not {direction!r}", "direction")
    check_int(k, "k", low=0)
    seen = _node_ids(c, root_ids)
    frontier = seen
    for _ in range(int(k)):
        if len(frontier) == 0:
            break
        if c.in_memory:
            nxt = _neighbours(c.edge_table([PRE, POST]), frontier, direction)
        else:
            e = c.edges[[PRE, POST]]
            part = e.map_partitions(_neighbours_part, frontier, direction,
                                    meta=pd.DataFrame({ROOT_ID: np.zeros(0, ID_DTYPE)}))
            nxt = np.unique(compute(part)[0][ROOT_ID].to_numpy())
        frontier = np.setdiff1d(nxt, seen, assume_unique=True)
        seen = np.union1d(seen, frontier)
    return _induced(c, seen.astype(ID_DTYPE), f"neighborhood({len(_as_list(root_ids))} seeds, k={k}, {direction})")
