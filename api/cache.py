"""Results cached per dataset version: in memory (LRU) and on disk.

A key names the dataset, its store version (``v-<content hash>``), the kind of
result and its parameters; a new store version therefore never serves an old
result. Values are the encoded JSON bodies, so a hit is served without
recomputing or re-serialising. Disk entries survive restarts.

Examples
--------
>>> import tempfile
>>> cache = ResultCache(tempfile.mkdtemp(), entries=2)
>>> key = CacheKey("celegans_cook2019_herm", "v-abc", "census", {"edge_kind": "chemical"})
>>> cache.get(key) is None
True
>>> cache.put(key, b'{"003": 1}')
>>> cache.get(key)
b'{"003": 1}'
>>> ResultCache(cache.folder, entries=2).get(key)  # a new process finds it on disk
b'{"003": 1}'
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectome.atomic import replace_atomically

logger = logging.getLogger(__name__)

__all__ = ["CacheKey", "ResultCache"]


@dataclass(frozen=True)
class CacheKey:
    """What a cached result is a result of."""

    dataset: str
    version: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def digest(self) -> str:
        """A stable hash of the kind and parameters."""
        raw = json.dumps([self.kind, self.params], sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    @property
    def id(self) -> tuple[str, str, str]:
        """Identity used in memory."""
        return (self.dataset, self.version, self.digest)


class ResultCache:
    """Encoded results by :class:`CacheKey`, in an LRU and on disk.

    Parameters
    ----------
    folder : path
        Where disk entries go (``<folder>/<dataset>/<version>/<kind>-<digest>.json``).
    entries : int
        Results kept in memory.
    frames : int
        Tables (e.g. all matches of a motif query, paged from) kept in memory.
    """

    def __init__(self, folder: str | Path, entries: int = 512, frames: int = 8) -> None:
        self.folder = Path(folder)
        self.entries = entries
        self.frames = frames
        self._mem: OrderedDict[tuple, bytes] = OrderedDict()
        self._frames: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _path(self, key: CacheKey) -> Path:
        return self.folder / key.dataset / key.version / f"{key.kind}-{key.digest}.json"

    def get(self, key: CacheKey) -> bytes | None:
        """The cached body, or ``None``."""
        with self._lock:
            value = self._mem.get(key.id)
            if value is not None:
                self._mem.move_to_end(key.id)
                self.hits += 1
                return value
        path = self._path(key)
        try:
            value = path.read_bytes()
        except OSError:
            with self._lock:
                self.misses += 1
            return None
        self._remember(key, value)
        with self._lock:
            self.hits += 1
        return value

    def _remember(self, key: CacheKey, value: bytes) -> None:
        self._lru_put(self._mem, key, value, self.entries)

    def _lru_put(self, lru: OrderedDict, key: CacheKey, value: Any, capacity: int) -> None:
        with self._lock:
            lru[key.id] = value
            lru.move_to_end(key.id)
            while len(lru) > capacity:
                lru.popitem(last=False)

    def put(self, key: CacheKey, value: bytes) -> None:
        """Store a body in memory and (atomically) on disk."""
        self._remember(key, value)
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_atomically(path, lambda tmp: tmp.write_bytes(value))
        except OSError as exc:  # a full disk must not fail the request
            logger.warning("could not write cache entry %s: %s", path, exc)

    # ------------------------------------------------------------------ tables
    def _frame_path(self, key: CacheKey) -> Path:
        return self.folder / key.dataset / key.version / f"{key.kind}-{key.digest}.parquet"

    def get_frame(self, key: CacheKey) -> Any:
        """A cached table (pandas DataFrame), or ``None``."""
        with self._lock:
            df = self._frames.get(key.id)
            if df is not None:
                self._frames.move_to_end(key.id)
                return df
        path = self._frame_path(key)
        if not path.is_file():
            return None
        import pandas as pd

        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # a torn or foreign file is a miss, not an error
            logger.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        self._remember_frame(key, df)
        return df

    def _remember_frame(self, key: CacheKey, df: Any) -> None:
        self._lru_put(self._frames, key, df, self.frames)

    def put_frame(self, key: CacheKey, df: Any) -> None:
        """Keep a table in memory and (atomically) on disk as Parquet."""
        self._remember_frame(key, df)
        path = self._frame_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_atomically(path, lambda tmp: df.to_parquet(tmp, index=False))
        except OSError as exc:
            logger.warning("could not write cache entry %s: %s", path, exc)
