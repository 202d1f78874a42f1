"""Edge-list release files (Codex connections, neuPrint exports, generic edge lists) streamed into a store.

The streaming twin of :func:`connectome.ingest.release.ingest_tables`: the same
renames, checks, policies (``duplicates``, ``missing_nodes``, ``isolated``,
``min_synapses``) and manifest, with the edge file read in record batches and
written one pre-id range at a time (:mod:`connectome.ingest.stream`). The node
table (one row per neuron) is read whole.

Examples
--------
>>> import tempfile, pandas as pd, connectome as cx
>>> d = tempfile.mkdtemp()
>>> pd.DataFrame({"src": [1, 2, 2], "dst": [2, 3, 1], "n": [4, 1, 2]}).to_csv(d + "/e.csv", index=False)
>>> p = stream_tables(d + "/e.csv", name="toy", out=d + "/toy", bucket_rows=2, progress=False,
...                   columns={"src": "pre_root_id", "dst": "post_root_id", "n": "synapse_count"})
>>> cx.load(p).edge_table()["synapse_count"].tolist()
[4, 2, 1]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectome.config import data_home
from connectome.errors import InputError
from connectome.manifest import Manifest, utc_now
from connectome.progress import progress_bar
from connectome.schema import (
    POST,
    PRE,
    ROOT_ID,
    SYNAPSE_COUNT,
    normalize_edges,
    normalize_nodes,
    require_columns,
)
from connectome.store import DEFAULT_PARTITION_ROWS, StoreBuilder
from connectome.validate import check_int

from .release import _ISOLATED, _isolated_nodes
from .stream import (
    DEFAULT_BATCH_ROWS,
    BucketStager,
    EdgeWriter,
    _ids,
    bucket_bounds,
    bucket_rows_default,
    file_columns,
    iter_batches,
    run_buckets,
)
from .tables import read_table, rename_columns

logger = logging.getLogger(__name__)

__all__ = ["stream_tables"]

_HINT = "Map your columns, e.g. columns={'pre': 'pre_root_id', 'post': 'post_root_id', 'weight': 'synapse_count'}."


def _nodes(nodes: Any, node_columns: dict[str, str] | None, renamed: dict) -> pd.DataFrame | None:
    if nodes is None:
        if node_columns:
            raise InputError("node_columns: there is no node table to rename columns of", "node_columns")
        return None
    n = nodes if isinstance(nodes, pd.DataFrame) else read_table(nodes, "nodes")
    return rename_columns(n, "nodes", node_columns, renamed=renamed, parameter="node_columns")


def _min_filter(tbl: pa.Table, min_synapses: int | None) -> pa.Table:
    if min_synapses is None:
        return tbl
    col = tbl[SYNAPSE_COUNT]
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        return tbl  # not numbers: kept, and refused by the normalisation with the column named
    keep = pc.fill_null(pc.greater_equal(col, min_synapses), True)
    return tbl.filter(keep)


def stream_tables(
    edges: str | Path,
    nodes: str | Path | pd.DataFrame | None = None,
    *,
    name: str,
    out: str | Path | None = None,
    columns: dict[str, str] | None = None,
    node_columns: dict[str, str] | None = None,
    min_synapses: int | None = None,
    duplicates: str = "error",
    missing_nodes: str = "add",
    isolated: str | None = None,
    manifest: dict[str, Any] | None = None,
    progress: bool | None = None,
    bucket_rows: int | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
) -> Path:
    """An edge file (and optional node table) into a store without loading the edge file whole.

    Parameters are those of :func:`connectome.ingest.release.ingest_tables`, plus
    ``bucket_rows`` (rows per pre-id range held in memory at once; default
    ``CONNECTOME_STREAM_BUCKET_ROWS`` or 2,000,000),
    ``batch_rows`` (rows per record batch read) and ``partition_rows``.

    Returns
    -------
    pathlib.Path
        The store folder.
    """
    if isolated is not None and isolated not in _ISOLATED:
        raise InputError(f"isolated must be 'keep' or 'drop', not {isolated!r}", "isolated")
    if duplicates not in ("error", "sum", "first"):
        raise InputError(f"duplicates must be 'error', 'sum' or 'first', not {duplicates!r}", "duplicates")
    if missing_nodes not in ("add", "error", "drop"):
        raise InputError(f"missing_nodes must be one of ['add', 'error', 'drop'], not {missing_nodes!r}",
                         "missing_nodes")
    bucket_rows = bucket_rows_default() if bucket_rows is None else bucket_rows
    check_int(bucket_rows, "bucket_rows", low=1)
    check_int(batch_rows, "batch_rows", low=1)
    if min_synapses is not None and (not isinstance(min_synapses, int) or min_synapses < 1):
        raise InputError(f"min_synapses must be a positive integer, not {min_synapses!r}", "min_synapses")
    path = Path(out).expanduser() if out is not None else (data_home() / name if name else None)
    if path is None:
        raise InputError("name: give the dataset a name (or pass out=PATH)", "name")
    renamed: dict[str, dict[str, str]] = {}
    file_cols = file_columns(edges, "edges")
    e0 = rename_columns(pd.DataFrame({c: [] for c in file_cols}), "edges", columns, renamed=renamed)
    require_columns(e0, [PRE, POST, SYNAPSE_COUNT], "edges", _HINT)
    to_ours = {c: renamed.get("edges", {}).get(c, c) for c in file_cols}
    to_file = {v: k for k, v in to_ours.items()}
    n = _nodes(nodes, node_columns, renamed)
    n = normalize_nodes(n) if n is not None else None
    node_ids = n[ROOT_ID].to_numpy() if n is not None else None

    builder = StoreBuilder(path)
    try:
        bounds, rows = bucket_bounds(Path(edges).expanduser(), "edges", to_file[PRE], bucket_rows, batch_rows,
                                     progress)
        stager = BucketStager(builder.staging_dir("edges"), bounds)
        template: pd.DataFrame | None = None
        kept = 0

        with progress_bar(total=rows, desc="edges: staging", unit="row", progress=progress) as bar:
            for batch in iter_batches(edges, "edges", id_columns=[to_file[PRE], to_file[POST]],
                                      batch_rows=batch_rows):
                tbl = pa.Table.from_batches([batch]).rename_columns([to_ours[c] for c in batch.schema.names])
                if template is None:
                    template = tbl.slice(0, 0).to_pandas()
                tbl = _min_filter(tbl, min_synapses)
                kept += tbl.num_rows
                if tbl.num_rows:
                    stager.add(tbl, _ids(tbl[PRE], PRE))
                bar.update(batch.num_rows)
        stager.close()
        writer = EdgeWriter(builder, partition_rows)
        all_ends: list[np.ndarray] = []
        missing_ids: list[np.ndarray] = []
        dropped = 0

        def one(_: int, df: pd.DataFrame) -> None:
            nonlocal dropped
            e = normalize_edges(df, duplicates=duplicates)
            all_ends.append(np.unique(np.concatenate([e[PRE].to_numpy(), e[POST].to_numpy()])))
            if node_ids is not None:
                missing = np.setdiff1d(all_ends[-1], node_ids, assume_unique=True)
                if len(missing):
                    if missing_nodes == "error":
                        raise InputError(
                            f"edges: {len(missing)} id(s) are not in nodes, e.g. {int(missing[0])}; add them to "
                            "nodes, or pass missing_nodes='add' (add unlabelled nodes) or 'drop' (drop their edges)",
                            "missing_nodes")
                    if missing_nodes == "drop":
                        keep = e[PRE].isin(node_ids) & e[POST].isin(node_ids)
                        dropped += int((~keep).sum())
                        e = e[keep].reset_index(drop=True)
                    else:
                        missing_ids.append(missing)
            writer.add(e)

        run_buckets(stager, one, "edges: writing", progress)
        empty = normalize_edges(template if template is not None else pd.DataFrame(columns=[PRE, POST, SYNAPSE_COUNT]))
        writer.finish(empty)
        ends = np.unique(np.concatenate(all_ends)) if all_ends else np.zeros(0, np.int64)
        fields = dict(manifest or {})
        if min_synapses is not None:
            fields.setdefault("extra", {})["min_synapses"] = min_synapses
        if n is None:
            n_out = pd.DataFrame({ROOT_ID: ends})
        else:
            n_out, iso = _isolated_nodes(pd.DataFrame({PRE: ends, POST: ends}), n, isolated, True, nodes)
            if iso:
                fields.setdefault("extra", {})["isolated_nodes"] = iso
            if missing_ids:
                extra_ids = np.unique(np.concatenate(missing_ids))
                logger.info("adding %d unlabelled node(s) that appear only in edges", len(extra_ids))
                n_out = normalize_nodes(pd.concat([n_out, pd.DataFrame({ROOT_ID: extra_ids})], ignore_index=True))
            if dropped:
                logger.info("dropping %d edge row(s) whose ids are not in nodes", dropped)
        n_out = normalize_nodes(n_out)
        builder.add_table("nodes", [builder.write("nodes.parquet", n_out)], n_out)
        src = dict(fields.get("source", {}))
        src.setdefault("kind", "release-file")
        src.setdefault("edges_file", str(Path(edges).expanduser().absolute()))
        if isinstance(nodes, (str, Path)):
            src.setdefault("nodes_file", str(Path(nodes).expanduser().absolute()))
        src.setdefault("ingested", utc_now())
        if renamed:
            src.setdefault("renamed_columns", renamed)
        fields["source"] = src
        fields.setdefault("name", name)
        fields.setdefault("extra", {})["ingest"] = {
            "streamed": True, "rows_read": rows, "rows_after_min_synapses": kept, "pre_id_ranges": stager.n,
            "bucket_rows": bucket_rows, "batch_rows": batch_rows}
        logger.info("edges: %s rows streamed in %d pre-id range(s) of about %s rows", f"{rows:,}", stager.n,
                    f"{bucket_rows:,}")
        builder.commit(Manifest(**fields))
    except BaseException:
        builder.abort()
        raise
    return path
