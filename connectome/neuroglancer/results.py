"""Links for results: motif matches, cell-type predictions, a pair of neurons.

- :func:`motif_link` — one link for the top ``k`` matches of a motif query (one
  segmentation layer per match, neurons coloured by their motif node, lines
  along the match's edges when neurons have positions); :func:`motif_links` —
  one link per match.
- :func:`prediction_link` — neurons coloured by predicted type, with a second
  layer holding the disagreements with the true labels, and segment properties
  (predicted, true label, probability) so the viewer names each neuron.
- :func:`pair_link` — two neurons and the synapses between them as points.

All take the link options of :func:`~connectome.neuroglancer.link` (``prefix``,
``max_length``, ``store``, ``remote``, ``dataset``, ``alpha``, ``view``); without
``prefix`` a link opens in ``CONNECTOME_VIEWER`` or the dataset's own viewer.

Examples
--------
>>> import pandas as pd, connectome as cx
>>> nodes = pd.DataFrame({"root_id": [1, 2, 3], "cell_type": ["a", "b", "b"]})
>>> edges = pd.DataFrame({"pre_root_id": [1, 2, 1], "post_root_id": [2, 3, 3], "synapse_count": [5, 6, 7]})
>>> c = cx.from_edges(edges, nodes, name="flywire_toy")
>>> matches = pd.DataFrame({"A": [1], "B": [2], "C": [3]}, dtype="int64")
>>> url = motif_link(c, matches, dataset="flywire", properties=False)   # FlyWire: FlyWire's own viewer
>>> url.startswith("https://ngl.flywire.ai/#!")
True
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ColumnError, InputError
from ..schema import EDGE_KIND, ID_DTYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT, coerce_ids
from .annotations import AnnotationGroup, neuron_lines, synapse_points
from .colors import _label_key, label_colors, palette, to_hex
from .links import dataset_link
from .sources import Sources, dataset_sources
from .state import (
    SegmentGroup,
    _property_columns,
    _store,
    assemble_state,
    center_of,
    check_known_ids,
    node_positions,
    segment_properties,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Connectome
    from .statestore import StateStore

logger = logging.getLogger(__name__)

__all__ = ["motif_link", "motif_links", "prediction_link", "pair_link", "motif_roles"]

_LINK_DOC = """
    prefix, max_length, store, remote
        How the link is made; see :func:`~connectome.neuroglancer.links.state_link`.
    dataset, alpha, view
        What is shown; see :func:`~connectome.neuroglancer.build_state`."""


def motif_roles(matches: pd.DataFrame, roles: Sequence[str] | None = None) -> list[str]:
    """The motif-node columns of a match table: ``roles``, else its integer (id) columns.

    Examples
    --------
    >>> motif_roles(pd.DataFrame({"A": [1], "B": [2], "score": [0.5]}, dtype=object).astype({"A": "int64", "B": "int64"}))
    ['A', 'B']
    """
    if not isinstance(matches, pd.DataFrame):
        raise InputError(f"matches must be a DataFrame (one column per motif node), not {type(matches).__name__}",
                         "matches")
    if roles is not None:
        for r in roles:
            if r not in matches.columns:
                raise ColumnError("matches", r, list(matches.columns), "(roles= names motif-node columns)")
        return list(roles)
    found = [str(col) for col in matches.columns
             if pd.api.types.is_integer_dtype(matches[col].dtype) and not pd.api.types.is_bool_dtype(matches[col].dtype)]
    if not found:
        raise InputError("matches: no id columns found (one column of integer root ids per motif node, e.g. "
                         "A, B, C); pass roles=[...] to name them", "matches")
    return found


def _links_common(c: Connectome, dataset: Any, store: Any) -> tuple[Sources, pd.DataFrame, StateStore]:
    return dataset_sources(dataset, c), c.node_table(), _store(store)


def _properties_url(nodes: pd.DataFrame, ids: np.ndarray, properties: Any, label: str | None,
                    store: StateStore, extra: Sequence[str] = ()) -> str | None:
    cols = _property_columns(nodes, properties, label)
    for col in extra:
        if properties is None and col in nodes.columns and col not in cols:
            cols.append(col)
    if not cols:
        return None
    pid = store.put_properties(segment_properties(nodes, ids, cols, label=label))
    return "precomputed://" + store.properties_url(pid)


# ---------------------------------------------------------------------- motifs
def _match_state(c: Connectome, matches: pd.DataFrame, rows: Sequence[Any], roles: list[str], *,
                 colors: Any, lines: bool, synapses: bool, dataset: Any, properties: Any, alpha: Any,
                 view: Any, store: Any) -> tuple[dict[str, Any], Sources]:
    sub = matches.loc[list(rows), roles]
    # cell by cell: a row of mixed int64/uint64 columns would come back as float64
    ids_by_row = {r: coerce_ids(pd.Series([sub.at[r, k] for k in roles], dtype=object), "matches") for r in rows}
    all_ids = np.unique(np.concatenate(list(ids_by_row.values())))
    check_known_ids(c, all_ids, "matches")
    sources, nodes, st = _links_common(c, dataset, store)
    role_colors = label_colors(roles, colors if colors is not None else palette(len(roles)))
    groups: list[SegmentGroup] = []
    for r, ids in ids_by_row.items():
        cmap = {int(i): role_colors[_label_key(role)] for role, i in zip(roles, ids)}
        groups.append(SegmentGroup(f"match {r}", np.unique(ids), cmap))
    annotations: list[AnnotationGroup] = []
    edges = c.edge_table()
    if lines:
        pos = node_positions(nodes)
        if pos is None:
            logger.info("no node positions (x_nm, y_nm, z_nm) in %s: motif lines left out", c.name)
        else:
            pairs = []
            for r, ids in ids_by_row.items():
                name_of = {int(i): role for role, i in zip(roles, ids)}
                e = edges[edges[PRE].isin(ids) & edges[POST].isin(ids)]
                if EDGE_KIND in e.columns:
                    e = e[e[EDGE_KIND].astype(str) == "chemical"] if (e[EDGE_KIND].astype(str) == "chemical").any() else e
                for row in e.itertuples(index=False):
                    a, b = int(getattr(row, PRE)), int(getattr(row, POST))
                    n = int(getattr(row, SYNAPSE_COUNT)) if hasattr(row, SYNAPSE_COUNT) else None
                    pairs.append({PRE: a, POST: b, "description":
                                  f"match {r}: {name_of[a]} -> {name_of[b]}" + (f" ({n} synapses)" if n else "")})
            if pairs:
                annotations.append(neuron_lines(pd.DataFrame(pairs), pos, name="motif edges"))
    if synapses:
        if not c.has_synapses:
            raise InputError(f"synapses: {c.name} has no synapse table; leave synapses=False", "synapses")
        syn = c.synapse_table(ids=all_ids, side="both")  # partition-pruned read, not the whole table
        keep = np.zeros(len(syn), dtype=bool)
        for ids in ids_by_row.values():
            keep |= syn[PRE].isin(ids).to_numpy() & syn[POST].isin(ids).to_numpy()
        annotations.append(synapse_points(syn[keep], name="synapses"))
    props = _properties_url(nodes, all_ids, properties, None, st)
    state = assemble_state(sources, groups, annotations, properties_url=props, alpha=alpha,
                           position_nm=center_of(nodes, all_ids), view=view)
    return state, sources


def motif_link(c: Connectome, matches: pd.DataFrame, *, top_k: int | None = 5, rows: Sequence[Any] | None = None,
               roles: Sequence[str] | None = None, colors: Any = None, lines: bool = True, synapses: bool = False,
               dataset: str | os.PathLike | Sources | None = None, properties: Any = None,
               alpha: float | None = None, view: Mapping[str, Any] | None = None, prefix: str | None = None,
               max_length: int | None = None, store: StateStore | str | os.PathLike | None = None,
               remote: str | None = None) -> str:
    """One link showing several motif matches (the first ``top_k`` rows, or ``rows``).

    Parameters
    ----------
    c : Connectome
        The graph the matches come from.
    matches : DataFrame
        One row per match, one column of root ids per motif node (``cx.find_motifs``).
    top_k : int, optional
        How many matches (from the top); ``None``: all.
    rows : list, optional
        Index labels of the matches to show (instead of ``top_k``).
    roles : list of str, optional
        The motif-node columns (default: the integer columns).
    colors : dict or list, optional
        Motif node → colour (must cover every node), or a list; default a palette.
    lines : bool
        Lines along the match's edges (needs node positions).
    synapses : bool
        Synapse points between the match's neurons (needs a synapse table).
    """
    role_cols = motif_roles(matches, roles)
    if len(matches) == 0:
        raise InputError("matches: no matches to show (the table is empty)", "matches")
    if rows is None:
        rows = list(matches.index[: (len(matches) if top_k is None else int(top_k))])
    else:
        rows = list(rows)
        unknown = [r for r in rows if r not in matches.index]
        if unknown:
            raise InputError(f"rows: {unknown[:5]} are not index labels of matches", "rows")
    if not rows:
        raise InputError("top_k: must be at least 1", "top_k")
    state, sources = _match_state(c, matches, rows, role_cols, colors=colors, lines=lines, synapses=synapses,
                                  dataset=dataset, properties=properties, alpha=alpha, view=view, store=store)
    return dataset_link(state, sources, prefix=prefix, max_length=max_length, store=store, remote=remote)


def motif_links(c: Connectome, matches: pd.DataFrame, *, top_k: int | None = None, **kwargs: Any) -> pd.Series:
    """One link per match (the first ``top_k`` rows, default all), indexed like ``matches``.

    Takes the keyword arguments of :func:`motif_link` (except ``rows``).
    """
    if "rows" in kwargs:
        raise InputError("rows: motif_links makes one link per row; use motif_link(rows=...) for one link",
                         "rows")
    role_cols = motif_roles(matches, kwargs.pop("roles", None))
    idx = list(matches.index[: (len(matches) if top_k is None else int(top_k))])
    return pd.Series([motif_link(c, matches, rows=[r], roles=role_cols, **kwargs) for r in idx],
                     index=pd.Index(idx, name=matches.index.name), name="link", dtype=object)


# ---------------------------------------------------------------------- predictions
def prediction_link(c: Connectome, predictions: pd.DataFrame, *, truth: str | None = None,
                    column: str = "predicted", only_disagreements: bool = False,
                    min_probability: float | None = None, colors: Any = None, default_color: Any = None,
                    dataset: str | os.PathLike | Sources | None = None, properties: Any = None,
                    alpha: float | None = None, view: Mapping[str, Any] | None = None, prefix: str | None = None,
                    max_length: int | None = None, store: StateStore | str | os.PathLike | None = None,
                    remote: str | None = None) -> str:
    """A link with neurons coloured by predicted type, and the disagreements with ``truth``.

    Parameters
    ----------
    c : Connectome
        The graph the predictions are for.
    predictions : DataFrame
        ``root_id``, ``predicted`` (label), optional ``probability`` (``model.predict(c)``).
    truth : str, optional
        Node column with the true labels (e.g. ``"cell_type"``); adds a
        ``disagreements`` layer with the neurons whose prediction differs.
    column : str
        Column of ``predictions`` with the predicted label.
    only_disagreements : bool
        Show only the neurons whose prediction differs from ``truth``.
    min_probability : float, optional
        Drop predictions below this probability.
    colors, default_color
        Predicted label → colour (must cover the labels shown), as in
        :func:`~connectome.neuroglancer.build_state`.
    """
    if not isinstance(predictions, pd.DataFrame):
        raise InputError(f"predictions must be a DataFrame, not {type(predictions).__name__}", "predictions")
    for col in (ROOT_ID, column):
        if col not in predictions.columns:
            raise ColumnError("predictions", col, list(predictions.columns),
                              "(predictions need root_id and the predicted label)")
    pred = predictions.copy()
    pred[ROOT_ID] = coerce_ids(pred[ROOT_ID], "predictions")
    if min_probability is not None:
        if "probability" not in pred.columns:
            raise ColumnError("predictions", "probability", list(pred.columns), "(needed by min_probability=)")
        pred = pred[pred["probability"].astype(float) >= float(min_probability)]
    check_known_ids(c, np.unique(pred[ROOT_ID].to_numpy()), "predictions")
    sources, nodes, st = _links_common(c, dataset, store)
    if truth is not None and truth not in nodes.columns:
        raise ColumnError("nodes", truth, [x for x in nodes.columns if x != ROOT_ID],
                          "(truth= names the node column with the true labels)")
    keep = [ROOT_ID, column] + [x for x in ("probability",) if x in pred.columns]
    table = pred[keep].rename(columns={column: "predicted"}).drop_duplicates(ROOT_ID)
    merged = nodes.drop(columns=[x for x in table.columns if x != ROOT_ID and x in nodes.columns])
    merged = merged.merge(table, on=ROOT_ID, how="inner")
    ids = np.sort(merged[ROOT_ID].to_numpy(dtype=ID_DTYPE))
    if len(ids) == 0:
        raise InputError("predictions: no predictions left to show (check min_probability=)", "predictions")
    lab = label_colors(merged["predicted"].tolist(), colors, default_color)
    by_id = dict(zip(merged[ROOT_ID].astype(ID_DTYPE).tolist(), merged["predicted"].tolist()))
    cmap = {int(i): lab[_label_key(by_id[int(i)])] for i in ids}
    groups: list[SegmentGroup] = []
    if truth is not None:
        differs = merged["predicted"].astype(str) != merged[truth].astype(str)
        wrong = np.sort(merged.loc[differs, ROOT_ID].to_numpy(dtype=ID_DTYPE))
        logger.info("%d of %d predictions differ from %s", len(wrong), len(ids), truth)
        if not only_disagreements:
            groups.append(SegmentGroup("predicted", ids, cmap))
        groups.append(SegmentGroup("disagreements", wrong, {int(i): cmap[int(i)] for i in wrong},
                                   visible=True))
        if only_disagreements and len(wrong) == 0:
            raise InputError(f"only_disagreements: every prediction agrees with {truth}; nothing to show",
                             "only_disagreements")
    elif only_disagreements:
        raise InputError("only_disagreements: needs truth= (the node column with the true labels)", "truth")
    else:
        groups.append(SegmentGroup("predicted", ids, cmap))
    extra = [x for x in ("predicted", truth, "probability") if x]
    props = _properties_url(merged, ids, properties, "predicted", st, extra=extra)
    state = assemble_state(sources, groups, (), properties_url=props, alpha=alpha,
                           position_nm=center_of(merged, ids), view=view)
    return dataset_link(state, sources, prefix=prefix, max_length=max_length, store=store, remote=remote)


# ---------------------------------------------------------------------- pairs
def pair_link(c: Connectome, a: Any, b: Any, *, colors: Sequence[Any] = ("#1f77b4", "#ff7f0e"),
              synapses: pd.DataFrame | bool | None = None, both_directions: bool = True,
              dataset: str | os.PathLike | Sources | None = None, properties: Any = None,
              alpha: float | None = None, view: Mapping[str, Any] | None = None, prefix: str | None = None,
              max_length: int | None = None, store: StateStore | str | os.PathLike | None = None,
              remote: str | None = None) -> str:
    """A link with two neurons and the synapses between them as points.

    Parameters
    ----------
    c : Connectome
        Where the neurons (and by default the synapses) come from.
    a, b : int or str
        The two root ids.
    colors : two colours
        Colours of ``a`` and ``b``; the synapses ``a -> b`` take ``a``'s colour.
    synapses : bool or DataFrame, optional
        ``None``: the connectome's synapse table if it has one; ``True``: require it;
        or a table with ``pre_root_id``, ``post_root_id``, ``x_nm``, ``y_nm``, ``z_nm``.
    both_directions : bool
        Also show ``b -> a`` synapses.
    """
    ids = coerce_ids(pd.Series([a, b], dtype=object), "root_ids")
    if ids[0] == ids[1]:
        raise InputError("b: give two different neurons", "b")
    check_known_ids(c, np.unique(ids), "root_ids")
    if len(colors) != 2:
        raise InputError("colors: give two colours, one per neuron", "colors")
    ca, cb = to_hex(colors[0]), to_hex(colors[1])
    sources, nodes, st = _links_common(c, dataset, store)
    ia, ib = int(ids[0]), int(ids[1])
    groups = [SegmentGroup("pair", np.sort(ids), {ia: ca, ib: cb})]
    syn: pd.DataFrame | None = None
    if isinstance(synapses, pd.DataFrame):
        syn = synapses
    elif synapses is True or (synapses is None and c.has_synapses):
        if not c.has_synapses:
            raise InputError(f"synapses: {c.name} has no synapse table; pass a DataFrame of synapses or "
                             "leave synapses=None", "synapses")
        syn = c.synapse_table(ids=[ia, ib], side="both")  # partition-pruned read
    elif synapses is None:
        logger.warning("%s has no synapse table: the link shows the two neurons without synapse points", c.name)
    annotations: list[AnnotationGroup] = []
    if syn is not None:
        pre = coerce_ids(syn[PRE], PRE) if PRE in syn.columns else None
        post = coerce_ids(syn[POST], POST) if POST in syn.columns else None
        if pre is None or post is None:
            raise InputError("synapses: needs pre_root_id, post_root_id, x_nm, y_nm, z_nm", "synapses")
        ab = syn[(pre == ia) & (post == ib)]
        annotations.append(synapse_points(ab, name=f"synapses {ia} -> {ib}", color=ca))
        if both_directions:
            ba = syn[(pre == ib) & (post == ia)]
            annotations.append(synapse_points(ba, name=f"synapses {ib} -> {ia}", color=cb))
    props = _properties_url(nodes, np.sort(ids), properties, None, st)
    position = None
    if not any(g.items for g in annotations):
        position = center_of(nodes, ids)
    state = assemble_state(sources, groups, annotations, properties_url=props, alpha=alpha,
                           position_nm=position, view=view)
    return dataset_link(state, sources, prefix=prefix, max_length=max_length, store=store, remote=remote)


for _fn in (motif_link, prediction_link, pair_link):
    _fn.__doc__ = (_fn.__doc__ or "").rstrip() + "\n" + _LINK_DOC
del _fn
