"""Results cached per dataset version: in memory (LRU) and on disk.

A key names the dataset, its store version (``v-<content hash>``), the kind of
result and its parameters; a new store version therefore never serves an old
result. Values are the encoded JSON bodies, so a hit is served without
recomputing or re-serialising. Disk entries survive restarts; each carries a
SHA-256 of its content (:mod:`connectome.api.integrity`), and an entry that does not match
it (truncated, edited) is deleted and recomputed, never served.

A computation that ended in a final error (a query past its time budget, an
invalid query) is remembered for a while too (:meth:`ResultCache.put_error`),
so that clients retrying after ``503 still_computing`` reach that error.

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
>>> path = cache._path(key); _ = path.write_bytes(path.read_bytes().replace(b"1}", b"2}"))
>>> ResultCache(cache.folder, entries=2).get(key) is None, path.exists()  # edited: discarded
(True, False)
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .integrity import CorruptFileError, frame_bytes, read_frame, read_sealed, write_sealed

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
        self._errors: OrderedDict[tuple, tuple[float, float, int, dict, dict]] = OrderedDict()
        self._frame_locks: dict[tuple, threading.Lock] = {}
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
        value = self._read_disk(path)
        if value is None:
            with self._lock:
                self.misses += 1
            return None
        self._remember(key, value)
        with self._lock:
            self.hits += 1
        return value

    @staticmethod
    def _read_disk(path: Path) -> bytes | None:
        """A disk entry's checked content; a damaged entry is deleted (and is a miss)."""
        try:
            return read_sealed(path, f"cache entry {path.name}")
        except FileNotFoundError:
            return None
        except (OSError, CorruptFileError) as exc:
            logger.warning("discarding cache entry %s: %s", path, exc)
            try:
                path.unlink()
            except OSError:
                pass  # already gone, or unwritable: it stays a miss either way
            return None

    @staticmethod
    def _write_disk(path: Path, payload: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_sealed(path, payload)
        except OSError as exc:  # a full disk must not fail the request: the entry stays in memory
            logger.warning("could not write cache entry %s: %s", path, exc)

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
        self._write_disk(self._path(key), value)

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
        payload = self._read_disk(path)
        if payload is None:
            return None
        try:
            df = read_frame(payload)
        except Exception as exc:  # checked bytes that are not Parquet: a foreign file, a miss
            logger.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        self._remember_frame(key, df)
        return df

    def _remember_frame(self, key: CacheKey, df: Any) -> None:
        self._lru_put(self._frames, key, df, self.frames)

    def put_frame(self, key: CacheKey, df: Any) -> None:
        """Keep a table in memory and (atomically) on disk as Parquet."""
        self._remember_frame(key, df)
        self._write_disk(self._frame_path(key), frame_bytes(df))

    def frame(self, key: CacheKey, compute: Any) -> Any:
        """The cached table of ``key``, or ``compute()`` — run once even when many pages ask at once."""
        df = self.get_frame(key)
        if df is not None:
            return df
        with self._lock:
            lock = self._frame_locks.setdefault(key.id, threading.Lock())
        with lock:
            df = self.get_frame(key)
            if df is None:
                df = compute()
                self.put_frame(key, df)
        with self._lock:
            self._frame_locks.pop(key.id, None)
        return df

    # ------------------------------------------------------------------ final errors
    def put_error(self, key: CacheKey, status: int, body: dict, headers: dict | None = None, *, budget_s: float,
                  ttl_s: float = 600.0) -> None:
        """Remember that computing ``key`` with a time budget of ``budget_s`` ended in this error (in memory)."""
        with self._lock:
            self._errors[key.id] = (time.monotonic() + ttl_s, float(budget_s), int(status), body, dict(headers or {}))
            self._errors.move_to_end(key.id)
            while len(self._errors) > self.entries:
                self._errors.popitem(last=False)

    def get_error(self, key: CacheKey, budget_s: float) -> tuple[int, dict, dict] | None:
        """The remembered error of ``key`` — unless it expired, or this request brings a larger budget."""
        with self._lock:
            entry = self._errors.get(key.id)
            if entry is None:
                return None
            expires, budget, status, body, headers = entry
            if time.monotonic() > expires:
                del self._errors[key.id]
                return None
        return None if budget_s > budget else (status, body, headers)
