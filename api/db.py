"""The service database: one SQLite file in WAL mode (tokens, permissions, datasets, jobs).

The ``meta`` table keeps the schema version (:data:`SCHEMA_VERSION`;
:meth:`Database.migrate` upgrades older databases in place and refuses newer
ones) and the service's identity (``service_id``, also written to a marker
file in the data root by :class:`~connectome.api.service.Service`), so that a lost or
swapped database is noticed instead of silently replaced by an empty one.

WAL lets the server read while the admin CLI (or another thread) writes, and a
committed row survives a crash of the process. Each thread gets its own
connection; statements run in autocommit mode and multi-statement changes use
:meth:`Database.transaction` (``BEGIN IMMEDIATE``).

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
SCHEMA_VERSION = 2

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
    updated       TEXT NOT NULL
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

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def migrate(self) -> None:
        """Create the folder and tables if needed and upgrade an older schema in place (idempotent).

        Raises
        ------
        connectome.errors.StoreVersionError
            The database was written by a newer version of the service.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.connection()
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
        """Run one statement (autocommit)."""
        return self.connection().execute(sql, params)

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        """The first row of a query, or ``None``."""
        return self.connection().execute(sql, params).fetchone()

    def all(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        return self.connection().execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple | dict = ()) -> Any:
        """The first column of the first row, or ``None``."""
        row = self.one(sql, params)
        return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this object opened."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover - closing from another thread
                pass
        self._local = threading.local()
