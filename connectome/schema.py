"""Column names, dtypes and the normalisation every table goes through once.

The store and the :class:`~connectome.Connectome` use the field's column names
(``root_id``, ``pre_root_id``, ``post_root_id``, ``synapse_count``, labels such as
``cell_type``). Root ids are ``int64`` in every table, array and result, as in
caveclient, Codex, neuPrint and navis: pandas compares ``uint64`` with ``int64``
through float64, so joins of mixed tables go silently wrong. Every real datastack's
ids are below 2**63; an id at or above it is refused (:class:`~connectome.errors.IdError`)
when a table comes in, and stores written by earlier versions (``uint64`` columns)
read back as ``int64`` (:func:`ids_to_int64`). A root id never passes through a
float. Label columns are pyarrow-backed strings.

Examples
--------
>>> import pandas as pd
>>> from connectome.schema import coerce_ids
>>> coerce_ids(pd.Series(["720575940621039145", "7"]), "root_id")
array([720575940621039145,                  7])
>>> coerce_ids(["18446744073709551615"], "root_id")
Traceback (most recent call last):
...
connectome.errors.IdError: root_id: id 18446744073709551615 is 2**63 or more; root ids are int64 (the field's datastacks, CAVE, Codex and neuPrint all use ids below 2**63): check the column holds root ids
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import ColumnError, DuplicateEdgeError, IdError, InputError, StoreError, SynapseCountError

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "ROOT_ID",
    "PRE",
    "POST",
    "SYNAPSE_COUNT",
    "EDGE_KIND",
    "NEUROPIL",
    "NT_TYPE",
    "CHEMICAL",
    "GAP_JUNCTION",
    "EDGE_KINDS",
    "POSITION_COLUMNS",
    "ID_DTYPE",
    "LABEL_DTYPE",
    "coerce_ids",
    "ids_to_int64",
    "stored_ids",
    "MAX_ID",
    "coerce_counts",
    "name_ids",
    "normalize_labels",
    "normalize_nodes",
    "normalize_edges",
    "normalize_synapses",
    "edge_key",
    "require_columns",
    "COLUMN_ALIASES",
    "apply_aliases",
]

#: Version of the on-disk store layout written by this code.
SCHEMA_VERSION = 1

ROOT_ID = "root_id"
PRE = "pre_root_id"
POST = "post_root_id"
SYNAPSE_COUNT = "synapse_count"
EDGE_KIND = "edge_kind"
NEUROPIL = "neuropil"
NT_TYPE = "nt_type"
CHEMICAL = "chemical"
GAP_JUNCTION = "gap_junction"
EDGE_KINDS = (CHEMICAL, GAP_JUNCTION)
POSITION_COLUMNS = ("x_nm", "y_nm", "z_nm")

#: Root ids: int64, the dtype of caveclient, Codex, neuPrint and navis tables.
ID_DTYPE = np.dtype("int64")
LABEL_DTYPE = pd.StringDtype("pyarrow")
COUNT_DTYPE = np.dtype("int64")

_MAX_EXACT_FLOAT = 2**53
#: The largest root id (2**63 - 1); every real datastack's ids are below it.
MAX_ID = 2**63 - 1


def _too_big(column: str, value: int) -> IdError:
    return IdError(
        f"{column}: id {value} is 2**63 or more; root ids are int64 (the field's datastacks, CAVE, Codex and "
        "neuPrint all use ids below 2**63): check the column holds root ids",
        column,
    )


#: Outside column name -> the project's column name, per table: CAVE's ``pre_pt_root_id``, Codex's
#: ``syn_count``, neuPrint's ``bodyId_pre`` / ``weight``, CATMAID's ``pre_skid``. One table for
#: :func:`connectome.from_edges` and every ingest (``connectome ingest ...``). An alias is used only
#: when its target column is absent, and the first alias of a target present in a table wins.
COLUMN_ALIASES: dict[str, dict[str, str]] = {
    "edges": {
        "pre_pt_root_id": PRE,
        "post_pt_root_id": POST,
        "pre_id": PRE,
        "post_id": POST,
        "bodyId_pre": PRE,
        "bodyId_post": POST,
        "pre_skid": PRE,
        "post_skid": POST,
        "syn_count": SYNAPSE_COUNT,
        "weight": SYNAPSE_COUNT,
        "count": SYNAPSE_COUNT,
        "n_synapses": SYNAPSE_COUNT,
        "roi": NEUROPIL,
    },
    "nodes": {
        "pt_root_id": ROOT_ID,
        "bodyId": ROOT_ID,
        "skid": ROOT_ID,
        "id": ROOT_ID,
        "type": "cell_type",
    },
}


def apply_aliases(
    df: pd.DataFrame,
    table: str,
    mapping: dict[str, str] | None = None,
    *,
    parameter: str = "columns",
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rename ``df``'s columns to the project's: the user's ``mapping`` first, then :data:`COLUMN_ALIASES`.

    Every rename is said out loud (a log warning for aliases) and returned, so
    that callers record it (the manifest's ``source.renamed_columns``). A
    ``mapping`` onto a column the table already has (``primary_type`` ->
    ``cell_type`` on a table with both) replaces that column, with a warning
    naming it; map the existing column to another name as well to keep it.

    Parameters
    ----------
    df : pandas.DataFrame
        An edge or node table.
    table : {"edges", "nodes"}
        Which aliases apply (other names: only ``mapping``).
    mapping : dict, optional
        Your column names to ours, e.g. ``{"weight": "synapse_count"}``. A key
        that is not a column of ``df`` is refused (a misspelt mapping is never ignored).
    parameter : str
        Name of the mapping parameter, for the error (``columns``, ``node_columns``).

    Returns
    -------
    (pandas.DataFrame, dict)
        The renamed table and ``{old: new}`` of every rename applied.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "weight": [7]})
    >>> out, renamed = apply_aliases(df, "edges")
    >>> list(out.columns), renamed
    (['pre_root_id', 'post_root_id', 'synapse_count'], {'bodyId_pre': 'pre_root_id', 'bodyId_post': 'post_root_id', 'weight': 'synapse_count'})
    >>> apply_aliases(df, "edges", {"wieght": "synapse_count"})
    Traceback (most recent call last):
    ...
    connectome.errors.ColumnError: column 'wieght' not found in edges (columns: bodyId_pre, bodyId_post, weight); did you mean 'weight'? Fix the column mapping.
    >>> n = pd.DataFrame({"root_id": [1], "primary_type": ["KC"], "cell_type": ["KCab"]})
    >>> list(apply_aliases(n, "nodes", {"primary_type": "cell_type"})[0].columns)
    ['root_id', 'cell_type']
    >>> list(apply_aliases(n, "nodes", {"primary_type": "cell_type", "cell_type": "codex_type"})[0].columns)
    ['root_id', 'cell_type', 'codex_type']
    """
    if mapping is not None and not isinstance(mapping, dict):
        raise InputError(f"{parameter} must be a dict mapping your column names to ours, "
                         f"not {type(mapping).__name__}", parameter)
    mapping = {str(k): str(v) for k, v in (mapping or {}).items()}
    for old in mapping:
        if old not in df.columns:
            err = ColumnError(table, old, df.columns, "Fix the column mapping.")
            err.parameter = parameter
            raise err
    targets = [v for k, v in mapping.items() if k != v]
    twice = sorted({v for v in targets if targets.count(v) > 1})
    if twice:
        raise InputError(f"{parameter}: {', '.join(k for k, v in mapping.items() if v == twice[0])} are all mapped "
                         f"onto {twice[0]!r}; map one column onto each name", parameter)
    replaced = [v for k, v in mapping.items() if k != v and v in df.columns and v not in mapping]
    if replaced:
        logger.warning("%s: %s replace%s the existing column%s %s, which is dropped; to keep it, map it to "
                       "another name as well (e.g. %s)", table,
                       ", ".join(f"{k} -> {v}" for k, v in mapping.items() if v in replaced),
                       "s" if len(replaced) == 1 else "", "" if len(replaced) == 1 else "s",
                       ", ".join(replaced), ", ".join(f"{v}={v}_original" for v in replaced))
        df = df.drop(columns=replaced)
    out = df.rename(columns=mapping) if mapping else df
    aliases: dict[str, str] = {}
    for src, dst in COLUMN_ALIASES.get(table, {}).items():
        if src in out.columns and dst not in out.columns and dst not in aliases.values():
            aliases[src] = dst
    if aliases:
        logger.warning("%s: renaming columns %s (known aliases; map them yourself to choose otherwise)", table,
                       ", ".join(f"{a} -> {b}" for a, b in aliases.items()))
        out = out.rename(columns=aliases)
    return out, {**{k: v for k, v in mapping.items() if k != v}, **aliases}


