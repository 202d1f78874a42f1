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
from connectome.neuroglancer.sources import KNOWN_DATASETS, check_id_namespace, known_dataset
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
    check_position_pairs,
    choose_position,
    connection_rows,
    drop_special,
    find_positions,
    root_columns,
    synapse_rows,
    threshold_pairs,
)
from .presets import CavePreset, CellTableSpec, get_preset, preset_for_datastack

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
            logger.warning("%s: renaming columns %s (--map)", key, ", ".join(f"{a} -> {b}" for a, b in here.items()))
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


def check_synapse_positions(raw: pd.DataFrame, chosen: Position, res: tuple | None, *, explicit: bool,
                            res_from: str) -> dict[str, Any]:
    """Cross-check the positions of a synapse table that describe the same point (voxels against nm, see
    :func:`~connectome.ingest.cave.format.check_position_pairs`) and say what becomes of each position.

    Refuses a contradiction (:class:`~connectome.errors.PositionConflictError`) unless the position was named
    (``explicit``), which warns instead. Returns the manifest entries (``position_checks``, and
    ``positions_kept_in_voxels`` when no voxel resolution is known).
    """
    positions = find_positions(raw.columns)
    checks = check_position_pairs(raw, positions, res, explicit=explicit)
    out: dict[str, Any] = {}
    if checks:
        out["position_checks"] = checks
    for ck in checks:
        implied = " x ".join("?" if f is None else f"{f:.4g}" for f in ck["nm_per_voxel"])
        if ck["agree"] is False:
            logger.warning("synapses: positions %s (voxels) and %s (nm) disagree: the file's nm columns give %s nm "
                           "per voxel, the voxel resolution used (%s) is %s; kept both because the position was "
                           "named (x_nm, y_nm, z_nm are %s)", ck["voxels"], ck["nm"], implied, res_from,
                           " x ".join(f"{r:g}" for r in ck["voxel_resolution"]), chosen.name)
        elif ck["agree"]:
            logger.info("synapses: positions %s (voxels) and %s (nm) agree: %s nm per voxel", ck["voxels"],
                        ck["nm"], implied)
    if res is None and chosen.unit == "nm":  # (a voxel position without a resolution is refused right after)
        kept = [p for p in positions if p.unit == "voxels" and not set(p.columns) & set(chosen.columns)]
        if kept:
            out["positions_kept_in_voxels"] = [p.describe() for p in kept]
            hint = next((ck for ck in checks if None not in ck["nm_per_voxel"]), None)
            logger.warning("synapses: the voxel resolution is unknown: position(s) %s kept in voxels under their "
                           "own column names (%s); pass --voxel-resolution X Y Z to convert them to nm%s",
                           ", ".join(p.name for p in kept), ", ".join(c for p in kept for c in p.columns),
                           "" if hint is None else " (the file's %s and %s imply %s)" % (
                               hint["voxels"], hint["nm"], " ".join(f"{f:.4g}" for f in hint["nm_per_voxel"])))
    return out


def say_counts(counts: dict[str, Any], what: str) -> None:
    """Say on stderr what :func:`~connectome.ingest.cave.format.drop_special` dropped or kept."""
    for key, label, option in (("autapse_synapses", "autapse", "autapses"),
                               ("zero_root_synapses", "root id 0", "zero_root")):
        n = counts.get(key, 0)
        if not n:
            continue
        if counts.get(option, "drop") == "drop":
            logger.warning("%s: dropped %d %s row(s) (keep them with %s='keep', CLI: --keep-%s)", what, n, label,
                           option, option.replace("_", "-"))
        else:
            logger.warning("%s: kept %d %s row(s)", what, n, label)


def say_positions_and_columns(chosen: Position, others: list[str], extra: str, columns: Any = (),
                              res: tuple | None = None) -> None:
    """Say on stderr which position stands for a synapse, what becomes of the other positions and columns, and
    the CAVE names renamed to the project's (``columns``: the table's columns)."""
    cols = [str(c) for c in columns]
    if cols:
        pre_c, post_c = root_columns(cols)
        ids = {k: v for k, v in (("id", SYNAPSE_ID), (pre_c, PRE), (post_c, POST)) if k in cols and k != v}
        if ids:
            logger.warning("synapses: renaming columns %s", ", ".join(f"{a} -> {b}" for a, b in ids.items()))
    logger.warning("synapses: position %s (%s; %s) stands for a synapse -> x_nm, y_nm, z_nm", chosen.name,
                   ", ".join(chosen.columns), chosen.unit)
    rest = [p for p in find_positions(cols) if not set(p.columns) & set(chosen.columns)
            and (p.unit == "nm" or res is not None)]
    if rest:
        logger.warning("synapses: the other position(s) %s kept in nm as %s", ", ".join(p.name for p in rest),
                       ", ".join(f"{p.role}_*_nm" for p in rest))
    if others:
        logger.warning("synapses: %s the other columns of the file %s: %s", "keeping" if extra == "keep" else
                       "dropping", "on the synapse rows" if extra == "keep" else "(--drop-extra)", ", ".join(others))


