"""MICrONS proofreading status as node columns: ``axon_proofread`` and ``dendrite_proofread``.

MICrONS publishes which cells were proofread in a ``proofreading_status_and_strategy``
table (``minnie65_public``): one row per proofread cell with ``pt_root_id``,
``valid_id`` (the root id that was proofread), ``status_axon`` /
``status_dendrite`` (``t`` / ``f``) and ``strategy_axon`` / ``strategy_dendrite``
(``axon_fully_extended``, ``axon_partially_extended``, ``dendrite_clean``,
``none``, ...). The standard caveat of MICrONS analyses is to count only
edges whose presynaptic axon is proofread: automatic segmentation merges
axon fragments wrongly far more often than dendrites, so an unproofread
axon's outputs are unreliable.

:func:`proofreading_status` reads such a table (a DataFrame or a CSV /
Parquet / Feather file) with any of the usual spellings and says which columns
it used; :func:`add_proofreading` joins it to a store as node columns and
writes a new store version. Filter with the core's
:func:`connectome.proofreading.proofread_edges`
(``cx.proofread_edges(c, axon=True)``).

Column spellings accepted (the first found wins; pass ``*_column=`` to choose):

* root id: ``pt_root_id``, ``root_id``, ``valid_id``, ``segment_id``;
* axon: ``status_axon``, ``axon_status``, ``axon_proofread``, ``proofread_axon``,
  then ``strategy_axon``, ``axon_strategy``;
* dendrite: the same with ``dendrite``.

A *status* column holds booleans (``t``/``f``, ``true``/``false``, ``1``/``0``,
``yes``/``no``); a *strategy* column counts as proofread unless it is
``none`` or empty. Cells absent from the table are not proofread (``False``).

Examples
--------
>>> t = pd.DataFrame({"pt_root_id": [1, 2, 3], "valid_id": [1, 2, 9],
...                   "status_axon": ["t", "f", "t"], "strategy_dendrite": ["dendrite_clean", "none", None]})
>>> s = proofreading_status(t)
>>> s.values.tolist()
[[1, True, True], [2, False, False], [3, True, False]]
>>> s.attrs["proofreading"]["columns"]
{'root_id': 'pt_root_id', 'axon': 'status_axon', 'dendrite': 'strategy_dendrite'}
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import connectome as cx
from connectome.errors import ColumnError, InputError, SourceNotFoundError
from connectome.schema import ROOT_ID, coerce_ids
from connectome.store import read_manifest

logger = logging.getLogger(__name__)

__all__ = ["proofreading_status", "add_proofreading", "AXON", "DENDRITE"]

#: Node columns written.
AXON, DENDRITE = "axon_proofread", "dendrite_proofread"
_ROOTS = ("pt_root_id", "root_id", "valid_id", "segment_id")
_STATUS = {"axon": ("status_axon", "axon_status", "axon_proofread", "proofread_axon"),
           "dendrite": ("status_dendrite", "dendrite_status", "dendrite_proofread", "proofread_dendrite")}
_STRATEGY = {"axon": ("strategy_axon", "axon_strategy"), "dendrite": ("strategy_dendrite", "dendrite_strategy")}
_TRUE = {"t", "true", "1", "yes", "y"}
_FALSE = {"f", "false", "0", "no", "n", ""}


def _read(table: Any) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    if isinstance(table, (str, os.PathLike)):
        p = Path(table).expanduser()
        if not p.is_file():
            raise SourceNotFoundError(p, "table", "a CSV, Parquet or Feather file of the proofreading table")
        name = p.name.lower()
        if name.endswith(".parquet"):
            return pd.read_parquet(p)
        if name.endswith((".feather", ".arrow")):
            return pd.read_feather(p)
        return pd.read_csv(p)
    raise InputError(f"table must be a DataFrame or a file path, not {type(table).__name__}", "table")


def _pick(df: pd.DataFrame, wanted: str | None, candidates: tuple[str, ...], parameter: str) -> str | None:
    if wanted is not None:
        if wanted not in df.columns:
            raise ColumnError("proofreading table", wanted, df.columns, f"Pass another {parameter}=.")
        return wanted
    return next((c for c in candidates if c in df.columns), None)


def _as_flag(values: pd.Series, column: str, strategy: bool) -> np.ndarray:
    if strategy:
        s = values.astype("string").str.strip().str.lower()
        return (s.notna() & ~s.isin(["none", "", "nan"])).to_numpy(dtype=bool)
    if values.dtype == bool:
        return values.to_numpy()
    s = values.astype("string").str.strip().str.lower().fillna("")
    bad = ~s.isin(_TRUE | _FALSE)
    if bad.any():
        raise InputError(f"{column}: value {s[bad].iloc[0]!r} is not a proofreading status (t/f, true/false, 1/0, "
                         f"yes/no); pass the column to use as axon_column= / dendrite_column=", column)
    return s.isin(_TRUE).to_numpy()


def proofreading_status(table: Any, *, root_column: str | None = None, axon_column: str | None = None,
                        dendrite_column: str | None = None) -> pd.DataFrame:
    """``root_id``, ``axon_proofread``, ``dendrite_proofread`` from a proofreading table.

    Parameters
    ----------
    table : DataFrame or path
        A ``proofreading_status_and_strategy``-style table (or its file).
    root_column, axon_column, dendrite_column : str, optional
        The columns to use (default: the first of the spellings in the module docstring).

    Returns
    -------
    DataFrame
        One row per root id (several rows of one id: proofread if any says so).
        ``.attrs["proofreading"]`` records the columns used, the row count and
        how many rows' ``valid_id`` differs from the root id (cells edited
        since they were proofread; their status is kept).

    Raises
    ------
    ColumnError
        No root id column, or neither an axon nor a dendrite column (the
        message lists the table's columns).
    """
    df = _read(table)
    root = _pick(df, root_column, _ROOTS, "root_column")
    if root is None:
        raise ColumnError("proofreading table", "pt_root_id", df.columns,
                          f"Name the root id column with root_column= (looked for {', '.join(_ROOTS)}).")
    used: dict[str, str | None] = {"root_id": root}
    flags: dict[str, np.ndarray] = {}
    for part, wanted in (("axon", axon_column), ("dendrite", dendrite_column)):
        col = _pick(df, wanted, _STATUS[part], f"{part}_column")
        strategy = False
        if col is None:
            col = _pick(df, None, _STRATEGY[part], f"{part}_column")
            strategy = col is not None
        elif wanted is not None and col in _STRATEGY[part]:
            strategy = True
        used[part] = col
        flags[part] = (np.zeros(len(df), dtype=bool) if col is None else _as_flag(df[col], col, strategy))
    if used["axon"] is None and used["dendrite"] is None:
        raise ColumnError("proofreading table", "status_axon", df.columns,
                          "Name the columns with axon_column= / dendrite_column= (looked for "
                          f"{', '.join(_STATUS['axon'] + _STRATEGY['axon'])} and the dendrite spellings).")
    for part in ("axon", "dendrite"):
        if used[part] is None:
            logger.warning("proofreading: the table has no %s column; %s_proofread is False for every cell",
                           part, part)
    out = pd.DataFrame({ROOT_ID: coerce_ids(df[root].to_numpy(), root), AXON: flags["axon"],
                        DENDRITE: flags["dendrite"]})
    out = out[out[ROOT_ID] != 0]
    dups = int(out[ROOT_ID].duplicated().sum())
    out = out.groupby(ROOT_ID, sort=True, as_index=False).any()
    edited = 0
    if "valid_id" in df.columns and root != "valid_id":
        v = pd.to_numeric(df["valid_id"], errors="coerce")
        edited = int((v.notna() & (v.to_numpy() != df[root].to_numpy())).sum())
    logger.info("proofreading: %d cells from columns %s", len(out), used)
    if edited:
        logger.warning("proofreading: %d row(s) have a valid_id other than their %s: those cells were edited "
                       "since they were proofread; their status is kept", edited, root)
    out.attrs["proofreading"] = {"columns": used, "rows": int(len(df)), "cells": int(len(out)),
                                 "duplicate_rows": dups, "edited_since_proofread": edited,
                                 "axon_proofread": int(out[AXON].sum()), "dendrite_proofread": int(out[DENDRITE].sum())}
    return out


def add_proofreading(store: str | os.PathLike, table: Any, *, root_column: str | None = None,
                     axon_column: str | None = None, dendrite_column: str | None = None,
                     progress: bool | None = True) -> dict:
    """Join a proofreading table to the store at ``store`` as node columns; writes a new store version.

    Cells of the store absent from the table get ``False``; ids of the table
    that are not nodes of the store are left out (counted). Existing
    ``axon_proofread`` / ``dendrite_proofread`` columns are replaced.

    Returns
    -------
    dict
        What was recorded in the manifest under ``extra["proofreading"]``:
        columns used, counts of proofread cells, ids left out.

    Examples
    --------
    >>> import tempfile, connectome as cx
    >>> p = tempfile.mkdtemp() + "/s"
    >>> _ = cx.write_store(p, pd.DataFrame({"pre_root_id": [1, 2], "post_root_id": [2, 3], "synapse_count": [5, 6]}),
    ...                    progress=False)
    >>> add_proofreading(p, pd.DataFrame({"pt_root_id": [1, 7], "status_axon": ["t", "t"]}), progress=False)["matched"]
    1
    >>> cx.proofread_edges(cx.load(p), axon=True).edge_table()["pre_root_id"].tolist()
    [1]
    """
    status = proofreading_status(table, root_column=root_column, axon_column=axon_column,
                                 dendrite_column=dendrite_column)
    info = dict(status.attrs["proofreading"])
    c = cx.load(store).materialize()
    ids = c.node_table([ROOT_ID])[ROOT_ID].to_numpy(np.int64)
    known = status[ROOT_ID].isin(ids)
    info["matched"] = int(known.sum())
    info["not_in_store"] = int((~known).sum())
    if info["not_in_store"]:
        logger.warning("proofreading: %d cell(s) of the table are not nodes of the store (other ids, or ids that "
                       "changed: `connectome refresh` the store to the table's version first); left out",
                       info["not_in_store"])
    full = pd.DataFrame({ROOT_ID: ids}).merge(status[known], on=ROOT_ID, how="left")
    for col in (AXON, DENDRITE):
        full[col] = full[col].eq(True)  # absent from the table: not proofread
    c2 = c.with_node_columns(full, overwrite=True)
    manifest, _ = read_manifest(store)
    c2.manifest.extra = {k: v for k, v in manifest.extra.items() if k != "derived"}
    c2.manifest.extra["proofreading"] = info
    c2.save(store, progress=progress)
    return info
