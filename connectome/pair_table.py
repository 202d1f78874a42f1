"""The pair-level aggregate of a per-neuropil store: one row per (pre, post, edge kind).

Release files such as FlyWire's Codex connections carry one row per neuron pair
*per neuropil* (16.8 M rows for 2.7 M pairs at ≥5 synapses). Statistics, the
triad census and motif queries without per-neuropil constraints need only the
pair totals, so the store keeps them as a second table, ``pairs``, written once
at ingest (:func:`connectome.store.write_tables` and the streaming ingest).
The neuropil breakdown stays one query away in ``edges``.

Columns: ``pre_root_id``, ``post_root_id``, ``edge_kind``, ``synapse_count``
(sum over the pair's rows) and ``n_rows`` (how many edge rows, e.g. neuropils,
the pair has). Sorted by (pre, post, edge_kind).

Stores written before this table existed still work: :func:`connectome.pair_totals`
sums the edge rows on the fly and says so in a log message.

Examples
--------
>>> import pandas as pd
>>> e = pd.DataFrame({"pre_root_id": pd.Series([1, 1, 2], dtype="int64"),
...                   "post_root_id": pd.Series([2, 2, 1], dtype="int64"),
...                   "synapse_count": [3, 4, 5], "edge_kind": ["chemical"] * 3, "neuropil": ["AL_L", "LH_L", "AL_L"]})
>>> p = pair_aggregate(e)
>>> p["synapse_count"].tolist(), p["n_rows"].tolist(), p["post_root_id"].tolist()
([7, 5], [2, 1], [2, 1])
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from .schema import CHEMICAL, EDGE_KIND, ID_DTYPE, LABEL_DTYPE, NEUROPIL, POST, PRE, SYNAPSE_COUNT, stored_ids

logger = logging.getLogger(__name__)

__all__ = ["PAIRS", "pair_aggregate", "read_pairs"]

#: Name of the table in the store.
PAIRS = "pairs"
_SAID: set[str] = set()


def pair_aggregate(edges: pd.DataFrame) -> pd.DataFrame | None:
    """The pair table of a normalised edge table, or ``None`` when its rows already are pairs.

    ``edges`` must be sorted as :func:`connectome.schema.normalize_edges` sorts
    (pre, post, kind, neuropil), so each pair's rows are contiguous. Only edge
    tables with a ``neuropil`` column get a pair table.
    """
    if NEUROPIL not in edges.columns or PRE not in edges.columns:
        return None
    pre = edges[PRE].to_numpy()
    post = edges[POST].to_numpy()
    kind = (edges[EDGE_KIND].astype(object).to_numpy() if EDGE_KIND in edges.columns
            else np.full(len(edges), CHEMICAL, dtype=object))
    w = edges[SYNAPSE_COUNT].to_numpy(dtype=np.int64)
    n = len(edges)
    if n == 0:
        return pd.DataFrame({PRE: pre.astype(ID_DTYPE), POST: post.astype(ID_DTYPE),
                             EDGE_KIND: pd.Series([], dtype=LABEL_DTYPE),
                             SYNAPSE_COUNT: np.zeros(0, np.int64), "n_rows": np.zeros(0, np.int64)})
    start = np.empty(n, bool)
    start[0] = True
    start[1:] = (pre[1:] != pre[:-1]) | (post[1:] != post[:-1]) | (kind[1:] != kind[:-1])
    first = np.flatnonzero(start)
    return pd.DataFrame({
        PRE: pre[first].astype(ID_DTYPE),
        POST: post[first].astype(ID_DTYPE),
        EDGE_KIND: pd.array(kind[first], dtype=LABEL_DTYPE),
        SYNAPSE_COUNT: np.add.reduceat(w, first).astype(np.int64),
        "n_rows": np.diff(np.append(first, n)).astype(np.int64),
    })


def read_pairs(c: Any, edge_kind: str | None) -> pd.DataFrame | None:
    """Pair totals from the stored ``pairs`` table of ``c`` (``None`` when it has none).

    Returns ``pre_root_id``, ``post_root_id``, ``synapse_count`` sorted by ids,
    only ``edge_kind`` (``None``: kinds summed), exactly as
    :func:`connectome.pair_totals` computes them from the edge rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .store import table_paths  # lazy: store imports this module (pair_aggregate)

    path = getattr(c, "path", None)
    if path is None or c.manifest.extra.get("derived"):
        return None
    if PAIRS not in c.manifest.tables:
        if NEUROPIL in c.manifest.tables.get("edges", _NoTable).columns and str(path) not in _SAID:
            _SAID.add(str(path))
            logger.info("%s: the store has no pair table (written before it existed); summing the per-neuropil "
                        "edge rows on the fly. Write the store again (e.g. connectome ingest, or "
                        "cx.load(path).save(path)) to keep the pair table and make this fast", c.name)
        return None
    files = table_paths(path, PAIRS)
    cols = [PRE, POST, EDGE_KIND, SYNAPSE_COUNT]
    tbl = pa.concat_tables([pq.read_table(f, columns=cols) for f in files]) if files else None
    if tbl is None or tbl.num_rows == 0:
        return pd.DataFrame({PRE: np.zeros(0, ID_DTYPE), POST: np.zeros(0, ID_DTYPE),
                             SYNAPSE_COUNT: np.zeros(0, np.int64)})
    if edge_kind is not None:
        import pyarrow.compute as pc

        tbl = tbl.filter(pc.equal(tbl[EDGE_KIND], edge_kind))
    pre = stored_ids(tbl[PRE].to_numpy(), f"store {str(path)!r}, table {PAIRS}: {PRE}")
    post = stored_ids(tbl[POST].to_numpy(), f"store {str(path)!r}, table {PAIRS}: {POST}")
    w = tbl[SYNAPSE_COUNT].to_numpy().astype(np.int64, copy=False)
    if edge_kind is None and len(pre) > 1:  # several kinds of one pair: add them up
        start = np.empty(len(pre), bool)
        start[0] = True
        start[1:] = (pre[1:] != pre[:-1]) | (post[1:] != post[:-1])
        if not start.all():
            first = np.flatnonzero(start)
            pre, post, w = pre[first], post[first], np.add.reduceat(w, first)
    return pd.DataFrame({PRE: pre, POST: post, SYNAPSE_COUNT: w.astype(np.int64)})


class _NoTable:
    columns: dict[str, str] = {}
