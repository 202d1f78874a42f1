"""CAVE-format synapse release files streamed into a store (FlyWire ``flywire_synapses_*``, MICrONS dumps).

The streaming twin of :func:`connectome.ingest.cave.release.ingest_cave_files` for a
synapse file: each record batch goes through the live path's normalisation
(:func:`~connectome.ingest.cave.format.synapse_rows`, ``drop_special``), is staged by
pre-id range (:mod:`connectome.ingest.stream`), and each range then gives its
edges (:func:`~connectome.ingest.cave.format.aggregate_edges`, exact: all synapses of a
presynaptic neuron are in its range), its pair table and its synapse files,
sorted along a Morton curve of the positions so bounding-box reads are pruned.
Memory holds one range at a time; 130 M synapses never meet in memory.

Synapse ids are checked for repeats within each pre-id range (a repeated row
repeats its presynaptic id, so it lands in the same range).

Examples
--------
>>> import tempfile, pandas as pd, connectome as cx
>>> d = tempfile.mkdtemp()
>>> pd.DataFrame({"id": [1, 2, 3], "pre_pt_root_id": [11, 11, 12], "post_pt_root_id": [12, 12, 11],
...               "ctr_pt_position": ["[100 200 30]", "[101 200 30]", "[5 5 5]"], "size": [80, 90, 70]}
...              ).to_csv(d + "/syn.csv", index=False)
>>> from connectome.ingest.cave import ingest_cave_files
>>> p = ingest_cave_files(synapses=d + "/syn.csv", preset="microns", out=d + "/s", stream=True, progress=False)
>>> c = cx.load(p)
>>> c.edge_table()["synapse_count"].tolist(), len(c.synapse_table(bbox=[[300, 700, 1000], [500, 900, 1300]]))
([2, 1], 2)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from connectome.config import data_home
from connectome.errors import InputError
from connectome.schema import (
    POSITION_COLUMNS,
    POST,
    PRE,
    ROOT_ID,
    normalize_edges,
    normalize_nodes,
    normalize_synapses,
)
from connectome.store import DEFAULT_PARTITION_ROWS, StoreBuilder

from ..stream import (
    DEFAULT_BATCH_ROWS,
    BucketStager,
    EdgeWriter,
    bucket_bounds,
    bucket_rows_default,
    file_columns,
    iter_batches,
    run_buckets,
)
from ..synapse_layout import SpatialSynapseWriter
from ..tables import read_table
from .format import (
    BOOKKEEPING,
    SYNAPSE_ID,
    aggregate_edges,
    drop_special,
    find_positions,
    root_columns,
    synapse_rows,
    threshold_pairs,
)

logger = logging.getLogger(__name__)

__all__ = ["stream_cave_synapses"]


def stream_cave_synapses(
    synapses: str | Path,
    *,
    cells: Sequence[Any] = (),
    preset: Any = None,
    meta: Any = None,
    base: Any,
    res: tuple | None,
    res_from: str,
    position: str | None = None,
    position_columns: Sequence[str] | None = None,
    position_units: str | None = None,
    columns: dict[str, str] | None = None,
    extra: str = "keep",
    version: str | int | None = None,
    datastack: str | None = None,
    autapses: str = "drop",
    zero_root: str = "drop",
    keep_synapses: bool = True,
    name: str | None = None,
    out: str | Path | None = None,
    progress: bool | None = None,
    bucket_rows: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
) -> Path:
    """A CAVE-format synapse file into a store, one record batch and one pre-id range at a time.

    Called by :func:`connectome.ingest.cave.ingest_cave_files` with ``stream=True`` (or
    for a large file); the arguments are its arguments, already resolved
    (``base``: the preset with overrides, ``res``: the voxel size).
    """
    from .release import (
        _apply_mapping,
        _synapse_position,
        cell_nodes,
        check_synapse_positions,
        check_volume_ids,
        release_manifest,
        say_cells,
        say_counts,
        say_positions_and_columns,
        say_threshold,
    )

    for nm, value in (("autapses", autapses), ("zero_root", zero_root)):
        if value not in ("drop", "keep"):
            raise InputError(f"{nm} must be 'drop' or 'keep', not {value!r}", nm)
    bucket_rows = bucket_rows_default() if bucket_rows is None else bucket_rows
    p = preset
    renamed: dict[str, dict[str, str]] = {}
    raw_cols = file_columns(synapses, "synapses")
    cell_list = list(cells)
    cell_frames = {f"cells[{i}]": (src if isinstance(src, pd.DataFrame) else read_table(src, "cells"))
                   for i, src in enumerate(cell_list)}
    frames = _apply_mapping({"synapses": pd.DataFrame({c: [] for c in raw_cols}), **cell_frames}, columns, renamed)
    raw = frames["synapses"]
    to_ours = {c: renamed.get("synapses", {}).get(c, c) for c in raw_cols}
    to_file = {v: k for k, v in to_ours.items()}
    keep = [c for c in base.keep_columns if c in raw.columns]
    nt = [c for c in base.nt_columns if c in raw.columns]
    pre_c, post_c = root_columns(raw.columns)
    chosen = _synapse_position(raw, position, base.position if p is not None else None, position_columns,
                               position_units)
    consumed = {"id", pre_c, post_c, *(c for q in find_positions(raw.columns) for c in q.columns),
                *chosen.columns, *keep, *nt, "neuropil", *BOOKKEEPING}
    others = [str(c) for c in raw.columns if c not in consumed]
    summary: dict[str, Any] = {
        "synapse_position": chosen.describe(),
        "synapse_extra_columns": {"policy": extra, "kept" if extra == "keep" else "dropped": others},
    }
    say_positions_and_columns(chosen, others, extra, raw.columns, res)
    explicit = position is not None or position_columns is not None
    name = name or (f"{p.name}_release" if p else "cave_release") + (f"_v{version}" if version else "")
    path = Path(out).expanduser() if out is not None else data_home() / name
    src_path = Path(synapses).expanduser()

    builder = StoreBuilder(path)
    try:
        bounds, rows = bucket_bounds(src_path, "synapses", to_file[pre_c], bucket_rows, batch_rows, progress)
        stager = BucketStager(builder.staging_dir("synapses"), bounds)
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        counts_total = {"autapse_synapses": 0, "zero_root_synapses": 0, "autapses": autapses,
                        "zero_root": zero_root, "dropped": 0}
        from connectome.progress import progress_bar

        with progress_bar(total=rows, desc="synapses: staging", unit="row", progress=progress) as bar:
            for batch in iter_batches(src_path, "synapses", id_columns=[to_file[pre_c], to_file[post_c]],
                                      batch_rows=batch_rows):
                df = batch.to_pandas().rename(columns=to_ours)
                if "position_checks" not in summary and len(df):  # positions cross-checked on the first rows
                    summary.update(check_synapse_positions(df, chosen, res, explicit=explicit, res_from=res_from))
                    summary.setdefault("position_checks", [])
                s = synapse_rows(df, position=chosen, voxel_resolution=res, keep=keep, nt_columns=nt, extra=extra)
                s, counts = drop_special(s, autapses=autapses, zero_root=zero_root)
                for k in ("autapse_synapses", "zero_root_synapses", "dropped"):
                    counts_total[k] += counts[k]
                if len(s):
                    if all(c in s.columns for c in POSITION_COLUMNS):
                        xyz = s[list(POSITION_COLUMNS)].to_numpy(dtype=np.float64)
                        if np.isfinite(xyz).any():
                            lo = np.fmin(lo, np.nanmin(xyz, axis=0))
                            hi = np.fmax(hi, np.nanmax(xyz, axis=0))
                    stager.add(pa.Table.from_pandas(s, preserve_index=False), s[PRE].to_numpy())
                bar.update(batch.num_rows)
        stager.close()
        writer = EdgeWriter(builder, partition_rows)
        lo, hi = np.where(np.isfinite(lo), lo, 0.0), np.where(np.isfinite(hi), hi, 0.0)
        spatial = (SpatialSynapseWriter(builder, builder.staging_dir("cells"), lo, hi, stager.rows, bucket_rows,
                                        partition_rows, id_bounds=bounds) if keep_synapses else None)
        state: dict[str, Any] = {"weak": 0, "synapses": 0}

        def one(_: int, syn: pd.DataFrame) -> None:
            if SYNAPSE_ID in syn.columns:
                sid = syn[SYNAPSE_ID].to_numpy()
                if not (len(sid) < 2 or bool(np.all(sid[1:] > sid[:-1]))):  # release files come sorted by id
                    syn = syn.sort_values(SYNAPSE_ID, kind="stable")
                    if syn[SYNAPSE_ID].duplicated().any():
                        raise InputError("synapses: synapse ids repeat; a synapse table has one row per synapse "
                                         "(drop the duplicates first)", "synapses")
            edges = aggregate_edges(syn, nt_columns=nt)
            edges, weak = threshold_pairs(edges, base.min_synapses)
            state["weak"] += weak
            e = normalize_edges(edges, duplicates="error")
            if "empty" not in state:
                state["empty"] = e.iloc[:0]
            writer.add(e)
            state["synapses"] += len(syn)
            if spatial is not None:
                spatial.add(normalize_synapses(syn))  # staged by position; written in cell order below

        run_buckets(stager, one, "synapses: writing", progress)
        empty = state.get("empty")
        if empty is None:
            empty = normalize_edges(pd.DataFrame({PRE: np.zeros(0, np.int64), POST: np.zeros(0, np.int64),
                                                  "synapse_count": np.zeros(0, np.int64)}))
        writer.finish(empty)
        if spatial is not None:
            spatial.finish(progress)
        summary["synapses"] = {**counts_total, "synapses": state["synapses"]}
        say_counts(counts_total, "synapses")
        say_threshold(state["weak"], base.min_synapses)
        files: dict[str, Any] = {"synapses": str(synapses)}
        nodes, cell_summary = cell_nodes(cell_list, frames, p, res, files)
        ends = writer.endpoint_ids()
        check_volume_ids(np.concatenate([np.asarray(ends, dtype=np.int64), nodes[ROOT_ID].to_numpy(np.int64)
                                         if nodes is not None else np.zeros(0, np.int64)]), p, datastack)
        say_cells(nodes, cell_summary, ends)
        if nodes is None:
            n_out = normalize_nodes(pd.DataFrame({ROOT_ID: ends}))
        else:
            n_out = normalize_nodes(nodes)
            missing = np.setdiff1d(ends, n_out[ROOT_ID].to_numpy(), assume_unique=True)
            if len(missing):
                logger.debug("adding %d unlabelled node(s) that appear only in edges", len(missing))
                n_out = normalize_nodes(pd.concat([n_out, pd.DataFrame({ROOT_ID: missing})], ignore_index=True))
        builder.add_table("nodes", [builder.write("nodes.parquet", n_out)], n_out)
        m = release_manifest(name, p, datastack, version, files, res, res_from, renamed, {
            "min_synapses": base.min_synapses, "edges_below_min_synapses": state["weak"], **summary,
            "cell_tables": cell_summary,
            "ingest": {"streamed": True, "rows_read": rows, "pre_id_ranges": stager.n,
                       "bucket_rows": bucket_rows, "batch_rows": batch_rows,
                       **({"synapse_layout": spatial.describe()} if spatial is not None else {})}}, meta=meta)
        logger.info("synapses: %s rows streamed in %d pre-id range(s)", f"{rows:,}", stager.n)
        builder.commit(m)
    except BaseException:
        builder.abort()
        raise
    return path
