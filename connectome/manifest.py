"""The store manifest: what a store holds, where it came from, and its checksums.

A manifest is JSON (``manifest.json`` inside each store version). It records
the source (dataset, materialization version or timestamp, table names), units
and voxel resolution, row counts, per-file SHA-256 hashes and the schema version.

Examples
--------
>>> m = Manifest(name="demo", species="Caenorhabditis elegans")
>>> Manifest.from_json(m.to_json()).name
'demo'
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import StoreCorruptError, StoreVersionError
from .schema import SCHEMA_VERSION

__all__ = ["Manifest", "TableInfo", "FileInfo", "utc_now"]

FORMAT = "connectome-store"


def utc_now() -> str:
    """Current time as an ISO 8601 string in UTC (timezone-aware).

    Examples
    --------
    >>> utc_now().endswith("+00:00")
    True
    """
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class FileInfo:
    """One Parquet file of a table."""

    path: str
    rows: int
    bytes: int
    sha256: str
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class TableInfo:
    """One table (nodes, edges or synapses) of a store."""

    rows: int
    columns: dict[str, str]
    files: list[FileInfo]

    @classmethod
    def from_dict(cls, d: dict) -> TableInfo:
        return cls(rows=int(d["rows"]), columns=dict(d["columns"]),
                   files=[FileInfo(**f) for f in d["files"]])


@dataclass
class Manifest:
    """Metadata of one connectome store.

    Parameters
    ----------
    name : str
        Dataset name (``celegans_cook2019_herm``, ``flywire_v783``, ...).
    title, species : str, optional
        Human-readable title and species.
    source : dict
        Where the data came from: ``kind`` (cect, release-file, cave, ...),
        files or URLs, package versions, citation, licence.
    version : dict
        Release, ``materialization`` version or ``timestamp`` (UTC), datastack
        and table names of a remote read.
    units : dict
        Units of position columns (``{"position": "nm"}``).
    voxel_resolution_nm : list of float, optional
        Voxel size of the source volume in nm, as recorded by the source.
    tables : dict
        Filled by the writer: rows, columns and files of each table.
    extra : dict
        Anything else a source wants to keep (label vocabularies, notes).
    """

    name: str
    title: str = ""
    species: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    version: dict[str, Any] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=lambda: {"position": "nm"})
    voxel_resolution_nm: list[float] | None = None
    tables: dict[str, TableInfo] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    created: str = field(default_factory=utc_now)
    writer: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d = {"format": FORMAT, **d}
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "manifest") -> Manifest:
        if d.get("format") != FORMAT:
            raise StoreCorruptError(f"{where}: not a connectome store manifest (format={d.get('format')!r})")
        ver = d.get("schema_version")
        if not isinstance(ver, int):
            raise StoreCorruptError(f"{where}: schema_version missing or not an integer")
        if ver > SCHEMA_VERSION:
            raise StoreVersionError(
                f"{where}: store schema version {ver} is newer than this connectome-service "
                f"understands ({SCHEMA_VERSION}); upgrade connectome-service to read it"
            )
        d = {k: v for k, v in d.items() if k != "format"}
        d["tables"] = {k: TableInfo.from_dict(v) for k, v in d.get("tables", {}).items()}
        known = set(cls.__dataclass_fields__)
        extra_keys = set(d) - known
        if extra_keys:
            d.setdefault("extra", {})
            d["extra"] = {**d["extra"], **{k: d.pop(k) for k in extra_keys}}
        return cls(**d)

    @classmethod
    def from_json(cls, text: str, where: str = "manifest") -> Manifest:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreCorruptError(f"{where}: manifest is not valid JSON ({exc})") from None
        return cls.from_dict(d, where)

    def rows(self, table: str) -> int:
        """Row count of ``table`` (0 if absent)."""
        t = self.tables.get(table)
        return t.rows if t else 0