def say_threshold(weak: int, min_synapses: int | None) -> None:
    """Say on stderr how many edges the pair threshold dropped."""
    if weak:
        logger.warning("edges: dropped %d edge row(s) of neuron pairs with fewer than %s synapses (min_synapses; "
                       "CLI: --min-synapses none keeps them)", weak, min_synapses)


def check_volume_ids(ids: np.ndarray, p: CavePreset | None, datastack: str | None) -> None:
    """Refuse root ids of another volume than the files' (the ``datastack`` given, else the preset's):
    a pinky100 export read with ``--preset microns`` (minnie65) is an
    :class:`~connectome.errors.IdNamespaceError`."""
    name = datastack or (p.datastack if p is not None else None)
    found = known_dataset(name) if name else None
    if found is None:
        return
    given = f"--datastack {datastack}" if datastack else f"--preset {p.name}"  # type: ignore[union-attr]
    check_id_namespace(ids, found[0], where=f"root_ids (of {given})",
                       fix=f"these files are not from {name}: name their datastack with --datastack (e.g. "
                           "--datastack pinky100) or pass the preset of their volume (--preset flywire, microns "
                           "or pinky100)")


def say_cells(nodes: pd.DataFrame | None, cell_summary: list[dict[str, Any]], ends: np.ndarray) -> None:
    """Say on stderr what the cell tables gave: root ids annotated more than once, rows on root id 0, and
    cells that no edge touches (kept as isolated nodes)."""
    for counts in cell_summary:
        if counts.get("conflicting_root_ids"):
            logger.warning("cells %s: %d root id(s) annotated more than once with different values (e.g. a segment "
                           "holding two nuclei): merged, keeping the row with the lowest annotation id",
                           counts["table"], counts["conflicting_root_ids"])
        if counts.get("zero_root_rows"):
            logger.warning("cells %s: dropped %d row(s) on root id 0 (no segment)", counts["table"],
                           counts["zero_root_rows"])
    if nodes is not None and len(nodes):
        have = nodes[ROOT_ID].to_numpy(np.int64)
        ends = np.asarray(ends, dtype=np.int64)
        lonely = int((~np.isin(have, ends)).sum())
        if lonely and len(ends):  # (no edges at all: a store of cells only was asked for)
            logger.warning("cells: %d of %d cell(s) have no synapse or edge; kept as isolated nodes", lonely,
                           len(nodes))
        bare = int((~np.isin(ends, have)).sum())
        if bare:
            logger.warning("cells: %d of the %d neuron(s) of the edges are in no cell table; added without labels",
                           bare, len(ends))


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
                     extra: dict[str, Any], *, meta: CavePreset | None = None) -> Manifest:
    """The manifest of a store made from CAVE-format release files (in memory or streamed).

    ``extra`` holds the ingest's counts; the preset's notes are added to it. ``meta``: the preset that
    describes the files when none was passed (the preset of their ``datastack``): species, title, citation.
    """
    d = p or meta
    if p is None and meta is not None:
        extra = {**extra, "described_by_preset": meta.name}
    return Manifest(
        name=name, title=(d.title if d and datastack in (None, d.datastack)  # the preset's title names its datastack
                          else f"CAVE datastack {datastack}" if datastack else "CAVE-format release files")
        + (f" (release v{version})" if version else ""),
        species=d.species if d else None,
        source={"kind": "cave-release", "datastack": datastack or (p.datastack if p else None),
                "preset": p.name if p else None, "files": files, "citation": d.citation if d else "",
                "voxel_resolution_from": res_from, **({"renamed_columns": renamed} if renamed else {}),
                "ingested": utc_now()},
        version={"materialization": version} if version is not None else {},
        units={"position": "nm"}, voxel_resolution_nm=[float(v) for v in res] if res else None,
        extra={**extra, "notes": list(d.notes) if d else []},
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
    preset : {"flywire", "microns", "pinky100"}, optional
        Voxel resolution, position column, kept and transmitter columns, threshold.
        Root ids that mostly belong to another known volume than the preset's (or
        ``datastack``'s) are refused (:class:`~connectome.errors.IdNamespaceError`).
    voxel_resolution : (x, y, z), optional
        nm per voxel of the files' positions (default: the preset's, else the preset
        of ``datastack``, e.g. pinky100's 4 x 4 x 40). Required when voxel positions
        stand for the synapse and nothing says it. Positions of the same point in
        voxels and in nm (``ctr_pos_x_vx`` / ``ctr_pt_x_nm``) are cross-checked
        against it: more than 1 % apart is a
        :class:`~connectome.errors.PositionConflictError` giving both factors, unless
        ``position`` / ``position_columns`` names the position (then a warning).
    position : str, optional
        The position standing for a synapse, by name (``ctr_pt_position``,
        ``ctr_pos`` for ``ctr_pos_{x,y,z}_vx``) or role (``ctr``). Default: the
        preset's, else the table's ``ctr`` position, else ``post``, else the
        first. Recognised spellings: ``*_position`` (``[x y z]``),
        ``*_position_{x,y,z}``, ``*_pos_{x,y,z}``, ``*_{x,y,z}_vx`` (voxels) and
        ``*_{x,y,z}_nm`` (nm). A position asked for and absent is refused, and so is a role
        that two positions share (``ctr`` for ``ctr_pos`` and ``ctr_pt``), naming both.
        Naming the nm position needs no voxel resolution: voxel positions then stay in
        voxels under their own names (said on stderr).
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
        Recorded in the manifest; a ``datastack`` that is a preset's (``pinky100``)
        gives the manifest that preset's species, title and citation (said on stderr).
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
    meta = p or preset_for_datastack(datastack)
    if p is None and meta is not None:
        logger.warning("datastack %s is the %s preset's: species (%s), title and citation from it%s; pass --preset "
                       "%s for all its conventions", datastack, meta.name, meta.species,
                       "" if res is not None or meta.voxel_resolution_nm is None else
                       ", and its voxel resolution " + " x ".join(f"{v:g}" for v in meta.voxel_resolution_nm) + " nm",
                       meta.name)
        if res is None and meta.voxel_resolution_nm is not None:
            res, res_from = tuple(meta.voxel_resolution_nm), f"{meta.name} preset (datastack {datastack})"

    if synapses is not None and connections is None and should_stream(synapses, stream, "synapses"):
        from .stream_files import stream_cave_synapses  # lazy: stream_files uses this module's helpers

        cell_list0 = [] if cells is None else (list(cells) if isinstance(cells, (list, tuple)) else [cells])
        return stream_cave_synapses(
            synapses, cells=cell_list0, preset=p, meta=meta, base=base, res=res,  # type: ignore[arg-type]
            res_from=res_from,
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
        summary.update(check_synapse_positions(raw, chosen, res, res_from=res_from,
                                               explicit=position is not None or position_columns is not None))
        syn = synapse_rows(raw, position=chosen, voxel_resolution=res, keep=keep, nt_columns=nt, extra=extra)
        consumed = {"id", *root_columns(raw.columns), *(c for q in find_positions(raw.columns) for c in q.columns),
                    *chosen.columns, *keep, *nt, "neuropil", *BOOKKEEPING}
        others = [str(c) for c in raw.columns if c not in consumed]
        summary["synapse_position"] = chosen.describe()
        summary["synapse_extra_columns"] = {"policy": extra, "kept" if extra == "keep" else "dropped": others}
        say_positions_and_columns(chosen, others, extra, raw.columns, res)
        if SYNAPSE_ID in syn.columns:
            syn = syn.sort_values(SYNAPSE_ID, kind="stable")
            if syn[SYNAPSE_ID].duplicated().any():
                raise InputError("synapses: synapse ids repeat; a synapse table has one row per synapse "
                                 "(drop the duplicates first)", "synapses")
        syn, counts = drop_special(syn, autapses=autapses, zero_root=zero_root)
        say_counts(counts, "synapses")
        summary["synapses"] = {**counts, "synapses": int(len(syn))}
        if connections is None:
            edges = aggregate_edges(syn, nt_columns=nt)
    if connections is not None:
        files["connections"] = str(connections) if not isinstance(connections, pd.DataFrame) else "DataFrame"
        edges = connection_rows(tables["connections"], renamed=renamed)
        e, counts = drop_special(edges, autapses=autapses, zero_root=zero_root)
        say_counts(counts, "connections")
        summary["connections"] = {k: v for k, v in counts.items() if k in ("autapses", "zero_root", "dropped")}
        edges = e
    weak = 0
    if edges is not None:
        edges, weak = threshold_pairs(edges, base.min_synapses)
        say_threshold(weak, base.min_synapses)
    nodes, cell_summary = cell_nodes(cell_list, tables, p, res, files)
    if edges is None:
        edges = pd.DataFrame({PRE: np.zeros(0, np.int64), POST: np.zeros(0, np.int64),
                              "synapse_count": np.zeros(0, np.int64)})
    ends = np.unique(np.concatenate([edges[PRE].to_numpy(np.int64), edges[POST].to_numpy(np.int64)]))
    check_volume_ids(np.concatenate([ends, nodes[ROOT_ID].to_numpy(np.int64) if nodes is not None else ends[:0]]),
                     p, datastack)
    say_cells(nodes, cell_summary, ends)
    if syn is not None and keep_synapses:
        order = np.lexsort((syn[SYNAPSE_ID].to_numpy() if SYNAPSE_ID in syn.columns else np.arange(len(syn)),
                            syn[POST].to_numpy(), syn[PRE].to_numpy()))
        syn = syn.iloc[order].reset_index(drop=True)
    name = name or (f"{p.name}_release" if p else "cave_release") + (f"_v{version}" if version else "")
    path = Path(out).expanduser() if out is not None else data_home() / name
    m = release_manifest(name, p, datastack, version, files, res, res_from, renamed,
                         {"min_synapses": base.min_synapses, "edges_below_min_synapses": weak, **summary,
                          "cell_tables": cell_summary}, meta=meta)
    write_store(path, edges, nodes, syn if keep_synapses else None, name=name, manifest=m,
                duplicates="error", progress=progress)
    return path
