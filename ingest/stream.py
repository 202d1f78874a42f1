"""Out-of-core ingest: release files read in record batches, written partition by partition.

A release file is never loaded whole. Three passes, each bounded by a batch or
by one *pre-id range* (a bucket of about ``bucket_rows`` rows):

1. the presynaptic id column is read alone (a sample of it gives the bucket
   boundaries, as quantiles, so buckets hold about the same number of rows);
2. every record batch is renamed, checked, and appended to the Parquet staging
   file of its bucket (all rows of one presynaptic neuron meet in one bucket);
3. bucket by bucket, in id order: the core's normalisation
   (:func:`connectome.schema.normalize_edges`, the same code as the in-memory
   path, so results are identical), edge aggregation of synapse rows
   (:func:`connectome.ingest.cave.format.aggregate_edges`), the pair table
   (:mod:`connectome.pair_table`), and the store's Parquet files
   (:class:`connectome.store.StoreBuilder`).

Peak memory is one bucket plus the node table, so it depends on the number of
rows per bucket, not on the file. Synapse tables are written sorted, inside
each pre-id range, by a Morton (z-order) key of the position and split into
files whose manifest entries carry id and position ranges; a bounding-box read
(:meth:`connectome.Connectome.synapse_table`) opens only the files and row
groups it needs.

The release ingests (:func:`connectome.ingest.release.ingest_codex`, ``ingest_neuprint``,
``ingest_edgelist``, :func:`connectome.ingest.cave.ingest_cave_files`) take this path
with ``stream=True``, or by themselves for files of at least
``CONNECTOME_STREAM_BYTES`` bytes (default 256 MiB), said in a log message.

Examples
--------
>>> import tempfile, pandas as pd, connectome as cx
>>> from connectome.ingest.release import ingest_codex
>>> d = tempfile.mkdtemp()
>>> pd.DataFrame({"pre_root_id": [1, 1, 2], "post_root_id": [2, 2, 1], "neuropil": ["AL_L", "LH_L", "AL_L"],
...               "syn_count": [3, 4, 5]}).to_feather(d + "/c.feather")
>>> p = ingest_codex(d + "/c.feather", out=d + "/s", stream=True, progress=False)
>>> cx.load(p).n_edges, cx.pair_totals(cx.load(p))["synapse_count"].tolist()
(3, [7, 5])
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from connectome.errors import InputError, SourceNotFoundError
from connectome.manifest import FileInfo
from connectome.pair_table import pair_aggregate
from connectome.progress import progress_bar
from connectome.schema import ID_DTYPE, POST, PRE, coerce_ids
from connectome.store import DEFAULT_PARTITION_ROWS, StoreBuilder, _arrow_to_pandas, _parts

from .tables import _DELIMITERS, _kind as kind_of, _sniff_delimiter

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_BUCKET_ROWS",
    "STREAM_BYTES",
    "BucketStager",
    "EdgeWriter",
    "bucket_rows_default",
    "file_columns",
    "iter_batches",
    "should_stream",
    "stream_bytes",
]

#: Files at least this large take the streaming path unless ``stream=False`` (``CONNECTOME_STREAM_BYTES``).
STREAM_BYTES = 256 * 1024 * 1024
#: Rows per record batch read from a file.
DEFAULT_BATCH_ROWS = 256 * 1024
#: Target rows per pre-id range (the unit held in memory at once).
DEFAULT_BUCKET_ROWS = 2_000_000
_SAMPLE_EVERY = 16


def bucket_rows_default() -> int:
    """Rows per pre-id range (``CONNECTOME_STREAM_BUCKET_ROWS``, default 2,000,000): the memory knob.

    Examples
    --------
    >>> bucket_rows_default() > 0
    True
    """
    raw = os.environ.get("CONNECTOME_STREAM_BUCKET_ROWS")
    if raw is None:
        return DEFAULT_BUCKET_ROWS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"CONNECTOME_STREAM_BUCKET_ROWS must be a positive integer, not {raw!r}",
                         "CONNECTOME_STREAM_BUCKET_ROWS")
    return value


def stream_bytes() -> int:
    """File size from which ingests stream by themselves (``CONNECTOME_STREAM_BYTES``, default 256 MiB).

    Examples
    --------
    >>> stream_bytes() > 0
    True
    """
    raw = os.environ.get("CONNECTOME_STREAM_BYTES")
    if raw is None:
        return STREAM_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"CONNECTOME_STREAM_BYTES must be an integer number of bytes, not {raw!r}",
                         "CONNECTOME_STREAM_BYTES") from None
    if value < 0:
        raise InputError("CONNECTOME_STREAM_BYTES must be >= 0", "CONNECTOME_STREAM_BYTES")
    return value


def should_stream(src: Any, stream: bool | None, parameter: str) -> bool:
    """Whether an ingest of ``src`` takes the streaming path.

    ``stream=True`` needs a file (a DataFrame is already in memory and is
    refused); ``None`` streams files of at least :func:`stream_bytes` bytes and says so.

    Examples
    --------
    >>> import pandas as pd
    >>> should_stream(pd.DataFrame(), None, "edges")
    False
    """
    if stream not in (None, True, False):
        raise InputError(f"stream must be True, False or None (decide by file size), not {stream!r}", "stream")
    is_file = isinstance(src, (str, Path))
    if stream is True:
        if not is_file:
            raise InputError(f"stream=True reads {parameter} from a file in batches; pass a path, not a "
                             f"{type(src).__name__} (a DataFrame is already in memory: leave stream unset)", "stream")
        return True
    if stream is False or not is_file:
        return False
    p = Path(src).expanduser()
    if p.is_file() and p.stat().st_size >= stream_bytes():
        logger.info("%s: %s is %.0f MiB (>= CONNECTOME_STREAM_BYTES): reading it in record batches "
                    "(pass stream=False to read it whole)", parameter, p.name, p.stat().st_size / 2**20)
        return True
    return False


# ----------------------------------------------------------------------------- reading in batches


def _kind(p: Path, parameter: str) -> str:
    if not p.exists():
        raise SourceNotFoundError(p, parameter, "check the path")
    if p.is_dir():
        raise InputError(f"{parameter}: {str(p)!r} is a folder; pass a file", parameter)
    if p.stat().st_size == 0:
        raise InputError(f"{parameter}: {str(p)!r} is empty (0 bytes; no header, no rows)", parameter)
    try:
        return kind_of(p)
    except InputError as exc:
        exc.parameter = parameter
        raise


def _csv_delimiter(p: Path, kind: str, parameter: str) -> str:
    sep = "\t" if kind == "tsv" else ","
    other = _sniff_delimiter(p, sep)
    if other is None:
        return sep
    if other == r"\s+":
        raise InputError(f"{parameter}: {p.name} is whitespace-separated; the streaming reader needs one delimiter "
                         "character (convert it, or pass stream=False)", parameter)
    logger.warning("%s: %s is %s-separated, not %s-separated as its suffix says; reading it with %s as the "
                   "delimiter", parameter, p.name, _DELIMITERS[other], _DELIMITERS[sep], _DELIMITERS[other])
    return other


def _feather_reader(p: Path) -> Any:
    from pyarrow import ipc

    # plain reads, not a memory map: mapped pages of a 7 GB file stay resident (and count) while it is read
    try:
        return ipc.open_file(pa.OSFile(str(p), "rb"))
    except pa.ArrowInvalid:
        return ipc.open_stream(pa.OSFile(str(p), "rb"))


def file_columns(path: str | Path, parameter: str = "path") -> list[str]:
    """Column names of a CSV/TSV (optionally compressed), Parquet or Feather file, read from its header.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> f = tempfile.mkdtemp() + "/e.parquet"
    >>> pd.DataFrame({"pre": [1], "post": [2]}).to_parquet(f)
    >>> file_columns(f)
    ['pre', 'post']
    """
    p = Path(path).expanduser()
    kind = _kind(p, parameter)
    try:
        if kind == "parquet":
            return [n for n in pq.ParquetFile(p).schema_arrow.names if not n.startswith("__index_level_")]
        if kind == "feather":
            return [n for n in _feather_reader(p).schema.names if not n.startswith("__index_level_")]
        import pyarrow.csv as pcsv

        sep = _csv_delimiter(p, kind, parameter)
        with pcsv.open_csv(pa.input_stream(str(p), compression="detect"),
                           parse_options=pcsv.ParseOptions(delimiter=sep)) as r:
            return list(r.schema.names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{parameter}: cannot read {str(p)!r} as {kind} ({exc})", parameter) from None


def iter_batches(path: str | Path, parameter: str = "path", *, columns: Sequence[str] | None = None,
                 id_columns: Sequence[str] = (), batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Record batches of a file, ``columns`` only (file names), ids of ``id_columns`` as ``int64``.

    CSV ids are parsed as ``uint64`` (no digit is lost on the way), then every integer id
    column is checked and cast to ``int64``: an id of 2**63 or more is refused with
    :class:`~connectome.errors.IdError`, as :func:`connectome.schema.coerce_ids` refuses it.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> f = tempfile.mkdtemp() + "/e.csv"
    >>> pd.DataFrame({"pre": [1, 2, 3], "post": [2, 3, 1]}).to_csv(f, index=False)
    >>> sum(b.num_rows for b in iter_batches(f, columns=["pre"], id_columns=["pre"]))
    3
    """
    p = Path(path).expanduser()
    kind = _kind(p, parameter)
    cols = list(columns) if columns is not None else None
    try:
        if kind == "parquet":
            pf = pq.ParquetFile(p)
            names = [n for n in pf.schema_arrow.names if not n.startswith("__index_level_")]
            for b in pf.iter_batches(batch_size=batch_rows, columns=cols if cols is not None else names):
                yield _int64_ids(b, id_columns)
        elif kind == "feather":
            reader = _feather_reader(p)
            names = [n for n in reader.schema.names if not n.startswith("__index_level_")]
            want = cols if cols is not None else names
            idx = [reader.schema.get_field_index(c) for c in want]
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches)) if hasattr(
                reader, "num_record_batches") else iter(reader)
            for b in batches:
                b = pa.RecordBatch.from_arrays([b.column(i) for i in idx], names=want)
                for off in range(0, b.num_rows, batch_rows):
                    yield _int64_ids(b.slice(off, batch_rows), id_columns)
        else:
            import pyarrow.csv as pcsv

            sep = _csv_delimiter(p, kind, parameter)
            types = {c: pa.uint64() for c in id_columns}
            with pcsv.open_csv(pa.input_stream(str(p), compression="detect"),
                               read_options=pcsv.ReadOptions(block_size=4 << 20, use_threads=pa.cpu_count() > 1),
                               parse_options=pcsv.ParseOptions(delimiter=sep),
                               convert_options=pcsv.ConvertOptions(column_types=types, include_columns=cols,
                                                                   strings_can_be_null=True)) as r:
                for b in r:
                    yield _int64_ids(b, id_columns)
    except (pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise SourceNotFoundError(p, parameter) from None
        hint = (" (ids must be non-negative integers below 2**63)" if "uint64" in str(exc) else "")
        raise InputError(f"{parameter}: cannot read {str(p)!r} as {kind} ({exc}){hint}", parameter) from None


def _int64_ids(batch: pa.RecordBatch, id_columns: Sequence[str]) -> pa.RecordBatch:
    """``batch`` with its integer id columns (no nulls) as int64, checked; others are left to coerce_ids."""
    for name in id_columns:
        i = batch.schema.get_field_index(name)
        if i < 0:
            continue
        col = batch.column(i)
        if pa.types.is_integer(col.type) and col.type != pa.int64() and col.null_count == 0:
            batch = batch.set_column(i, batch.schema.field(i).with_type(pa.int64()),
                                     pa.array(_ids(col, name), pa.int64()))
    return batch


def _ids(arr: pa.Array | pa.ChunkedArray, column: str) -> np.ndarray:
    """A batch's id column as int64, refused as :func:`connectome.schema.coerce_ids` refuses it."""
    if pa.types.is_integer(arr.type) and arr.null_count == 0:
        return coerce_ids(np.asarray(arr.to_numpy(zero_copy_only=False)), column)
    return coerce_ids(arr.to_pandas(), column)


# ----------------------------------------------------------------------------- pre-id ranges


def bucket_bounds(path: Path, parameter: str, pre_column: str, bucket_rows: int,
                  batch_rows: int = DEFAULT_BATCH_ROWS, progress: bool | None = None) -> tuple[np.ndarray, int]:
    """Boundaries of the pre-id ranges (quantiles of a sample of ``pre_column``) and the file's row count."""
    sample: list[np.ndarray] = []
    rows = 0
    with progress_bar(desc=f"{parameter}: scanning ids", unit="row", progress=progress) as bar:
        for b in iter_batches(path, parameter, columns=[pre_column], id_columns=[pre_column], batch_rows=batch_rows):
            ids = _ids(b.column(0), pre_column)
            sample.append(np.sort(ids[::_SAMPLE_EVERY]))
            rows += b.num_rows
            bar.update(b.num_rows)
    if rows == 0:
        raise InputError(f"{parameter}: {str(path)!r} has a header but no rows; nothing to ingest", parameter)
    nb = max(1, math.ceil(rows / bucket_rows))
    if nb == 1:
        return np.zeros(0, ID_DTYPE), rows
    s = np.sort(np.concatenate(sample))
    cuts = s[(np.arange(1, nb) * len(s)) // nb]
    return np.unique(cuts), rows


class BucketStager:
    """Arrow IPC stream staging files, one per pre-id range; rows keep their file order.

    Examples
    --------
    >>> import tempfile, numpy as np, pyarrow as pa
    >>> st = BucketStager(tempfile.mkdtemp(), np.array([10]))
    >>> st.add(pa.table({"pre_root_id": pa.array([3, 12, 5])}), np.array([3, 12, 5]))
    >>> [st.read(i)["pre_root_id"].tolist() for i in range(st.n)]
    [[3, 5], [12]]
    """

    def __init__(self, folder: str | Path, bounds: np.ndarray) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.bounds = np.asarray(bounds)  # int64 ids, or uint64 keys (Morton cells): add() passes the same dtype
        self.n = len(self.bounds) + 1
        self._writers: dict[int, Any] = {}
        self._schema: pa.Schema | None = None
        self.rows = 0

    def _file(self, b: int) -> Path:
        return self.folder / f"bucket-{b:05d}.arrow"

    def add(self, table: pa.Table, pre: np.ndarray) -> None:
        """Append ``table`` (whose presynaptic ids are ``pre``) to the staging files of its ranges."""
        from pyarrow import ipc

        self.rows += table.num_rows
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                raise InputError(f"the file's column types change from batch to batch ({exc}); give the columns "
                                 "one type", "edges") from None
        if len(self.bounds):
            which = np.searchsorted(self.bounds, pre, side="right")
            order = np.argsort(which, kind="stable")  # stable: rows keep their file order inside a range
            counts = np.bincount(which, minlength=self.n)
            table = table.take(pa.array(order))
        else:
            counts = np.array([table.num_rows])
        start = 0
        for b in np.flatnonzero(counts):
            part = table.slice(start, int(counts[b]))
            start += int(counts[b])
            w = self._writers.get(int(b))
            if w is None:
                w = ipc.new_stream(str(self._file(int(b))), self._schema)  # a stream: dictionaries may change
                self._writers[int(b)] = w
            w.write_table(part)

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def read(self, b: int) -> pd.DataFrame:
        """Range ``b`` as pandas in file order, labels as pyarrow strings (empty frame if no rows)."""
        from pyarrow import ipc

        self.close()
        f = self._file(b)
        if not f.exists():
            return pd.DataFrame()
        with pa.OSFile(str(f), "rb") as src:
            tbl = ipc.open_stream(src).read_all()
            df = _arrow_to_pandas(tbl)
        del tbl
        f.unlink()
        return df


# ----------------------------------------------------------------------------- writing partitions


class EdgeWriter:
    """Edge and pair files of a store, appended one normalised pre-id range at a time."""

    def __init__(self, builder: StoreBuilder, partition_rows: int = DEFAULT_PARTITION_ROWS) -> None:
        self.builder = builder
        self.partition_rows = partition_rows
        self.files: dict[str, list[FileInfo]] = {"edges": [], "pairs": []}
        self.columns: dict[str, dict[str, str] | None] = {"edges": None, "pairs": None}
        self.template: dict[str, pd.DataFrame | None] = {"edges": None, "pairs": None}
        self.ends: list[np.ndarray] = []

    def _write(self, table: str, df: pd.DataFrame) -> None:
        if self.template[table] is None:
            self.template[table] = df.iloc[:0]
            self.columns[table] = {c: str(t) for c, t in df.dtypes.items()}
        else:
            want = self.template[table]
            if list(df.columns) != list(want.columns):
                raise InputError(f"{table}: the columns differ between parts of the file ({list(df.columns)} vs "
                                 f"{list(want.columns)})", "edges")
            differ = {c: want[c].dtype for c in df.columns if df[c].dtype != want[c].dtype}
            if differ:
                df = df.astype(differ)
        jobs = []
        for _, part, stats in _parts(df, table, self.partition_rows):
            jobs.append((f"{table}/part-{len(self.files[table]) + len(jobs):05d}.parquet", part, stats))
        self.files[table].extend(write_files(self.builder, jobs))

    def add(self, edges: pd.DataFrame) -> None:
        """Write one pre-id range of normalised edges (and its pair table)."""
        if not len(edges):
            return
        self.ends.append(np.unique(np.concatenate([edges[PRE].to_numpy(), edges[POST].to_numpy()])))
        self._write("edges", edges)
        pairs = pair_aggregate(edges)
        if pairs is not None:
            self._write("pairs", pairs)

    def endpoint_ids(self) -> np.ndarray:
        return np.unique(np.concatenate(self.ends)) if self.ends else np.zeros(0, ID_DTYPE)

    def finish(self, empty_edges: pd.DataFrame) -> None:
        """Record the tables (an empty edge table, normalised, when no row was written)."""
        if self.template["edges"] is None:
            self.files["edges"] = [self.builder.write("edges/part-00000.parquet", empty_edges)]
            self.columns["edges"] = {c: str(t) for c, t in empty_edges.dtypes.items()}
            pairs = pair_aggregate(empty_edges)
            if pairs is not None:
                self.files["pairs"] = [self.builder.write("pairs/part-00000.parquet", pairs)]
                self.columns["pairs"] = {c: str(t) for c, t in pairs.dtypes.items()}
        for table in ("edges", "pairs"):
            if self.columns[table] is not None:
                self.builder.add_table(table, self.files[table], self.columns[table])


def write_files(builder: StoreBuilder, jobs: list[tuple[str, Any, dict]], row_group_size: int = 128 * 1024
                ) -> list[FileInfo]:
    """Write ``(relative path, frame, stats)`` jobs in threads (Arrow encodes without the GIL); entries in order."""
    from concurrent.futures import ThreadPoolExecutor

    def one(job: tuple[str, Any, dict]) -> FileInfo:
        return builder.write(job[0], job[1], job[2], row_group_size=row_group_size)

    workers = max(1, min(len(jobs), pa.cpu_count(), 4))  # Arrow's thread setting (pa.set_cpu_count)
    if workers == 1:
        return [one(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))


def run_buckets(stager: BucketStager, fn: Callable[[int, pd.DataFrame], None], desc: str,
                progress: bool | None) -> None:
    """Call ``fn(b, rows)`` for each pre-id range in id order."""
    with progress_bar(total=stager.n, desc=desc, unit="range", progress=progress) as bar:
        for b in range(stager.n):
            df = stager.read(b)
            if len(df):
                fn(b, df)
            bar.update(1)
