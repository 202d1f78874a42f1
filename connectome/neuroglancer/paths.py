"""Links for pathway results: path sets, partner tables, influence and information-flow layers.

- :func:`path_link` — the neurons of a path set (:func:`connectome.shortest_paths`,
  :func:`connectome.paths`) coloured by hop (source → target), one segmentation layer per path for
  the first ``top_k`` paths, lines between somata along every hop when neurons have positions,
  and the synapses of each hop as points when the store has a synapse table.
- :func:`partner_link` — query neurons and their partners (upstream and downstream in two colours).
- :func:`influence_link` — sources and their most influenced targets, coloured by influence.
- :func:`layers_link` — neurons coloured by their mean layer (:func:`connectome.flow_layers`).

All take the link options of :func:`~connectome.neuroglancer.link` (``prefix``, ``max_length``,
``store``, ``remote``, ``dataset``, ``alpha``, ``view``).

Examples
--------
>>> import pandas as pd, connectome as cx
>>> nodes = pd.DataFrame({"root_id": [1, 2, 3], "x_nm": [0.0, 400.0, 800.0], "y_nm": [0.0] * 3,
...                       "z_nm": [40.0] * 3})
>>> edges = pd.DataFrame({"pre_root_id": [1, 2], "post_root_id": [2, 3], "synapse_count": [5, 6]})
>>> c = cx.from_edges(edges, nodes, name="flywire_toy")
>>> p = cx.shortest_paths(c, [1], [3])
>>> url = path_link(c, p, dataset="flywire")      # FlyWire's volume: FlyWire's viewer, as every link
>>> url.startswith("https://ngl.flywire.ai/") or "CONNECTOME_VIEWER" in os.environ
True
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ColumnError, InputError
from ..schema import ID_DTYPE, POST, PRE, ROOT_ID, coerce_ids
from ..validate import check_int
from .annotations import AnnotationGroup, neuron_lines, synapse_points
from .colors import to_hex
from .links import dataset_link
from .notices import warn
from .sources import Sources, dataset_sources
from .state import SegmentGroup, assemble_state, center_of, check_known_ids, node_positions

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Connectome
    from .statestore import StateStore

logger = logging.getLogger(__name__)

__all__ = ["path_link", "partner_link", "influence_link", "layers_link"]


def _ramp(values: np.ndarray, cmap: str = "viridis", center: bool = False) -> list[str]:
    """A colour per value from a matplotlib colour map (``center``: symmetric around 0)."""
    from matplotlib import colormaps

    v = np.asarray(values, dtype=np.float64)
    if center:
        lim = float(np.nanmax(np.abs(v))) or 1.0
        t = 0.5 + v / (2 * lim)
    else:
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        t = (v - lo) / (hi - lo) if hi > lo else np.full(len(v), 0.5)
    cm = colormaps[cmap]
    return [to_hex(cm(float(x))[:3]) for x in np.nan_to_num(t, nan=0.5)]


def _require(table: pd.DataFrame, cols: list[str], name: str, hint: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"{name} must be a DataFrame ({hint}), not {type(table).__name__}", name)
    for col in cols:
        if col not in table.columns:
            raise ColumnError(name, col, list(table.columns), f"({hint})")


def _finish(c: Connectome, groups: list[SegmentGroup], annotations: list[AnnotationGroup], ids: np.ndarray, *,
            dataset: Any, alpha: Any, view: Any, prefix: Any, max_length: Any, store: Any, remote: Any) -> str:
    sources = dataset_sources(dataset, c)
    nodes = c.node_table()
    position = None if any(a.items for a in annotations) else center_of(nodes, ids)
    state = assemble_state(sources, groups, [a for a in annotations if a.items], alpha=alpha, position_nm=position,
                           view=view)
    return dataset_link(state, sources, prefix=prefix, max_length=max_length, store=store, remote=remote)


def path_link(c: Connectome, paths: pd.DataFrame, *, top_k: int | None = 10, lines: bool = True,
              synapses: bool | None = None, cmap: str = "plasma",
              dataset: str | os.PathLike | Sources | None = None, alpha: float | None = None,
              view: Mapping[str, Any] | None = None, prefix: str | None = None, max_length: int | None = None,
              store: StateStore | str | os.PathLike | None = None, remote: str | None = None) -> str:
    """One link showing a path set: every neuron coloured by its hop, a layer per path (first ``top_k``).

    Parameters
    ----------
    c : Connectome
        The graph the paths come from.
    paths : DataFrame
        ``path_id``, ``hop``, ``root_id`` (the result of :func:`connectome.shortest_paths` /
        :func:`connectome.paths`).
    top_k : int, optional
        Paths that get their own segmentation layer (``None``: all); the layer ``all paths``
        always holds every neuron.
    lines : bool
        Lines between somata along every hop (needs node positions ``x_nm, y_nm, z_nm``).
    synapses : bool, optional
        Synapse points of every hop (default: when the store has a synapse table).
    cmap : str
        Matplotlib colour map from source (hop 0) to the last hop.
    """
    _require(paths, ["path_id", "hop", ROOT_ID], "paths", "the result of cx.shortest_paths or cx.paths")
    if len(paths) == 0:
        raise InputError("paths: no paths to show (the table is empty)", "paths")
    ids = np.unique(paths[ROOT_ID].to_numpy(dtype=ID_DTYPE))
    check_known_ids(c, ids, "paths")
    hop = paths.groupby(ROOT_ID)["hop"].min()
    colors = dict(zip((int(x) for x in hop.index), _ramp(hop.to_numpy(), cmap)))
    groups = [SegmentGroup("all paths", ids, colors)]
    pids = pd.unique(paths["path_id"])
    shown = pids if top_k is None else pids[: int(top_k)]
    for pid in shown:
        members = np.unique(paths.loc[paths["path_id"] == pid, ROOT_ID].to_numpy(dtype=ID_DTYPE))
        groups.append(SegmentGroup(f"path {pid}", members, {int(i): colors[int(i)] for i in members}, visible=False))
    seq = paths.sort_values(["path_id", "hop"], kind="stable")
    # the previous hop by position, never through pandas' shift (it turns ids into float64: 2**53 and up lose digits)
    rid = coerce_ids(seq[ROOT_ID], "paths")
    pid_arr, hop_arr = seq["path_id"].to_numpy(), seq["hop"].to_numpy()
    step = (hop_arr[1:] > 0) & (pid_arr[1:] == pid_arr[:-1])
    hops = pd.DataFrame({PRE: rid[:-1][step], POST: rid[1:][step]}).drop_duplicates()
    annotations: list[AnnotationGroup] = []
    nodes = c.node_table()
    pos = node_positions(nodes)
    if lines:
        if pos is None:
            logger.info("no node positions (x_nm, y_nm, z_nm) in %s: path lines left out", c.name)
        else:
            annotations.append(neuron_lines(hops, pos, name="path hops", parameter="paths"))
    if synapses is None:
        synapses = c.has_synapses
    if synapses:
        if not c.has_synapses:
            raise InputError(f"synapses: {c.name} has no synapse table; leave synapses=None", "synapses")
        ends = np.unique(np.concatenate([hops[PRE].to_numpy(dtype=ID_DTYPE), hops[POST].to_numpy(dtype=ID_DTYPE)]))
        syn = c.synapse_table(ids=ends, side="both")  # partition-pruned read
        key = pd.MultiIndex.from_arrays([syn[PRE], syn[POST]])
        keep = key.isin(pd.MultiIndex.from_arrays([hops[PRE], hops[POST]]))
        annotations.append(synapse_points(syn[keep], name="hop synapses", parameter="paths"))
    return _finish(c, groups, annotations, ids, dataset=dataset, alpha=alpha, view=view, prefix=prefix,
                   max_length=max_length, store=store, remote=remote)


def partner_link(c: Connectome, partners: pd.DataFrame, *, top_k: int | None = 50,
                 colors: tuple[Any, Any, Any] = ("#ffffff", "#1f77b4", "#d62728"),
                 dataset: str | os.PathLike | Sources | None = None, alpha: float | None = None,
                 view: Mapping[str, Any] | None = None, prefix: str | None = None, max_length: int | None = None,
                 store: StateStore | str | os.PathLike | None = None, remote: str | None = None) -> str:
    """A link with query neurons and their strongest partners (``top_k`` per query and direction):
    queries, upstream partners and downstream partners in ``colors`` (three layers).

    ``partners`` is the result of :func:`connectome.partners` without ``by=``. When ``top_k``
    leaves partners out, the link says so: a warning (see
    :func:`~connectome.neuroglancer.collect_warnings`) with the counts shown and in all, and the layer
    names (``upstream (top 50 per query: 50 of 384)``); ``top_k=None`` shows every partner.
    """
    _require(partners, ["query_root_id", "direction", "partner_root_id"], "partners",
             "the result of cx.partners without by=")
    if len(partners) == 0:
        raise InputError("partners: no partners to show (the table is empty)", "partners")
    if top_k is not None:
        top_k = check_int(top_k, "top_k", low=1, what="a positive integer or None (every partner)")
    t = partners if top_k is None else partners.groupby(["query_root_id", "direction"], sort=False).head(top_k)
    q = np.unique(t["query_root_id"].to_numpy(dtype=ID_DTYPE))
    sides = {}
    for side in ("upstream", "downstream"):
        every = np.unique(partners.loc[partners["direction"] == side, "partner_root_id"].to_numpy(dtype=ID_DTYPE))
        shown = np.unique(t.loc[t["direction"] == side, "partner_root_id"].to_numpy(dtype=ID_DTYPE))
        sides[side] = (shown, len(every))
    up, down = sides["upstream"][0], sides["downstream"][0]
    ids = np.unique(np.concatenate([q, up, down]))
    check_known_ids(c, ids, "partners")
    n_all = len(np.unique(partners["partner_root_id"].to_numpy(dtype=ID_DTYPE)))
    n_shown = len(np.unique(np.concatenate([up, down])))
    if n_shown < n_all:
        warn(logger, f"link: shows {n_shown:,} of the {n_all:,} partners ({len(up):,} of {sides['upstream'][1]:,} "
             f"upstream, {len(down):,} of {sides['downstream'][1]:,} downstream): the {top_k} with the most "
             "synapses per query neuron and direction; top_k= (CLI: --top-k N, or --top-k all) shows more")
    cq, cu, cd = (to_hex(x) for x in colors)
    groups = [SegmentGroup("query", q, {int(i): cq for i in q})]
    for side, color in (("upstream", cu), ("downstream", cd)):
        shown, total = sides[side]
        if len(shown):
            name = side if len(shown) == total else f"{side} (top {top_k} per query: {len(shown)} of {total})"
            groups.append(SegmentGroup(name, shown, {int(i): color for i in shown}))
    return _finish(c, groups, [], ids, dataset=dataset, alpha=alpha, view=view, prefix=prefix,
                   max_length=max_length, store=store, remote=remote)


def influence_link(c: Connectome, influence: pd.DataFrame, *, top_k: int | None = 50, cmap: str = "coolwarm",
                   dataset: str | os.PathLike | Sources | None = None, alpha: float | None = None,
                   view: Mapping[str, Any] | None = None, prefix: str | None = None, max_length: int | None = None,
                   store: StateStore | str | os.PathLike | None = None, remote: str | None = None) -> str:
    """A link with the sources (white) and their ``top_k`` most influenced targets, coloured by
    influence (a diverging map centred on 0 for signed influence). ``influence`` is the result of
    :func:`connectome.influence`."""
    _require(influence, ["source_root_id", "target_root_id", "influence"], "influence",
             "the result of cx.influence")
    if len(influence) == 0:
        raise InputError("influence: no rows to show (the table is empty)", "influence")
    t = influence if top_k is None else influence.groupby("source_root_id", sort=False).head(int(top_k))
    src = np.unique(t["source_root_id"].to_numpy(dtype=ID_DTYPE))
    agg = t.groupby("target_root_id")["influence"].sum()
    agg = agg[~np.isin(agg.index.to_numpy(dtype=ID_DTYPE), src)]  # int64 on both sides: never compared as floats
    signed = bool((agg < 0).any())
    tg = agg.index.to_numpy(dtype=ID_DTYPE)
    ids = np.unique(np.concatenate([src, tg]))
    check_known_ids(c, ids, "influence")
    groups = [SegmentGroup("sources", src, {int(i): "#ffffff" for i in src})]
    if len(tg):
        groups.append(SegmentGroup("influenced", tg, dict(zip((int(x) for x in tg),
                                                              _ramp(agg.to_numpy(), cmap if signed else "viridis",
                                                                    center=signed)))))
    return _finish(c, groups, [], ids, dataset=dataset, alpha=alpha, view=view, prefix=prefix,
                   max_length=max_length, store=store, remote=remote)


def layers_link(c: Connectome, layers: pd.DataFrame, *, min_reached: float = 0.5, max_neurons: int = 5000,
                cmap: str = "viridis", dataset: str | os.PathLike | Sources | None = None,
                alpha: float | None = None, view: Mapping[str, Any] | None = None, prefix: str | None = None,
                max_length: int | None = None, store: StateStore | str | os.PathLike | None = None,
                remote: str | None = None) -> str:
    """A link with neurons coloured by their mean layer (early: dark, late: bright), the neurons
    reached in at least ``min_reached`` of the iterations (at most ``max_neurons``, earliest first).
    ``layers`` is the result of :func:`connectome.flow_layers`."""
    _require(layers, [ROOT_ID, "layer_mean", "reached"], "layers", "the result of cx.flow_layers")
    t = layers[(layers["reached"] >= min_reached) & layers["layer_mean"].notna()]
    t = t.sort_values(["layer_mean", ROOT_ID]).head(int(max_neurons))
    if len(t) == 0:
        raise InputError(f"min_reached: no neuron was reached in {min_reached:.0%} of the iterations; lower it",
                         "min_reached")
    ids = t[ROOT_ID].to_numpy(dtype=ID_DTYPE)
    colors = dict(zip((int(x) for x in ids), _ramp(t["layer_mean"].to_numpy(), cmap)))
    groups = [SegmentGroup("flow layers", np.sort(ids), colors)]
    return _finish(c, groups, [], ids, dataset=dataset, alpha=alpha, view=view, prefix=prefix,
                   max_length=max_length, store=store, remote=remote)
