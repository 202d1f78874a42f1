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
from connectome.schema import COLUMN_ALIASES as _ALIASES
from connectome.schema import apply_aliases

logger = logging.getLogger(__name__)

__all__ = ["COLUMN_ALIASES", "rename_columns", "read_table", "parse_mapping"]

#: Outside column name -> project column name, per table: the core's one table
#: (:data:`connectome.schema.COLUMN_ALIASES`), shared with :func:`connectome.from_edges`.
COLUMN_ALIASES = _ALIASES

_READERS = {
    ".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet",
    ".feather": "feather", ".arrow": "feather",
}


def rename_columns(df: pd.DataFrame, table: str, mapping: dict[str, str] | None = None, *,
                   renamed: dict[str, dict[str, str]] | None = None, parameter: str = "columns") -> pd.DataFrame:
    """Apply the user's ``mapping``, then :data:`COLUMN_ALIASES` for columns still missing.

    An alias is used only when its target column is absent, so a table that
    already has ``synapse_count`` keeps it even if it also has ``weight``. A
    ``mapping`` key that is not a column is refused (error naming ``parameter``).
    ``renamed``, when given, collects ``{table: {old: new}}`` for the manifest.
    """
    out, done = apply_aliases(df, table, mapping, parameter=parameter)
    if renamed is not None and done:
        renamed.setdefault(table, {}).update(done)
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


_DELIMITERS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}


def _sniff_delimiter(p: Path, sep: str) -> str | None:
    """The delimiter of a text table whose header holds no ``sep`` but another delimiter (else ``None``)."""
    import gzip

    opener = gzip.open if p.suffix.lower() == ".gz" else open
    try:
        with opener(p, "rt", errors="replace") as fh:  # type: ignore[operator]
            header = fh.readline().rstrip("\r\n")
            first = fh.readline().rstrip("\r\n")
    except OSError:
        return None  # unreadable here: the real read right after raises the error that names the file
    if sep in header:
        return None
    counts = {d: header.count(d) for d in _DELIMITERS if d != sep}
    best = max(counts, key=counts.get) if counts else None
    if best is not None and counts[best] > 0:
        return best
    if len(header.split()) > 1 and len(first.split()) == len(header.split()):
        return r"\s+"
    return None


def read_table(path: str | Path, parameter: str = "path", columns: list[str] | None = None, *,
               allow_empty: bool = False) -> pd.DataFrame:
    r"""Read a CSV / TSV (optionally compressed), Parquet or Feather file.

    Integer id columns keep every digit: the CSV parser reads ids up to 2**64-1
    as ``int64``/``uint64``; anything it cannot read as integers is checked later
    by :func:`connectome.schema.coerce_ids`. A text table separated by another
    delimiter than its suffix says (``;``, tab, ``|`` or spaces in a ``.csv``)
    is read with that delimiter, with a warning naming it.

    Raises
    ------
    SourceNotFoundError
        ``path`` does not exist (the error names ``parameter``).
    InputError
        The file is empty, or has a header and no rows (unless ``allow_empty``),
        or cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "e.csv").write_text("pre;post;n\n1;2;5\n")
    >>> read_table(d / "e.csv", "edges").columns.tolist()
    ['pre', 'post', 'n']
    >>> _ = (d / "h.csv").write_text("pre,post,n\n")
    >>> read_table(d / "h.csv", "edges")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: edges: '.../h.csv' has a header (pre, post, n) but no rows; nothing to ingest
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceNotFoundError(p, parameter, "check the path")
    if p.is_dir():
        raise InputError(f"{parameter}: {str(p)!r} is a folder; pass a file", parameter)
    kind = _kind(p)
    if p.stat().st_size == 0:
        raise InputError(f"{parameter}: {str(p)!r} is empty (0 bytes; no header, no rows)", parameter)
    logger.info("reading %s (%s)", p, kind)
    sep = "\t" if kind == "tsv" else ","
    try:
        if kind == "parquet":
            df = pd.read_parquet(p, columns=columns)
        elif kind == "feather":
            df = pd.read_feather(p, columns=columns)
        else:
            df = pd.read_csv(p, sep=sep, usecols=columns, low_memory=False)
            if df.shape[1] == 1 and columns is None:
                other = _sniff_delimiter(p, sep)
                if other is not None:
                    name = _DELIMITERS.get(other, "whitespace")
                    logger.warning("%s: %s is %s-separated, not %s-separated as its suffix says; reading it "
                                   "with %s as the delimiter", parameter, p.name, name, _DELIMITERS[sep], name)
                    df = pd.read_csv(p, sep=other, low_memory=False,
                                     **({"engine": "python"} if other == r"\s+" else {}))
    except pd.errors.EmptyDataError:
        raise InputError(f"{parameter}: {str(p)!r} is empty (no header, no rows)", parameter) from None
    except (ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise SourceNotFoundError(p, parameter) from None
        raise InputError(f"{parameter}: cannot read {str(p)!r} as {kind} ({exc})", parameter) from None
    if len(df) == 0 and not allow_empty:
        shown = ", ".join(map(str, df.columns[:8])) + (", ..." if df.shape[1] > 8 else "")
        raise InputError(f"{parameter}: {str(p)!r} has a header ({shown}) but no rows; nothing to ingest",
                         parameter)
    return df


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
