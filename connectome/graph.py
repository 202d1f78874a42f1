"""The :class:`Connectome`: Dask-backed node and edge tables with a manifest.

A ``Connectome`` holds three tables: ``nodes`` (one row per neuron, keyed by
``root_id``), ``edges`` (``pre_root_id``, ``post_root_id``, ``synapse_count``,
``edge_kind``, ...) and optionally ``synapses`` (one row per synapse, positions
in nm). ``.nodes`` and ``.edges`` are always Dask DataFrames. Small graphs
also keep a pandas copy and take a fast in-memory path; every operation is
written once as a pandas function applied either directly or partition by
partition, so both paths give identical results.

The methods (``c.filter_edges(...).select(...)``) call the functional modules
(:mod:`connectome.filters`, :mod:`connectome.typelevel`, :mod:`connectome.export`,
:mod:`connectome.overview`, :mod:`connectome.store`), which this module imports at its
top; those modules name ``Connectome`` only for typing, so the imports run one way.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> c
<Connectome celegans_cook2019_herm: 473 nodes, 7,762 edges (in memory)>
>>> type(c.edges).__name__
'DataFrame'
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from . import export, filters, overview, synapse_reads, typelevel
from .errors import InputError
from .manifest import Manifest
from .scheduler import compute
from .schema import ROOT_ID, coerce_ids, normalize_labels
from .store import DEFAULT_PARTITION_ROWS, read_table, write_tables

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd

logger = logging.getLogger(__name__)

__all__ = ["Connectome", "Tables", "memory_rows_limit"]

#: Above this many edge rows, stores load lazily (Dask only) unless asked otherwise.
DEFAULT_MEMORY_ROWS = 5_000_000


def memory_rows_limit() -> int:
    """Largest edge table (rows) that takes the in-memory path by default
    (``CONNECTOME_MEMORY_ROWS``, default 5,000,000).

    Examples
    --------
    >>> memory_rows_limit() > 0
    True
    """
    return int(os.environ.get("CONNECTOME_MEMORY_ROWS", DEFAULT_MEMORY_ROWS))


def _merge_filters(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Filters applied one after the other: the strictest threshold, the values kept by both, node steps in order."""
    out = copy.deepcopy(old)
    for key, value in new.items():
        if value is None:
            continue
        if key == "min_synapses":
            out[key] = max(int(value), int(out.get(key, value)))
        elif key == "nodes":
            out[key] = list(out.get(key, [])) + list(value)
        elif key in out:
            out[key] = [v for v in out[key] if v in set(value)]
        else:
            out[key] = list(value)
    return out


class Tables(NamedTuple):
    """The pandas tables of a connectome."""

    nodes: pd.DataFrame
    edges: pd.DataFrame
    synapses: pd.DataFrame | None


