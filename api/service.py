"""The service's state: settings, database, tokens, policies, catalog, cache, jobs.

One :class:`Service` per app. :meth:`Service.open` creates the data root and
the database and takes a lock so that two servers never share one data root;
:meth:`Service.start_jobs` starts (or connects to) the Dask cluster and
recovers unfinished jobs; :meth:`Service.close` undoes both. The admin CLI
opens a Service without jobs to manage tokens and permissions.

Examples
--------
>>> import tempfile
>>> from api.settings import Settings
>>> svc = Service(Settings(data_root=tempfile.mkdtemp(), cluster="threads")).open(lock=False)
>>> svc.tokens.create("alice").user
'alice'
>>> svc.close()
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from connectome.errors import StoreWriteError

from .auth import Policies, TokenStore
from .cache import ResultCache
from .catalog import Catalog
from .db import Database
from .jobs import JobManager
from .limits import ComputePool
from .settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["Service", "dumps"]


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (orjson when available; NaN becomes null).

    Examples
    --------
    >>> dumps({"a": 1, "b": [1.5, None]})
    b'{"a":1,"b":[1.5,null]}'
    """
    try:
        import orjson

        return orjson.dumps(obj, default=str, option=orjson.OPT_NON_STR_KEYS)
    except ImportError:  # pragma: no cover
        return json.dumps(obj, default=str, separators=(",", ":")).encode()


class Service:
    """Everything a request handler needs, built from :class:`~api.settings.Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.db_path)
        self.tokens = TokenStore(self.db)
        self.policies = Policies(self.db)
        self.catalog = Catalog(settings, self.policies)
        self.cache = ResultCache(settings.cache_dir, entries=settings.cache_entries)
        self.compute = ComputePool(settings.compute_threads, max_waiting=4 * settings.compute_threads)
        self.jobs = JobManager(settings, self.db, on_finished=self._job_finished)
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ life cycle
    def open(self, lock: bool = True) -> Service:
        """Create the data root and the database; with ``lock``, refuse a second server on it."""
        root = self.settings.data_root
        try:
            for d in (root, self.settings.results_dir, self.settings.stores_dir, self.settings.models_dir,
                      self.settings.states_dir, self.settings.cache_dir, self.imports_dir):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreWriteError(f"data_root: cannot create {root} ({exc.strerror or exc}); choose another "
                                  "folder with --data-root or CONNECTOME_API_HOME") from None
        if lock:
            self._take_lock()
        self.db.migrate()
        return self

    def _take_lock(self) -> None:
        import fcntl

        path = self.settings.data_root / "server.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreWriteError(f"data_root: another server is using {self.settings.data_root}; stop it or "
                                  "choose another --data-root") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def start_jobs(self) -> None:
        """Start or connect to the cluster and recover unfinished jobs (blocking)."""
        self.jobs.start()

    def close(self) -> None:
        """Stop jobs tracking, the compute pool and the database; release the lock."""
        self.jobs.stop()
        self.compute.close()
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ------------------------------------------------------------------ paths
    @property
    def imports_dir(self) -> Path:
        """Files an ingest job may read (``tables`` source paths are relative to it)."""
        return self.settings.data_root / "imports"

    def model_dir(self, job_id: str) -> Path:
        """Folder of a trained model and its predictions."""
        return self.settings.models_dir / job_id

    # ------------------------------------------------------------------ job hooks
    def _job_finished(self, job: dict[str, Any]) -> None:
        if job["kind"] == "ingest":
            self.catalog.invalidate()
            logger.info("dataset %s ingested by job %s", job["dataset"], job["id"])
