"""Neuroglancer viewer states from connectomes and result tables.

:func:`build_state` turns a connectome (or just a volume) plus a selection of
root ids into a state dict, built with the ``neuroglancer`` Python package:
the dataset's image and segmentation layers with explicit dimensions (voxel
resolution in nm), the selected segments with colours (by a node column, by a
user map), annotation layers (synapse points, lines between neurons) and
segment properties (labels from node columns, so the viewer names each segment).
Root ids are strings in the JSON, so ids above 2**53 stay exact.

Examples
--------
>>> import pandas as pd, connectome as cx
>>> nodes = pd.DataFrame({"root_id": [720575940621039145, 720575940626960862],
...                       "cell_type": ["KC", "MBON"]})
>>> edges = pd.DataFrame({"pre_root_id": [720575940621039145], "post_root_id": [720575940626960862],
...                       "synapse_count": [7]})
>>> c = cx.from_edges(edges, nodes, name="flywire_demo")
>>> s = build_state(c, color_by="cell_type", dataset="flywire", properties=False)
>>> seg = [layer for layer in s["layers"] if layer["type"] == "segmentation"][0]
>>> seg["segments"]
['720575940621039145', '720575940626960862']
>>> seg["segmentColors"]["720575940626960862"]
'#ff7f0e'
>>> s["dimensions"]["z"]
[4e-08, 'm']
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import ColumnError, IdError, InputError
from ..schema import ID_DTYPE, POSITION_COLUMNS, ROOT_ID, coerce_ids
from .annotations import AnnotationGroup, neuron_lines, nm_to_voxels, synapse_points
from .colors import MISSING_COLOR, MISSING_LABEL, _label_key, label_colors, to_hex
from .notices import warn
from .sources import Sources, check_id_namespace, dataset_sources
from .statestore import StateStore

if TYPE_CHECKING:  # pragma: no cover
    from ..graph import Connectome
    from .statestore import StateStore

logger = logging.getLogger(__name__)

__all__ = ["build_state", "assemble_state", "SegmentGroup", "segment_ids", "check_known_ids",
           "segment_properties", "MAX_SEGMENTS", "AUTO_PROPERTIES"]

#: Most segments a state selects when ``root_ids`` is left out (all nodes of the connectome).
MAX_SEGMENTS = 2_000
#: Node columns shown as segment properties by default (when present).
AUTO_PROPERTIES = ("name", "cell_type", "class", "super_class", "sub_class", "side", "nt_type",
                   "predicted", "probability")


@dataclass
class SegmentGroup:
    """One segmentation layer: which segments, in which colours.

    ``colors`` maps root id (int) → ``#rrggbb``; ``None`` lets the viewer pick.
    """

    name: str
    ids: np.ndarray
    colors: dict[int, str] | None = None
    visible: bool = True


# ---------------------------------------------------------------------- ids
def node_positions(nodes: pd.DataFrame | None) -> pd.DataFrame | None:
    """``root_id`` and the position columns of ``nodes``; ``None`` when it has no positions."""
    if nodes is None or not set(POSITION_COLUMNS) <= set(nodes.columns):
        return None
    return nodes[[ROOT_ID, *POSITION_COLUMNS]]


def center_of(nodes: pd.DataFrame | None, ids: np.ndarray) -> list[float] | None:
    """The mean position (nm) of the neurons ``ids`` that have one; ``None`` without any."""
    pos = node_positions(nodes)
    if pos is None:
        return None
    sel = pos[pos[ROOT_ID].isin(ids)][list(POSITION_COLUMNS)].dropna()
    return sel.mean(axis=0).tolist() if len(sel) else None


def segment_ids(values: Any, parameter: str = "root_ids") -> np.ndarray:
    """Unique, sorted ``int64`` ids from a scalar, a list, an array or a Series.

    Examples
    --------
    >>> segment_ids(["720575940621039145", 5, 5]).tolist()
    [5, 720575940621039145]
    """
    if isinstance(values, (int, np.integer, str)):
        values = [values]
    if isinstance(values, pd.DataFrame):
        raise InputError(f"{parameter}: expected ids, got a DataFrame; pass one column "
                         "(e.g. df['root_id'])", parameter)
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object if not isinstance(
        values, np.ndarray) else values.dtype)
    return np.unique(coerce_ids(s, parameter))


def check_known_ids(c: Connectome, ids: np.ndarray, parameter: str = "root_ids") -> None:
    """Raise :class:`~connectome.errors.IdError` naming ids that are not nodes of ``c``.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> check_known_ids(c, segment_ids([1, 2]))
    Traceback (most recent call last):
    ...
    connectome.errors.IdError: root_ids: 2 id(s) not in celegans_cook2019_herm: 1, 2; check them with cx.ids_of(c, ...) (root ids change with proofreading: use the store's materialization), or pass dataset= without a connectome to show ids that are not in a store
    """
    known = c.node_table([ROOT_ID])[ROOT_ID].to_numpy()
    missing = np.setdiff1d(ids, known)
    if len(missing):
        shown = ", ".join(str(int(x)) for x in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise IdError(
            f"{parameter}: {len(missing)} id(s) not in {c.name}: {shown}{more}; check them with "
            "cx.ids_of(c, ...) (root ids change with proofreading: use the store's materialization), "
            "or pass dataset= without a connectome to show ids that are not in a store", parameter)


# ---------------------------------------------------------------------- colours
def _group_colors(ids: np.ndarray, nodes: pd.DataFrame | None, color_by: str | None, colors: Any,
                  default_color: Any) -> dict[int, str] | None:
    if color_by is None:
        if colors is None:
            return None
        if isinstance(colors, Mapping):
            keys = coerce_ids(pd.Series(list(colors.keys()), dtype=object), "colors")
            cmap = {int(k): v for k, v in zip(keys, colors.values())}
            missing = [int(i) for i in ids if int(i) not in cmap]
            if missing and default_color is None:
                shown = ", ".join(str(m) for m in missing[:8]) + (f" and {len(missing) - 8} more"
                                                                 if len(missing) > 8 else "")
                raise InputError(f"colors: no colour for root id(s) {shown}; add them to colors, pass "
                                 "default_color= for the rest, or colour by a label with color_by=", "colors")
            fill = to_hex(default_color, "default_color") if default_color is not None else None
            return {int(i): to_hex(cmap[int(i)]) if int(i) in cmap else fill for i in ids}  # type: ignore[misc]
        lab = label_colors(["_all"], colors, default_color)
        return {int(i): lab["_all"] for i in ids}
    assert nodes is not None
    sub = nodes.set_index(ROOT_ID).reindex(ids)
    labels = sub[color_by].tolist()
    lab = label_colors(labels, colors, default_color)

    return {int(i): lab[_label_key(v)] for i, v in zip(ids, labels)}


def _warn_if_unlabelled(nodes: pd.DataFrame, ids: np.ndarray, color_by: str, colors: Any,
                        default_color: Any) -> None:
    """Warn when none of ``ids`` has a value in ``color_by`` (every neuron would be painted alike),
    naming the node columns that do have values for them."""
    sub = nodes.drop_duplicates(ROOT_ID).set_index(ROOT_ID).reindex(ids)
    if len(sub) == 0 or sub[color_by].notna().any():
        return
    filled = {col: int(sub[col].notna().sum()) for col in sub.columns
              if col != color_by and col not in POSITION_COLUMNS}
    ranked = sorted(((n, col) for col, n in filled.items() if n), key=lambda x: (-x[0], x[1]))
    if ranked:
        shown = ", ".join(f"{col} ({n} of {len(ids)})" for n, col in ranked[:8])
        more = f" and {len(ranked) - 8} more" if len(ranked) > 8 else ""
        hint = f"columns with values for them: {shown}{more}; colour by one of those with color_by= (CLI: --color-by)"
    else:
        hint = "no node column has values for them; attach labels with c.with_node_columns(...)"
    if isinstance(colors, Mapping) and any(str(k) == MISSING_LABEL for k in colors):
        colour = "the colour given for '(none)'"
    elif default_color is not None:
        colour = f"default_color {default_color!r}"
    else:
        colour = f"grey ({MISSING_COLOR})"
    if len(ids) == 1:
        what = f"the selected neuron has no value in {color_by!r}, so it is drawn in {colour}"
    else:
        what = f"none of the {len(ids)} selected neurons has a value in {color_by!r}, so all are drawn in {colour}"
    warn(logger, f"color_by: {what}; {hint}")


# ---------------------------------------------------------------------- properties
def segment_properties(nodes: pd.DataFrame, ids: np.ndarray, columns: Sequence[str],
                       label: str | None = None) -> dict[str, Any]:
    """A ``neuroglancer_segment_properties`` info dict for ``ids`` from node ``columns``.

    The ``label`` column (default: the first) names each segment in the viewer;
    string columns become string properties, numeric columns number properties,
    and the label's values become tags (searchable as ``#tag``).

    Examples
    --------
    >>> nodes = pd.DataFrame({"root_id": [1, 2], "cell_type": ["KC", "MBON"], "probability": [0.9, 0.4]})
    >>> info = segment_properties(nodes, np.array([1, 2], dtype="int64"), ["cell_type", "probability"])
    >>> info["inline"]["ids"], info["inline"]["properties"][0]["values"]
    (['1', '2'], ['KC', 'MBON'])
    """
    sub = nodes.drop_duplicates(ROOT_ID).set_index(ROOT_ID).reindex(ids)
    label = label or (columns[0] if columns else None)
    props: list[dict[str, Any]] = []
    if label is not None:
        props.append({"id": "label", "type": "label",
                      "values": ["" if pd.isna(v) else str(v) for v in sub[label].tolist()]})
    for col in columns:
        s = sub[col]
        if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype) and not s.isna().any():
            props.append({"id": col, "type": "number", "data_type": "float32",
                          "values": [float(v) for v in s.astype(float).tolist()]})
        else:
            props.append({"id": col, "type": "string", "values": ["" if pd.isna(v) else str(v) for v in s.tolist()]})
    if label is not None:
        vals = ["" if pd.isna(v) else "_".join(str(v).split()) for v in sub[label].tolist()]
        tags = sorted({v for v in vals if v})
        index = {t: i for i, t in enumerate(tags)}
        props.append({"id": "tags", "type": "tags", "tags": tags,
                      "values": [[index[v]] if v else [] for v in vals]})
    return {"@type": "neuroglancer_segment_properties",
            "inline": {"ids": [str(int(i)) for i in ids], "properties": props}}


def _property_columns(nodes: pd.DataFrame, properties: Any, color_by: str | None) -> list[str]:
    available = [col for col in nodes.columns if col != ROOT_ID and col not in POSITION_COLUMNS]
    if properties is None:
        cols = [color_by] if color_by else []
        cols += [col for col in AUTO_PROPERTIES if col in available and col not in cols]
        return cols
    if properties is True:
        return available
    if properties is False:
        return []
    cols = [properties] if isinstance(properties, str) else list(properties)
    for col in cols:
        if col not in available:
            raise ColumnError("nodes", col, available, "(properties= names node columns to show as labels)")
    return cols


# ---------------------------------------------------------------------- assembly
def _json_of(state: Any) -> dict[str, Any]:
    from neuroglancer.json_utils import json_encoder_default

    return json.loads(json.dumps(state.to_json(), default=json_encoder_default))


def assemble_state(sources: Sources, groups: Sequence[SegmentGroup], annotations: Sequence[AnnotationGroup] = (),
                   *, properties_url: str | None = None, alpha: float | None = None,
                   position_nm: Sequence[float] | None = None, view: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
    """The state dict from resolved parts (what :func:`build_state` and the result helpers call).

    Parameters
    ----------
    sources : Sources
        Image / segmentation URLs and resolution (nm).
    groups : list of SegmentGroup
        One segmentation layer each (same segmentation source).
    annotations : list of AnnotationGroup
        Point / line layers, positions in nm.
    properties_url : str, optional
        Segment-properties source added to every segmentation layer.
    alpha : float, optional
        Opacity of selected segments in 2D views (Neuroglancer's default is 0.5).
    position_nm : 3 floats, optional
        Centre of the view in nm (default: centre of the annotations or the volume).
    view : dict, optional
        Top-level state keys to set last (``layout``, ``crossSectionScale``, ``position`` ...).
    """
    import neuroglancer as ng

    res = sources.resolution_nm
    if res is None and (annotations or position_nm is not None):
        raise InputError("resolution_nm: positions are in nm but the voxel resolution of this dataset is "
                         "unknown; pass dataset=Sources(..., resolution_nm=(x, y, z)) or record "
                         "voxel_resolution_nm in the store's manifest", "resolution_nm")
    if groups and sources.segmentation is None:
        raise InputError("dataset: no segmentation source to show the segments in; pass dataset= with a "
                         "segmentation (a known dataset, a precomputed folder or URL)", "dataset")
    if groups:
        shown = np.unique(np.concatenate([np.asarray(g.ids, dtype=np.uint64) for g in groups]))
        check_id_namespace(shown, sources, where="root_ids",
                           fix="pass dataset= (CLI: --source) with the volume these ids come from, or re-ingest "
                               "the store with its own --datastack / --preset so that it records the right volume",
                           unclaimed="warn")
    s = ng.ViewerState()
    dims = None
    if res is not None:
        dims = ng.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=list(res))
        s.dimensions = dims
    if sources.image:
        s.layers.append(name="em", layer=ng.ImageLayer(source=sources.image))
    seg_names: list[str] = []
    for g in groups:
        src: Any = sources.segmentation
        if properties_url:
            src = [sources.segmentation, properties_url]
        kw: dict[str, Any] = {"source": src, "segments": [int(i) for i in g.ids]}
        if g.colors:
            kw["segment_colors"] = {int(k): v for k, v in sorted(g.colors.items())}
        if alpha is not None:
            if not 0.0 <= float(alpha) <= 1.0:
                raise InputError(f"alpha: expected a number between 0 and 1, got {alpha!r}", "alpha")
            kw["selected_alpha"] = float(alpha)
        s.layers.append(name=g.name, layer=ng.SegmentationLayer(**kw), visible=g.visible)
        seg_names.append(g.name)
    for a in annotations:
        anns = []
        for k, it in enumerate(a.items):
            segs = [[int(x) for x in it.get("segments", [])]] if it.get("segments") else None
            if a.kind == "point":
                p = nm_to_voxels(it["point_nm"], res)[0].tolist()
                anns.append(ng.PointAnnotation(id=f"{a.name}-{k}", point=p, description=it.get("description"),
                                               segments=segs))
            else:
                pa = nm_to_voxels(it["a_nm"], res)[0].tolist()
                pb = nm_to_voxels(it["b_nm"], res)[0].tolist()
                anns.append(ng.LineAnnotation(id=f"{a.name}-{k}", point_a=pa, point_b=pb,
                                              description=it.get("description"), segments=segs))
        layer = ng.LocalAnnotationLayer(dimensions=dims, annotation_color=a.color, annotations=anns)
        if seg_names:
            layer.linked_segmentation_layer = {"segments": seg_names[0]}
        s.layers.append(name=a.name, layer=layer, visible=a.visible)
    # where to look
    if position_nm is None:
        pts = [a.positions_nm() for a in annotations if a.items]
        if pts:
            position_nm = np.concatenate(pts).mean(axis=0).tolist()
    if position_nm is not None and res is not None:
        s.position = nm_to_voxels(position_nm, res)[0].tolist()
    elif sources.bounds is not None:
        lo, hi = sources.bounds
        s.position = [(a + b) / 2.0 for a, b in zip(lo, hi)]
    s.layout = "xy-3d"
    if seg_names:
        s.selected_layer.layer = seg_names[0]
    out = _json_of(s)
    for key, value in (view or {}).items():
        out[str(key)] = json.loads(json.dumps(value))
    return out


def _resolve_groups(c: Connectome | None, root_ids: Any, layer_name: str) -> list[tuple[str, np.ndarray]]:
    if root_ids is None:
        if c is None:
            raise InputError("root_ids: which segments to show? Pass root_ids= (a list of ids)", "root_ids")
        ids = c.node_table([ROOT_ID])[ROOT_ID].to_numpy()
        if len(ids) > MAX_SEGMENTS:
            raise InputError(f"root_ids: {c.name} has {len(ids):,} neurons, more than one view should select "
                             f"({MAX_SEGMENTS:,}); pass root_ids= (e.g. cx.ids_of(c, cell_type=...))", "root_ids")
        return [(layer_name, np.unique(ids.astype(ID_DTYPE)))]
    if isinstance(root_ids, Mapping):
        if not root_ids:
            raise InputError("root_ids: empty mapping; give {layer name: ids}", "root_ids")
        out = [(str(k), segment_ids(v, "root_ids")) for k, v in root_ids.items()]
    else:
        out = [(layer_name, segment_ids(root_ids, "root_ids"))]
    if not any(len(ids) for _, ids in out):
        raise InputError("root_ids: no ids given (an empty selection shows nothing); check the query that "
                         "produced them, e.g. cx.ids_of(c, cell_type=...)", "root_ids")
    return out


def _store(store: StateStore | str | os.PathLike | None) -> StateStore:
    return store if isinstance(store, StateStore) else StateStore(store)


def build_state(
    c: Connectome | None = None,
    root_ids: Any = None,
    *,
    color_by: str | None = None,
    colors: Any = None,
    default_color: Any = None,
    synapses: pd.DataFrame | bool | None = None,
    lines: pd.DataFrame | None = None,
    dataset: str | os.PathLike | Sources | None = None,
    properties: Sequence[str] | str | bool | None = None,
    alpha: float | None = None,
    view: Mapping[str, Any] | None = None,
    store: StateStore | str | os.PathLike | None = None,
) -> dict[str, Any]:
    """A Neuroglancer state showing ``root_ids`` of ``c`` (or of a volume).

    Parameters
    ----------
    c : Connectome, optional
        Where ids, labels, positions and synapses come from; ids not in it are refused.
        Leave out to show ids of a volume directly (then pass ``dataset=``).
    root_ids : ids or dict, optional
        Segments to select: a list/array/Series of root ids, or ``{layer name: ids}``
        for several segmentation layers. Default: all nodes of ``c`` (up to
        :data:`MAX_SEGMENTS`).
    color_by : str, optional
        Node column whose labels colour the segments (``"cell_type"``, ``"predicted"``).
    colors : dict, list or colour, optional
        With ``color_by``: label → colour (must cover every label shown), or a list
        of colours for the sorted labels. Without: root id → colour, or one colour.
        Default: a palette by label, or the viewer's own colours.
    default_color : colour, optional
        Colour of labels (or ids) that ``colors`` does not name.
    synapses : bool or DataFrame, optional
        ``True``: the connectome's synapses among the selected neurons as points;
        or a table with ``pre_root_id``, ``post_root_id``, ``x_nm``, ``y_nm``, ``z_nm``.
    lines : DataFrame, optional
        ``pre_root_id``, ``post_root_id`` (+ ``description``): lines between those
        neurons' positions (node columns ``x_nm``, ``y_nm``, ``z_nm``).
    dataset : str, path or Sources, optional
        ``"flywire"``, ``"microns"``, a local precomputed folder, a source URL or
        :class:`~connectome.neuroglancer.sources.Sources`; default from the manifest.
    properties : list of str or bool, optional
        Node columns shown as segment properties (labels in the viewer); ``None``:
        ``color_by`` plus the usual label columns present; ``False``: none. The
        property file is written to the state store (``store``) and referenced by
        URL, so the state server must be reachable for labels to appear.
    alpha : float, optional
        Opacity of the selected segments in 2D views.
    view : dict, optional
        Top-level state keys set last (``{"layout": "xy", "crossSectionScale": 1}``).
    store : StateStore or path, optional
        State store for segment-property files (default: :class:`StateStore`).

    Returns
    -------
    dict
        The state as JSON-ready data (root ids as strings).

    Warns (logged; see :func:`~connectome.neuroglancer.collect_warnings`) when
    ``color_by`` has no value for any selected neuron, naming the columns that do,
    and when the store's version has no static segmentation.
    """
    return _build_state(c, root_ids, color_by=color_by, colors=colors, default_color=default_color,
                        synapses=synapses, lines=lines, dataset=dataset, properties=properties, alpha=alpha,
                        view=view, store=store)[0]


def _build_state(c: Connectome | None, root_ids: Any, *, color_by: str | None, colors: Any, default_color: Any,
                 synapses: pd.DataFrame | bool | None, lines: pd.DataFrame | None,
                 dataset: str | os.PathLike | Sources | None, properties: Sequence[str] | str | bool | None,
                 alpha: float | None, view: Mapping[str, Any] | None,
                 store: StateStore | str | os.PathLike | None) -> tuple[dict[str, Any], Sources]:
    """:func:`build_state`, also returning the resolved :class:`Sources` (for the link's default viewer)."""
    named = _resolve_groups(c, root_ids, "")
    all_ids = np.unique(np.concatenate([ids for _, ids in named])) if named else np.zeros(0, ID_DTYPE)
    nodes: pd.DataFrame | None = None
    if c is not None:
        check_known_ids(c, all_ids)
        nodes = c.node_table()
    sources = dataset_sources(dataset, c)
    layer_name = sources.name if sources.name and sources.name != "em" else "segmentation"
    named = [(name or layer_name, ids) for name, ids in named]
    if color_by is not None:
        if nodes is None:
            raise InputError("color_by: colouring by a label needs a connectome (its node columns); "
                             "pass c, or colors={root_id: colour}", "color_by")
        if color_by not in nodes.columns:
            raise ColumnError("nodes", color_by, [col for col in nodes.columns if col != ROOT_ID],
                              "(color_by= names a node column)")
        _warn_if_unlabelled(nodes, all_ids, color_by, colors, default_color)
    groups = [SegmentGroup(name, ids, _group_colors(ids, nodes, color_by, colors, default_color))
              for name, ids in named]

    annotations: list[AnnotationGroup] = []
    if synapses is not None and synapses is not False:
        if synapses is True:
            if c is None or not c.has_synapses:
                where = c.name if c is not None else "no connectome"
                raise InputError(f"synapses: {where} has no synapse table; pass a DataFrame with "
                                 "pre_root_id, post_root_id, x_nm, y_nm, z_nm, or ingest with synapses",
                                 "synapses")
            syn = c.synapse_table(ids=all_ids, side="both")  # partition-pruned read
        else:
            syn = synapses
        annotations.append(synapse_points(syn, name="synapses"))
    if lines is not None:
        if nodes is None or not set(POSITION_COLUMNS) <= set(nodes.columns):
            raise InputError("lines: drawing lines between neurons needs node positions (x_nm, y_nm, z_nm); "
                             "attach them with c.with_node_columns(...)", "lines")
        annotations.append(neuron_lines(lines, nodes[[ROOT_ID, *POSITION_COLUMNS]], name="lines"))

    position_nm = center_of(nodes, all_ids)

    properties_url = None
    if nodes is not None:
        cols = _property_columns(nodes, properties, color_by)
        if cols:
            st = _store(store)
            pid = st.put_properties(segment_properties(nodes, all_ids, cols, label=color_by))
            properties_url = "precomputed://" + st.properties_url(pid)
    elif properties not in (None, False):
        raise InputError("properties: segment properties come from node columns; pass a connectome", "properties")

    state = assemble_state(sources, groups, annotations, properties_url=properties_url, alpha=alpha,
                           position_nm=position_nm, view=view)
    return state, sources