def _dask_from_pandas(df: pd.DataFrame, partition_rows: int = 500_000) -> dd.DataFrame:
    import dask.dataframe as dd  # lazy: dask is heavy; a Connectome builds its Dask views on first use

    nparts = max(1, -(-len(df) // partition_rows))
    return dd.from_pandas(df, npartitions=nparts, sort=False)


class Connectome:
    """A connectome: nodes, edges and optional synapses, with provenance.

    Build one with :func:`connectome.load` (a dataset name or a store path) or
    :func:`connectome.from_edges` (your own pandas tables); do not call the
    constructor directly.

    Attributes
    ----------
    manifest : Manifest
        Name, source, version, units and (for derived graphs) the operations applied.
    path : pathlib.Path or None
        The store this connectome was read from, if any.
    """

    def __init__(
        self,
        manifest: Manifest,
        *,
        tables: Tables | None = None,
        frames: tuple[Any, Any, Any] | None = None,
        path: Path | None = None,
        in_memory: bool = True,
    ) -> None:
        if tables is None and frames is None:
            raise TypeError("Connectome needs pandas tables or dask frames")
        self.manifest = manifest
        self.path = path
        self._tables = tables
        self._frames = frames
        self._in_memory = bool(in_memory)
        self._memo: dict[Any, Any] = {}

    # ------------------------------------------------------------------ tables
    @property
    def name(self) -> str:
        """Dataset name."""
        return self.manifest.name

    @property
    def in_memory(self) -> bool:
        """Whether operations take the pandas (in-memory) path."""
        return self._in_memory

    def _dask(self) -> tuple[Any, Any, Any]:
        if self._frames is None:
            t = self._tables
            assert t is not None
            self._frames = (
                _dask_from_pandas(t.nodes),
                _dask_from_pandas(t.edges),
                None if t.synapses is None else _dask_from_pandas(t.synapses),
            )
        return self._frames

    @property
    def nodes(self) -> dd.DataFrame:
        """Nodes as a Dask DataFrame (``root_id`` + label columns)."""
        return self._dask()[0]

    @property
    def edges(self) -> dd.DataFrame:
        """Edges as a Dask DataFrame (``pre_root_id``, ``post_root_id``, ``synapse_count``, ...)."""
        return self._dask()[1]

    @property
    def synapses(self) -> dd.DataFrame | None:
        """Per-synapse rows as a Dask DataFrame, or ``None`` if the store has none."""
        return self._dask()[2]

    @property
    def has_synapses(self) -> bool:
        """True if a per-synapse table is present."""
        if self._tables is not None:
            return self._tables.synapses is not None
        return self._frames is not None and self._frames[2] is not None

    def synapse_table(self, ids: Any = None, bbox: Any = None, columns: list[str] | None = None, *,
                      side: str = "either") -> pd.DataFrame:
        """A slice of the synapse table as pandas, without loading the table whole.

        ``ids`` selects by root id (``side``: ``"either"`` end, ``"pre"``,
        ``"post"`` or ``"both"`` ends in ``ids``); ``bbox`` is
        ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]`` in nm; ``columns`` picks
        columns. Only the store files (and row groups) whose id and position
        ranges can match are read; see :func:`connectome.synapse_reads.synapse_table`.

        Examples
        --------
        >>> import connectome as cx
        >>> cx.load("celegans_cook2019_herm").synapse_table()
        Traceback (most recent call last):
        ...
        connectome.errors.InputError: synapses: celegans_cook2019_herm has no synapse table; ingest one with synapses (connectome ingest cave-files --synapses FILE, or write_store(..., synapses=...))
        """
        return synapse_reads.synapse_table(self, ids=ids, bbox=bbox, columns=columns, side=side)

    def to_pandas(self, scheduler: Any = None) -> Tables:
        """All tables as pandas DataFrames (cached on in-memory connectomes).

        Examples
        --------
        >>> import connectome as cx
        >>> t = cx.load("celegans_cook2019_herm").to_pandas()
        >>> list(t.edges.columns[:3])
        ['pre_root_id', 'post_root_id', 'synapse_count']
        """
        if self._tables is not None:
            return self._tables
        if self._is_pristine():
            tables = self._read_store()
            if self._in_memory:
                self._tables = tables
            return tables
        n, e, s = self._dask()
        if s is None:
            nodes, edges = compute(n, e, scheduler=scheduler)
            syn = None
        else:
            nodes, edges, syn = compute(n, e, s, scheduler=scheduler)
        tables = Tables(
            nodes.reset_index(drop=True),
            edges.reset_index(drop=True),
            None if syn is None else syn.reset_index(drop=True),
        )
        if self._in_memory:
            self._tables = tables
        return tables

    def _read_store(self) -> Tables:
        assert self.path is not None
        syn = read_table(self.path, "synapses") if "synapses" in self.manifest.tables else None
        return Tables(read_table(self.path, "nodes"), read_table(self.path, "edges"), syn)

    def edge_table(self, columns: list[str] | None = None, scheduler: Any = None) -> pd.DataFrame:
        """The edge table as pandas (optionally only ``columns``)."""
        if self._tables is not None or self._in_memory:
            e = self.to_pandas(scheduler).edges
            return e if columns is None else e[columns]
        e = self.edges if columns is None else self.edges[columns]
        return compute(e, scheduler=scheduler)[0].reset_index(drop=True)

    def node_table(self, columns: list[str] | None = None, scheduler: Any = None) -> pd.DataFrame:
        """The node table as pandas (optionally only ``columns``)."""
        if self._tables is not None or self._in_memory:
            n = self.to_pandas(scheduler).nodes
            return n if columns is None else n[columns]
        n = self.nodes if columns is None else self.nodes[columns]
        return compute(n, scheduler=scheduler)[0].reset_index(drop=True)

    @property
    def label_columns(self) -> list[str]:
        """Node columns other than ``root_id`` (labels, positions, scores)."""
        cols = self._tables.nodes.columns if self._tables is not None else self.nodes.columns
        return [c for c in cols if c != ROOT_ID]

    @property
    def edge_columns(self) -> list[str]:
        """Columns of the edge table."""
        cols = self._tables.edges.columns if self._tables is not None else self.edges.columns
        return list(cols)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        if self._tables is not None:
            return len(self._tables.nodes)
        if self._is_pristine():
            return self.manifest.rows("nodes")
        return int(self.nodes.shape[0].compute())

    @property
    def n_edges(self) -> int:
        """Number of edge rows."""
        if self._tables is not None:
            return len(self._tables.edges)
        if self._is_pristine():
            return self.manifest.rows("edges")
        return int(compute(self.edges.shape[0])[0])

    @property
    def filters(self) -> dict[str, Any]:
        """The filters applied to this connectome's tables (``{}`` for a store as ingested; a store
        saved from a filtered graph keeps them): ``min_synapses`` (the strictest), ``edge_kind`` and
        ``neuropil`` (the values kept)
        of :func:`~connectome.filter_edges`, and ``nodes`` (the node selections: :func:`~connectome.select`,
        :func:`~connectome.subgraph`, :func:`~connectome.neighborhood`). Results record them as
        ``graph_filters``: a partner fraction of a filtered graph is a fraction of what is left.

        Examples
        --------
        >>> import connectome as cx
        >>> c = cx.load("celegans_cook2019_herm")
        >>> c.filters, c.filter_edges(min_synapses=5).filters
        ({}, {'min_synapses': 5})
        """
        return copy.deepcopy(self.manifest.extra.get("filters", {}))

    def _is_pristine(self) -> bool:
        return self.path is not None and not self.manifest.extra.get("derived")

    def with_node_columns(self, table: pd.DataFrame, *, overwrite: bool = False) -> Connectome:
        """A new connectome whose nodes carry extra columns from ``table``.

        ``table`` is keyed by ``root_id`` (e.g. GNN predictions, segment volumes).
        Nodes absent from ``table`` get missing values; ids in ``table`` that are
        not nodes raise an error. Save the result with :meth:`save` to write the
        columns back to a store.

        Examples
        --------
        >>> import pandas as pd, connectome as cx
        >>> c = cx.load("celegans_cook2019_herm")
        >>> ids = cx.ids_of(c, cell_type="AVA")
        >>> c2 = c.with_node_columns(pd.DataFrame({"root_id": ids, "score": [0.9, 0.8]}))
        >>> int(c2.node_table()["score"].notna().sum())
        2
        """
        if not isinstance(table, pd.DataFrame) or ROOT_ID not in table.columns:
            raise InputError("table must be a DataFrame with a 'root_id' column", "table")
        add = table.copy()
        add[ROOT_ID] = coerce_ids(add[ROOT_ID], ROOT_ID)
        if add[ROOT_ID].duplicated().any():
            raise InputError("table: root_id values must be unique", "table")
        nodes = self.node_table()
        unknown = ~add[ROOT_ID].isin(nodes[ROOT_ID])
        if unknown.any():
            raise InputError(
                f"table: {int(unknown.sum())} root id(s) are not nodes of {self.name}, "
                f"e.g. {int(add.loc[unknown, ROOT_ID].iloc[0])}", "table")
        clash = [col for col in add.columns if col != ROOT_ID and col in nodes.columns]
        if clash and not overwrite:
            raise InputError(f"table: column(s) {clash} already exist; pass overwrite=True to replace them",
                             "overwrite")
        merged = nodes.drop(columns=clash).merge(normalize_labels(add, skip=[ROOT_ID]), on=ROOT_ID, how="left")
        t = self.to_pandas()
        cols = ", ".join(c for c in add.columns if c != ROOT_ID)
        return self._derive(f"with_node_columns({cols})", tables=Tables(merged, t.edges, t.synapses))

    def lazy(self) -> Connectome:
        """The same connectome on the Dask path (operations build task graphs).

        Examples
        --------
        >>> import connectome as cx
        >>> cx.load("celegans_cook2019_herm").lazy().in_memory
        False
        """
        n, e, s = self._dask()
        return Connectome(self.manifest, frames=(n, e, s), path=self.path, in_memory=False)

    def materialize(self, scheduler: Any = None) -> Connectome:
        """The same connectome held in memory (pandas path)."""
        return Connectome(self.manifest, tables=self.to_pandas(scheduler), frames=self._frames,
                          path=self.path, in_memory=True)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Derived data (pair graphs, relations) cached on this immutable connectome.

        Only in-memory connectomes cache; on the Dask path every call recomputes.
        """
        if not self._in_memory:
            return compute()
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # ------------------------------------------------------------------ plumbing
    def _derive(self, step: str, tables: Tables | None = None, frames: tuple | None = None,
                record: dict[str, Any] | None = None) -> Connectome:
        m = copy.deepcopy(self.manifest)
        m.extra = dict(m.extra)
        m.extra["derived"] = list(m.extra.get("derived", [])) + [step]
        if record:
            m.extra["filters"] = _merge_filters(m.extra.get("filters", {}), record)
        for info in m.tables.values():
            info.files = []
            info.rows = -1
        return Connectome(m, tables=tables, frames=frames, path=None, in_memory=self._in_memory)

    def _apply(self, step: str, node_fn: Callable | None, edge_fn: Callable | None,
               syn_fn: Callable | None = None, record: dict[str, Any] | None = None) -> Connectome:
        """Apply pandas functions table by table (pandas path) or partition-wise (Dask); ``record``
        is the filter to add to :attr:`filters`."""
        if self._in_memory:
            t = self.to_pandas()
            nodes = node_fn(t.nodes).reset_index(drop=True) if node_fn else t.nodes
            edges = edge_fn(t.edges).reset_index(drop=True) if edge_fn else t.edges
            syn = t.synapses
            if syn is not None and syn_fn is not None:
                syn = syn_fn(syn).reset_index(drop=True)
            return self._derive(step, tables=Tables(nodes, edges, syn), record=record)
        n, e, s = self._dask()
        n2 = n.map_partitions(node_fn) if node_fn else n
        e2 = e.map_partitions(edge_fn) if edge_fn else e
        s2 = s.map_partitions(syn_fn) if (s is not None and syn_fn) else s
        return self._derive(step, frames=(n2, e2, s2), record=record)

    # ------------------------------------------------------------------ operations
    def filter_edges(self, min_synapses: int | None = None, edge_kind: str | list[str] | None = None,
                     neuropil: str | list[str] | None = None) -> Connectome:
        """Keep edges by synapse count, kind and neuropil; see :func:`connectome.filter_edges`."""
        return filters.filter_edges(self, min_synapses=min_synapses, edge_kind=edge_kind, neuropil=neuropil)

    def select(self, query: str | None = None, *, allow_empty: bool = False, **labels: Any) -> Connectome:
        """Induced subgraph on nodes matching labels; see :func:`connectome.select`."""
        return filters.select(self, query, allow_empty=allow_empty, **labels)

    def subgraph(self, root_ids: Any) -> Connectome:
        """Induced subgraph on ``root_ids``; see :func:`connectome.subgraph`."""
        return filters.subgraph(self, root_ids)

    def neighborhood(self, root_ids: Any, k: int = 1, direction: str = "both") -> Connectome:
        """Induced subgraph on the k-hop neighbourhood; see :func:`connectome.neighborhood`."""
        return filters.neighborhood(self, root_ids, k=k, direction=direction)

    def collapse(self, by: str = "cell_type", **kwargs: Any) -> pd.DataFrame:
        """Type × type synapse and connection counts; see :func:`connectome.collapse`."""
        return typelevel.collapse(self, by=by, **kwargs)

    def to_csr(self, **kwargs: Any) -> Any:
        """Sparse adjacency with the id ↔ index map; see :func:`connectome.to_csr`."""
        return export.to_csr(self, **kwargs)

    def to_networkx(self, **kwargs: Any) -> Any:
        """networkx ``DiGraph`` with attributes; see :func:`connectome.to_networkx`."""
        return export.to_networkx(self, **kwargs)

    def summary(self) -> dict[str, Any]:
        """Counts and labels at a glance; see :func:`connectome.summary`."""
        return overview.summary(self)

    def save(self, path: str | os.PathLike, *, name: str | None = None, partition_rows: int | None = None,
             progress: bool | None = None) -> Manifest:
        """Write this connectome as a store at ``path`` (atomically).

        Examples
        --------
        >>> import tempfile, connectome as cx
        >>> c = cx.load("celegans_cook2019_herm").filter_edges(min_synapses=5)
        >>> path = tempfile.mkdtemp() + "/strong"
        >>> c.save(path, progress=False).rows("edges") == cx.load(path).n_edges
        True
        """
        t = self.to_pandas()
        m = copy.deepcopy(self.manifest)
        if name:
            m.name = name
        return write_tables(path, m, t.nodes, t.edges, t.synapses,
                            partition_rows=partition_rows or DEFAULT_PARTITION_ROWS, progress=progress)

    def __repr__(self) -> str:
        where = "in memory" if self._in_memory else "dask"
        if self._tables is not None or self._is_pristine():
            return f"<Connectome {self.name}: {self.n_nodes:,} nodes, {self.n_edges:,} edges ({where})>"
        return f"<Connectome {self.name}: derived, lazy ({where})>"
