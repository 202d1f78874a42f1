"""The datasets the service serves: the library's datasets plus the service's own stores.

Three sources, later ones winning for the same name:

1. ``connectome.datasets()`` — the data home, embedded snapshots and buildable
   datasets (built into the data home on first use);
2. stores written by ingest jobs of the service (``<data_root>/stores/<name>``);
3. stores an admin registered by path (``connectome access dataset NAME --store PATH``).

Access rules (private datasets, owners, data-use terms) are the service's
metadata, kept in its database (:class:`connectome.api.auth.Policies`), not in the stores.
A dataset's *version* is the store's live version (``v-<content hash>``), so
results cached per version are never stale.

Names from requests are only ever looked up in this catalog, never treated as
paths.

Examples
--------
>>> import tempfile, pathlib
>>> from connectome.api.db import Database
>>> from connectome.api.auth import Policies
>>> from connectome.api.settings import Settings
>>> s = Settings(data_root=tempfile.mkdtemp())
>>> db = Database(s.db_path); db.migrate()
>>> cat = Catalog(s, Policies(db))
>>> rec = cat.get("celegans_cook2019_herm")
>>> rec.location, cat.version(rec.name).startswith("v-")
('embedded', True)
>>> cat.load(rec.name)[0].n_nodes
473
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectome.config import data_home
from connectome.errors import DatasetNotFoundError, StoreError
from connectome.registry import dataset_entries, load, store_entry

from .auth import Policies
from .settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["Catalog", "DatasetRecord", "name_key"]

#: Letters that look like Latin ones (Cyrillic, Greek, a few others), mapped to them after case folding.
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "г": "r", "д": "d", "е": "e", "ё": "e", "з": "3", "и": "u", "й": "u", "к": "k",
    "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ь": "b",
    "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ӏ": "l", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ү": "y",
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "μ": "u", "ν": "v",
    "ο": "o", "ρ": "p", "σ": "o", "ς": "c", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    "ı": "i", "ȷ": "j", "ɡ": "g", "ɑ": "a", "ß": "ss", "ø": "o", "đ": "d", "ł": "l", "ħ": "h",
})
#: Digits and letters that are easy to take for one another: 0/o and 1/l/i (also after the map above).
_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l"})


def name_key(name: str) -> str:
    """A dataset name as a reader would tell it from others: two names with the same key look alike.

    NFKC, case folded, accents and other marks dropped, Cyrillic and Greek look-alikes (and a few
    others) mapped to Latin letters, punctuation, separators and symbols dropped, and ``0`` read
    as ``o``, ``1`` and ``i`` as ``l``.

    Examples
    --------
    >>> name_key("celegans_cook2019_herm") == name_key("Celegans-Cook2019.Herm-")
    True
    >>> name_key("c\u0435legans_cook2019_herm") == name_key("celegans_cook2019_herm")  # a Cyrillic 'е'
    True
    >>> name_key("ce1egans_cook2O19_herm") == name_key("celegans_cook2019_herm")
    True
    >>> name_key("celegans_cook2019_male") == name_key("celegans_cook2019_herm")
    False
    """
    import unicodedata

    s = unicodedata.normalize("NFKC", str(name)).casefold()
    s = "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))
    s = s.translate(_CONFUSABLES)
    s = "".join(ch for ch in s if unicodedata.category(ch)[0] in "LN")
    return s.translate(_LOOKALIKES)


@dataclass
class DatasetRecord:
    """One dataset as the service sees it."""

    name: str
    species: str = ""
    title: str = ""
    source: str = ""
    nodes: int | None = None
    edges: int | None = None
    location: str = "buildable"  # home | embedded | buildable | service
    path: Path | None = None
    entry: Any = None  # connectome.registry.DatasetEntry of a buildable dataset


def _record(e: Any, name: str | None = None) -> DatasetRecord:
    """A :class:`DatasetRecord` from a ``connectome.registry.DatasetEntry``."""
    return DatasetRecord(name=name or e.name, species=e.species or "", title=e.title or "",
                         source=str(e.source or ""), nodes=e.nodes, edges=e.edges, location=e.location,
                         path=e.path, entry=None if e.path is not None else e)


def _store_record(path: Path, location: str, name: str | None = None) -> DatasetRecord | None:
    e = store_entry(path, location, name)
    return None if e is None else _record(e)


class Catalog:
    """Datasets by name, their store versions, and loaded connectomes (LRU).

    Parameters
    ----------
    settings : Settings
    policies : Policies
    ttl : float
        Seconds a listing is reused before the folders are scanned again.
    keep_loaded : int
        Connectomes kept loaded.
    """

    def __init__(self, settings: Settings, policies: Policies, ttl: float = 5.0, keep_loaded: int = 4) -> None:
        self.settings = settings
        self.policies = policies
        self.ttl = ttl
        self.keep_loaded = keep_loaded
        self._records: dict[str, DatasetRecord] | None = None
        self._stamp = 0.0
        self._refreshing = False
        self._lock = threading.Lock()
        self._loaded: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._name_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------------ listing
    def _scan(self) -> dict[str, DatasetRecord]:
        out: dict[str, DatasetRecord] = {}
        for name, e in dataset_entries().items():
            out[name] = _record(e, name)
        stores = self.settings.stores_dir
        if stores.is_dir():
            for p in sorted(stores.iterdir()):
                if p.is_dir() and not p.name.startswith("."):
                    rec = _store_record(p, "service", name=p.name)
                    if rec is not None:
                        out[rec.name] = rec
        for name, pol in self.policies.policies().items():
            if pol.path:
                rec = _store_record(Path(pol.path), "service", name=name)
                if rec is not None:
                    out[name] = rec
        return out

    def records(self) -> dict[str, DatasetRecord]:
        """Every dataset by name.

        The first call (and the first after :meth:`invalidate`) scans; later
        calls return the last listing and, once it is older than ``ttl``
        seconds, refresh it in a background thread, so no request waits for
        a scan.
        """
        now = time.monotonic()
        with self._lock:
            recs = self._records
            stale = recs is not None and now - self._stamp >= self.ttl and not self._refreshing
            if stale:
                self._refreshing = True
        if recs is None:
            recs = self._scan()
            with self._lock:
                self._records, self._stamp = recs, time.monotonic()
            return recs
        if stale:
            threading.Thread(target=self._refresh, name="catalog-refresh", daemon=True).start()
        return recs

    def _refresh(self) -> None:
        try:
            recs = self._scan()
            with self._lock:
                if self._records is not None:  # not invalidated meanwhile
                    self._records, self._stamp = recs, time.monotonic()
        except Exception as exc:  # keep serving the last listing
            logger.warning("refreshing the dataset listing failed: %s", exc)
        finally:
            with self._lock:
                self._refreshing = False

    def invalidate(self) -> None:
        """Forget the listing (after an ingest or a build)."""
        with self._lock:
            self._records = None

    def similar_public_name(self, name: str) -> str | None:
        """A public dataset (listed for everyone, or claimed public by an ingest) whose name looks like
        ``name`` (the same :func:`name_key`) but is not ``name``; None when there is none.

        Private datasets are not compared: their names must not leak.
        """
        key = name_key(name)
        candidates = sorted(set(self.records()) | set(self.policies.policies()))
        for other in candidates:
            if other != name and name_key(other) == key and not self.policies.policy(other).private:
                return other
        return None

    def get(self, name: str) -> DatasetRecord:
        """The record of ``name``.

        Raises
        ------
        DatasetNotFoundError
            No such dataset (the message lists the known names).
        """
        recs = self.records()
        rec = recs.get(name)
        if rec is None:
            raise DatasetNotFoundError(name, recs)
        return rec

    # ------------------------------------------------------------------ stores
    def _name_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._name_locks.setdefault(name, threading.Lock())

    def store_path(self, name: str, build: bool = True) -> Path | None:
        """The store folder of ``name``; builds a buildable dataset first when ``build``."""
        rec = self.get(name)
        if rec.path is not None:
            return rec.path
        if not build or rec.entry is None:
            return None

        with self._name_lock(name):
            rec = self.get(name)
            if rec.path is not None:
                return rec.path
            out = data_home() / name
            logger.info("building dataset %s into %s", name, out)
            rec.entry.build(out, False)
            self.invalidate()
            return out

    @staticmethod
    def store_version(path: Path) -> str:
        """The live version of the store at ``path`` (``v-<content hash>``)."""
        try:
            return (path / "CURRENT").read_text().strip()
        except OSError as exc:
            raise StoreError(f"store {path} has no readable CURRENT file ({exc})") from None

    def version(self, name: str, build: bool = True) -> str | None:
        """The live store version of ``name`` (``None`` if not built and ``build`` is false)."""
        path = self.store_path(name, build=build)
        return None if path is None else self.store_version(path)

    def load(self, name: str) -> tuple[Any, str]:
        """The connectome of ``name`` and its version (kept loaded, LRU)."""
        path = self.store_path(name)
        assert path is not None
        version = self.store_version(path)
        key = (name, version)
        with self._lock:
            c = self._loaded.get(key)
            if c is not None:
                self._loaded.move_to_end(key)
                return c, version
        with self._name_lock(name):
            with self._lock:
                c = self._loaded.get(key)
            if c is None:
                c = load(path.absolute())
                with self._lock:
                    self._loaded[key] = c
                    while len(self._loaded) > self.keep_loaded:
                        self._loaded.popitem(last=False)
        return c, version
