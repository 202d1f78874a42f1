"""Annotation layers: synapse points and lines between neurons (motif instances).

Positions come in nanometres (``x_nm``, ``y_nm``, ``z_nm``); the viewer's
coordinates are voxels of the state's resolution, so each position is divided by
the resolution (x, y, z in nm) on the way in. The state records the resolution
in its ``dimensions`` (metres per voxel), so units are explicit.

Examples
--------
>>> import pandas as pd
>>> syn = pd.DataFrame({"pre_root_id": [1], "post_root_id": [2],
...                     "x_nm": [400.0], "y_nm": [80.0], "z_nm": [120.0]})
>>> g = synapse_points(syn, name="synapses", color="yellow")
>>> g.kind, g.items[0]["point_nm"], g.items[0]["segments"]
('point', (400.0, 80.0, 120.0), [1, 2])
>>> nm_to_voxels([[400.0, 80.0, 120.0]], (4, 4, 40)).tolist()
[[100.0, 20.0, 3.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..schema import POSITION_COLUMNS, POST, PRE, ROOT_ID, normalize_synapses
from .colors import to_hex

__all__ = ["AnnotationGroup", "synapse_points", "neuron_lines", "nm_to_voxels", "MAX_ANNOTATIONS"]

#: Largest number of annotations put in one state (the state would be megabytes).
MAX_ANNOTATIONS = 20_000


@dataclass
class AnnotationGroup:
    """One annotation layer: points or lines, positions in nm, one colour.

    ``items`` are dicts with ``point_nm`` (points) or ``a_nm`` / ``b_nm`` (lines),
    ``description`` and ``segments`` (the root ids the annotation belongs to).
    """

    name: str
    kind: str  # "point" | "line"
    items: list[dict[str, Any]] = field(default_factory=list)
    color: str = "#ffff00"
    visible: bool = True

    def positions_nm(self) -> np.ndarray:
        """All positions (n × 3, nm) of the group's annotations."""
        pts: list[Any] = []
        for it in self.items:
            pts.extend([it["point_nm"]] if self.kind == "point" else [it["a_nm"], it["b_nm"]])
        return np.asarray(pts, dtype=np.float64).reshape(-1, 3)


def nm_to_voxels(xyz_nm: Any, resolution_nm: Any) -> np.ndarray:
    """Positions in nm → continuous voxel coordinates at ``resolution_nm``."""
    return np.asarray(xyz_nm, dtype=np.float64).reshape(-1, 3) / np.asarray(resolution_nm, dtype=np.float64)


def _check_count(n: int, parameter: str) -> None:
    if n > MAX_ANNOTATIONS:
        raise InputError(f"{parameter}: {n:,} annotations are more than a viewer state should hold "
                         f"({MAX_ANNOTATIONS:,}); filter the table first (e.g. fewer neurons or one pair)",
                         parameter)


def synapse_points(synapses: pd.DataFrame, *, name: str = "synapses", color: Any = "#ffff00",
                   parameter: str = "synapses") -> AnnotationGroup:
    """Synapse points from a table with ``pre_root_id``, ``post_root_id``, ``x_nm``, ``y_nm``, ``z_nm``."""
    syn = normalize_synapses(synapses)
    _check_count(len(syn), parameter)
    xyz = syn[list(POSITION_COLUMNS)].to_numpy(dtype=np.float64)
    pre = syn[PRE].to_numpy()
    post = syn[POST].to_numpy()
    items = [{"point_nm": tuple(float(v) for v in xyz[i]), "segments": [int(pre[i]), int(post[i])],
              "description": f"{int(pre[i])} -> {int(post[i])}"} for i in range(len(syn))]
    return AnnotationGroup(name=name, kind="point", items=items, color=to_hex(color, "color"))


def neuron_lines(pairs: pd.DataFrame, positions: pd.DataFrame, *, name: str = "lines",
                 color: Any = "#ff00ff", parameter: str = "lines") -> AnnotationGroup:
    """Lines between neurons' positions, one per row of ``pairs`` (``pre_root_id``, ``post_root_id``,
    optional ``description``); ``positions`` has ``root_id``, ``x_nm``, ``y_nm``, ``z_nm``."""
    missing = [col for col in (PRE, POST) if col not in pairs.columns]
    if missing:
        raise InputError(f"{parameter}: needs columns pre_root_id and post_root_id (missing {missing})", parameter)
    _check_count(len(pairs), parameter)
    pos = positions.set_index(ROOT_ID)[list(POSITION_COLUMNS)]
    items = []
    for row in pairs.itertuples(index=False):
        a, b = int(getattr(row, PRE)), int(getattr(row, POST))
        if a not in pos.index or b not in pos.index:
            continue
        pa, pb = pos.loc[a].to_numpy(dtype=float), pos.loc[b].to_numpy(dtype=float)
        if np.isnan(pa).any() or np.isnan(pb).any():
            continue
        desc = getattr(row, "description", None) or f"{a} -> {b}"
        items.append({"a_nm": tuple(pa), "b_nm": tuple(pb), "segments": [a, b], "description": str(desc)})
    return AnnotationGroup(name=name, kind="line", items=items, color=to_hex(color, "color"))