def require_columns(df: pd.DataFrame, columns: Iterable[str], table: str, hint: str = "") -> None:
    """Raise :class:`~connectome.errors.ColumnError` if ``df`` lacks any of ``columns``.

    Examples
    --------
    >>> import pandas as pd
    >>> require_columns(pd.DataFrame({"a": [1]}), ["a"], "edges")
    >>> require_columns(pd.DataFrame({"pre": [1]}), ["pre_root_id"], "edges")
    Traceback (most recent call last):
    ...
    connectome.errors.ColumnError: column 'pre_root_id' not found in edges (columns: pre)
    """
    for col in columns:
        if col not in df.columns:
            raise ColumnError(table, col, df.columns, hint)


def coerce_ids(values: Sequence | np.ndarray | pd.Series, column: str) -> np.ndarray:
    """Return ``values`` as exact ``int64`` ids, or raise :class:`IdError`.

    Accepts integer arrays (``uint64`` too, below 2**63), integral floats below
    2**53, and strings or Python ints up to 2**63 - 1. Negative ids, missing ids,
    non-integers, ids of 2**63 or more and floats that may have lost precision
    are refused with a message naming ``column``. No value passes through a float.

    Examples
    --------
    >>> coerce_ids([1, 2, 3], "root_id")
    array([1, 2, 3])
    >>> coerce_ids(np.array([648518346349538157], dtype="uint64"), "root_id").dtype
    dtype('int64')
    >>> coerce_ids([-1], "pre_root_id")
    Traceback (most recent call last):
    ...
    connectome.errors.IdError: pre_root_id: ids must be non-negative integers; found -1
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if len(s) == 0:
        return np.zeros(0, dtype=ID_DTYPE)
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        s = s.astype(dtype.categories.dtype)
        dtype = s.dtype
    if s.isna().any():
        n = int(s.isna().sum())
        raise IdError(f"{column}: {n} missing id(s); drop or fill those rows first", column)
    if pd.api.types.is_bool_dtype(dtype):
        raise IdError(f"{column}: ids must be integers, not booleans", column)
    if pd.api.types.is_unsigned_integer_dtype(dtype):
        arr = s.to_numpy(dtype=np.uint64)
        if (arr > np.uint64(MAX_ID)).any():
            raise _too_big(column, int(arr[arr > np.uint64(MAX_ID)][0]))
        return arr.astype(ID_DTYPE)
    if pd.api.types.is_signed_integer_dtype(dtype):
        arr = s.to_numpy(dtype=np.int64)
        if (arr < 0).any():
            raise IdError(
                f"{column}: ids must be non-negative integers; found {int(arr[arr < 0][0])}", column
            )
        return arr.astype(ID_DTYPE)
    if pd.api.types.is_float_dtype(dtype):
        arr = s.to_numpy(dtype=np.float64)
        if (arr < 0).any():
            raise IdError(f"{column}: ids must be non-negative integers; found {float(arr[arr < 0][0])!r}", column)
        if (np.floor(arr) != arr).any():
            bad = float(arr[np.floor(arr) != arr][0])
            raise IdError(f"{column}: ids must be integers; found {bad!r}", column)
        if (arr >= _MAX_EXACT_FLOAT).any():
            raise IdError(
                f"{column}: ids were read as floating point and some exceed 2**53, so they may "
                "have lost digits; write the ids as integers (no decimal point or exponent) or read the file "
                "with an integer or string dtype for this column (e.g. pandas.read_csv(..., dtype={...: 'int64'}))",
                column,
            )
        return arr.astype(ID_DTYPE)
    # strings, Python ints, mixed objects
    out = np.empty(len(s), dtype=ID_DTYPE)
    for i, v in enumerate(s.to_numpy(dtype=object)):
        try:
            iv = int(v) if not isinstance(v, str) else int(v.strip())
        except (TypeError, ValueError):
            raise IdError(
                f"{column}: ids must be integers; found {v!r}. Map names to integer ids first "
                "(see connectome.schema.name_ids)",
                column,
            ) from None
        if isinstance(v, (float, np.floating)) and (v != iv or abs(iv) >= _MAX_EXACT_FLOAT):
            raise IdError(f"{column}: ids must be integers; found {v!r}" + (
                " (a float above 2**53 may have lost digits; give ids as integers or strings)" if v == iv else ""),
                column)
        if iv < 0:
            raise IdError(f"{column}: ids must be non-negative integers; found {iv}", column)
        if iv > MAX_ID:
            raise _too_big(column, iv)
        out[i] = iv
    return out


def ids_to_int64(df: pd.DataFrame, where: str = "table") -> pd.DataFrame:
    """``df`` with its ``uint64`` columns (root ids of stores written by earlier versions) as ``int64``.

    Values are checked before the cast, which never goes through a float; a value of
    2**63 or more is refused with :class:`~connectome.errors.StoreError` naming the column
    and ``where`` (such a store cannot be read as int64; re-ingest it from its source).

    Examples
    --------
    >>> import pandas as pd
    >>> old = pd.DataFrame({"root_id": pd.Series([720575940621039145], dtype="uint64"), "x": [1.0]})
    >>> ids_to_int64(old).dtypes["root_id"]
    dtype('int64')
    >>> ids_to_int64(pd.DataFrame({"root_id": pd.Series([2**63], dtype="uint64")}), "store s")
    Traceback (most recent call last):
    ...
    connectome.errors.StoreError: store s: root_id holds id 9223372036854775808, 2**63 or more; root ids are int64 (every real datastack's ids are below 2**63), so this table cannot be read; re-ingest it from its source
    """
    cols = [c for c in df.columns if pd.api.types.is_unsigned_integer_dtype(df[c].dtype)]
    if not cols:
        return df
    out = df.copy(deep=False)
    for col in cols:
        out[col] = stored_ids(out[col].to_numpy(), f"{where}: {col}")
    return out


def stored_ids(values: np.ndarray, where: str = "ids") -> np.ndarray:
    """An integer id array read from a store as ``int64``: ``uint64`` (earlier versions) is checked, then cast.

    Examples
    --------
    >>> stored_ids(np.array([720575940621039145], dtype="uint64"))
    array([720575940621039145])
    """
    arr = np.asarray(values)
    if arr.dtype == ID_DTYPE:
        return arr
    if arr.dtype.kind == "u":
        big = arr > np.uint64(MAX_ID)
        if big.any():
            raise StoreError(
                f"{where} holds id {int(arr[big][0])}, 2**63 or more; root ids are int64 "
                "(every real datastack's ids are below 2**63), so this table cannot be read; re-ingest it from its "
                "source")
    elif arr.dtype.kind != "i":
        raise StoreError(f"{where}: ids of dtype {arr.dtype} where integers were expected; re-ingest the store")
    return arr.astype(ID_DTYPE)


def name_ids(names: Iterable[str], namespace: str) -> np.ndarray:
    """Stable ``int64`` ids for named cells (e.g. C. elegans ``AVAL``).

    The id is a hash of ``namespace`` and the name, below 2**53 so it survives
    JSON; the same name gets the same id in every dataset of the namespace.

    Examples
    --------
    >>> a = name_ids(["AVAL", "AVAR"], "celegans")
    >>> bool(a[0] != a[1]), bool((a < 2**53).all())
    (True, True)
    >>> bool(name_ids(["AVAL"], "celegans")[0] == a[0])
    True
    """
    import hashlib

    names = list(names)
    out = np.empty(len(names), dtype=ID_DTYPE)
    for i, n in enumerate(names):
        h = hashlib.blake2b(f"{namespace}:{n}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "little") & (_MAX_EXACT_FLOAT - 1)
    if len(np.unique(out)) != len(set(names)):
        raise IdError(f"hash collision among {namespace} names; rename the cells", "names")
    return out


def _is_stringish(s: pd.Series) -> bool:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.dtype.categories.dtype == object or pd.api.types.is_string_dtype(s.dtype.categories)
    if pd.api.types.is_string_dtype(s.dtype):
        if s.dtype == object:
            vals = s.dropna()
            return bool(len(vals) == 0 or vals.map(type).eq(str).all())
        return True
    return False


def normalize_labels(df: pd.DataFrame, skip: Iterable[str] = ()) -> pd.DataFrame:
    """Cast string-like columns (object, category) to :data:`LABEL_DTYPE`.

    Examples
    --------
    >>> import pandas as pd
    >>> normalize_labels(pd.DataFrame({"t": pd.Categorical(["a", None])})).dtypes["t"]
    string[pyarrow]
    """
    skip = set(skip)
    out = {}
    for col in df.columns:
        s = df[col]
        if col not in skip and _is_stringish(s) and s.dtype != LABEL_DTYPE:
            s = s.astype(object).where(s.notna(), None).astype(LABEL_DTYPE)
        out[col] = s
    return pd.DataFrame(out, index=df.index)


def _check_no_duplicate_columns(df: pd.DataFrame, table: str) -> None:
    dup = df.columns[df.columns.duplicated()].tolist()
    if dup:
        raise InputError(f"{table}: duplicate column name(s) {dup}; rename them", table)


def normalize_nodes(nodes: pd.DataFrame) -> pd.DataFrame:
    """Validate a nodes table and return it in canonical form.

    ``root_id`` becomes ``int64`` and unique, labels become strings, rows are
    sorted by ``root_id``.

    Examples
    --------
    >>> import pandas as pd
    >>> normalize_nodes(pd.DataFrame({"root_id": [3, 1], "cell_type": ["a", "b"]}))
       root_id cell_type
    0        1         b
    1        3         a
    """
    if not isinstance(nodes, pd.DataFrame):
        raise InputError(f"nodes must be a pandas DataFrame, not {type(nodes).__name__}", "nodes")
    _check_no_duplicate_columns(nodes, "nodes")
    require_columns(nodes, [ROOT_ID], "nodes", "Rename your id column to 'root_id'.")
    out = nodes.reset_index(drop=True).copy()
    out[ROOT_ID] = coerce_ids(out[ROOT_ID], ROOT_ID)
    dup = out[ROOT_ID].duplicated()
    if dup.any():
        ex = out.loc[dup, ROOT_ID].iloc[0]
        raise InputError(
            f"nodes: root_id {ex} appears {int((out[ROOT_ID] == ex).sum())} times "
            f"({int(dup.sum())} duplicate rows); keep one row per neuron",
            "nodes",
        )
    out = normalize_labels(out, skip=[ROOT_ID])
    cols = [ROOT_ID] + [c for c in out.columns if c != ROOT_ID]
    return out[cols].sort_values(ROOT_ID, kind="stable", ignore_index=True)


def edge_key(columns: Iterable[str]) -> list[str]:
    """The columns that identify one edge row in a table with ``columns``.

    Examples
    --------
    >>> edge_key(["pre_root_id", "post_root_id", "synapse_count", "edge_kind", "neuropil"])
    ['pre_root_id', 'post_root_id', 'edge_kind', 'neuropil']
    """
    cols = set(columns)
    return [c for c in (PRE, POST, EDGE_KIND, NEUROPIL) if c in cols]


def coerce_counts(values: pd.Series, column: str = SYNAPSE_COUNT) -> np.ndarray:
    """Validate synapse counts: integers >= 1, none missing.

    Examples
    --------
    >>> coerce_counts(pd.Series([1.0, 4.0]))
    array([1, 4])
    >>> coerce_counts(pd.Series([2, 0]))
    Traceback (most recent call last):
    ...
    connectome.errors.SynapseCountError: synapse_count: counts must be >= 1; found 0 in 1 row(s). Drop rows without synapses (e.g. edges[edges.synapse_count > 0])
    """
    s = values
    if s.isna().any():
        raise SynapseCountError(
            f"{column}: {int(s.isna().sum())} missing count(s); fill or drop them", column
        )
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        try:
            s = pd.to_numeric(s)
        except (TypeError, ValueError):
            raise SynapseCountError(
                f"{column}: counts must be integers; column has dtype {values.dtype}", column
            ) from None
    arr = s.to_numpy()
    if pd.api.types.is_float_dtype(arr.dtype):
        frac = np.floor(arr) != arr
        if frac.any():
            raise SynapseCountError(
                f"{column}: counts must be integers; found {float(arr[frac][0])!r} in {int(frac.sum())} "
                "row(s). Round them, or keep weights in another column",
                column,
            )
    arr = arr.astype(COUNT_DTYPE)
    bad = arr < 1
    if bad.any():
        raise SynapseCountError(
            f"{column}: counts must be >= 1; found {int(arr[bad][0])} in {int(bad.sum())} row(s). "
            "Drop rows without synapses (e.g. edges[edges.synapse_count > 0])",
            column,
        )
    return arr


def normalize_edges(edges: pd.DataFrame, duplicates: str = "error") -> pd.DataFrame:
    """Validate an edge table and return it in canonical form.

    Parameters
    ----------
    edges : pandas.DataFrame
        Columns ``pre_root_id``, ``post_root_id``, ``synapse_count``; optional
        ``edge_kind`` (``"chemical"`` default, or ``"gap_junction"``),
        ``neuropil``, ``nt_type`` and any other per-edge column.
    duplicates : {"error", "sum", "first"}
        What to do when an edge (pre, post, kind[, neuropil]) appears twice.

    Returns
    -------
    pandas.DataFrame
        Sorted by (pre, post, kind[, neuropil]); ids ``int64``; counts ``int64``.

    Examples
    --------
    >>> import pandas as pd
    >>> e = pd.DataFrame({"pre_root_id": [2, 1], "post_root_id": [1, 2], "synapse_count": [3, 5]})
    >>> normalize_edges(e)
       pre_root_id  post_root_id  synapse_count edge_kind
    0            1             2              5  chemical
    1            2             1              3  chemical
    """
    if not isinstance(edges, pd.DataFrame):
        raise InputError(f"edges must be a pandas DataFrame, not {type(edges).__name__}", "edges")
    if duplicates not in ("error", "sum", "first"):
        raise InputError(
            f"duplicates must be 'error', 'sum' or 'first', not {duplicates!r}", "duplicates"
        )
    _check_no_duplicate_columns(edges, "edges")
    hint = "Map your columns, e.g. columns={'pre': 'pre_root_id', 'post': 'post_root_id', 'weight': 'synapse_count'}."
    require_columns(edges, [PRE, POST, SYNAPSE_COUNT], "edges", hint)
    out = edges.reset_index(drop=True).copy()
    out[PRE] = coerce_ids(out[PRE], PRE)
    out[POST] = coerce_ids(out[POST], POST)
    out[SYNAPSE_COUNT] = coerce_counts(out[SYNAPSE_COUNT])
    if EDGE_KIND not in out.columns:
        out[EDGE_KIND] = CHEMICAL
    kinds = out[EDGE_KIND].astype(object)
    bad = ~kinds.isin(EDGE_KINDS)
    if bad.any():
        raise InputError(
            f"{EDGE_KIND}: unknown kind {kinds[bad].iloc[0]!r}; use one of {list(EDGE_KINDS)}",
            EDGE_KIND,
        )
    out = normalize_labels(out, skip=[PRE, POST, SYNAPSE_COUNT])
    key = edge_key(out.columns)
    dup = out.duplicated(key, keep=False)
    if dup.any():
        if duplicates == "error":
            first = out.loc[dup, key].iloc[0]
            desc = ", ".join(f"{k} {first[k]}" for k in key)
            raise DuplicateEdgeError(
                f"edges: {int(out.duplicated(key).sum())} duplicate edge row(s) for the same "
                f"({', '.join(key)}), e.g. {desc}. Pass duplicates='sum' to add their synapse "
                "counts, or duplicates='first' to keep the first row",
                "edges",
            )
        if duplicates == "sum":
            other = [c for c in out.columns if c not in key and c != SYNAPSE_COUNT]
            agg = {SYNAPSE_COUNT: "sum", **{c: "first" for c in other}}
            out = out.groupby(key, sort=False, dropna=False, observed=True).agg(agg).reset_index()
        else:
            out = out[~out.duplicated(key, keep="first")]
    first_cols = [PRE, POST, SYNAPSE_COUNT, EDGE_KIND]
    cols = first_cols + [c for c in out.columns if c not in first_cols]
    return out[cols].sort_values(key, kind="stable", ignore_index=True)


def normalize_synapses(synapses: pd.DataFrame) -> pd.DataFrame:
    """Validate a per-synapse table: pre/post ids and positions in nm.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"pre_root_id": [1], "post_root_id": [2], "x_nm": [4.0],
    ...                   "y_nm": [8.0], "z_nm": [40.0]})
    >>> normalize_synapses(s).dtypes["pre_root_id"]
    dtype('int64')
    """
    if not isinstance(synapses, pd.DataFrame):
        raise InputError(
            f"synapses must be a pandas DataFrame, not {type(synapses).__name__}", "synapses"
        )
    _check_no_duplicate_columns(synapses, "synapses")
    require_columns(
        synapses,
        [PRE, POST, *POSITION_COLUMNS],
        "synapses",
        "Positions must be in nanometres (x_nm, y_nm, z_nm); convert voxels with the volume's resolution.",
    )
    out = synapses.reset_index(drop=True).copy()
    out[PRE] = coerce_ids(out[PRE], PRE)
    out[POST] = coerce_ids(out[POST], POST)
    for c in POSITION_COLUMNS:
        out[c] = pd.to_numeric(out[c], errors="raise").astype(np.float64)
    out = normalize_labels(out, skip=[PRE, POST])
    return out
