"""Shutting the service down while jobs finish: never a crash, never a write after close.

A job's callbacks (progress events, the end of an attempt) use the service database from
other threads than the one that closes it. Closing a SQLite connection while another thread
runs a statement on it crashes the process (``Fatal Python error: Segmentation fault`` in
``Database.one`` from a job thread, seen in ``make test``). The crash tests run in a child
process, so that a crash fails the test instead of killing pytest.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from connectome.api.db import Database

#: Starts and shuts a real Service (real SQLite file, the service's job runner) ``rounds`` times,
#: each time while twelve jobs report progress and end; then checks that nothing wrote to the
#: database after ``Service.close()`` returned.
SERVICE_CHILD = r"""
import logging, random, sqlite3, sys, time
from pathlib import Path

from connectome.api.auth import Principal
from connectome.api.service import Service
from connectome.api.settings import Settings

root, mode, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
random.seed(23)
cluster, local = "threads", None
if mode == "dask":  # real Dask futures: their done callbacks run in Dask's callback thread
    from distributed import LocalCluster

    local = LocalCluster(n_workers=2, threads_per_worker=2, processes=False, dashboard_address=None)
    cluster = local.scheduler_address
who = Principal("alice", "tok_1")
spec = {"params": {"source": "nowhere"}, "out": str(root / "out")}
rows = "SELECT id, state, progress, message, updated FROM jobs ORDER BY id"
late = []
for i in range(rounds):
    s = Settings(data_root=root / f"run{i}", cluster=cluster, workers=4, max_jobs_per_token=100, max_queued_jobs=100)
    svc = Service(s).open(lock=False)
    svc.start_jobs()
    for _ in range(12):  # each attempt reports progress twice, then fails: database writes from job threads
        svc.jobs.submit("ingest", "d", {"source": "nowhere"}, who, spec)
    time.sleep(random.uniform(0, 0.02))
    svc.close()  # while attempts end and report
    con = sqlite3.connect(s.db_path)
    before = con.execute(rows).fetchall()
    time.sleep(0.05)
    after = con.execute(rows).fetchall()
    con.close()
    if before != after:
        late.append(i)
if local is not None:
    local.close()
print(f"rounds={rounds} late_writes={late}")
"""

#: Closes a Database 200 times while three threads run statements on it.
DATABASE_CHILD = r"""
import sqlite3, sys, threading
from pathlib import Path

from connectome.api.db import Database

root = Path(sys.argv[1])
refused = 0
for i in range(200):
    db = Database(root / f"{i}.db")
    db.migrate()
    stop = threading.Event()

    def hammer():
        global refused
        while not stop.is_set():
            try:
                db.one("SELECT count(*) FROM jobs")
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('k', 'v')")
            except sqlite3.ProgrammingError:  # closed: refused, never a crash
                refused += 1
                return

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    db.close()
    stop.set()
    for t in threads:
        t.join()
print(f"closed 200 times, {refused} statements refused")
"""


def _run_child(tmp_path, code: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(code)
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run([sys.executable, "-X", "faulthandler", str(script), str(work), *args], cwd=tmp_path,
                       capture_output=True, text=True, timeout=timeout)
    assert "Fatal Python error" not in r.stderr, r.stderr[-4000:]
    assert r.returncode == 0, f"child exited with {r.returncode}:\n{r.stderr[-4000:]}"
    return r


def _no_database_errors(stderr: str) -> None:
    for sign in ("ProgrammingError", "closed database", "database is closed", "finishing job", "could not mark job"):
        assert sign not in stderr, stderr[-4000:]


def test_service_shut_down_50_times_while_jobs_finish_never_crashes(tmp_path):
    t0 = time.monotonic()
    r = _run_child(tmp_path, SERVICE_CHILD, "threads", "50")
    assert "rounds=50 late_writes=[]" in r.stdout, r.stdout + r.stderr[-4000:]
    _no_database_errors(r.stderr)
    assert "Traceback" not in r.stderr, r.stderr[-4000:]
    assert time.monotonic() - t0 < 120


def test_service_on_dask_shut_down_while_jobs_finish_never_crashes(tmp_path):
    # real Dask futures (an in-process cluster as the service's external scheduler): done callbacks run in
    # Dask's callback thread and progress events in the client's event loop, as in the crash of `make test`
    r = _run_child(tmp_path, SERVICE_CHILD, "dask", "20")
    assert "rounds=20 late_writes=[]" in r.stdout, r.stdout + r.stderr[-4000:]
    _no_database_errors(r.stderr)


def test_database_closed_under_running_statements_never_crashes(tmp_path):
    r = _run_child(tmp_path, DATABASE_CHILD)
    assert "closed 200 times" in r.stdout


def _hold_transaction(db: Database, entered: threading.Event, release: threading.Event, out: dict) -> None:
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('held', '720575940621039145')")
            entered.set()
            release.wait(10)
        out["committed"] = True
        db.one("SELECT 1")
    except sqlite3.Error as exc:
        out["error"] = exc


def _database_in_a_transaction(tmp_path):
    """A database, and a thread inside a transaction on it until ``release`` is set."""
    db = Database(tmp_path / "s.db")
    db.migrate()
    entered, release, out = threading.Event(), threading.Event(), {}
    t = threading.Thread(target=_hold_transaction, args=(db, entered, release, out))
    t.start()
    assert entered.wait(10)
    return db, t, release, out


def test_close_waits_for_another_threads_transaction(tmp_path):
    db, t, release, out = _database_in_a_transaction(tmp_path)
    closer = threading.Thread(target=db.close)
    closer.start()
    closer.join(0.3)
    assert closer.is_alive(), "close() must wait while another thread is inside a transaction"
    release.set()
    t.join(10)
    closer.join(10)
    assert not closer.is_alive()
    assert out.get("committed") and isinstance(out.get("error"), sqlite3.ProgrammingError), out  # then refused
    with sqlite3.connect(tmp_path / "s.db") as con:  # the transaction was committed, not cut off
        assert con.execute("SELECT value FROM meta WHERE key = 'held'").fetchone() == ("720575940621039145",)
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.scalar("SELECT count(*) FROM jobs")  # a closed database does not quietly open a new connection


def test_close_leaves_a_busy_connection_to_its_own_thread(tmp_path):
    db, t, release, out = _database_in_a_transaction(tmp_path)
    db.close(timeout=0.1)  # gives up waiting: the busy connection is not closed under the transaction ...
    release.set()
    t.join(10)
    assert out.get("committed"), out  # ... its thread commits, then closes it
    assert isinstance(out.get("error"), sqlite3.ProgrammingError), out
    assert not [f for f in _open_files() if f.startswith(str(tmp_path / "s.db"))]  # no connection left open
    db.close()  # closing again is harmless


def _open_files() -> list[str]:
    fds = Path("/proc/self/fd")
    assert fds.is_dir(), "this test reads /proc/self/fd (Linux)"
    out = []
    for fd in fds.iterdir():
        try:
            out.append(os.readlink(fd))
        except OSError:  # closed meanwhile
            pass
    return out
