"""CAVE-format release files (MICrONS, FlyWire) into stores, through the live path's normalisation.

Public releases ship the same tables the CAVE servers serve, as CSV, feather
or parquet: MICrONS synapse exports (``pre_pt_root_id``, ``post_pt_root_id``,
``ctr_pt_position`` as ``[x y z]`` voxels or split ``_x/_y/_z``, ``size``),
FlyWire's connection tables (``pre_pt_root_id``, ``post_pt_root_id``,
``neuropil``, ``syn_count``, ``gaba_avg`` ... ``da_avg``) and cell-type tables
(MICrONS ``aibs_metamodel_celltypes_v661``, FlyWire classifications).
:func:`ingest_cave_files` reads them with :mod:`connectome.ingest.cave.format`, the code
the live ingest uses, so a release file and a live read give the same store.

Examples
--------
>>> import tempfile, pandas as pd, connectome as cx
>>> d = tempfile.mkdtemp()
>>> pd.DataFrame({"id": [1, 2, 3], "pre_pt_root_id": [11, 11, 12], "post_pt_root_id": [12, 12, 11],
...               "ctr_pt_position": ["[100 200 30]", "[101 200 30]", "[5 5 5]"], "size": [80, 90, 70]}
...              ).to_csv(d + "/syn.csv", index=False)
>>> p = ingest_cave_files(synapses=d + "/syn.csv", preset="microns", out=d + "/store", progress=False)
>>> c = cx.load(p)
>>> c.edge_table()["synapse_count"].tolist(), c.manifest.voxel_resolution_nm
([2, 1], [4.0, 4.0, 40.0])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectome.config import data_home
from connectome.errors import ColumnError, InputError
from connectome.manifest import Manifest, utc_now
from connectome.neuroglancer.sources import KNOWN_DATASETS, known_dataset
from connectome.schema import POST, PRE, ROOT_ID
from connectome.store import write_store

from ..stream import should_stream
from ..tables import read_table
from .format import (
    BOOKKEEPING,
    SYNAPSE_ID,
    Position,
    aggregate_edges,
    cell_rows,
    choose_position,
    connection_rows,
    drop_special,
    find_positions,
    root_columns,
    synapse_rows,
    threshold_pairs,
)
from .presets import CavePreset, CellTableSpec, get_preset

logger = logging.getLogger(__name__)

__all__ = ["ingest_cave_files"]

_PathOrFrame = str | Path | pd.DataFrame


def _frame(src: _PathOrFrame, parameter: str) -> pd.DataFrame:
    return src if isinstance(src, pd.DataFrame) else read_table(src, parameter)


def _apply_mapping(frames: dict[str, pd.DataFrame], columns: dict[str, str] | None,
                   renamed: dict[str, dict[str, str]]) -> dict[str, pd.DataFrame]:
    """The user's renames, applied to every table that has the column; a name no table has is refused."""
    if not columns:
        return frames
    if not isinstance(columns, dict):
        raise InputError(f"columns must be a dict mapping your column names to ours, not {type(columns).__name__}",
                         "columns")
    mapping = {str(k): str(v) for k, v in columns.items()}
    for old in mapping:
        if not any(old in df.columns for df in frames.values()):
            allc = list(dict.fromkeys(c for df in frames.values() for c in map(str, df.columns)))
            err = ColumnError(" / ".join(frames) or "the tables", old, allc, "Fix the column mapping.")
            err.parameter = "columns"
            raise err
    out = {}
    for key, df in frames.items():
        here = {k: v for k, v in mapping.items() if k in df.columns}
        if here:
            renamed.setdefault(key, {}).update(here)
            logger.info("%s: renaming columns %s", key, here)
        out[key] = df.rename(columns=here) if here else df
    return out


def _synapse_position(raw: pd.DataFrame, position: str | None, preset_position: str | None,
                      position_columns: Sequence[str] | None, position_units: str | None) -> Position:
    """The position standing for a synapse: asked for by name or columns (refused by name when absent), else the
    preset's (said out loud when the file spells it otherwise), else the table's own."""
    if position is not None and position_columns is not None:
        raise InputError("position: give the position by name (position=) or by its columns (position_columns=), "
                         "not both", "position")
    positions = find_positions(raw.columns)
    if position is not None or position_columns is not None:
        return choose_position(positions, position_columns if position_columns is not None else position,
                               "synapses", units=position_units, columns=raw.columns,
                               parameter="position")
    if position_units is not None:
        raise InputError("position_units: give it with position_columns=", "position_units")
    if preset_position is not None:
        try:
            return choose_position(positions, preset_position, "synapses", columns=raw.columns)
        except InputError:
            pass  # the preset's position is not in this file: fall back to the file's own, with a warning below
    pos = choose_position(positions, None, "synapses", columns=raw.columns)
    if preset_position is not None:
        logger.warning("synapses: the preset's position %s is not in the file; using %s (%s, %s)", preset_position,
                       pos.name, ", ".join(pos.columns), pos.unit)
    return pos


