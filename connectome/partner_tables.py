"""Partner tables and adjacency between neuron sets (neuPrint ``fetch_simple_connections`` /
``fetch_adjacencies``, Codex's connectivity tab).

:func:`partners` lists the upstream and downstream partners of neurons with synapses, the fraction
of the query neuron's total input or output, the partners' labels and, where the store has a
``neuropil`` column, the neuropil breakdown; ``by=`` groups partners by any node column.
:func:`adjacency_matrix` gives the rows × columns matrix between two neuron sets (or their types),
dense (pandas) or sparse, and :func:`plot_adjacency` draws it as a heatmap PNG.

Everything is read from the cached pair graph (:mod:`connectome.pathgraph`), so a warm partner
table of 1,000 FlyWire neurons is a few array gathers.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> p = cx.partners(c, cx.ids_of(c, name="AVAL"), direction="upstream", min_synapses=5)
>>> p[["partner_name", "synapse_count"]].head(3).to_string(index=False)
'partner_name  synapse_count\\n       SAAVL             56\\n        PHBL             48\\n        AVDR             41'
>>> round(float(p["fraction"].iloc[0]), 3)
0.084
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ColumnError, InputError
from .filters import check_edge_labels
from .graph import Connectome
from .pathgraph import (PairGraph, check_edge_kind, check_min_synapses, describe_filters, graph_metadata,
                        label_columns, pair_graph, resolve_ids)
from .schema import EDGE_KIND, ID_DTYPE, NEUROPIL, POST, PRE, ROOT_ID, SYNAPSE_COUNT
from .signs import signed_pairs
from .unlabelled import check_unlabelled, group_by_label, is_unlabelled

logger = logging.getLogger(__name__)

__all__ = ["partners", "adjacency", "adjacency_matrix", "plot_adjacency", "SparseAdjacency"]

_DIRECTIONS = ("upstream", "downstream", "both")


def _ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(starts[i], ends[i])`` and the ``i`` of each element."""
    lens = (ends - starts).astype(np.int64)
    owner = np.repeat(np.arange(len(starts)), lens)
    if len(owner) == 0:
        return np.zeros(0, np.int64), owner
    offsets = np.repeat(np.cumsum(lens) - lens, lens)
    return np.repeat(starts, lens) + (np.arange(len(owner)) - offsets), owner


