"""CAVE-format tables -> the project's synapse, edge and node tables (live and release files alike).

CAVE tables name things their way: ``pre_pt_root_id`` / ``post_pt_root_id``,
positions in *voxels* either split (``ctr_pt_position_x/_y/_z``) or as one
column holding ``[x y z]``, FlyWire's per-synapse transmitter probabilities
(``gaba``, ``ach``, ...) or per-connection means (``gaba_avg``, ...), Codex's
``syn_count``. This module converts them once:

* :func:`synapse_rows` -- one row per synapse: ``synapse_id``, ``pre_root_id``,
  ``post_root_id``, ``x_nm``, ``y_nm``, ``z_nm`` (the chosen position; other
  positions as ``pre_x_nm`` ...), kept columns;
* :func:`drop_special` -- autapses and root id 0 (unsegmented), explicitly;
* :func:`aggregate_edges` -- the edge table: synapse count per (pre, post[, neuropil]),
  mean transmitter probabilities and ``nt_type``;
* :func:`connection_rows` -- already aggregated connection tables (FlyWire's
  ``syn_count`` releases);
* :func:`cell_rows` -- cell-type / annotation tables -> one node row per root id.

Examples
--------
>>> import pandas as pd
>>> raw = pd.DataFrame({"id": [7, 8], "pre_pt_root_id": [1, 1], "post_pt_root_id": [2, 2],
...                     "ctr_pt_position": ["[10 20 3]", "[11 20 3]"], "size": [50, 60]})
>>> syn = synapse_rows(raw, position="ctr_pt_position", voxel_resolution=(4, 4, 40), keep=["size"])
>>> syn[["synapse_id", "x_nm", "y_nm", "z_nm", "size"]].values.tolist()
[[7.0, 40.0, 80.0, 120.0, 50.0], [8.0, 44.0, 80.0, 120.0, 60.0]]
>>> aggregate_edges(syn)[["post_root_id", "synapse_count"]].to_dict("records")
[{'post_root_id': 2, 'synapse_count': 2}]
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from connectome.errors import ColumnError, InputError, PositionConflictError
from connectome.schema import (
    CHEMICAL,
    COLUMN_ALIASES,
    EDGE_KIND,
    NEUROPIL,
    NT_TYPE,
    POST,
    PRE,
    ROOT_ID,
    SYNAPSE_COUNT,
    coerce_ids,
)
from connectome.validate import check_int

from ..tables import rename_columns

logger = logging.getLogger(__name__)

__all__ = [
    "NT_NAMES",
    "BOOKKEEPING",
    "Position",
    "find_positions",
    "choose_position",
    "position_columns",
    "positions_voxels",
    "positions_nm",
    "check_position_pairs",
    "POSITION_TOLERANCE",
    "root_columns",
    "synapse_rows",
    "drop_special",
    "aggregate_edges",
    "synapse_order",
    "threshold_pairs",
    "connection_rows",
    "cell_rows",
    "nt_type_from_scores",
]

#: Transmitter score columns (FlyWire, Eckstein et al. 2024) -> Codex's nt_type names.
NT_NAMES = {"gaba": "GABA", "ach": "ACH", "glut": "GLUT", "oct": "OCT", "ser": "SER", "da": "DA"}

#: Columns of CAVE replies that are bookkeeping, not labels.
BOOKKEEPING = frozenset({"id", "valid", "created", "deleted", "superceded_id", "target_id", "id_ref", "valid_ref",
                         "created_ref", "deleted_ref", "superceded_id_ref"})

SYNAPSE_ID = "synapse_id"
_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Position:
    """A position of a table: one ``[x y z]`` column or three split columns, in voxels or nm.

    ``name`` is what ``position=`` / ``--position`` calls it: the columns' common
    stem (``ctr_pt_position`` for ``ctr_pt_position_x``, ``ctr_pos`` for
    ``ctr_pos_x_vx``); ``role`` is the stem without the position words
    (``ctr``, ``pre``, ``post``), which names the other positions' nm columns
    (``pre_x_nm``).
    """

    name: str
    columns: tuple[str, ...]
    unit: str  # "voxels" or "nm"

    @property
    def role(self) -> str:
        return _position_prefix(self.name)

    def describe(self) -> dict:
        """For the manifest."""
        return {"name": self.name, "columns": list(self.columns), "unit": self.unit}


#: Split position spellings: regex of one axis column -> unit. The stem is group 1, the axis group 2.
_SPLIT = (
    (re.compile(r"^(.*_(?:position|pos))_([xyz])$"), "voxels"),          # ctr_pt_position_x (CAVE), ctr_pos_x
    (re.compile(r"^(.*?)_?([xyz])_(?:vx|vox|voxels?)$"), "voxels"),      # ctr_pos_x_vx, pre_x_vx
    (re.compile(r"^(.*?)_?([xyz])_nm$"), "nm"),                           # ctr_pos_x_nm, pre_x_nm, x_nm
)
#: Whole-column spellings ('[x y z]' strings or arrays) -> unit.
_WHOLE = ((re.compile(r"^(.*_position)$"), "voxels"), (re.compile(r"^(.*_position)_(?:vx|vox|voxels?)$"), "voxels"),
          (re.compile(r"^(.*_position)_nm$"), "nm"))


def find_positions(columns: Iterable[str]) -> list[Position]:
    """Every position of a table, in the common spellings of CAVE tables and published exports.

    Split ``*_position_{x,y,z}`` and ``*_pos_{x,y,z}`` (voxels, CAVE),
    ``*_{x,y,z}_vx`` (voxels), ``*_{x,y,z}_nm`` (nm); whole ``*_position``
    columns holding ``[x y z]`` (voxels; ``*_position_nm``: nm).

    Examples
    --------
    >>> [(p.name, p.unit) for p in find_positions(["ctr_pos_x_vx", "ctr_pos_y_vx", "ctr_pos_z_vx", "pre_x_nm",
    ...                                            "pre_y_nm", "pre_z_nm", "post_pt_position", "size"])]
    [('ctr_pos', 'voxels'), ('pre', 'nm'), ('post_pt_position', 'voxels')]
    """
    cols = [str(c) for c in columns]
    have = set(cols)
    out: dict[str, Position] = {}
    used: set[str] = set()
    for c in cols:
        if c in used:
            continue
        for rx, unit in _SPLIT:
            m = rx.match(c)
            if m is None or m.group(2) != "x":
                continue
            stem = m.group(1) or f"position_{'nm' if unit == 'nm' else 'vx'}"
            trio = tuple(c[:m.start(2)] + a + c[m.end(2):] for a in "xyz")
            if all(t in have for t in trio) and not used & set(trio):
                name = stem if stem not in out else f"{stem}_{unit}"
                out[name] = Position(name, trio, unit)
                used |= set(trio)
                break
    for c in cols:
        if c in used:
            continue
        for rx, unit in _WHOLE:
            m = rx.match(c)
            if m is not None:
                name = m.group(1) if m.group(1) not in out else c
                out[name] = Position(name, (c,), unit)
                used.add(c)
                break
    return list(out.values())


def choose_position(positions: Sequence[Position], wanted: str | Sequence[str] | None, table: str = "synapses",
                    *, units: str | None = None, parameter: str = "position",
                    columns: Iterable[str] = ()) -> Position:
    """The position that stands for a synapse: the one asked for, else ``ctr``, else ``post``, else the first.

    ``wanted`` is a position's name, its role (``ctr``), one of its columns, or
    three column names (with ``units``, or units their names say). Anything
    else is refused naming ``parameter`` and listing the positions found.

    Examples
    --------
    >>> ps = find_positions(["ctr_pos_x_vx", "ctr_pos_y_vx", "ctr_pos_z_vx", "post_pt_position"])
    >>> choose_position(ps, None).name, choose_position(ps, "ctr_pos").columns
    ('ctr_pos', ('ctr_pos_x_vx', 'ctr_pos_y_vx', 'ctr_pos_z_vx'))
    >>> choose_position(ps, "ctr_pt_position")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: position: synapses has no position 'ctr_pt_position'; its positions: ctr_pos (ctr_pos_x_vx, ctr_pos_y_vx, ctr_pos_z_vx; voxels), post_pt_position (post_pt_position; voxels)
    """
    found = ", ".join(f"{p.name} ({', '.join(p.columns)}; {p.unit})" for p in positions)
    if wanted is not None and not isinstance(wanted, str):
        trio = tuple(str(c) for c in wanted)
        cols = set(map(str, columns))
        if len(trio) != 3:
            raise InputError(f"position_columns: give three columns (x, y, z), not {len(trio)}", "position_columns")
        missing = [c for c in trio if c not in cols]
        if missing:
            err = ColumnError(table, missing[0], sorted(cols), "Name the x, y and z columns of the position.")
            err.parameter = "position_columns"
            raise err
        unit = units
        if unit is None:
            guess = {u for c in trio for rx, u in _SPLIT[1:] if rx.match(c)}
            if len(guess) != 1 or not all(any(rx.match(c) for rx, _ in _SPLIT[1:]) for c in trio):
                raise InputError(f"position_units: the names of {', '.join(trio)} do not say whether they are in "
                                 "voxels or nm; pass position_units='voxels' or 'nm'", "position_units")
            unit = guess.pop()
        if unit not in ("voxels", "nm"):
            raise InputError(f"position_units must be 'voxels' or 'nm', not {unit!r}", "position_units")
        return Position(_common_stem(trio), trio, unit)
    if units is not None:
        raise InputError("position_units: give it with position_columns (the units of the positions found are "
                         "known from their names)", "position_units")
    if wanted is None:
        for role in ("ctr", "post"):
            hit = [p for p in positions if p.role == role]
            if hit:
                return hit[0]
        if positions:
            return positions[0]
        raise InputError(f"position: {table} has no position columns that can be recognised (columns: "
                         f"{', '.join(map(str, columns)) or 'none'}); name the x, y and z columns with "
                         "position_columns=(x, y, z), or map them to *_position_x/_y/_z (voxels) or x_nm, y_nm, "
                         "z_nm (nm) with columns=", "position_columns")
    for test in (lambda p: p.name == wanted, lambda p: wanted in p.columns, lambda p: p.role == wanted):
        hit = [p for p in positions if test(p)]
        if len(hit) == 1:
            return hit[0]
        if len(hit) > 1:
            both = " and ".join(f"{p.name} ({', '.join(p.columns)}; {p.unit})" for p in hit)
            raise InputError(f"{parameter}: {wanted!r} is ambiguous in {table}: {len(hit)} positions match it, "
                             f"{both}; name one of them ({', '.join(repr(p.name) for p in hit)})", parameter)
    raise InputError(f"{parameter}: {table} has no position {wanted!r}; its positions: {found or 'none'}",
                     parameter)


def _common_stem(cols: Sequence[str]) -> str:
    a = cols[0]
    i = next((k for k in range(len(a)) if len({c[k:k + 1] for c in cols}) > 1), len(a))
    return a[:i].rstrip("_") or "position"


def position_columns(columns: Iterable[str]) -> list[str]:
    """Names of the positions of a table (see :func:`find_positions`).

    Examples
    --------
    >>> position_columns(["id", "ctr_pt_position_x", "ctr_pt_position_y", "ctr_pt_position_z", "pt_position"])
    ['ctr_pt_position', 'pt_position']
    """
    return [p.name for p in find_positions(columns)]


def _parse_triples(values: pd.Series, column: str) -> np.ndarray:
    """[x y z] in any common spelling: arrays/lists, '[x y z]', '(x, y, z)', 'x,y,z'."""
    first = values.dropna().iloc[0] if values.notna().any() else None
    if first is not None and not isinstance(first, str):
        try:
            arr = np.stack([np.asarray(v, dtype=float) for v in values.to_numpy()])
        except (TypeError, ValueError):
            raise InputError(f"{column}: positions must be [x y z] triples", column) from None
    else:
        parsed = [_NUM.findall(v) if isinstance(v, str) else [] for v in values.to_numpy()]
        if any(len(p) != 3 for p in parsed):
            bad = next(v for v, p in zip(values.to_numpy(), parsed) if len(p) != 3)
            raise InputError(f"{column}: cannot read {bad!r} as an [x y z] position", column)
        arr = np.asarray(parsed, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise InputError(f"{column}: positions must be [x y z] triples, got shape {arr.shape}", column)
    return arr


def _lookup(df: pd.DataFrame, column: str | Position) -> Position:
    if isinstance(column, Position):
        return column
    for p in find_positions(df.columns):
        if p.name == column:
            return p
    if column in df.columns:
        return Position(column, (column,), "voxels")
    raise ColumnError("table", column, df.columns,
                      f"Name a position column of the table ({', '.join(position_columns(df.columns)) or 'none'}).")


def _raw_xyz(df: pd.DataFrame, pos: Position) -> np.ndarray:
    if len(pos.columns) == 3:
        return np.column_stack([pd.to_numeric(df[c], errors="raise").to_numpy(dtype=float) for c in pos.columns])
    return _parse_triples(df[pos.columns[0]], pos.columns[0])


def positions_voxels(df: pd.DataFrame, column: str | Position) -> np.ndarray:
    """An (n, 3) float array of ``column`` as stored (split or whole).

    Examples
    --------
    >>> positions_voxels(pd.DataFrame({"p_position": ["(1, 2, 3)"]}), "p_position").tolist()
    [[1.0, 2.0, 3.0]]
    """
    return _raw_xyz(df, _lookup(df, column))


def _resolution(voxel_resolution: Sequence[float] | None, column: str) -> np.ndarray:
    if voxel_resolution is None:
        raise InputError(f"{column}: positions are in voxels and the voxel resolution is unknown; pass "
                         "voxel_resolution=(x, y, z), the nm per voxel (4 x 4 x 40 for FlyWire and MICrONS), or "
                         "a preset that knows it", "voxel_resolution")
    res = np.asarray(voxel_resolution, dtype=float)
    if res.shape != (3,) or not np.all(np.isfinite(res)) or np.any(res <= 0):
        raise InputError(f"voxel_resolution must be three positive numbers (nm per voxel), not {voxel_resolution!r}",
                         "voxel_resolution")
    return res


def positions_nm(df: pd.DataFrame, column: str | Position, voxel_resolution: Sequence[float] | None) -> np.ndarray:
    """``column`` in nm: voxels times ``voxel_resolution`` (x, y, z nm per voxel); nm columns as they are.

    Examples
    --------
    >>> positions_nm(pd.DataFrame({"p_position": [[1, 2, 3]]}), "p_position", (4, 4, 40)).tolist()
    [[4.0, 8.0, 120.0]]
    >>> positions_nm(pd.DataFrame({"x_nm": [1.5], "y_nm": [2], "z_nm": [3]}), "position_nm", None).tolist()
    [[1.5, 2.0, 3.0]]
    """
    pos = _lookup(df, column)
    if pos.unit == "nm":
        return _raw_xyz(df, pos)
    res = _resolution(voxel_resolution, pos.name)
    return _raw_xyz(df, pos) * res


#: Largest relative difference between the nm per voxel a table's own nm columns imply and the voxel
#: resolution used before :func:`check_position_pairs` calls them contradictory.
POSITION_TOLERANCE = 0.01


def _fmt_res(values: Sequence[float | None]) -> str:
    return " x ".join("?" if v is None else f"{v:.4g}" for v in values)


def check_position_pairs(df: pd.DataFrame, positions: Sequence[Position], voxel_resolution: Sequence[float] | None,
                         *, explicit: bool = False, table: str = "synapses",
                         tolerance: float = POSITION_TOLERANCE) -> list[dict]:
    """Cross-check every pair of positions that describe the same point, one in voxels and one in nm.

    Two positions describe the same point when they have the same role
    (``ctr_pos_x_vx`` and ``ctr_pt_x_nm`` are both ``ctr``). Their nm per
    voxel, measured per axis as the median of nm / voxels over the rows,
    must agree with ``voxel_resolution`` within ``tolerance`` (1 %): else the
    store's ``x_nm`` (voxels times the resolution) and the file's own nm
    columns would contradict each other.

    Parameters
    ----------
    df : DataFrame
        The table (or one record batch of it).
    positions : list of Position
        Its positions (:func:`find_positions`).
    voxel_resolution : (x, y, z) or None
        nm per voxel used for the voxel positions; ``None``: nothing to check,
        the measured factors are returned (they say what the file implies).
    explicit : bool
        The user named the position standing for the synapse (``position=`` /
        ``position_columns=``): a disagreement is then returned (for a warning
        and the manifest), not refused.

    Returns
    -------
    list of dict
        One record per pair: ``voxels``, ``nm`` (position names),
        ``nm_per_voxel`` (measured), ``voxel_resolution`` (used), ``agree``.

    Raises
    ------
    PositionConflictError
        A pair disagrees by more than ``tolerance`` on an axis and ``explicit`` is false; the message gives
        both factors and the ways out.

    Examples
    --------
    >>> df = pd.DataFrame({"ctr_pos_x_vx": [100, 200], "ctr_pos_y_vx": [10, 20], "ctr_pos_z_vx": [3, 4],
    ...                    "ctr_pt_x_nm": [400, 800], "ctr_pt_y_nm": [40, 80], "ctr_pt_z_nm": [120, 160]})
    >>> ps = find_positions(df.columns)
    >>> check_position_pairs(df, ps, (4, 4, 40))[0]["agree"]
    True
    >>> check_position_pairs(df, ps, (3.58, 3.58, 40))
    Traceback (most recent call last):
    ...
    connectome.errors.PositionConflictError: voxel_resolution: synapses positions ctr_pos (voxels) and ctr_pt (nm) describe the same point but disagree: the file's own nm columns give 4 x 4 x 40 nm per voxel (median of ctr_pt_x_nm / ctr_pos_x_vx, ...), the voxel resolution used is 3.58 x 3.58 x 40 (11.7 % apart on x); pass voxel_resolution=(4, 4, 40) to agree with the file, or name the position that stands for a synapse yourself (position='ctr_pt' for the file's nm columns, position='ctr_pos' for voxels x 3.58 x 3.58 x 40) to keep both, with a warning
    """
    out: list[dict] = []
    res = None if voxel_resolution is None else _resolution(voxel_resolution, "positions")
    by_role: dict[str, list[Position]] = {}
    for p in positions:
        by_role.setdefault(p.role, []).append(p)
    for group in by_role.values():
        for v in (p for p in group if p.unit == "voxels"):
            for n in (p for p in group if p.unit == "nm"):
                try:
                    vox, nm = _raw_xyz(df, v), _raw_xyz(df, n)
                except (InputError, ValueError, TypeError):
                    continue  # unreadable positions are refused where they are used
                factor: list[float | None] = []
                for a in range(3):
                    ok = np.isfinite(vox[:, a]) & np.isfinite(nm[:, a]) & (vox[:, a] != 0)
                    factor.append(float(np.median(nm[ok, a] / vox[ok, a])) if ok.any() else None)
                rec = {"voxels": v.name, "nm": n.name, "nm_per_voxel": factor,
                       "voxel_resolution": None if res is None else [float(r) for r in res], "agree": None}
                if res is not None:
                    off = [abs(f - r) / r if f is not None else 0.0 for f, r in zip(factor, res)]
                    rec["agree"] = bool(max(off) <= tolerance)
                    if not rec["agree"] and not explicit:
                        worst = int(np.argmax(off))
                        fix = ", ".join(f"{f:.4g}" if f is not None else f"{r:g}" for f, r in zip(factor, res))
                        raise PositionConflictError(
                            f"voxel_resolution: {table} positions {v.name} (voxels) and {n.name} (nm) describe the "
                            f"same point but disagree: the file's own nm columns give {_fmt_res(factor)} nm per "
                            f"voxel (median of {n.columns[0]} / {v.columns[0]}, ...), the voxel resolution used is "
                            f"{_fmt_res(res)} ({off[worst] * 100:.1f} % apart on {'xyz'[worst]}); pass "
                            f"voxel_resolution=({fix}) to agree with the file, or name the position that stands "
                            f"for a synapse yourself (position={n.name!r} for the file's nm columns, "
                            f"position={v.name!r} for voxels x {_fmt_res(res)}) to keep both, with a warning",
                            "voxel_resolution")
                out.append(rec)
    return out


def _position_prefix(column: str) -> str:
    for suffix in ("_pt_position", "_position", "_pt_pos", "_pos", "_pt"):
        if column.endswith(suffix):
            return column[: -len(suffix)]
    return column


def root_columns(columns: Iterable[str]) -> tuple[str, str]:
    """The (pre, post) root id columns of a synapse table.

    Examples
    --------
    >>> root_columns(["id", "pre_pt_root_id", "post_pt_root_id"])
    ('pre_pt_root_id', 'post_pt_root_id')
    >>> root_columns(["pre_root_id", "post_root_id"])
    ('pre_root_id', 'post_root_id')
    """
    cols = list(columns)
    out = []
    for side in ("pre", "post"):
        target = PRE if side == "pre" else POST
        hits = [c for c in cols if re.match(rf"^{side}(_pt)?_root_id$", c)] or \
               [c for c in COLUMN_ALIASES["edges"] if COLUMN_ALIASES["edges"][c] == target and c in cols] or \
               [c for c in cols if c.startswith(side) and c.endswith("root_id")]
        if not hits:
            err = ColumnError("synapse table", f"{side}_pt_root_id", cols,
                              "A synapse table needs pre and post root id columns; map yours, e.g. "
                              f"columns={{'{side}syn_segid': '{side}_pt_root_id'}}.")
            err.parameter = "columns"
            raise err
        out.append(hits[0])
    return out[0], out[1]


def synapse_rows(df: pd.DataFrame, *, position: str | Sequence[str] | Position | None,
                 voxel_resolution: Sequence[float] | None, keep: Sequence[str] = (), nt_columns: Sequence[str] = (),
                 other_positions: bool = True, position_units: str | None = None,
                 extra: str = "drop") -> pd.DataFrame:
    """One row per synapse in the project's columns, positions in nm.

    Parameters
    ----------
    df : DataFrame
        A CAVE synapse table (live reply or release file).
    position : str, three str, Position or None
        The position that stands for the synapse (``ctr_pt_position`` for
        MICrONS, ``post_pt_position`` for FlyWire): a position's name
        (``ctr_pos`` for ``ctr_pos_x_vx`` ...), its role (``ctr``), or three
        column names. ``None`` picks the ``ctr`` position, else ``post``, else
        the first (see :func:`find_positions` for the spellings recognised).
    voxel_resolution : (x, y, z)
        nm per voxel of the table's positions in voxels.
    keep : list of str
        Extra columns to carry (e.g. ``size``, ``cleft_score``); ``neuropil`` is always kept.
    nt_columns : list of str
        Transmitter probability columns (kept, for :func:`aggregate_edges`).
    other_positions : bool
        Also convert the other positions (``pre_pt_position`` -> ``pre_x_nm`` ...).
    position_units : {"voxels", "nm"}, optional
        Units of three ``position`` columns whose names do not say.
    extra : {"drop", "keep"}
        Other columns of the table (``spine_vol_um3``, supervoxel ids, ...):
        drop them, or keep them on the synapse rows under their own names
        (CAVE bookkeeping columns such as ``valid`` are dropped either way).

    Raises
    ------
    ColumnError
        A requested column is not in the table (the message lists those that are).

    Examples
    --------
    >>> raw = pd.DataFrame({"pre_pt_root_id": [1], "post_pt_root_id": [2], "ctr_pos_x_vx": [10],
    ...                     "ctr_pos_y_vx": [20], "ctr_pos_z_vx": [3], "spine_vol_um3": [0.1]})
    >>> synapse_rows(raw, position="ctr_pos", voxel_resolution=(4, 4, 40), extra="keep").iloc[0].tolist()
    [1.0, 2.0, 40.0, 80.0, 120.0, 0.1]
    """
    if extra not in ("drop", "keep"):
        raise InputError(f"extra must be 'drop' or 'keep', not {extra!r}", "extra")
    pre_c, post_c = root_columns(df.columns)
    positions = find_positions(df.columns)
    pos = position if isinstance(position, Position) else choose_position(
        positions, position, "synapses", units=position_units, columns=df.columns)
    for c in list(keep) + list(nt_columns):
        if c not in df.columns:
            raise ColumnError("synapse table", c, df.columns, "Drop it from the columns to keep.")
    out: dict[str, object] = {}
    if "id" in df.columns:
        out[SYNAPSE_ID] = coerce_ids(df["id"], "id")
    out[PRE] = coerce_ids(df[pre_c], pre_c)
    out[POST] = coerce_ids(df[post_c], post_c)
    xyz = positions_nm(df, pos, voxel_resolution)
    out["x_nm"], out["y_nm"], out["z_nm"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    used = {"id", pre_c, post_c, *pos.columns}
    if other_positions:
        for p in positions:
            if p.name == pos.name or set(p.columns) & set(pos.columns):
                continue
            if p.unit == "voxels" and voxel_resolution is None:
                continue  # no resolution to convert it with: kept in voxels under its own names (below)
            o = positions_nm(df, p, voxel_resolution)
            role = p.role if p.role not in ("", "position_nm", "position_vx") else p.name
            names = [f"{role}_{a}_nm" for a in "xyz"]
            if any(n in out for n in names):
                names = [f"{p.name}_{a}_nm" for a in "xyz"]
            out[names[0]], out[names[1]], out[names[2]] = o[:, 0], o[:, 1], o[:, 2]
            used |= set(p.columns)
    carried = [c for c in [*keep, *nt_columns] if c not in out]
    if other_positions and voxel_resolution is None:
        carried += [c for p in positions if p.unit == "voxels" and not set(p.columns) & set(pos.columns)
                    for c in p.columns if c not in carried]
    if NEUROPIL in df.columns and NEUROPIL not in carried:
        carried.append(NEUROPIL)
    if extra == "keep":
        carried += [c for c in df.columns if c not in used and c not in carried and c not in BOOKKEEPING]
    for c in carried:
        name = c if c not in out else f"{c}_raw"
        if name != c:
            logger.warning("synapses: column %s clashes with a column made from the table; kept as %s", c, name)
        out[name] = df[c].to_numpy()
    return pd.DataFrame(out)


def drop_special(syn: pd.DataFrame, *, autapses: str = "drop", zero_root: str = "drop") -> tuple[pd.DataFrame, dict]:
    """Handle autapses (pre == post) and root id 0 (no segment) explicitly.

    Parameters
    ----------
    autapses, zero_root : {"drop", "keep"}
        Keep or drop those synapses.

    Returns
    -------
    (DataFrame, dict)
        The rows kept and counts ``{"autapse_synapses": ..., "zero_root_synapses": ...,
        "dropped": ...}`` for the manifest.

    Examples
    --------
    >>> s = pd.DataFrame({"pre_root_id": [1, 1, 0], "post_root_id": [1, 2, 2]})
    >>> kept, counts = drop_special(s)
    >>> len(kept), counts
    (1, {'autapse_synapses': 1, 'zero_root_synapses': 1, 'autapses': 'drop', 'zero_root': 'drop', 'dropped': 2})
    """
    for name, value in (("autapses", autapses), ("zero_root", zero_root)):
        if value not in ("drop", "keep"):
            raise InputError(f"{name} must be 'drop' or 'keep', not {value!r}", name)
    pre = syn[PRE].to_numpy()
    post = syn[POST].to_numpy()
    zero = (pre == 0) | (post == 0)
    auto = (pre == post) & ~zero
    drop = np.zeros(len(syn), dtype=bool)
    if autapses == "drop":
        drop |= auto
    if zero_root == "drop":
        drop |= zero
    counts = {"autapse_synapses": int(auto.sum()), "zero_root_synapses": int(zero.sum()),
              "autapses": autapses, "zero_root": zero_root, "dropped": int(drop.sum())}
    return (syn[~drop].reset_index(drop=True) if drop.any() else syn), counts


def nt_type_from_scores(scores: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Codex-style ``nt_type``: the name of the highest score per row (``None`` if all missing).

    Examples
    --------
    >>> nt_type_from_scores(np.array([[0.1, 0.8], [0.7, 0.2]]), ["gaba", "ach"]).tolist()
    ['ACH', 'GABA']
    """
    labels = np.array([NT_NAMES.get(n.removesuffix("_avg"), n.removesuffix("_avg").upper()) for n in names],
                      dtype=object)
    filled = np.where(np.isnan(scores), -np.inf, scores)
    out = labels[np.argmax(filled, axis=1)]
    out[np.all(np.isnan(scores), axis=1)] = None
    return out


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense codes that sort like ``values`` (hash factorize, then rank the uniques)."""
    codes, uniq = pd.factorize(values, sort=False)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[np.argsort(np.asarray(uniq), kind="stable")] = np.arange(len(uniq))
    return rank[codes], len(uniq)


def synapse_order(syn: pd.DataFrame, *, by_neuropil: bool = True) -> np.ndarray:
    """The permutation that sorts synapses by (pre, post[, neuropil]), keeping the current order within.

    Rows sorted this way are grouped by edge: the store's order for the
    ``synapses`` table (by pre id, as edges are) and the input of
    :func:`aggregate_edges` with ``presorted=True``.

    Examples
    --------
    >>> s = pd.DataFrame({"pre_root_id": [5, 1, 5, 1], "post_root_id": [2, 9, 1, 9]})
    >>> synapse_order(s).tolist()
    [1, 3, 2, 0]
    """
    pre, n_pre = _codes(syn[PRE].to_numpy(np.int64))
    post, n_post = _codes(syn[POST].to_numpy(np.int64))
    n_np = 1
    np_codes = np.zeros(len(syn), dtype=np.int64)
    if by_neuropil and NEUROPIL in syn.columns:
        codes, uniques = pd.factorize(syn[NEUROPIL], sort=True, use_na_sentinel=True)
        np_codes = np.where(codes < 0, len(uniques), codes).astype(np.int64)  # missing last, as pandas sorts
        n_np = len(uniques) + 1
    n = len(syn)
    groups = n_pre * n_post * n_np
    if groups * max(n, 1) < 2**63:  # unique composite key: a plain sort gives a total order
        return np.argsort((((pre * n_post + post) * n_np + np_codes) * n) + np.arange(n))
    if groups < 2**63:
        return np.argsort((pre * n_post + post) * n_np + np_codes, kind="stable")
    return np.lexsort((np.arange(n), np_codes, post, pre))  # pragma: no cover - beyond 2**63 keys


def aggregate_edges(syn: pd.DataFrame, *, nt_columns: Sequence[str] = (), by_neuropil: bool = True,
                    presorted: bool = False) -> pd.DataFrame:
    """The edge table of per-synapse rows: count per (pre, post[, neuropil]).

    Transmitter probabilities become their means (``gaba_avg``, ...) and
    ``nt_type`` (the transmitter with the highest mean), as in FlyWire's releases.
    ``presorted``: the rows are already in :func:`synapse_order`.

    Examples
    --------
    >>> s = pd.DataFrame({"pre_root_id": [1, 1, 2], "post_root_id": [2, 2, 1], "gaba": [0.9, 0.7, 0.1],
    ...                   "ach": [0.1, 0.3, 0.9]})
    >>> aggregate_edges(s, nt_columns=["gaba", "ach"])[["synapse_count", "gaba_avg", "nt_type"]].values.tolist()
    [[2, 0.8, 'GABA'], [1, 0.1, 'ACH']]
    """
    pre = np.asarray(syn[PRE].to_numpy(), dtype=np.int64)
    post = np.asarray(syn[POST].to_numpy(), dtype=np.int64)
    use_np = by_neuropil and NEUROPIL in syn.columns
    if use_np:
        codes, uniques = pd.factorize(syn[NEUROPIL], use_na_sentinel=True)
    order = np.arange(len(syn)) if presorted else synapse_order(syn, by_neuropil=by_neuropil)
    n = len(order)
    if n == 0:
        cols = {PRE: np.zeros(0, np.int64), POST: np.zeros(0, np.int64)}
        if use_np:
            cols[NEUROPIL] = pd.Series([], dtype=object)
        cols[SYNAPSE_COUNT] = np.zeros(0, np.int64)
        cols[EDGE_KIND] = pd.Series([], dtype=object)
        for c in nt_columns:
            cols[f"{c}_avg"] = np.zeros(0)
        if nt_columns:
            cols[NT_TYPE] = pd.Series([], dtype=object)
        return pd.DataFrame(cols)
    sp, so = (pre, post) if presorted else (pre[order], post[order])
    change = np.empty(n, dtype=bool)
    change[0] = True
    change[1:] = (sp[1:] != sp[:-1]) | (so[1:] != so[:-1])
    if use_np:
        sc = codes[order]
        change[1:] |= sc[1:] != sc[:-1]
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    out: dict[str, object] = {PRE: sp[starts], POST: so[starts]}
    if use_np:
        c0 = sc[starts]
        out[NEUROPIL] = np.where(c0 >= 0, np.asarray(uniques, dtype=object)[np.maximum(c0, 0)], None)
    out[SYNAPSE_COUNT] = counts
    out[EDGE_KIND] = CHEMICAL
    if nt_columns:
        scores = np.column_stack([syn[c].to_numpy(dtype=float) if presorted else syn[c].to_numpy(dtype=float)[order]
                                  for c in nt_columns])
        valid = ~np.isnan(scores)
        sums = np.add.reduceat(np.where(valid, scores, 0.0), starts, axis=0)
        nvalid = np.add.reduceat(valid.astype(np.int64), starts, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(nvalid > 0, sums / np.maximum(nvalid, 1), np.nan)
        for i, c in enumerate(nt_columns):
            out[f"{c}_avg"] = means[:, i]
        out[NT_TYPE] = nt_type_from_scores(means, nt_columns)
    return pd.DataFrame(out)


def threshold_pairs(edges: pd.DataFrame, min_synapses: int | None) -> tuple[pd.DataFrame, int]:
    """Keep edge rows whose neuron pair has at least ``min_synapses`` synapses in total
    (summed over neuropils); returns the rows and how many were dropped.

    Examples
    --------
    >>> e = pd.DataFrame({"pre_root_id": [1, 1, 2], "post_root_id": [2, 2, 1], "neuropil": ["A", "B", "A"],
    ...                   "synapse_count": [3, 3, 4]})
    >>> threshold_pairs(e, 5)[0]["synapse_count"].tolist()
    [3, 3]
    """
    if min_synapses is None:
        return edges, 0
    check_int(min_synapses, "min_synapses", low=1, what="a positive integer or None")
    if not len(edges):
        return edges, 0
    total = edges.groupby([PRE, POST], sort=False)[SYNAPSE_COUNT].transform("sum")
    keep = (total >= min_synapses).to_numpy()
    return edges[keep].reset_index(drop=True), int((~keep).sum())


def connection_rows(df: pd.DataFrame, *, renamed: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """An already aggregated connection table (FlyWire ``syn_count`` releases) -> edge rows.

    ``pre_pt_root_id`` / ``post_pt_root_id`` / ``syn_count`` are renamed;
    ``*_avg`` transmitter means give ``nt_type`` when the table has none.
    ``renamed``, when given, collects the renames for the manifest.

    Examples
    --------
    >>> c = pd.DataFrame({"pre_pt_root_id": [1], "post_pt_root_id": [2], "neuropil": ["ME_R"], "syn_count": [7],
    ...                   "gaba_avg": [0.2], "ach_avg": [0.7]})
    >>> connection_rows(c)[["synapse_count", "nt_type"]].values.tolist()
    [[7, 'ACH']]
    """
    out = rename_columns(df, "edges", renamed=renamed)
    for c in (PRE, POST, SYNAPSE_COUNT):
        if c not in out.columns:
            err = ColumnError("connections", c, df.columns,
                              "Connection tables need pre_pt_root_id, post_pt_root_id and syn_count; map yours, "
                              "e.g. columns={'pre': 'pre_pt_root_id', 'post': 'post_pt_root_id', "
                              "'n': 'syn_count'}.")
            err.parameter = "columns"
            raise err
    avg = [c for c in out.columns if c.endswith("_avg") and c.removesuffix("_avg") in NT_NAMES]
    if avg and NT_TYPE not in out.columns:
        out[NT_TYPE] = nt_type_from_scores(out[avg].to_numpy(dtype=float), avg)
    if EDGE_KIND not in out.columns:
        out[EDGE_KIND] = CHEMICAL
    return out


def cell_rows(df: pd.DataFrame, spec, *, voxel_resolution: Sequence[float] | None,
              duplicates: str = "first") -> tuple[pd.DataFrame, dict]:
    """An annotation table -> one node row per root id (labels, position in nm).

    Parameters
    ----------
    df : DataFrame
        The table (live reply or release file).
    spec : CellTableSpec
        Which columns are labels, pivots and renames (see :mod:`connectome.ingest.cave.presets`).
    voxel_resolution : (x, y, z)
        nm per voxel of the positions.
    duplicates : {"first", "drop"}
        Root ids annotated more than once with different values (e.g. a
        segment holding two nuclei): keep the row with the lowest annotation
        id, or drop the root id.

    Returns
    -------
    (DataFrame, dict)
        Nodes keyed by ``root_id`` and counts (rows, root id 0 rows dropped,
        conflicting root ids) for the manifest.

    Examples
    --------
    >>> from connectome.ingest.cave.presets import CellTableSpec
    >>> t = pd.DataFrame({"id": [1, 2, 3], "pt_root_id": [5, 6, 0], "cell_type": ["BC", "23P", "MC"],
    ...                   "pt_position": ["[1 1 1]", "[2 2 2]", "[3 3 3]"]})
    >>> nodes, counts = cell_rows(t, CellTableSpec("cells"), voxel_resolution=(4, 4, 40))
    >>> nodes[["root_id", "cell_type", "z_nm"]].values.tolist(), counts["zero_root_rows"]
    ([[5, 'BC', 40.0], [6, '23P', 80.0]], 1)
    """
    if duplicates not in ("first", "drop"):
        raise InputError(f"duplicates must be 'first' or 'drop', not {duplicates!r}", "duplicates")
    root_c = spec.root
    if root_c not in df.columns:
        alias = "pt_root_id" if "pt_root_id" in df.columns else ("root_id" if "root_id" in df.columns else None)
        if alias is None:
            raise ColumnError(spec.table, root_c, df.columns, "Annotation tables need a root id column.")
        root_c = alias
    d = df
    if "id" in d.columns:
        d = d.sort_values("id", kind="stable")
    roots = coerce_ids(d[root_c], root_c)
    zero = roots == 0
    d = d[~zero]
    roots = roots[~zero]
    counts = {"table": spec.table, "rows": int(len(df)), "zero_root_rows": int(zero.sum())}
    positions = find_positions(d.columns)
    pos_c = next((p for p in positions if p.name == spec.position), positions[0] if positions else None)
    skip = set(BOOKKEEPING) | {root_c}
    skip |= {c for c in d.columns if c.endswith("_supervoxel_id") or c.endswith("_root_id")}
    for p in positions:
        skip |= set(p.columns)
    if spec.pivot is not None:
        for c in (spec.pivot, spec.value):
            if c not in d.columns:
                raise ColumnError(spec.table, c, df.columns, "Fix the preset's pivot/value columns.")
        long = pd.DataFrame({ROOT_ID: roots, "key": d[spec.pivot].astype(str).to_numpy(),
                             "value": d[spec.value].to_numpy()})
        dup = long.duplicated([ROOT_ID, "key"], keep=False)
        conflicts = long[dup].groupby([ROOT_ID, "key"])["value"].nunique()
        bad_roots = set(conflicts[conflicts > 1].index.get_level_values(0))
        long = long.drop_duplicates([ROOT_ID, "key"], keep="first")
        labels = long.pivot(index=ROOT_ID, columns="key", values="value")
        labels.columns.name = None
        labels = labels.reset_index()
        first_pos = pd.DataFrame({ROOT_ID: roots}).assign(_i=np.arange(len(roots))).drop_duplicates(ROOT_ID)
        base = first_pos
    else:
        label_cols = list(spec.labels) if spec.labels is not None else [c for c in d.columns if c not in skip]
        for c in label_cols:
            if c not in d.columns:
                raise ColumnError(spec.table, c, df.columns, "Fix the label columns of the cell table.")
        lab = pd.DataFrame({ROOT_ID: roots, **{c: d[c].to_numpy() for c in label_cols}})
        lab["_i"] = np.arange(len(roots))
        dup = lab.duplicated(ROOT_ID, keep=False)
        conflicts = lab[dup].groupby(ROOT_ID)[label_cols].nunique(dropna=False) if label_cols else pd.DataFrame()
        bad_roots = set(conflicts.index[(conflicts > 1).any(axis=1)]) if len(conflicts) else set()
        base = lab.drop_duplicates(ROOT_ID, keep="first")
        labels = None
    nodes = base
    if labels is not None:
        nodes = nodes.merge(labels, on=ROOT_ID, how="left")
    if pos_c is not None:
        xyz = positions_nm(d, pos_c, voxel_resolution)[nodes["_i"].to_numpy()]
        nodes = nodes.assign(x_nm=xyz[:, 0], y_nm=xyz[:, 1], z_nm=xyz[:, 2])
    nodes = nodes.drop(columns="_i").rename(columns=spec.rename_map)
    counts["conflicting_root_ids"] = len(bad_roots)
    if bad_roots and duplicates == "drop":
        nodes = nodes[~nodes[ROOT_ID].isin(np.fromiter(bad_roots, dtype=np.int64))]
    counts["nodes"] = int(len(nodes))
    return nodes.reset_index(drop=True), counts
