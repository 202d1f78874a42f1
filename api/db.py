"""The service database: one SQLite file in WAL mode (tokens, permissions, datasets, jobs).

The ``meta`` table keeps the schema version (:data:`SCHEMA_VERSION`;
:meth:`Database.migrate` upgrades older databases in place and refuses newer
ones) and the service's identity (``service_id``, also written to a marker
file in the data root by :class:`~connectome.api.service.Service`), so that a lost or
swapped database is noticed instead of silently replaced by an empty one.

WAL lets the server read while the admin CLI (or another thread) writes, and a
committed row survives a crash of the process. Each thread gets its own
connection; statements run in autocommit mode and multi-statement changes use
:meth:`Database.transaction` (``BEGIN IMMEDIATE``). :meth:`Database.close` never
closes a connection while another thread runs a statement on it (SQLite would
crash the process): it waits for the statement, and a connection still busy
after the wait is closed by its own thread when its statement ends.

Nothing is opened at import time: :class:`Database` connects on first use.

Examples
--------
>>> import tempfile, pathlib
>>> db = Database(pathlib.Path(tempfile.mkdtemp()) / "service.db")
>>> db.migrate()
>>> db.scalar("PRAGMA journal_mode")
'wal'
>>> db.scalar("SELECT count(*) FROM jobs")
0
>>> db.schema_version() == SCHEMA_VERSION, db.get_meta("service_id") is None
(True, True)
>>> db.close()
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectome.errors import StoreVersionError

logger = logging.getLogger(__name__)

__all__ = ["Database", "SCHEMA_VERSION"]

#: 1: the first schema; 2: ``tokens.expires``.
SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id      TEXT PRIMARY KEY,            -- public id, safe to show and log
    user    TEXT NOT NULL,
    hash    TEXT NOT NULL UNIQUE,        -- SHA-256 of the secret token; the token itself is never stored
    admin   INTEGER NOT NULL DEFAULT 0,
    note    TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    revoked TEXT,
    expires TEXT                         -- UTC time (ISO 8601) after which it is refused; NULL: never
);
CREATE TABLE IF NOT EXISTS datasets (    -- the service's metadata about a dataset
    name      TEXT PRIMARY KEY,
    owner     TEXT,
    private   INTEGER NOT NULL DEFAULT 0,
    terms     TEXT,                      -- data-use terms users must accept
    terms_url TEXT,
    path      TEXT,                      -- store of a dataset ingested through the service
    created   TEXT NOT NULL,
    updated   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    dataset    TEXT NOT NULL,
    user       TEXT NOT NULL,
    permission TEXT NOT NULL CHECK (permission IN ('read', 'write')),
    PRIMARY KEY (dataset, user)
);
CREATE TABLE IF NOT EXISTS terms_accepted (
    dataset    TEXT NOT NULL,
    user       TEXT NOT NULL,
    terms_hash TEXT NOT NULL,
    accepted   TEXT NOT NULL,
    PRIMARY KEY (dataset, user)
);
CREATE TABLE IF NOT EXISTS jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    dataset       TEXT,
    user          TEXT NOT NULL,
    token_id      TEXT NOT NULL,
    params        TEXT NOT NULL,            -- what the client asked for
    spec          TEXT NOT NULL DEFAULT '{}', -- what a worker needs (store path, output folder)
    state         TEXT NOT NULL,
    progress      REAL NOT NULL DEFAULT 0,
    message       TEXT NOT NULL DEFAULT '',
    error_code    TEXT,
    error_message TEXT,
    result_path   TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created       TEXT NOT NULL,
    started       TEXT,
    finished      TEXT,
    updated       TEXT NOT NULL,
    time_limit_s  REAL                      -- seconds the job may run (schema 3)
);
CREATE INDEX IF NOT EXISTS jobs_by_token ON jobs (token_id, state);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_by_dataset ON jobs (dataset, kind, state);
"""