def _incident(g: PairGraph, q: np.ndarray, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """Edge positions incident to nodes ``q`` (out-edges downstream, in-edges upstream) and their owner."""
    if direction == "downstream":
        return _ranges(g.out_indptr[q], g.out_indptr[q + 1])
    pos, owner = _ranges(g.in_indptr[q], g.in_indptr[q + 1])
    return g.in_order[pos], owner


@dataclass(frozen=True)
class _NeuropilRows:
    """Edge rows of one kind, indexed by pre and by post node (built once, cached on the connectome)."""

    pre: np.ndarray
    post: np.ndarray
    syn: np.ndarray
    code: np.ndarray
    names: np.ndarray
    by_pre: np.ndarray
    pre_ptr: np.ndarray
    by_post: np.ndarray
    post_ptr: np.ndarray


def _index_rows(c: Connectome, g: PairGraph, edge_kind: str | None) -> _NeuropilRows:
    cols = [PRE, POST, SYNAPSE_COUNT, NEUROPIL] + ([EDGE_KIND] if EDGE_KIND in c.edge_columns else [])
    e = c.edge_table(cols)
    if edge_kind is not None and EDGE_KIND in e.columns:
        e = e[(e[EDGE_KIND] == edge_kind).to_numpy()]
    pre = np.searchsorted(g.ids, e[PRE].to_numpy(dtype=ID_DTYPE)).astype(np.int64)
    post = np.searchsorted(g.ids, e[POST].to_numpy(dtype=ID_DTYPE)).astype(np.int64)
    cat = pd.Categorical(e[NEUROPIL])
    ptrs = []
    for side in (pre, post):
        order = np.argsort(side, kind="stable")
        ptr = np.zeros(g.n + 1, np.int64)
        np.cumsum(np.bincount(side, minlength=g.n), out=ptr[1:])
        ptrs += [order, ptr]
    return _NeuropilRows(pre, post, e[SYNAPSE_COUNT].to_numpy(np.int64), cat.codes.astype(np.int64),
                         np.asarray(cat.categories, dtype=object), *ptrs)


def _neuropil_rows(c: Connectome, g: PairGraph, q: np.ndarray, direction: str, edge_kind: str | None,
                   neuropils: list[str] | None) -> pd.DataFrame:
    """Edge rows of the query neurons (pre for downstream, post for upstream) with their neuropil."""
    r = c.memo(("neuropil_rows", edge_kind), lambda: _index_rows(c, g, edge_kind))
    order, ptr = (r.by_pre, r.pre_ptr) if direction == "downstream" else (r.by_post, r.post_ptr)
    pos, _ = _ranges(ptr[q], ptr[q + 1])
    rows = order[pos]
    code = r.code[rows]
    if neuropils is not None:
        wanted = np.flatnonzero(np.isin(r.names, neuropils))
        keep = np.isin(code, wanted)
        rows, code = rows[keep], code[keep]
    return pd.DataFrame({PRE: g.ids[r.pre[rows]], POST: g.ids[r.post[rows]], SYNAPSE_COUNT: r.syn[rows],
                         NEUROPIL: pd.Categorical.from_codes(code, categories=r.names)})


def _one_direction(c: Connectome, g: PairGraph, q: np.ndarray, direction: str, min_syn: int, edge_kind: str | None,
                   neuropils: list[str] | None, per_neuropil: bool, signed: Any,
                   totals: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    has_np = NEUROPIL in c.edge_columns
    total = g.in_total if direction == "upstream" else g.out_total
    if totals is not None:  # whole-brain totals from node columns (totals=)
        total = totals[0] if direction == "upstream" else totals[1]
    if neuropils is None:
        pos, owner = _incident(g, q, direction)
        query = q[owner]
        partner = g.src[pos] if direction == "upstream" else g.dst[pos]
        syn = g.weight[pos]
        sgn = signed.signed[pos] if signed is not None else None
        np_rows = _neuropil_rows(c, g, q, direction, edge_kind, None) if has_np else None
    else:
        np_rows = _neuropil_rows(c, g, q, direction, edge_kind, neuropils)
        pre = np.searchsorted(g.ids, np_rows[PRE].to_numpy(dtype=ID_DTYPE))
        post = np.searchsorted(g.ids, np_rows[POST].to_numpy(dtype=ID_DTYPE))
        a, b = (post, pre) if direction == "upstream" else (pre, post)
        key = a.astype(np.int64) * g.n + b
        uniq, inv = np.unique(key, return_inverse=True)
        query, partner = uniq // g.n, uniq % g.n
        syn = np.bincount(inv, weights=np_rows[SYNAPSE_COUNT].to_numpy(np.float64), minlength=len(uniq)).astype(np.int64)
        sgn = None
        if signed is not None:  # the pair's sign share applies to its synapses in these neuropils
            s, d = (partner, query) if direction == "upstream" else (query, partner)
            w = g.edge_weight(s, d)
            full = signed.signed[np.clip(np.searchsorted(g.src * np.int64(g.n) + g.dst, s * np.int64(g.n) + d), 0,
                                         max(g.m - 1, 0))]
            sgn = np.where(w > 0, full * syn / np.maximum(w, 1), 0.0)
    keep = syn >= min_syn
    out = pd.DataFrame({
        "query_root_id": g.ids[query[keep]], "direction": direction, "partner_root_id": g.ids[partner[keep]],
        SYNAPSE_COUNT: syn[keep].astype(np.int64), "connections": np.ones(int(keep.sum()), np.int64),
    })
    with np.errstate(divide="ignore", invalid="ignore"):
        out["fraction"] = syn[keep] / total[query[keep]]
    if sgn is not None:
        out["signed_synapses"] = sgn[keep]
    if np_rows is not None and len(out):
        side, other = (POST, PRE) if direction == "upstream" else (PRE, POST)
        by_np = np_rows.groupby([side, other, NEUROPIL], sort=False, observed=True)[SYNAPSE_COUNT].sum().reset_index()
        by_np = by_np.rename(columns={side: "query_root_id", other: "partner_root_id",
                                      SYNAPSE_COUNT: "neuropil_synapses"})
        if per_neuropil:
            out = out.merge(by_np, on=["query_root_id", "partner_root_id"], how="inner")
        else:
            top = by_np.sort_values(["neuropil_synapses", NEUROPIL], ascending=[False, True], kind="stable")
            top = top.drop_duplicates(["query_root_id", "partner_root_id"])
            top = top.rename(columns={NEUROPIL: "top_neuropil", "neuropil_synapses": "top_neuropil_synapses"})
            out = out.merge(top, on=["query_root_id", "partner_root_id"], how="left")
    return out


def partners(
    c: Connectome,
    ids: Any,
    direction: str = "both",
    min_synapses: int | None = 1,
    by: str | None = None,
    neuropil: str | Sequence[str] | None = None,
    *,
    edge_kind: str | None = "chemical",
    labels: Sequence[str] | None = None,
    per_neuropil: bool = False,
    signed: bool = False,
    signs: Any = None,
    unlabelled: str | None = None,
    totals: str | tuple[str, str] = "graph",
) -> pd.DataFrame:
    """Upstream and/or downstream partners of neurons, with synapses and fractions.

    Parameters
    ----------
    c : Connectome
    ids : int or sequence of int
        Query neurons (root ids). Unknown ids raise :class:`~connectome.errors.IdError`.
    direction : {"both", "upstream", "downstream"}
        Inputs (partners presynaptic to the query), outputs, or both.
    min_synapses : int
        A partner is listed when the pair has at least this many synapses (summed over
        neuropils, or over the ``neuropil`` selection). FlyWire practice is 5; default 1.
    by : str, optional
        A node column (``cell_type``, ``class`` …): one row per (query, partner group) with
        summed synapses and fractions and ``connections`` = the number of partner neurons.
        Partners without a value: see ``unlabelled``.
    neuropil : str or list of str, optional
        Count only synapses in these neuropils (needs a ``neuropil`` edge column).
    edge_kind : str or None
        Edge kind (default chemical; ``None`` sums every kind).
    labels : list of str, optional
        Partner node columns to add as ``partner_<col>`` (default: those of ``name``,
        ``cell_type``, ``class``, ``super_class``, ``simple_group``, ``side``, ``nt_type`` present).
    per_neuropil : bool
        One row per (query, partner, neuropil) with ``neuropil_synapses``. By default a
        store with neuropils gets ``top_neuropil`` and ``top_neuropil_synapses`` per row.
    signed : bool
        Add ``signed_synapses`` (Σ sign × synapses; see :mod:`connectome.signs`).
    signs : mapping, optional
        Transmitter → sign table for ``signed=True`` (default: the species' table).
    unlabelled : {"pool", "drop", "keep"}, optional
        With ``by=``: partners without a value (missing or a placeholder such as
        ``"unknown"``; see :mod:`connectome.unlabelled`) are pooled into one
        group ``"unknown"`` (the default, said with their count and share of the
        synapses as a warning and in ``.attrs``), left out (their rows go; the
        fractions of the other rows are unchanged), or kept each as a group of
        its own (named by its root id).
    totals : "graph" or (str, str)
        The denominators of ``fraction``. ``"graph"`` (default): the query neuron's input
        (output) synapses in ``c`` as it is, after any :func:`~connectome.filter_edges` or node
        selection applied to it (pairs below ``min_synapses`` count). A pair of node columns
        ``(input, output)``: each neuron's whole-brain totals, so that the fractions of a
        subgraph export match the source's, e.g. Codex's ``("input_synapses",
        "output_synapses")`` or neuPrint's ``("upstream", "downstream")`` (neuPrint's
        ``pre``/``post`` count synaptic sites, not connections). A total below the graph's own
        sum is said (a warning and ``.attrs["warnings"]``).

    Returns
    -------
    pandas.DataFrame
        ``query_root_id``, ``direction``, ``partner_root_id`` (or ``partner_<by>``),
        ``synapse_count``, ``connections``, ``fraction`` (of the query neuron's total input for
        upstream rows, total output for downstream rows, over all its synapses of the edge kind
        and every neuropil in this graph, or of ``totals``), then labels and neuropil columns.
        Sorted by query, direction (upstream first), synapses (descending), partner. ``.attrs``
        holds the parameters, ``graph_filters`` (the filters applied to ``c``, see
        :attr:`Connectome.filters`), ``totals`` and ``fraction_of`` (the denominator in words).

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> ava = cx.ids_of(c, cell_type="AVA")
    >>> t = cx.partners(c, ava, direction="upstream", by="super_class")
    >>> t[t.query_root_id == ava[0]][["partner_super_class", "connections"]].head(2).to_string(index=False)
    'partner_super_class  connections\\n        interneuron           31\\n            sensory           20'
    >>> s = cx.partners(c, ava, direction="downstream", signed=True)
    >>> bool(s["signed_synapses"].abs().le(s["synapse_count"]).all())
    True
    """
    if direction not in _DIRECTIONS:
        raise InputError(f"direction must be 'upstream', 'downstream' or 'both', not {direction!r}", "direction")
    check_edge_kind(edge_kind)
    k = check_min_synapses(min_synapses)
    if by is not None and (by not in c.label_columns):
        raise ColumnError("nodes", by, c.label_columns, "(by= groups partners by a node column)")
    check_unlabelled(unlabelled)
    neuropils = None
    if neuropil is not None:
        if NEUROPIL not in c.edge_columns:
            raise ColumnError("edges", NEUROPIL, c.edge_columns, f"{c.name} has no per-neuropil edges; leave "
                              "neuropil=None")
        neuropils = [neuropil] if isinstance(neuropil, str) else [str(x) for x in neuropil]
        check_edge_labels(c, NEUROPIL, neuropils)
    if per_neuropil and NEUROPIL not in c.edge_columns:
        raise ColumnError("edges", NEUROPIL, c.edge_columns, f"{c.name} has no per-neuropil edges; leave "
                          "per_neuropil=False")
    cols = label_columns(c, labels)
    g = pair_graph(c, edge_kind=edge_kind)
    node_totals = _node_totals(c, g, totals)
    q = resolve_ids(g.ids, ids, "ids", name=c.name)
    sp = None
    if signed:
        sp = signed_pairs(c, signs, edge_kind=edge_kind, graph=g)
    dirs = ["upstream", "downstream"] if direction == "both" else [direction]
    parts = [_one_direction(c, g, q, d, k, edge_kind, neuropils, per_neuropil, sp, node_totals) for d in dirs]
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    nodes = c.node_table([ROOT_ID] + sorted(set(cols) | ({by} if by else set())))
    lut = nodes.set_index(ROOT_ID)
    pid = out["partner_root_id"].to_numpy(dtype=ID_DTYPE)
    grouped: dict[str, Any] = {}
    if by is not None:
        out, grouped = _partner_groups(out, lut[by], pid, by, unlabelled)
        keys = ["query_root_id", "direction", f"partner_{by}"] + (["neuropil"] if per_neuropil else [])
        agg = {SYNAPSE_COUNT: (SYNAPSE_COUNT, "sum"), "connections": ("connections", "sum"),
               "fraction": ("fraction", "sum")}
        if signed:
            agg["signed_synapses"] = ("signed_synapses", "sum")
        if per_neuropil:
            agg["neuropil_synapses"] = ("neuropil_synapses", "sum")
        out = out.groupby(keys, sort=False).agg(**agg).reset_index()
        sort_key = f"partner_{by}"
    else:
        for col in cols:
            out[f"partner_{col}"] = lut[col].reindex(pid).to_numpy()
        sort_key = "partner_root_id"
    out["direction"] = pd.Categorical(out["direction"], categories=["upstream", "downstream"])
    order = ["query_root_id", "direction", SYNAPSE_COUNT, sort_key] + (["neuropil_synapses"] if per_neuropil else [])
    out = out.sort_values(order, ascending=[True, True, False, True] + ([False] if per_neuropil else []),
                          kind="stable", ignore_index=True)
    out["direction"] = out["direction"].astype(str)
    out["query_root_id"] = out["query_root_id"].astype(ID_DTYPE)
    if by is None:
        out["partner_root_id"] = out["partner_root_id"].astype(ID_DTYPE)
    meta = graph_metadata(c)
    out.attrs = {**meta, "direction": direction, "min_synapses": k, "by": by, "neuropil": neuropils,
                 "edge_kind": edge_kind, "totals": totals if node_totals is None else tuple(totals),
                 "fraction_of": _fraction_of(meta["graph_filters"], totals if node_totals is None else tuple(totals),
                                             edge_kind, k),
                 **(sp.metadata() if sp is not None else {})}
    if grouped:
        out.attrs.update(grouped)
    said = [] if node_totals is None else _check_totals(g, q, dirs, node_totals, tuple(totals))
    out.attrs["warnings"] = list(out.attrs.get("warnings", [])) + said
    return out


def _node_totals(c: Connectome, g: PairGraph, totals: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Whole-brain (input, output) totals per node index from node columns, or None for ``totals="graph"``."""
    if isinstance(totals, str) and totals == "graph":
        return None
    if not (isinstance(totals, (tuple, list)) and len(totals) == 2 and all(isinstance(t, str) for t in totals)):
        raise InputError(f"totals must be 'graph' or a pair of node columns (input, output), e.g. ('input_synapses', "
                         f"'output_synapses') (Codex) or ('upstream', 'downstream') (neuPrint), not {totals!r}",
                         "totals")
    for col in totals:
        if col not in c.label_columns:
            raise ColumnError("nodes", col, c.label_columns, "(totals: the node columns with each neuron's "
                              "whole-brain input and output synapses)")
    t = c.node_table([ROOT_ID, *dict.fromkeys(totals)]).set_index(ROOT_ID)
    out = []
    for col in totals:
        if not pd.api.types.is_numeric_dtype(t[col]) or pd.api.types.is_bool_dtype(t[col]):
            raise InputError(f"totals: node column {col!r} is not numeric ({t[col].dtype}); name the columns that "
                             "hold each neuron's input and output synapse totals", "totals")
        out.append(t[col].reindex(g.ids).to_numpy(dtype=np.float64, na_value=np.nan))
    return out[0], out[1]


def _check_totals(g: PairGraph, q: np.ndarray, dirs: list[str], node_totals: tuple[np.ndarray, np.ndarray],
                  names: tuple[str, str]) -> list[str]:
    """Warnings for query neurons whose node-column total is missing or below the graph's own sum."""
    said = []
    for d in dirs:
        i = 0 if d == "upstream" else 1
        mine = (g.in_total if d == "upstream" else g.out_total)[q]
        theirs = node_totals[i][q]
        word = "input" if d == "upstream" else "output"
        low = q[theirs < mine]
        if len(low):
            j = int(low[0])
            said.append(f"partners: {len(low)} query neuron(s) have {names[i]} below their {word} synapses in this "
                        f"graph (e.g. {int(g.ids[j])}: {names[i]}={node_totals[i][j]:g} < "
                        f"{int((g.in_total if d == 'upstream' else g.out_total)[j])}), so their {d} fractions are too "
                        f"large; check that the totals columns hold whole-brain {word} totals")
        gone = q[np.isnan(theirs)]
        if len(gone):
            said.append(f"partners: {len(gone)} query neuron(s) have no {names[i]} (missing), so their {d} "
                        f"fractions are NaN, e.g. {int(g.ids[int(gone[0])])}")
    for msg in said:
        logger.warning(msg)
    return said


def _fraction_of(filters: dict[str, Any], totals: Any, edge_kind: str | None, k: int) -> str:
    """What ``fraction`` is a fraction of, in words (``.attrs["fraction_of"]``)."""
    if not isinstance(totals, str):
        return (f"the query neuron's whole-brain totals from node column {totals[0]!r} (upstream rows) and "
                f"{totals[1]!r} (downstream rows)")
    kind = "every edge kind" if edge_kind is None else f"edge kind {edge_kind!r}"
    where = (f"after the graph's filters ({describe_filters(filters)})" if filters
             else "in the graph as loaded (no filters)")
    return (f"the query neuron's total input synapses (upstream rows) or output synapses (downstream rows) of {kind}, "
            f"over every partner (pairs below min_synapses={k} included) and neuropil, {where}")


def _partner_groups(out: pd.DataFrame, labels: pd.Series, pid: np.ndarray, by: str, unlabelled: str | None
                    ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``partner_<by>`` of every row, unlabelled partners pooled, dropped or kept (:mod:`connectome.unlabelled`)."""
    uniq = pd.unique(pid)
    grouping = group_by_label(labels.reindex(uniq), uniq, by=by, unlabelled=unlabelled, where="partners",
                              what="partners", detail=_unlabelled_share(out, pid, uniq, labels))
    lut = pd.Series(grouping.groups.to_numpy(), index=uniq)
    out = out.assign(**{f"partner_{by}": lut.reindex(pid).to_numpy()})
    if grouping.choice == "drop":
        out = out[out[f"partner_{by}"].notna().to_numpy()].reset_index(drop=True)
    return out, {**grouping.meta, "warnings": list(grouping.warnings)}


def _unlabelled_share(out: pd.DataFrame, pid: np.ndarray, uniq: np.ndarray, labels: pd.Series) -> str:
    """Words for the share of the listed synapses that unlabelled partners make, per direction."""
    missing = pd.Series(is_unlabelled(labels.reindex(uniq)), index=uniq).reindex(pid).to_numpy()
    words = []
    for d in ("upstream", "downstream"):
        rows = (out["direction"] == d).to_numpy()
        total = float(out.loc[rows, SYNAPSE_COUNT].sum())
        if total > 0:
            words.append(f"{100 * float(out.loc[rows & missing, SYNAPSE_COUNT].sum()) / total:.1f}% of the {d} "
                         "synapses listed")
    return ", ".join(words)


# ---------------------------------------------------------------------- adjacency
@dataclass(frozen=True)
class SparseAdjacency:
    """A sparse rows × columns matrix with its row and column labels.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
    rows, cols : numpy.ndarray
        Root ids (int64) or group labels of the rows and columns.
    """

    matrix: Any
    rows: np.ndarray
    cols: np.ndarray

    def to_pandas(self) -> pd.DataFrame:
        """The dense DataFrame (rows × cols)."""
        return pd.DataFrame(self.matrix.toarray(), index=pd.Index(self.rows), columns=pd.Index(self.cols))


def _groups(c: Connectome, idx: np.ndarray, g: PairGraph, by: str | None, unlabelled: str | None = None,
            what: str = "neurons") -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Group index of each node in ``idx`` (-1: dropped), the group labels and what was done with unlabelled ones."""
    if by is None:
        return np.arange(len(idx)), g.ids[idx], {}
    lab = c.node_table([ROOT_ID, by]).set_index(ROOT_ID)[by].reindex(g.ids[idx])
    grouping = group_by_label(lab, g.ids[idx], by=by, unlabelled=unlabelled, where="adjacency_matrix", what=what)
    cat = pd.Categorical(grouping.groups.to_numpy())  # dropped neurons (None) get code -1
    return (cat.codes.astype(np.int64), np.asarray(cat.categories, dtype=object),
            {**grouping.meta, "warnings": list(grouping.warnings)})


def adjacency_matrix(
    c: Connectome,
    rows: Any,
    cols: Any = None,
    by: str | None = None,
    normalize: str | None = None,
    *,
    edge_kind: str | None = "chemical",
    min_synapses: int | None = None,
    signed: bool = False,
    signs: Any = None,
    sparse: bool = False,
    unlabelled: str | None = None,
) -> pd.DataFrame | SparseAdjacency:
    """Synapses from ``rows`` neurons (presynaptic) to ``cols`` neurons (postsynaptic).

    Parameters
    ----------
    c : Connectome
    rows, cols : sequence of int
        Root ids of the presynaptic and postsynaptic sets (``cols`` defaults to ``rows``).
    by : str, optional
        Node column that collapses both sets to groups (sums; neurons without a value are "unknown").
    normalize : {None, "pre", "post"}
        ``None``: synapse counts. ``"pre"``: divided by the row neuron's (group's) total output;
        ``"post"``: by the column neuron's (group's) total input — totals over the whole graph
        of the edge kind, not only over the chosen sets (neuPrint's convention for weights).
    edge_kind : str or None
    min_synapses : int, optional
        Pairs below this many synapses count as 0 (totals for ``normalize`` stay unthresholded).
    signed : bool
        Σ sign × synapses instead of synapses (see :mod:`connectome.signs`).
    sparse : bool
        Return a :class:`SparseAdjacency` (scipy CSR) instead of a dense DataFrame.
    unlabelled : {"pool", "drop", "keep"}, optional
        With ``by=``: neurons without a value are pooled as ``"unknown"`` (the
        default, said as a warning and in ``.attrs``), left out, or kept each as
        a group of its own (see :mod:`connectome.unlabelled`).

    Returns
    -------
    pandas.DataFrame or SparseAdjacency
        Rows and columns are root ids (sorted) or group labels. ``.attrs`` holds the parameters.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> a = cx.adjacency_matrix(c, cx.ids_of(c, super_class="sensory"), cx.ids_of(c, cell_type=["AVA", "AVB"]),
    ...                  by="cell_type")
    >>> a.loc[["ASH", "PVD"], ["AVA", "AVB"]].astype(int).to_numpy().tolist()
    [[26, 20], [81, 0]]
    >>> p = cx.adjacency_matrix(c, cx.ids_of(c, cell_type="AVA"), normalize="post")
    >>> bool((p.to_numpy() <= 1).all())
    True
    """
    import scipy.sparse as sp

    if normalize not in (None, "pre", "post"):
        raise InputError(f"normalize must be None, 'pre' or 'post', not {normalize!r}", "normalize")
    check_edge_kind(edge_kind)
    k = check_min_synapses(min_synapses)
    if by is not None and by not in c.label_columns:
        raise ColumnError("nodes", by, c.label_columns, "(by= collapses rows and columns to groups)")
    check_unlabelled(unlabelled)
    g = pair_graph(c, edge_kind=edge_kind)
    r = resolve_ids(g.ids, rows, "rows", name=c.name)
    q = r if cols is None else resolve_ids(g.ids, cols, "cols", name=c.name)
    rg, rlab, rmeta = _groups(c, r, g, by, unlabelled, "row neurons")
    cg, clab, cmeta = _groups(c, q, g, by, unlabelled, "column neurons")
    r, rg = r[rg >= 0], rg[rg >= 0]  # unlabelled="drop": those neurons leave rows and columns
    q, cg = q[cg >= 0], cg[cg >= 0]
    pos, owner = _incident(g, r, "downstream")
    col_of = np.full(g.n, -1, np.int64)
    col_of[q] = cg
    dst_col = col_of[g.dst[pos]]
    keep = (dst_col >= 0) & (g.weight[pos] >= k)
    if signed:
        spairs = signed_pairs(c, signs, edge_kind=edge_kind, graph=g)
        vals = spairs.signed[pos[keep]]
    else:
        spairs = None
        vals = g.weight[pos[keep]].astype(np.float64)
    m = sp.csr_array((vals, (rg[owner[keep]], dst_col[keep])), shape=(len(rlab), len(clab)))
    m.sum_duplicates()
    if normalize == "pre":
        tot = np.bincount(rg, weights=g.out_total[r], minlength=len(rlab))
        with np.errstate(divide="ignore", invalid="ignore"):
            m = sp.csr_array(sp.diags_array(np.where(tot > 0, 1.0 / tot, 0.0)) @ m)
    elif normalize == "post":
        tot = np.bincount(cg, weights=g.in_total[q], minlength=len(clab))
        with np.errstate(divide="ignore", invalid="ignore"):
            m = sp.csr_array(m @ sp.diags_array(np.where(tot > 0, 1.0 / tot, 0.0)))
    attrs = {**graph_metadata(c), "by": by, "normalize": normalize, "edge_kind": edge_kind, "min_synapses": k,
             "signed": bool(signed), **(spairs.metadata() if spairs is not None else {})}
    if by is not None:
        attrs.update({key: rmeta[key] for key in rmeta if key != "warnings"})
        attrs.update({f"cols_{key}": cmeta[key] for key in ("unlabelled_neurons", "unlabelled_fraction")})
        attrs["warnings"] = rmeta["warnings"] + [w for w in cmeta["warnings"] if w not in rmeta["warnings"]]
    if sparse:
        return SparseAdjacency(m, rlab, clab)
    if not signed and normalize is None:
        dense = m.toarray().astype(np.int64)
    else:
        dense = m.toarray()
    out = pd.DataFrame(dense, index=pd.Index(rlab, name="pre" if by is None else f"pre_{by}"),
                       columns=pd.Index(clab, name="post" if by is None else f"post_{by}"))
    out.attrs = attrs
    return out


def plot_adjacency(adj: pd.DataFrame | SparseAdjacency, path: str | os.PathLike | None = None, *,
                   log: bool = True, title: str | None = None, max_labels: int = 60) -> Any:
    """A heatmap of an adjacency matrix (rows: presynaptic; columns: postsynaptic).

    Returns the matplotlib Figure; writes a PNG when ``path`` is given. Signed matrices use a
    diverging colour map centred on 0.

    Examples
    --------
    >>> import tempfile, os, connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> a = cx.adjacency_matrix(c, cx.ids_of(c, super_class="sensory"), by="super_class")
    >>> path = os.path.join(tempfile.mkdtemp(), "adj.png")
    >>> _ = cx.plot_adjacency(a, path)
    >>> os.path.getsize(path) > 1000
    True
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm, SymLogNorm

    df = adj.to_pandas() if isinstance(adj, SparseAdjacency) else adj
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"adj must be the result of cx.adjacency_matrix, not {type(adj).__name__}", "adj")
    z = df.to_numpy(dtype=np.float64)
    signed = bool((z < 0).any())
    h, w = z.shape
    fig, ax = plt.subplots(figsize=(min(4 + 0.18 * w, 16), min(3 + 0.18 * h, 14)))
    if signed:
        lim = float(np.abs(z).max()) or 1.0
        im = ax.imshow(z, cmap="RdBu_r", aspect="auto", interpolation="nearest",
                       norm=SymLogNorm(linthresh=max(lim * 1e-3, 1e-9), vmin=-lim, vmax=lim) if log else None,
                       vmin=None if log else -lim, vmax=None if log else lim)
    else:
        pos = z[z > 0]
        norm = LogNorm(vmin=float(pos.min()), vmax=float(pos.max())) if (log and len(pos)) else None
        im = ax.imshow(np.where(z > 0, z, np.nan) if norm is not None else z, cmap="viridis", aspect="auto",
                       interpolation="nearest", norm=norm)
    for axis, labels, n in ((ax.set_yticks, df.index, h), (ax.set_xticks, df.columns, w)):
        if n <= max_labels:
            axis(np.arange(n), [str(x) for x in labels], **({"rotation": 90} if axis == ax.set_xticks else {}))
        else:
            axis([])
    ax.set_ylabel(str(df.index.name or "pre"))
    ax.set_xlabel(str(df.columns.name or "post"))
    norm_name = df.attrs.get("normalize")
    fig.colorbar(im, ax=ax, label="synapses" if not norm_name else f"fraction ({norm_name}-normalised)")
    ax.set_title(title or f"{df.attrs.get('dataset', '')} adjacency".strip())
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


#: ``cx.adjacency`` — the name of neuPrint's ``fetch_adjacencies`` counterpart in the issue and the docs (docs/guides/connectivity.md).
adjacency = adjacency_matrix
