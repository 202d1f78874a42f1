"""The service's state: settings, database, tokens, policies, catalog, cache, jobs.

One :class:`Service` per app. :meth:`Service.open` creates the data root and
the database and takes a lock so that two servers never share one data root;
:meth:`Service.start_jobs` starts (or connects to) the Dask cluster and
recovers unfinished jobs; :meth:`Service.close` undoes both. The admin CLI
opens a Service without jobs to manage tokens and permissions.

The data root is created private to the service's user (folder ``0700``,
``service.db`` and its ``-wal``/``-shm`` files, the lock and the identity
marker ``0600``). The service knows its database: a random service id is kept
in the database's ``meta`` table and in the marker file ``service.id``. When
the database is missing, empty or another service's while this data root holds
the service's data (the marker, job results, stores, models, states),
:meth:`Service.open` refuses with :class:`DatabaseLostError` instead of
starting fresh (a fresh database would hand private datasets and job records
to whoever gets a new token). Restore ``service.db`` from a backup, or start
over explicitly with ``connectome serve --init``.

Examples
--------
>>> import tempfile
>>> from connectome.api.settings import Settings
>>> svc = Service(Settings(data_root=tempfile.mkdtemp(), cluster="threads")).open(lock=False)
>>> svc.tokens.create("alice").user
'alice'
>>> svc.close()
>>> svc.settings.db_path.unlink()                  # the database is lost ...
>>> Service(svc.settings).open(lock=False)         # ... so the service refuses to start fresh
Traceback (most recent call last):
...
connectome.api.service.DatabaseLostError: data_root: ... restore service.db ...
>>> Service(svc.settings).open(lock=False, init=True).close()   # unless told to start over
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import stat
from pathlib import Path

from connectome.atomic import replace_atomically
from connectome.errors import StoreError, StoreWriteError
from connectome.manifest import utc_now

from .auth import Policies, TokenStore
from .cache import ResultCache
from .catalog import Catalog
from .db import Database
from .jobs import JobManager, JobRecord
from .limits import ComputePool
from .settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["Service", "DatabaseLostError", "MARKER"]

#: The identity marker in the data root: the service id that must match the database's.
MARKER = "service.id"


class DatabaseLostError(StoreError):
    """The data root holds a service's data but its database is missing, empty or another service's."""


def _private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it ``0700`` (owner only)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o700)
        logger.warning("data root %s was readable by others (mode %o); made it 0700", path, mode)


def _private_file(path: Path) -> None:
    """Make an existing file ``0600``."""
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)
    except FileNotFoundError:
        pass  # nothing to protect yet (e.g. no -wal file): SQLite creates it with the database's mode


class Service:
    """Everything a request handler needs, built from :class:`~connectome.api.settings.Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.db_path)
        self.tokens = TokenStore(self.db)
        self.policies = Policies(self.db, settings.stores_dir)
        self.catalog = Catalog(settings, self.policies)
        self.cache = ResultCache(settings.cache_dir, entries=settings.cache_entries)
        self.compute = ComputePool(settings.compute_threads, max_waiting=settings.compute_queue,
                                   threads_per_token=settings.compute_threads_per_token,
                                   waiting_per_token=settings.compute_queue_per_token,
                                   cheap_threads=settings.compute_cheap_threads)
        self.jobs = JobManager(settings, self.db, on_finished=self._job_finished)
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ life cycle
    def open(self, lock: bool = True, init: bool = False) -> Service:
        """Create the data root and the database; with ``lock``, refuse a second server on it.

        Parameters
        ----------
        lock : bool
            Take the data root's lock (the server does; the admin CLI does not).
        init : bool
            Accept a missing, empty or foreign database on a data root that
            holds data (``connectome serve --init``): the database found (or a
            new one) becomes this data root's, with a new identity marker.

        Raises
        ------
        DatabaseLostError
            The database is missing, empty or another service's while the data
            root holds the service's data, and ``init`` was not given.
        """
        root = self.settings.data_root
        try:
            _private_dir(root)
            for d in (self.settings.results_dir, self.settings.stores_dir, self.settings.models_dir,
                      self.settings.states_dir, self.settings.cache_dir, self.imports_dir):
                d.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreWriteError(f"data_root: cannot create {root} ({exc.strerror or exc}); choose another "
                                  "folder with --data-root or CONNECTOME_API_HOME") from None
        if lock:
            self._take_lock()
        try:
            self._open_db(init)
        except BaseException:
            self.close()
            raise
        return self

    # ------------------------------------------------------------------ identity
    @property
    def marker_path(self) -> Path:
        """The identity marker: the id of the service whose database belongs to this data root."""
        return self.settings.data_root / MARKER

    def _read_marker(self) -> str | None:
        try:
            raw = json.loads(self.marker_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return "unreadable"  # present but damaged: it still says the data root was in use
        return str(raw.get("service_id")) if isinstance(raw, dict) and raw.get("service_id") else "unreadable"

    def _write_marker(self, service_id: str) -> None:
        body = json.dumps({"service_id": service_id, "written": utc_now(),
                           "about": "identity of this data root's service.db (its meta table holds the same id); "
                                    "keep it with the data root and back it up with service.db"}, indent=1)

        def write(tmp: Path) -> None:
            tmp.write_text(body)
            os.chmod(tmp, 0o600)

        replace_atomically(self.marker_path, write, fsync=True)

    def _data_beside(self) -> list[str]:
        """What this data root holds besides the database (for the refusal message)."""
        s = self.settings
        found = []
        for what, folder in (("job results", s.results_dir), ("stores", s.stores_dir), ("models", s.models_dir),
                             ("Neuroglancer states", s.states_dir)):
            try:
                n = sum(1 for p in folder.iterdir() if not p.name.startswith("."))
            except OSError:
                n = 0
            if n:
                found.append(f"{n} {what}")
        return found

    def _open_db(self, init: bool) -> None:
        """Check the database against the marker, secure its files, migrate it, record the identity."""
        path = self.settings.db_path
        marker = self._read_marker()
        exists = path.is_file() and path.stat().st_size > 0
        try:
            db_id = self.db.get_meta("service_id") if exists else None
            records = self.db.has_records() if exists else False
        except sqlite3.DatabaseError as exc:  # not a SQLite file, or a damaged one
            self.db.close()
            raise DatabaseLostError(
                f"data_root: {self.settings.data_root}: its database service.db cannot be read ({exc}). Stop every "
                "server on it and restore service.db (with its -wal file, if any) from a backup; or move it aside "
                "and run `connectome serve --init`") from None
        problem = None
        if marker is not None and db_id is not None and db_id != marker:
            problem = f"its database service.db belongs to another service ({db_id}, the data root's is {marker})"
        elif marker is not None and db_id is None and not records:
            state = "empty" if exists else "missing"
            problem = f"its database service.db is {state} (the data root's service is {marker})"
        elif marker is None and db_id is None and not records:
            beside = self._data_beside()
            if beside:
                problem = (f"its database service.db is {'empty' if exists else 'missing'} while the data root "
                           f"holds {', '.join(beside)}")
        if problem is not None:
            if not init:
                raise DatabaseLostError(
                    f"data_root: {self.settings.data_root}: {problem}. Refusing to start: tokens, dataset owners and "
                    "job records would be lost and private data exposed. To recover, stop every server on it and "
                    "restore service.db (with its -wal file, if any) from a backup; or, to start over with this "
                    "database, run `connectome serve --init` once (tokens and grants in a new database are empty; "
                    "datasets keep their stored access policies)")
            logger.warning("data root %s: %s; --init given: starting over with this database", self.settings.data_root,
                           problem)
        if not path.exists():
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for suffix in ("", "-wal", "-shm"):
            _private_file(path.with_name(path.name + suffix))
        self.db.migrate()
        for suffix in ("-wal", "-shm"):  # SQLite gives them the database's mode; make sure
            _private_file(path.with_name(path.name + suffix))
        if db_id is None:
            db_id = self.db.set_meta("service_id", "svc_" + secrets.token_hex(8), replace=False)
        if marker != db_id:
            self._write_marker(db_id)
            if marker is not None:
                logger.warning("data root %s: identity marker now says %s (was %s)", self.settings.data_root, db_id,
                               marker)

    @property
    def service_id(self) -> str | None:
        """This service's id (from its database)."""
        return self.db.get_meta("service_id")

    def _take_lock(self) -> None:
        import fcntl

        path = self.settings.data_root / "server.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        _private_file(path)
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
        """Stop jobs tracking, the compute pool and the database; release the lock.

        Job callbacks do nothing from the start of the close, and those already
        running finish first (:meth:`JobManager.stop`); the database then waits
        for any statement still running in another thread: nothing uses it
        once this returns, and no connection is closed under a running statement.
        """
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
    def _job_finished(self, job: JobRecord) -> None:
        if job.kind == "ingest":
            self.catalog.invalidate()
            logger.info("dataset %s ingested by job %s", job.dataset, job.id)
