"""Reading outside tables and renaming their columns once, at the ingest boundary.

Sources name the same things differently: CAVE's ``pre_pt_root_id``, Codex's
``syn_count``, neuPrint's ``bodyId_pre`` / ``weight``, CATMAID's ``pre_skid``.
:data:`COLUMN_ALIASES` maps them to the project's names; an explicit mapping
from the user always wins.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"bodyId_pre": [1], "bodyId_post": [2], "weight": [7]})
>>> list(rename_columns(df, "edges").columns)
['pre_root_id', 'post_root_id', 'synapse_count']
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from connectome.errors import InputError, SourceNotFoundError

logger = logging.getLogger(__name__)

__all__ = ["COLUMN_ALIASES", "rename_columns", "read_table", "parse_mapping"]

#: Outside column name -> project column name, per table.
COLUMN_ALIASES: dict[str, dict[str, str]] = {
    "edges": {
        "pre_pt_root_id": "pre_root_id",
        "post_pt_root_id": "post_root_id",
        "pre_id": "pre_root_id",
        "post_id": "post_root_id",
        "bodyId_pre": "pre_root_id",
        "bodyId_post": "post_root_id",
        "pre_skid": "pre_root_id",
        "post_skid": "post_root_id",
        "syn_count": "synapse_count",
        "weight": "synapse_count",
        "count": "synapse_count",
        "n_synapses": "synapse_count",
        "roi": "neuropil",
    },
    "nodes": {
        "pt_root_id": "root_id",
        "bodyId": "root_id",
        "skid": "root_id",
        "id": "root_id",
        "type": "cell_type",
    },
}

_READERS = {
    ".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
    ".feather": "feather", ".arrow": "feather",
}


def rename_columns(df: pd.DataFrame, table: str, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Apply the user's ``mapping``, then :data:`COLUMN_ALIASES` for columns still missing.

    An alias is used only when its target column is absent, so a table that
    already has ``synapse_count`` keeps it even if it also has ``weight``.
    """
    mapping = dict(mapping or {})
    missing_src = [k for k in mapping if k not in df.columns]
    if missing_src:
        from connectome.errors import ColumnError

        raise ColumnError(table, missing_src[0], df.columns, "Fix the column mapping.")
    out = df.rename(columns=mapping)
    renames = {}
    for src, dst in COLUMN_ALIASES.get(table, {}).items():
        if src in out.columns and dst not in out.columns and dst not in renames.values():
            renames[src] = dst
    if renames:
        logger.info("%s: renaming columns %s", table, renames)
        out = out.rename(columns=renames)
    return out


def _kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".zst", ".xz"):
        suffixes = suffixes[:-1]
    kind = _READERS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise InputError(
            f"cannot tell the format of {path.name!r}; use .csv, .tsv, .csv.gz, .parquet or .feather", "path"
        )
    return kind


def read_table(path: str | Path, parameter: str = "path", columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV / TSV (optionally compressed), Parquet or Feather file.

    Integer id columns keep every digit: the CSV parser reads ids up to 2**64-1
    as ``int64``/``uint64``; anything it cannot read as integers is checked later
    by :func:`connectome.schema.coerce_ids`.

    Raises
    ------
    SourceNotFoundError
        ``path`` does not exist (the error names ``parameter``).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceNotFoundError(p, parameter, "check the path")
    if p.is_dir():
        raise InputError(f"{parameter}: {str(p)!r} is a folder; pass a file", parameter)
    kind = _kind(p)
    logger.info("reading %s (%s)", p, kind)
    try:
        if kind == "parquet":
            return pd.read_parquet(p, columns=columns)
        if kind == "feather":
            return pd.read_feather(p, columns=columns)
        return pd.read_csv(p, sep="\t" if kind == "tsv" else ",", usecols=columns, low_memory=False)
    except (ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise SourceNotFoundError(p, parameter) from None
        raise InputError(f"{parameter}: cannot read {str(p)!r} as {kind} ({exc})", parameter) from None


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """Parse CLI ``--map old=new`` items.

    Examples
    --------
    >>> parse_mapping(["weight=synapse_count", "pre=pre_root_id"])
    {'weight': 'synapse_count', 'pre': 'pre_root_id'}
    """
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--map expects OLD=NEW, got {item!r}", "map")
        old, new = item.split("=", 1)
        out[old.strip()] = new.strip()
    return out
