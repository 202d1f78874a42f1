"""Release files into stores: generic edge lists, FlyWire Codex, neuPrint exports.

All three go through one function, :func:`ingest_tables`: read the files,
rename columns once (:func:`connectome.ingest.tables.rename_columns`), validate with the
core's rules, write a store atomically. Nothing is written when any check fails.

Examples
--------
>>> import tempfile, pandas as pd, connectome as cx
>>> d = tempfile.mkdtemp()
>>> pd.DataFrame({"pre_root_id": [720575940596125868], "post_root_id": [720575940597856265],
...               "neuropil": ["ME_R"], "syn_count": [12], "nt_type": ["ACH"]}
...              ).to_csv(d + "/connections.csv.gz", index=False)
>>> p = ingest_codex(d + "/connections.csv.gz", out=d + "/store", progress=False)
>>> cx.load(p).edge_table()[["neuropil", "synapse_count"]].values.tolist()
[['ME_R', 12]]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectome.config import data_home
from connectome.errors import InputError
from connectome.manifest import Manifest, utc_now
from connectome.schema import POST, PRE, ROOT_ID, SYNAPSE_COUNT, coerce_ids
from connectome.store import write_store

from .stream import should_stream
from .tables import read_table, rename_columns

logger = logging.getLogger(__name__)

__all__ = ["ingest_tables", "ingest_edgelist", "ingest_codex", "ingest_neuprint", "FLYWIRE_SPECIES"]

FLYWIRE_SPECIES = "Drosophila melanogaster"
_CODEX_CITATION = ("Dorkenwald S, Matsliah A, Sterling AR, et al. (2024) Neuronal wiring diagram of an adult "
                   "brain. Nature 634:124-138; Schlegel P, et al. (2024) Whole-brain annotation and "
                   "multi-connectome cell typing of Drosophila. Nature 634:139-152")


def _frame(src: str | Path | pd.DataFrame | None, parameter: str) -> pd.DataFrame | None:
    if src is None or isinstance(src, pd.DataFrame):
        return src
    return read_table(src, parameter)


def _out_path(out: str | Path | None, name: str) -> Path:
    if out is not None:
        return Path(out).expanduser()
    if not name:
        raise InputError("name: give the dataset a name (or pass out=PATH)", "name")
    return data_home() / name


def _empty_edges() -> pd.DataFrame:
    return pd.DataFrame({PRE: pd.Series([], dtype="int64"), POST: pd.Series([], dtype="int64"),
                         SYNAPSE_COUNT: pd.Series([], dtype="int64")})


_ISOLATED = ("keep", "drop")


def _isolated_nodes(e: pd.DataFrame, n: pd.DataFrame, isolated: str | None, has_edges: bool,
                    nodes_src: object) -> tuple[pd.DataFrame, dict]:
    """Nodes of the label table that no edge touches: kept (``"keep"``, or ``None`` with a warning) or dropped."""
    if isolated is not None and isolated not in _ISOLATED:
        raise InputError(f"isolated must be 'keep' or 'drop', not {isolated!r}", "isolated")
    if not has_edges:
        if isolated == "drop":
            raise InputError("isolated: keeping only the nodes of the edges needs an edge file; give one, or "
                             "keep every node with isolated='keep'", "isolated")
        return n, {}
    if ROOT_ID not in n.columns or PRE not in e.columns or POST not in e.columns:
        return n, {}  # the writer names the missing column
    ids = coerce_ids(n[ROOT_ID], ROOT_ID)
    ends = np.union1d(coerce_ids(e[PRE], PRE), coerce_ids(e[POST], POST))
    inside = np.isin(ids, ends)
    lonely = int((~inside).sum())
    info = {"policy": isolated or "keep", "isolated_nodes": lonely, "nodes_in_table": int(len(ids))}
    if isolated == "drop":
        if lonely:
            logger.info("nodes: dropping %d of %d node(s) that no edge touches", lonely, len(ids))
        return n[inside].reset_index(drop=True), info
    if lonely and isolated is None:
        where = Path(nodes_src).name if isinstance(nodes_src, (str, Path)) else "the node table"
        logger.warning("nodes: %s of the %s nodes of %s have no edge in the edge list and are kept as isolated "
                       "nodes; keep only the nodes of the edges with isolated='drop' (command line: "
                       "--nodes-in-edges), or say isolated='keep' (--keep-isolated) to keep them without this "
                       "warning", f"{lonely:,}", f"{len(ids):,}", where)
    return n, info


def ingest_tables(
    edges: str | Path | pd.DataFrame | None,
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
    stream: bool | None = None,
) -> Path:
    """Read edge/node files (or DataFrames), normalise and write a store.

    Parameters
    ----------
    edges : path or DataFrame or None
        Edge list (CSV/TSV/Parquet/Feather, optionally gzip'd). ``None`` writes
        a nodes-only store.
    nodes : path or DataFrame, optional
        Node table keyed by ``root_id`` (or an alias such as ``bodyId``).
    name : str
        Dataset name.
    out : path, optional
        Store folder (default ``CONNECTOME_HOME/<name>``).
    columns, node_columns : dict, optional
        Your column names to ours, e.g. ``{"from": "pre_root_id"}``; then the
        field's usual names (:data:`connectome.schema.COLUMN_ALIASES`). Every
        rename is logged and recorded in the manifest (``source.renamed_columns``).
    min_synapses : int, optional
        Drop edge rows below this synapse count before writing (recorded).
    duplicates, missing_nodes : str
        See :func:`connectome.from_edges`.
    isolated : {"keep", "drop"}, optional
        Nodes of ``nodes`` that no edge touches (a label table of a whole
        brain for an edge list of a few neurons): keep them, or drop them
        (``--keep-isolated`` / ``--nodes-in-edges`` on the command line).
        Default: keep, with a warning when there are any.
    manifest : dict, optional
        Manifest fields (``source``, ``version``, ``species``, ``title``, ...).
    stream : bool, optional
        Read the edge file in record batches and write the store one pre-id
        range at a time (:mod:`connectome.ingest.stream`; memory bounded by a
        range, not the file). Default: for files of at least
        ``CONNECTOME_STREAM_BYTES`` (256 MiB), said in a log message.

    Returns
    -------
    pathlib.Path
        The store folder.
    """
    if isolated is not None and isolated not in _ISOLATED:
        raise InputError(f"isolated must be 'keep' or 'drop', not {isolated!r}", "isolated")
    path = _out_path(out, name)

    if should_stream(edges, stream, "edges"):
        from .stream_edges import stream_tables  # lazy: stream_edges imports this module

        return stream_tables(edges, nodes, name=name, out=path, columns=columns, node_columns=node_columns,  # type: ignore[arg-type]
                             min_synapses=min_synapses, duplicates=duplicates, missing_nodes=missing_nodes,
                             isolated=isolated, manifest=manifest, progress=progress)
    e = _frame(edges, "edges")
    n = _frame(nodes, "nodes")
    renamed: dict[str, dict[str, str]] = {}
    if e is None and columns:
        raise InputError("columns: there is no edge table to rename columns of", "columns")
    e = _empty_edges() if e is None else rename_columns(e, "edges", columns, renamed=renamed)
    if n is not None:
        n = rename_columns(n, "nodes", node_columns, renamed=renamed, parameter="node_columns")
    elif node_columns:
        raise InputError("node_columns: there is no node table to rename columns of", "node_columns")
    fields = dict(manifest or {})
    if min_synapses is not None:
        if not isinstance(min_synapses, int) or min_synapses < 1:
            raise InputError(f"min_synapses must be a positive integer, not {min_synapses!r}", "min_synapses")
        if SYNAPSE_COUNT in e.columns:
            e = e[pd.to_numeric(e[SYNAPSE_COUNT], errors="coerce").fillna(min_synapses) >= min_synapses]
        fields.setdefault("extra", {})["min_synapses"] = min_synapses
    if n is not None:
        n, iso = _isolated_nodes(e, n, isolated, edges is not None, nodes)
        if iso:
            fields.setdefault("extra", {})["isolated_nodes"] = iso
    src = dict(fields.get("source", {}))
    src.setdefault("kind", "release-file")
    for key, value in (("edges", edges), ("nodes", nodes)):
        if isinstance(value, (str, Path)):
            src.setdefault(f"{key}_file", str(Path(value).expanduser().absolute()))
    src.setdefault("ingested", utc_now())
    if renamed:
        src.setdefault("renamed_columns", renamed)
    fields["source"] = src
    fields.setdefault("name", name)
    m = Manifest(**fields)
    write_store(path, e, n, name=name, manifest=m, duplicates=duplicates, missing_nodes=missing_nodes,
                progress=progress)
    return path


def ingest_edgelist(path: str | Path, nodes: str | Path | None = None, *, name: str | None = None,
                    out: str | Path | None = None, columns: dict[str, str] | None = None,
                    node_columns: dict[str, str] | None = None, species: str | None = None,
                    duplicates: str = "error", isolated: str | None = None,
                    progress: bool | None = None, stream: bool | None = None) -> Path:
    """A generic CSV / Parquet edge list (with an optional node table) into a store.

    ``isolated="drop"`` keeps only the nodes that the edges touch (see
    :func:`ingest_tables`), for an edge list of a few neurons and the label
    table of a whole brain.

    Examples
    --------
    >>> import tempfile, pandas as pd, connectome as cx
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"src": [1, 2], "dst": [2, 3], "n": [4, 1]}).to_csv(d + "/e.csv", index=False)
    >>> p = ingest_edgelist(d + "/e.csv", name="toy", out=d + "/toy", progress=False,
    ...                     columns={"src": "pre_root_id", "dst": "post_root_id", "n": "synapse_count"})
    >>> cx.load(p).n_edges
    2
    >>> pd.DataFrame({"root_id": [1, 2, 3, 4, 5], "cell_type": list("abcde")}).to_csv(d + "/n.csv", index=False)
    >>> p = ingest_edgelist(d + "/e.csv", d + "/n.csv", out=d + "/small", isolated="drop", progress=False,
    ...                     columns={"src": "pre_root_id", "dst": "post_root_id", "n": "synapse_count"})
    >>> cx.load(p).n_nodes
    3
    """
    name = name or Path(path).name.split(".")[0]
    return ingest_tables(path, nodes, name=name, out=out, columns=columns, node_columns=node_columns,
                         duplicates=duplicates, isolated=isolated, manifest={"species": species, "title": name},
                         progress=progress, stream=stream)


def ingest_codex(connections: str | Path | pd.DataFrame | None = None,
                 neurons: str | Path | pd.DataFrame | None = None, *, name: str = "flywire",
                 out: str | Path | None = None, version: str | None = None, min_synapses: int | None = None,
                 isolated: str | None = None, columns: dict[str, str] | None = None,
                 node_columns: dict[str, str] | None = None, progress: bool | None = None,
                 stream: bool | None = None) -> Path:
    """FlyWire Codex release files into a store.

    Parameters
    ----------
    connections : path, optional
        Codex ``connections.csv.gz`` (pre_root_id, post_root_id, neuropil,
        syn_count, nt_type) or the Zenodo feather (pre_pt_root_id, ...,
        ``*_avg`` transmitter scores). One row per neuron pair per neuropil.
    neurons : path, optional
        A Codex ``classification``-style neuron table (root_id, flow,
        super_class, class, sub_class, cell_type, side, nt_type, ...).
    version : str, optional
        Materialization / release version (e.g. ``"783"``), recorded.
    min_synapses : int, optional
        Codex's ≥5-synapse convention is *not* applied unless you pass 5.
    isolated : {"keep", "drop"}, optional
        Neurons of ``neurons`` without an edge in ``connections`` (see :func:`ingest_tables`).
    columns, node_columns : dict, optional
        Your column names to ours for ``connections`` and ``neurons`` (CLI: ``--map``,
        ``--node-map``), e.g. ``{"primary_type": "cell_type"}``: a name mapped onto
        a column the table already has replaces it, with a warning (map that one
        elsewhere too to keep it: ``{"cell_type": "codex_cell_type"}``).
    stream : bool, optional
        Read ``connections`` in record batches (see :func:`ingest_tables`); the
        16.8 M-row v783 feather takes this path by itself.

    Examples
    --------
    >>> import tempfile, connectome as cx
    >>> from connectome.config import shared_data_dir
    >>> f = shared_data_dir() / "flywire_v783_labels" / "neurons_v783.parquet"
    >>> p = ingest_codex(neurons=f, out=tempfile.mkdtemp() + "/fw", version="783", progress=False)
    >>> cx.load(p).n_nodes
    139255
    """
    if connections is None and neurons is None:
        raise InputError("connections: give connections=, neurons= or both (Codex release files)", "connections")
    return ingest_tables(
        connections, neurons, name=name, out=out, min_synapses=min_synapses, duplicates="error", isolated=isolated,
        columns=columns, node_columns=node_columns,
        manifest={
            "title": f"FlyWire adult fly brain (Codex release{' v' + version if version else ''})",
            "species": FLYWIRE_SPECIES,
            "source": {"kind": "flywire-codex", "citation": _CODEX_CITATION},
            "version": {"materialization": version} if version else {},
            "extra": {"connection_threshold_note": "FlyWire calls a pair with >=5 synapses a connection"},
        },
        progress=progress, stream=stream,
    )


def ingest_neuprint(edges: str | Path | pd.DataFrame, neurons: str | Path | pd.DataFrame | None = None, *,
                    name: str = "neuprint", out: str | Path | None = None, dataset: str | None = None,
                    isolated: str | None = None, progress: bool | None = None,
                    stream: bool | None = None) -> Path:
    """A neuPrint-style export (``bodyId_pre``, ``bodyId_post``, ``weight``[, ``roi``]).

    Neurons may carry ``bodyId``, ``type``, ``instance``, ``status``; ``type``
    becomes ``cell_type``.

    Examples
    --------
    >>> import tempfile, pandas as pd, connectome as cx
    >>> e = pd.DataFrame({"bodyId_pre": [10, 11], "bodyId_post": [11, 10], "weight": [3, 8]})
    >>> n = pd.DataFrame({"bodyId": [10, 11], "type": ["KC", "APL"]})
    >>> p = ingest_neuprint(e, n, out=tempfile.mkdtemp() + "/np", progress=False)
    >>> cx.load(p).node_table()["cell_type"].tolist()
    ['KC', 'APL']
    """
    return ingest_tables(
        edges, neurons, name=name, out=out, isolated=isolated,
        manifest={"title": f"neuPrint export{' of ' + dataset if dataset else ''}",
                  "source": {"kind": "neuprint", "dataset": dataset} if dataset else {"kind": "neuprint"}},
        progress=progress, stream=stream,
    )