class Database:
    """A SQLite database in WAL mode with one connection per thread.

    Parameters
    ----------
    path : path
        The database file (its folder is created by :meth:`migrate`).
    timeout : float
        Seconds to wait for a lock held by another writer.
    """

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a connection's last statement ends
        self._busy: dict[sqlite3.Connection, int] = {}  # connection -> statements (or transactions) running on it
        self._closed = False

    def _closed_error(self) -> sqlite3.ProgrammingError:
        return sqlite3.ProgrammingError(f"the service database {self.path.name} is closed")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use).

        Run statements through :meth:`execute`, :meth:`one`, :meth:`all` and
        :meth:`transaction`: they mark the connection busy, so that
        :meth:`close` waits for them.

        Raises
        ------
        sqlite3.ProgrammingError
            The database was closed.
        """
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise self._closed_error()
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            with self._lock:
                closed = self._closed
                if not closed:
                    self._all.append(conn)
                    self._local.conn = conn
            if closed:  # closed meanwhile: this connection is ours alone
                conn.close()
                raise self._closed_error()
        return conn

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, busy while the block runs: :meth:`close` never closes it meanwhile."""
        conn = self.connection()
        with self._lock:
            if self._closed:  # checked with the busy mark, atomically: close() saw it free or sees it busy
                raise self._closed_error()
            self._busy[conn] = self._busy.get(conn, 0) + 1
        try:
            yield conn
        finally:
            with self._lock:
                left = self._busy.pop(conn) - 1
                if left:
                    self._busy[conn] = left
                else:
                    self._idle.notify_all()
                orphan = not left and self._closed and conn in self._all  # close() left it to this thread
                if orphan:
                    self._all.remove(conn)
            if orphan:
                conn.close()

    def migrate(self) -> None:
        """Create the folder and tables if needed and upgrade an older schema in place (idempotent).

        Raises
        ------
        connectome.errors.StoreVersionError
            The database was written by a newer version of the service.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._using() as conn:
            conn.executescript(_SCHEMA)
        with self.transaction() as c:  # one process upgrades; the others wait and see it done
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = int(row[0]) if row is not None else SCHEMA_VERSION
            if found > SCHEMA_VERSION:
                raise StoreVersionError(f"{self.path}: the database has schema version {found}, newer than this "
                                        f"service's {SCHEMA_VERSION}; upgrade connectome-service")
            token_columns = {r[1] for r in c.execute("PRAGMA table_info(tokens)")}
            if "expires" not in token_columns:  # schema 1 -> 2
                c.execute("ALTER TABLE tokens ADD COLUMN expires TEXT")
                logger.info("database %s: tokens.expires added (schema %d -> 2)", self.path, found)
            job_columns = {r[1] for r in c.execute("PRAGMA table_info(jobs)")}
            if "time_limit_s" not in job_columns:  # schema 2 -> 3
                c.execute("ALTER TABLE jobs ADD COLUMN time_limit_s REAL")
                logger.info("database %s: jobs.time_limit_s added (schema %d -> 3)", self.path, found)
            c.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(SCHEMA_VERSION),))

    def schema_version(self) -> int | None:
        """The schema version recorded in the database (``None`` before :meth:`migrate`)."""
        value = self.get_meta("schema_version")
        return None if value is None else int(value)

    def get_meta(self, key: str) -> str | None:
        """A value of the ``meta`` table (``None`` when unset or when the table does not exist yet)."""
        try:
            return self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        except sqlite3.OperationalError:  # no meta table: a new or empty database
            return None

    def set_meta(self, key: str, value: str, *, replace: bool = True) -> str:
        """Set a ``meta`` value (with ``replace=False``, only if unset); returns the value now stored."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        self.execute(f"{verb} INTO meta (key, value) VALUES (?, ?)", (key, str(value)))
        return self.get_meta(key)  # type: ignore[return-value]

    def has_records(self) -> bool:
        """True when any token, dataset policy, grant or job is recorded (``False`` for a missing table)."""
        for table in ("tokens", "datasets", "grants", "jobs"):
            try:
                if self.scalar(f"SELECT 1 FROM {table} LIMIT 1") is not None:
                    return True
            except sqlite3.OperationalError:
                return False
        return False

    def execute(self, sql: str, params: tuple | dict = ()) -> sqlite3.Cursor:
        """Run one statement (autocommit); read rows with :meth:`one` or :meth:`all`, not from the cursor."""
        with self._using() as conn:
            return conn.execute(sql, params)

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        """The first row of a query, or ``None``."""
        with self._using() as conn:
            return conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        with self._using() as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple | dict = ()) -> Any:
        """The first column of the first row, or ``None``."""
        row = self.one(sql, params)
        return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error)."""
        with self._using() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self, timeout: float | None = None) -> None:
        """Close every connection this object opened; the database refuses statements afterwards.

        A connection is never closed while a statement runs on it: statements
        of other threads are waited for (at most ``timeout`` seconds, default
        three times the lock ``timeout``); a connection still busy then is
        closed by its own thread when its statement or transaction ends.
        """
        mine = getattr(self._local, "conn", None)  # busy only if close() is called inside a transaction
        wait = 3 * self.timeout if timeout is None else timeout
        with self._lock:
            self._closed = True
            self._idle.wait_for(lambda: all(c is mine for c in self._busy), timeout=wait)
            free = [c for c in self._all if c not in self._busy]
            self._all = [c for c in self._all if c in self._busy]
            left = len([c for c in self._all if c is not mine])
        if left:
            logger.warning("database %s: %d connection(s) still running a statement after %.0f s; each is closed "
                           "by its own thread when its statement ends", self.path, left, wait)
        for conn in free:
            conn.close()
        self._local = threading.local()
