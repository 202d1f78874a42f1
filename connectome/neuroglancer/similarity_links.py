"""Links for similarity results: matched pairs in matching colours, neurons coloured by cluster.

- :func:`match_link` — the pairs of :func:`connectome.match`: each pair shares one colour, the
  neurons of set a in one segmentation layer and those of set b in another. Within one connectome
  (the two hemispheres) both layers read the same segmentation; across two connectomes each layer
  reads its own dataset's segmentation (``dataset=`` and ``dataset_b=``).
- :func:`cluster_link` — the neurons of :func:`connectome.cluster` coloured by cluster, in one
  layer, plus one (hidden) layer per cluster for the largest ``top_k`` clusters, to show one at a
  time.

Both take the link options of :func:`~connectome.neuroglancer.link` (``prefix``, ``max_length``,
``store``, ``remote``, ``dataset``, ``alpha``, ``view``).

Examples
--------
>>> import json, urllib.parse
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> m = cx.match(c, side="side", method="bisected")
>>> url = match_link(c, m, dataset="flywire", top_k=3)
>>> state = json.loads(urllib.parse.unquote(url.split("#!", 1)[1]))
>>> [layer["name"] for layer in state["layers"] if layer["type"] == "segmentation"]
['set a', 'set b']
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ColumnError, InputError
from ..schema import ROOT_ID, coerce_ids
from ..validate import check_int
from .colors import palette, to_hex
from .links import dataset_link
from .sources import Sources, dataset_sources
from .state import SegmentGroup, assemble_state, center_of, check_known_ids

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Connectome
    from .statestore import StateStore

logger = logging.getLogger(__name__)

__all__ = ["match_link", "cluster_link", "MAX_PAIRS"]

#: Most pairs (and clustered neurons) one link shows unless ``top_k`` says otherwise.
MAX_PAIRS = 2_000


def _colors(n: int, colors: Sequence[Any] | None) -> list[str]:
    if colors is None:
        return palette(n)
    if isinstance(colors, (str, Mapping)) or len(colors) == 0:
        raise InputError("colors: give a list of colours (used in turn)", "colors")
    seq = [to_hex(x, "colors") for x in colors]
    return [seq[i % len(seq)] for i in range(n)]


def _limit(top_k: int | None, n: int, what: str) -> int:
    if top_k is None:
        if n > MAX_PAIRS:
            logger.warning("%s: showing the first %d of %d (pass top_k= to show more or fewer)", what, MAX_PAIRS, n)
        return min(n, MAX_PAIRS)
    return min(n, check_int(top_k, "top_k", low=1, what="a positive integer (how many to show)"))


def match_link(a: Connectome, pairs: Any, b: Connectome | None = None, *, top_k: int | None = None,
               seeds: bool = True, colors: Sequence[Any] | None = None, names: Sequence[str] | None = None,
               dataset: str | os.PathLike | Sources | None = None,
               dataset_b: str | os.PathLike | Sources | None = None, alpha: float | None = None,
               view: Mapping[str, Any] | None = None, prefix: str | None = None, max_length: int | None = None,
               store: StateStore | str | os.PathLike | None = None, remote: str | None = None) -> str:
    """A link with matched pairs: both neurons of a pair in one colour, each set in its own layer.

    Parameters
    ----------
    a : Connectome
        The connectome of set a (and of set b, without ``b``).
    pairs : MatchResult or DataFrame
        ``a_root_id``, ``b_root_id`` (optionally ``score``, ``seed``), as
        :func:`connectome.match` returns them; shown best score first.
    b : Connectome, optional
        The connectome of set b, for a match across datasets: its layer reads
        ``dataset_b`` (default: the volume known for ``b``).
    top_k : int, optional
        Pairs shown (default: all, at most :data:`MAX_PAIRS`), the highest scores first.
    seeds : bool
        Also show the given pairs (``seed`` True).
    colors : list of colours, optional
        Used in turn, one per pair (default: distinct colours).
    names : two str, optional
        Layer names (default ``set a``/``set b``, or the two datasets' names).
    dataset, dataset_b
        The volumes of ``a`` and ``b`` (see :func:`~connectome.neuroglancer.build_state`).

    Examples
    --------
    >>> import connectome as cx
    >>> herm, adult = cx.load("celegans_cook2019_herm"), cx.load("celegans_witvliet2021_8")
    >>> m = cx.match(herm, adult, ids_a=cx.ids_of(herm, name=["AVAL", "AVAR"]),
    ...              ids_b=cx.ids_of(adult, name=["AVAL", "AVAR"]), method="similarity", by="cell_type",
    ...              unlabelled="drop")
    >>> match_link(herm, m, adult, dataset="flywire", dataset_b="microns").startswith("https://")
    True
    >>> match_link(herm, m.pairs.iloc[:0], adult, dataset="flywire")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: pairs: no pairs to show; check the match (m.pairs) and seeds=
    """
    table = getattr(pairs, "pairs", pairs)
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"pairs must be a MatchResult or a DataFrame (a_root_id, b_root_id), not "
                         f"{type(pairs).__name__}", "pairs")
    for col in ("a_root_id", "b_root_id"):
        if col not in table.columns:
            raise ColumnError("pairs", col, list(table.columns), "(the pairs of cx.match)")
    t = table
    if not seeds and "seed" in t.columns:
        t = t[~t["seed"].astype(bool)]
    if "score" in t.columns:
        t = t.assign(_s=t["score"].astype(float).fillna(-np.inf)).sort_values("_s", ascending=False, kind="stable")
    if len(t) == 0:
        raise InputError("pairs: no pairs to show; check the match (m.pairs) and seeds=", "pairs")
    t = t.iloc[:_limit(top_k, len(t), "pairs")]
    ia = coerce_ids(t["a_root_id"], "pairs")
    ib = coerce_ids(t["b_root_id"], "pairs")
    cb = a if b is None else b
    check_known_ids(a, np.unique(ia), "pairs")
    check_known_ids(cb, np.unique(ib), "pairs")
    cols = _colors(len(t), colors)
    if names is None:
        names = ("set a", "set b") if b is None else ((a.name, b.name) if a.name != b.name else
                                                       (f"{a.name} (a)", f"{b.name} (b)"))
    if isinstance(names, str) or len(names) != 2:
        raise InputError("names: give two layer names, one per set", "names")
    ga = SegmentGroup(str(names[0]), np.unique(ia), {int(x): col for x, col in zip(ia, cols)})
    gb = SegmentGroup(str(names[1]), np.unique(ib), {int(x): col for x, col in zip(ib, cols)})
    src_a = dataset_sources(dataset, a)
    if b is None:
        state = assemble_state(src_a, [ga, gb], alpha=alpha, position_nm=center_of(a.node_table(), ia), view=view)
    else:
        src_b = dataset_sources(dataset_b, b)
        state = assemble_state(src_a, [ga], alpha=alpha, position_nm=center_of(a.node_table(), ia), view=view)
        other = assemble_state(src_b, [gb], alpha=alpha)
        state["layers"] = list(state["layers"]) + [layer for layer in other["layers"]
                                                   if layer.get("type") == "segmentation"]
    logger.info("match link: %d pairs", len(t))
    return dataset_link(state, src_a, prefix=prefix, max_length=max_length, store=store, remote=remote)


def cluster_link(c: Connectome, clusters: Any, *, column: str = "cluster", top_k: int | None = 10,
                 max_neurons: int | None = None, colors: Sequence[Any] | None = None,
                 dataset: str | os.PathLike | Sources | None = None, alpha: float | None = None,
                 view: Mapping[str, Any] | None = None, prefix: str | None = None, max_length: int | None = None,
                 store: StateStore | str | os.PathLike | None = None, remote: str | None = None) -> str:
    """A link with neurons coloured by cluster (one colour per cluster).

    Parameters
    ----------
    c : Connectome
    clusters : ClusterResult or DataFrame
        ``root_id`` and ``column`` (:func:`connectome.cluster`'s ``.labels``);
        neurons without a cluster (``<NA>``) are left out.
    column : str
        The cluster column.
    top_k : int, optional
        Also one hidden layer per cluster for the ``top_k`` largest clusters
        (``None``: none).
    max_neurons : int, optional
        Neurons shown at most (default :data:`MAX_PAIRS`), the largest clusters first.
    colors : list of colours, optional
        One per cluster in turn (default: distinct colours).

    Examples
    --------
    >>> import json, urllib.parse
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> r = cx.cluster(c, cx.ids_of(c, super_class="motor"), method="average", n_clusters=4)
    >>> url = cluster_link(c, r, dataset="flywire", top_k=2, max_length=100_000)
    >>> state = json.loads(urllib.parse.unquote(url.split("#!", 1)[1]))
    >>> [layer["name"] for layer in state["layers"] if layer["type"] == "segmentation"]
    ['clusters', 'cluster 0', 'cluster 1']
    """
    table = getattr(clusters, "labels", clusters)
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"clusters must be a ClusterResult or a DataFrame (root_id, {column}), not "
                         f"{type(clusters).__name__}", "clusters")
    for col in (ROOT_ID, column):
        if col not in table.columns:
            raise ColumnError("clusters", col, list(table.columns), "(the labels of cx.cluster)")
    t = table[[ROOT_ID, column]].dropna()
    if len(t) == 0:
        raise InputError("clusters: no clustered neurons to show", "clusters")
    ids = coerce_ids(t[ROOT_ID], "clusters")
    lab = t[column].astype(str).to_numpy()
    sizes = pd.Series(lab).value_counts(sort=False)
    order = sorted(sizes.index, key=lambda k: (-int(sizes[k]), _natural(k)))  # largest first
    rank = {k: i for i, k in enumerate(order)}
    keep = np.argsort([rank[x] for x in lab], kind="stable")[:_limit(max_neurons, len(t), "clustered neurons")]
    ids, lab = ids[keep], lab[keep]
    check_known_ids(c, np.unique(ids), "clusters")
    cols = dict(zip(order, _colors(len(order), colors)))
    cmap = {int(i): cols[x] for i, x in zip(ids, lab)}
    groups = [SegmentGroup("clusters", np.unique(ids), cmap)]
    if top_k is not None:
        for k in order[:check_int(top_k, "top_k", low=1, what="a positive integer (clusters with a layer)")]:
            sel = np.unique(ids[lab == k])
            if len(sel):
                groups.append(SegmentGroup(f"{column} {k}", sel, {int(i): cols[k] for i in sel}, visible=False))
    sources = dataset_sources(dataset, c)
    state = assemble_state(sources, groups, alpha=alpha, position_nm=center_of(c.node_table(), ids), view=view)
    return dataset_link(state, sources, prefix=prefix, max_length=max_length, store=store, remote=remote)


def _natural(k: str) -> tuple[int, Any]:
    try:
        return (0, int(k))
    except ValueError:
        return (1, k)