def _cell_spec(df: pd.DataFrame, preset: CavePreset | None, name: str) -> CellTableSpec:
    for spec in (preset.cell_tables if preset else ()):
        needed = [spec.pivot, spec.value] if spec.pivot else list(spec.labels or [])
        if all(c in df.columns for c in needed):
            return replace(spec, table=name, root=spec.root if spec.root in df.columns else "root_id")
    root = "pt_root_id" if "pt_root_id" in df.columns else "root_id"
    return CellTableSpec(name, root=root)


def cell_nodes(cell_list: Sequence[_PathOrFrame], frames: dict[str, pd.DataFrame], preset: CavePreset | None,
               res: tuple | None, files: dict[str, Any]) -> tuple[pd.DataFrame | None, list[dict[str, Any]]]:
    """Node rows of every cell table (``frames["cells[i]"]``), merged on ``root_id``, and each table's counts.

    A column two tables share is kept from the first and prefixed with the later table's name;
    ``files["cells"]`` records where each table came from. ``None`` without cell tables.
    """
    nodes = None
    cell_summary = []
    for i, src in enumerate(cell_list):
        df = frames[f"cells[{i}]"]
        nm = Path(src).name.split(".")[0] if not isinstance(src, pd.DataFrame) else f"cells_{i}"
        files.setdefault("cells", []).append(str(src) if not isinstance(src, pd.DataFrame) else "DataFrame")
        n, counts = cell_rows(df, _cell_spec(df, preset, nm), voxel_resolution=res)
        cell_summary.append(counts)
        if nodes is None:
            nodes = n
        else:
            clash = [c for c in n.columns if c != ROOT_ID and c in nodes.columns]
            nodes = nodes.merge(n.rename(columns={c: f"{nm}_{c}" for c in clash}), on=ROOT_ID, how="outer")
    return nodes, cell_summary


def release_manifest(name: str, p: CavePreset | None, datastack: str | None, version: int | None,
                     files: dict[str, Any], res: tuple | None, res_from: str, renamed: dict[str, str] | None,
                     extra: dict[str, Any]) -> Manifest:
    """The manifest of a store made from CAVE-format release files (in memory or streamed).

    ``extra`` holds the ingest's counts; the preset's notes are added to it.
    """
    return Manifest(
        name=name, title=(p.title if p and datastack in (None, p.datastack)  # the preset's title names its datastack
                          else f"CAVE datastack {datastack}" if datastack else "CAVE-format release files")
        + (f" (release v{version})" if version else ""),
        species=p.species if p else None,
        source={"kind": "cave-release", "datastack": datastack or (p.datastack if p else None),
                "preset": p.name if p else None, "files": files, "citation": p.citation if p else "",
                "voxel_resolution_from": res_from, **({"renamed_columns": renamed} if renamed else {}),
                "ingested": utc_now()},
        version={"materialization": version} if version is not None else {},
        units={"position": "nm"}, voxel_resolution_nm=[float(v) for v in res] if res else None,
        extra={**extra, "notes": list(p.notes) if p else []},
    )


def _default_resolution(base: CavePreset, p: CavePreset | None, datastack: str | None) -> tuple[tuple | None, str]:
    """The voxel size to assume when none was given: the preset's for its own datastack, the known datastacks
    table's for another one (said out loud), else none (positions in voxels are then refused, naming the flag)."""
    if p is None or datastack in (None, p.datastack):
        return base.voxel_resolution_nm, "preset" if p is not None else "none"

    known = known_dataset(datastack)
    res = KNOWN_DATASETS[known[0]].resolution_nm if known else None
    if res is not None:
        logger.warning("voxel resolution of datastack %s taken from the known datastacks table: %s nm (not the %s "
                       "preset's %s nm); pass --voxel-resolution to override", datastack,
                       "x".join(f"{v:g}" for v in res), p.name, "x".join(f"{v:g}" for v in base.voxel_resolution_nm))
    else:
        logger.warning("datastack %s is not the %s preset's (%s) and its voxel resolution is unknown: positions in "
                       "voxels need --voxel-resolution", datastack, p.name, p.datastack)
    return res, "known datastacks table" if res is not None else "none"


