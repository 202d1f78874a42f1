"""Release files into stores: generic edge lists, FlyWire Codex, neuPrint exports.

All three go through one function, :func:`ingest_tables`: read the files,
rename columns once (:func:`ingest.tables.rename_columns`), validate with the
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

import pandas as pd

from connectome.config import data_home
from connectome.errors import InputError
from connectome.manifest import Manifest, utc_now
from connectome.schema import POST, PRE, SYNAPSE_COUNT
from connectome.store import write_store

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
    return pd.DataFrame({PRE: pd.Series([], dtype="uint64"), POST: pd.Series([], dtype="uint64"),
                         SYNAPSE_COUNT: pd.Series([], dtype="int64")})


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
    manifest: dict[str, Any] | None = None,
    progress: bool | None = None,
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
        Your column names to ours, e.g. ``{"from": "pre_root_id"}``.
    min_synapses : int, optional
        Drop edge rows below this synapse count before writing (recorded).
    duplicates, missing_nodes : str
        See :func:`connectome.from_edges`.
    manifest : dict, optional
        Manifest fields (``source``, ``version``, ``species``, ``title``, ...).

    Returns
    -------
    pathlib.Path
        The store folder.
    """
    path = _out_path(out, name)
    e = _frame(edges, "edges")
    n = _frame(nodes, "nodes")
    e = _empty_edges() if e is None else rename_columns(e, "edges", columns)
    if n is not None:
        n = rename_columns(n, "nodes", node_columns)
    fields = dict(manifest or {})
    if min_synapses is not None:
        if not isinstance(min_synapses, int) or min_synapses < 1:
            raise InputError(f"min_synapses must be a positive integer, not {min_synapses!r}", "min_synapses")
        if SYNAPSE_COUNT in e.columns:
            e = e[pd.to_numeric(e[SYNAPSE_COUNT], errors="coerce").fillna(min_synapses) >= min_synapses]
        fields.setdefault("extra", {})["min_synapses"] = min_synapses
    src = dict(fields.get("source", {}))
    src.setdefault("kind", "release-file")
    for key, value in (("edges", edges), ("nodes", nodes)):
        if isinstance(value, (str, Path)):
            src.setdefault(f"{key}_file", str(Path(value).expanduser().absolute()))
    src.setdefault("ingested", utc_now())
    fields["source"] = src
    fields.setdefault("name", name)
    m = Manifest(**fields)
    write_store(path, e, n, name=name, manifest=m, duplicates=duplicates, missing_nodes=missing_nodes,
                progress=progress)
    return path


def ingest_edgelist(path: str | Path, nodes: str | Path | None = None, *, name: str | None = None,
                    out: str | Path | None = None, columns: dict[str, str] | None = None,
                    node_columns: dict[str, str] | None = None, species: str | None = None,
                    duplicates: str = "error", progress: bool | None = None) -> Path:
    """A generic CSV / Parquet edge list (with an optional node table) into a store.

    Examples
    --------
    >>> import tempfile, pandas as pd, connectome as cx
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"src": [1, 2], "dst": [2, 3], "n": [4, 1]}).to_csv(d + "/e.csv", index=False)
    >>> p = ingest_edgelist(d + "/e.csv", name="toy", out=d + "/toy", progress=False,
    ...                     columns={"src": "pre_root_id", "dst": "post_root_id", "n": "synapse_count"})
    >>> cx.load(p).n_edges
    2
    """
    name = name or Path(path).name.split(".")[0]
    return ingest_tables(path, nodes, name=name, out=out, columns=columns, node_columns=node_columns,
                         duplicates=duplicates, manifest={"species": species, "title": name}, progress=progress)


def ingest_codex(connections: str | Path | pd.DataFrame | None = None,
                 neurons: str | Path | pd.DataFrame | None = None, *, name: str = "flywire",
                 out: str | Path | None = None, version: str | None = None, min_synapses: int | None = None,
                 progress: bool | None = None) -> Path:
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
        raise InputError("pass connections=, neurons= or both (Codex release files)", "connections")
    return ingest_tables(
        connections, neurons, name=name, out=out, min_synapses=min_synapses, duplicates="error",
        manifest={
            "title": f"FlyWire adult fly brain (Codex release{' v' + version if version else ''})",
            "species": FLYWIRE_SPECIES,
            "source": {"kind": "flywire-codex", "citation": _CODEX_CITATION},
            "version": {"materialization": version} if version else {},
            "extra": {"connection_threshold_note": "FlyWire calls a pair with >=5 synapses a connection"},
        },
        progress=progress,
    )


def ingest_neuprint(edges: str | Path | pd.DataFrame, neurons: str | Path | pd.DataFrame | None = None, *,
                    name: str = "neuprint", out: str | Path | None = None, dataset: str | None = None,
                    progress: bool | None = None) -> Path:
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
        edges, neurons, name=name, out=out,
        manifest={"title": f"neuPrint export{' of ' + dataset if dataset else ''}",
                  "source": {"kind": "neuprint", "dataset": dataset} if dataset else {"kind": "neuprint"}},
        progress=progress,
    )

