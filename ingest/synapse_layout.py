"""The on-disk layout of a streamed synapse table: space first, ids indexed.

Bounding-box reads need synapses that lie close together to lie in the same
files and row groups, whatever neuron they belong to; reads by neuron need to
find a neuron's synapses without scanning. So the streaming ingest writes the
``synapses`` table in two steps, each holding one part of the table in memory:

1. rows are staged by *cell*: the position (nm) is put on a grid of
   ``2**fine_bits`` cells per axis over the table's bounding box, and the cells'
   Morton (z-order) codes are grouped into *super cells* (the top
   ``super_bits`` bits per axis), one staging file each;
2. super cell by super cell, in Morton order, rows are sorted by (cell,
   pre, post, synapse id) and written as Parquet files of at most
   ``file_rows`` rows whose row groups (``SYNAPSE_ROW_GROUP`` rows) follow the
   cells. Each file's manifest entry carries its id and position ranges, and a
   small ``synapse_index`` table lists, for every root id, the files that hold
   its synapses and in which role (1 presynaptic, 2 postsynaptic, 3 both).

:func:`connectome.synapse_reads.synapse_table` opens only the files whose
box meets a bounding box, or that the index names for the ids, and inside
them only the matching row groups.

Examples
--------
>>> morton_codes(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 1]], np.uint64), 1).tolist()
[0, 1, 2, 7]
>>> levels(130_000_000, 2_000_000)
(5, 3)
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from connectome.manifest import FileInfo
from connectome.progress import progress_bar
from connectome.schema import POSITION_COLUMNS, POST, PRE
from connectome.store import DEFAULT_PARTITION_ROWS, StoreBuilder, position_stats
from connectome.synapse_reads import INDEX

from .stream import BucketStager

logger = logging.getLogger(__name__)

__all__ = ["INDEX", "SYNAPSE_ROW_GROUP", "SpatialSynapseWriter", "levels", "morton_codes"]

#: Rows per row group of the synapse files (the unit a bounding-box read skips or reads).
SYNAPSE_ROW_GROUP = 16 * 1024
_CELL = "__cell"
_SYNAPSE_ID = "synapse_id"


def morton_codes(q: np.ndarray, bits: int) -> np.ndarray:
    """Morton (z-order) codes of integer cell coordinates ``q`` (n × 3, each below ``2**bits``)."""
    q = np.asarray(q, dtype=np.uint64)
    code = np.zeros(len(q), np.uint64)
    for bit in range(bits):
        for axis in range(3):
            code |= ((q[:, axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit + axis)
    return code


def levels(rows: int, bucket_rows: int, row_group: int | None = None) -> tuple[int, int]:
    """(fine_bits, super_bits): cells of about a row group each, super cells of about a quarter of ``bucket_rows``."""
    row_group = row_group or SYNAPSE_ROW_GROUP
    fine = min(10, max(0, math.ceil(math.log(max(rows / row_group, 1), 8))))
    sup = min(fine, 3, max(0, math.ceil(math.log(max(4 * rows / bucket_rows, 1), 8))))
    return fine, sup


class SpatialSynapseWriter:
    """Stage normalised synapse rows by super cell, then write them cell-ordered with an id index."""

    def __init__(self, builder: StoreBuilder, folder: str | Path, lo: np.ndarray, hi: np.ndarray, rows: int,
                 bucket_rows: int, file_rows: int = DEFAULT_PARTITION_ROWS,
                 id_bounds: np.ndarray | None = None) -> None:
        self.builder = builder
        self.lo = np.asarray(lo, np.float64)
        self.span = np.maximum(np.asarray(hi, np.float64) - self.lo, 1e-9)
        self.fine, self.sup = levels(rows, bucket_rows, SYNAPSE_ROW_GROUP)
        self.stager = BucketStager(folder, np.arange(1, 8 ** self.sup, dtype=np.uint64))
        self.file_rows = file_rows
        self.files: list[FileInfo] = []
        self.columns: dict[str, str] | None = None
        # the id index is staged by root-id range too (the pre-id ranges' bounds), so it is sorted one range at a time
        self.index = BucketStager(Path(folder) / "index", np.zeros(0, np.int64) if id_bounds is None else id_bounds)
        self.index_rows = 0

    def _cells(self, df: pd.DataFrame) -> np.ndarray:
        if not all(c in df.columns for c in POSITION_COLUMNS):
            return np.zeros(len(df), np.uint64)
        xyz = df[list(POSITION_COLUMNS)].to_numpy(dtype=np.float64)
        n = 1 << self.fine
        q = np.nan_to_num(np.floor((xyz - self.lo) / self.span * n), nan=0.0)
        return morton_codes(np.clip(q, 0, n - 1).astype(np.uint64), self.fine)

    def add(self, syn: pd.DataFrame) -> None:
        """Stage one part of the normalised synapse table."""
        if not len(syn):
            return
        if self.columns is None:
            self.columns = {c: str(t) for c, t in syn.dtypes.items()}
        cells = self._cells(syn)
        tbl = pa.Table.from_pandas(syn, preserve_index=False).append_column(_CELL, pa.array(cells))
        self.stager.add(tbl, cells >> np.uint64(3 * (self.fine - self.sup)))

    def _write(self, df: pd.DataFrame) -> None:
        from .stream import write_files

        jobs = []
        for a in range(0, len(df), self.file_rows):
            part = df.iloc[a:a + self.file_rows]
            pre = part[PRE].to_numpy()
            stats = {"pre_root_id_min": str(int(pre.min())), "pre_root_id_max": str(int(pre.max())),
                     **position_stats(part)}
            no = len(self.files) + len(jobs)
            jobs.append((f"synapses/part-{no:05d}.parquet", part, stats))
            ids_pre = np.unique(pre)
            ids_post = np.unique(part[POST].to_numpy())
            both = np.union1d(ids_pre, ids_post)
            role = np.isin(both, ids_pre, assume_unique=True).astype(np.int8) + \
                2 * np.isin(both, ids_post, assume_unique=True).astype(np.int8)
            self.index.add(pa.table({"root_id": pa.array(both, pa.int64()),
                                     "file": pa.array(np.full(len(both), no, np.int32)),
                                     "role": pa.array(role)}), both)
            self.index_rows += len(both)
        self.files.extend(write_files(self.builder, jobs, row_group_size=SYNAPSE_ROW_GROUP))

    def finish(self, progress: bool | None = None) -> None:
        """Write the synapse files super cell by super cell, then the id index; record both tables."""
        self.stager.close()
        with progress_bar(total=self.stager.n, desc="synapses: writing by position", unit="cell",
                          progress=progress) as bar:
            for b in range(self.stager.n):
                df = self.stager.read(b)
                bar.update(1)
                if not len(df):
                    continue
                sid = df[_SYNAPSE_ID].to_numpy() if _SYNAPSE_ID in df.columns else np.arange(len(df))
                order = np.lexsort((sid, df[POST].to_numpy(), df[PRE].to_numpy(), df[_CELL].to_numpy()))
                self._write(df.drop(columns=[_CELL]).take(order).reset_index(drop=True))
        if not self.files:
            return
        self.builder.add_table("synapses", self.files, self.columns or {})
        self.index.close()
        files: list[FileInfo] = []
        columns: dict[str, str] = {}
        for b in range(self.index.n):
            part = self.index.read(b)
            if not len(part):
                continue
            order = np.lexsort((part["file"].to_numpy(), part["root_id"].to_numpy()))
            part = part.take(order).reset_index(drop=True)
            columns = columns or {c: str(t) for c, t in part.dtypes.items()}
            files.append(self.builder.write(f"{INDEX}/part-{len(files):05d}.parquet", part, {
                "root_id_min": str(int(part["root_id"].iloc[0])), "root_id_max": str(int(part["root_id"].iloc[-1]))},
                row_group_size=64 * 1024))
        self.builder.add_table(INDEX, files, columns)
        logger.info("synapses: %d file(s) in %d super cell(s) of %d^3 cells; id index of %s rows", len(self.files),
                    self.stager.n, 1 << self.fine, f"{self.index_rows:,}")

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the layout."""
        return {"order": "Morton cells of the position, then pre, post, synapse id",
                "cells_per_axis": 1 << self.fine, "super_cells_per_axis": 1 << self.sup,
                "bounds_nm": [self.lo.tolist(), (self.lo + self.span).tolist()],
                "row_group_rows": SYNAPSE_ROW_GROUP, "index": INDEX}