def ingest_cave_files(
    *,
    synapses: _PathOrFrame | None = None,
    connections: _PathOrFrame | None = None,
    cells: Sequence[_PathOrFrame] | _PathOrFrame | None = None,
    preset: str | CavePreset | None = None,
    voxel_resolution: Sequence[float] | None = None,
    position: str | None = None,
    position_columns: Sequence[str] | None = None,
    position_units: str | None = None,
    columns: dict[str, str] | None = None,
    extra: str = "keep",
    version: str | int | None = None,
    datastack: str | None = None,
    min_synapses: int | None | str = "preset",
    autapses: str = "drop",
    zero_root: str = "drop",
    keep_synapses: bool = True,
    name: str | None = None,
    out: str | Path | None = None,
    progress: bool | None = None,
    stream: bool | None = None,
) -> Path:
    """Read CAVE-format release files into a store.

    Parameters
    ----------
    synapses : path or DataFrame, optional
        One row per synapse (CAVE columns). Gives the ``synapses`` table and,
        unless ``connections`` is given, the edges.
    connections : path or DataFrame, optional
        Aggregated connections (``syn_count``); gives the edges.
    cells : path(s) or DataFrame(s), optional
        Cell-type / annotation tables joined to nodes by root id.
    preset : {"flywire", "microns"}, optional
        Voxel resolution, position column, kept and transmitter columns, threshold.
    voxel_resolution : (x, y, z), optional
        nm per voxel of the files' positions (default: the preset's). Required
        when positions are present and no preset says it.
    position : str, optional
        The position standing for a synapse, by name (``ctr_pt_position``,
        ``ctr_pos`` for ``ctr_pos_{x,y,z}_vx``) or role (``ctr``). Default: the
        preset's, else the table's ``ctr`` position, else ``post``, else the
        first. Recognised spellings: ``*_position`` (``[x y z]``),
        ``*_position_{x,y,z}``, ``*_pos_{x,y,z}``, ``*_{x,y,z}_vx`` (voxels) and
        ``*_{x,y,z}_nm`` (nm). A position asked for and absent is refused.
    position_columns : (x, y, z) column names, optional
        The three columns of the position standing for a synapse, when their
        names are not a recognised spelling (never with ``position``).
    position_units : {"voxels", "nm"}, optional
        Units of ``position_columns`` (default: what their names say).
    columns : dict, optional
        Your column names to ours, applied to every table that has them, e.g.
        ``{"presyn_segid": "pre_pt_root_id"}``; a name no table has is refused.
    extra : {"keep", "drop"}
        Other columns of the synapse table (``spine_vol_um3``, ``cleft_vx``,
        supervoxel ids, ...): kept on the synapse rows (default), or dropped.
        The manifest lists them.
    version, datastack : optional
        Recorded in the manifest.
    min_synapses : int, None or "preset"
        Pair threshold, as :class:`~connectome.ingest.cave.presets.CavePreset`'s (``"preset"``: the preset's).
    autapses, zero_root : {"drop", "keep"}
        As in :class:`~connectome.ingest.cave.options.Selection`.
    keep_synapses : bool
        Store the per-synapse table as well as the edges.
    stream : bool, optional
        Read the ``synapses`` file in record batches and write the store one
        pre-id range at a time (:mod:`connectome.ingest.cave.stream_files`): memory
        holds one range, never the file. Default: for synapse files of at least
        ``CONNECTOME_STREAM_BYTES`` (256 MiB), said in a log message. Needs a
        synapse file and no ``connections``.

    Returns
    -------
    pathlib.Path
        The store folder.
    """
    if synapses is None and connections is None and not cells:
        raise InputError("pass synapses=, connections= and/or cells= (release files or DataFrames)", "synapses")
    p = get_preset(preset)
    base = p or CavePreset(name="cave-files", datastack=datastack or "")
    if min_synapses != "preset":
        base = replace(base, min_synapses=min_synapses)
    res, res_from = ((tuple(voxel_resolution), "given") if voxel_resolution is not None
                     else _default_resolution(base, p, datastack))

    if synapses is not None and connections is None and should_stream(synapses, stream, "synapses"):
        from .stream_files import stream_cave_synapses  # lazy: stream_files uses this module's helpers

        cell_list0 = [] if cells is None else (list(cells) if isinstance(cells, (list, tuple)) else [cells])
        return stream_cave_synapses(
            synapses, cells=cell_list0, preset=p, base=base, res=res, res_from=res_from,  # type: ignore[arg-type]
            position=position, position_columns=position_columns, position_units=position_units, columns=columns,
            extra=extra, version=version, datastack=datastack, autapses=autapses, zero_root=zero_root,
            keep_synapses=keep_synapses, name=name, out=out, progress=progress)
    if stream is True:
        raise InputError("stream=True streams a synapse file; give synapses= and no connections= (a connections "
                         "file streams through connectome ingest codex / ingest_codex)", "stream")
    summary: dict = {}
    syn = edges = None
    files: dict[str, object] = {}
    renamed: dict[str, dict[str, str]] = {}
    tables = {k: _frame(v, k) for k, v in (("synapses", synapses), ("connections", connections)) if v is not None}
    cell_list = [] if cells is None else (list(cells) if isinstance(cells, (list, tuple)) else [cells])
    cell_frames = {f"cells[{i}]": _frame(src, "cells") for i, src in enumerate(cell_list)}
    tables = _apply_mapping({**tables, **cell_frames}, columns, renamed)
    if synapses is not None:
        raw = tables["synapses"]
        files["synapses"] = str(synapses) if not isinstance(synapses, pd.DataFrame) else "DataFrame"
        keep = [c for c in base.keep_columns if c in raw.columns]
        nt = [c for c in base.nt_columns if c in raw.columns]
        root_columns(raw.columns)  # ids first: a table without them is refused for that
        chosen = _synapse_position(raw, position, base.position if p is not None else None, position_columns,
                                   position_units)
        syn = synapse_rows(raw, position=chosen, voxel_resolution=res, keep=keep, nt_columns=nt, extra=extra)
        consumed = {"id", *root_columns(raw.columns), *(c for q in find_positions(raw.columns) for c in q.columns),
                    *chosen.columns, *keep, *nt, "neuropil", *BOOKKEEPING}
        others = [str(c) for c in raw.columns if c not in consumed]
        summary["synapse_position"] = chosen.describe()
        summary["synapse_extra_columns"] = {"policy": extra, "kept" if extra == "keep" else "dropped": others}
        if others and extra == "keep":
            logger.info("synapses: keeping the other columns of the file on the synapse rows: %s", ", ".join(others))
        if SYNAPSE_ID in syn.columns:
            syn = syn.sort_values(SYNAPSE_ID, kind="stable")
            if syn[SYNAPSE_ID].duplicated().any():
                raise InputError("synapses: synapse ids repeat; a synapse table has one row per synapse "
                                 "(drop the duplicates first)", "synapses")
        syn, counts = drop_special(syn, autapses=autapses, zero_root=zero_root)
        summary["synapses"] = {**counts, "synapses": int(len(syn))}
        if connections is None:
            edges = aggregate_edges(syn, nt_columns=nt)
    if connections is not None:
        files["connections"] = str(connections) if not isinstance(connections, pd.DataFrame) else "DataFrame"
        edges = connection_rows(tables["connections"], renamed=renamed)
        e, counts = drop_special(edges, autapses=autapses, zero_root=zero_root)
        summary["connections"] = {k: v for k, v in counts.items() if k in ("autapses", "zero_root", "dropped")}
        edges = e
    weak = 0
    if edges is not None:
        edges, weak = threshold_pairs(edges, base.min_synapses)
    nodes, cell_summary = cell_nodes(cell_list, tables, p, res, files)
    if edges is None:
        edges = pd.DataFrame({PRE: np.zeros(0, np.uint64), POST: np.zeros(0, np.uint64),
                              "synapse_count": np.zeros(0, np.int64)})
    if syn is not None and keep_synapses:
        order = np.lexsort((syn[SYNAPSE_ID].to_numpy() if SYNAPSE_ID in syn.columns else np.arange(len(syn)),
                            syn[POST].to_numpy(), syn[PRE].to_numpy()))
        syn = syn.iloc[order].reset_index(drop=True)
    name = name or (f"{p.name}_release" if p else "cave_release") + (f"_v{version}" if version else "")
    path = Path(out).expanduser() if out is not None else data_home() / name
    m = release_manifest(name, p, datastack, version, files, res, res_from, renamed,
                         {"min_synapses": base.min_synapses, "edges_below_min_synapses": weak, **summary,
                          "cell_tables": cell_summary})
    write_store(path, edges, nodes, syn if keep_synapses else None, name=name, manifest=m,
                duplicates="error", progress=progress)
    return path
