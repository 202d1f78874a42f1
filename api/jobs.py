"""Jobs that survive: records in SQLite (WAL), work on a Dask cluster.

A job is submitted (``queued``), started on a worker (``running``), and ends
``succeeded`` (its result is a JSON file under ``<data_root>/results``),
``failed`` (with an error code and a message) or ``cancelled``. The record is
committed before the work is sent, and the result file is written before the
record says ``succeeded``, so a crash at any moment loses nothing that was
acknowledged:

- finished jobs stay readable after a restart (records and result files);
- jobs that were queued or running when the server stopped are started again
  at the next start (:meth:`JobManager.recover`), up to ``job_attempts``
  attempts in all; after that they are marked ``failed`` with code
  ``interrupted`` and a reason — never silently lost;
- a job whose result file exists but whose record was not updated (a crash
  between the two writes) is completed from the file.

Work runs on a ``dask.distributed`` cluster: a ``LocalCluster`` with process
workers started with the app (``cluster="local"``), an external scheduler
(``cluster="tcp://host:port"``), or a thread pool in the server
(``cluster="threads"``, for development). Each token may have at most
``max_jobs_per_token`` queued or running jobs (``429``), the service at most
``max_queued_jobs`` (``503``), both with ``Retry-After``.

Examples
--------
>>> import tempfile, pathlib
>>> from connectome.api.db import Database
>>> db = Database(pathlib.Path(tempfile.mkdtemp()) / "s.db"); db.migrate()
>>> store = JobStore(db)
>>> job = store.create("ingest", "mine", {"source": "larva"}, user="alice", token_id="tok_1")
>>> job.state, job.attempts
('queued', 0)
>>> store.update(job.id, state="running", progress=0.5).progress
0.5
>>> store.active_count(token_id="tok_1")
1
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectome.errors import SchedulerError
from connectome.manifest import utc_now
from connectome.scheduler import close_client, local_cluster

from .auth import Principal
from .db import Database
from .errors import ApiError, disk_full_cause, error_from_exception, public_message
from .integrity import CorruptFileError, read_sealed, write_sealed
from .limits import retry_after
from .settings import Settings
from .tasks import EVENT_TOPIC, JobCancelled, JobTimeout, run_job

logger = logging.getLogger(__name__)

__all__ = ["JobRecord", "JobStore", "JobManager", "ACTIVE", "TERMINAL", "JOB_ID_PATTERN"]

ACTIVE = ("queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled")
JOB_ID_PATTERN = r"^job_[0-9a-f]{32}$"

_COLUMNS = ("id", "kind", "dataset", "user", "token_id", "params", "state", "progress", "message", "error_code",
            "error_message", "result_path", "attempts", "created", "started", "finished", "updated", "time_limit_s")


@dataclass(frozen=True)
class JobRecord:
    """One job as the service database holds it (what :class:`JobStore` returns)."""

    id: str
    kind: str
    dataset: str | None
    user: str
    token_id: str
    params: dict[str, Any]
    state: str
    progress: float
    message: str
    error_code: str | None
    error_message: str | None
    result_path: str | None
    attempts: int
    created: str
    started: str | None
    finished: str | None
    updated: str
    time_limit_s: float | None = None

    @classmethod
    def from_row(cls, row: Any) -> JobRecord:
        """A record from a database row of :data:`_COLUMNS`."""
        d = dict(row)
        d["params"] = json.loads(d["params"])
        d["progress"] = float(d["progress"])
        d["attempts"] = int(d["attempts"])
        d["message"] = d["message"] or ""
        return cls(**d)

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in ACTIVE


def _row(r: Any) -> JobRecord | None:
    return None if r is None else JobRecord.from_row(r)


class JobStore:
    """Job records in the service database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, kind: str, dataset: str | None, params: dict[str, Any], *, user: str, token_id: str,
               spec: dict[str, Any] | None = None, max_per_token: int | None = None,
               max_total: int | None = None, time_limit_s: float | None = None) -> JobRecord:
        """Insert a queued job, enforcing the limits atomically (``time_limit_s``: seconds it may run).

        Raises
        ------
        ApiError
            429 ``too_many_jobs`` (per token) or 503 ``jobs_queue_full`` (service).
        """
        job_id = "job_" + uuid.uuid4().hex
        now = utc_now()
        with self.db.transaction() as conn:
            self._check_limits(lambda sql, args: int(conn.execute(sql, args).fetchone()[0]), token_id,
                               max_per_token, max_total)
            conn.execute(
                "INSERT INTO jobs (id, kind, dataset, user, token_id, params, spec, state, progress, message, attempts, "
                "created, updated, time_limit_s) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', 0, 'queued', 0, ?, ?, ?)",
                (job_id, kind, dataset, user, token_id, json.dumps(params, sort_keys=True),
                 json.dumps(spec or {}, default=str), now, now, time_limit_s),
            )
        job = self.get(job_id)
        assert job is not None
        return job

    @staticmethod
    def _check_limits(count: Callable[..., int], token_id: str, max_per_token: int | None,
                      max_total: int | None) -> None:
        if max_per_token is not None:
            mine = count("SELECT count(*) FROM jobs WHERE token_id = ? AND state IN ('queued', 'running')", (token_id,))
            if mine >= max_per_token:
                raise ApiError(429, "too_many_jobs",
                               f"this token already has {mine} queued or running jobs (limit {max_per_token}); "
                               "wait for one to finish or cancel one", headers=retry_after(10))
        if max_total is not None:
            total = count("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')", ())
            if total >= max_total:
                raise ApiError(503, "jobs_queue_full",
                               f"the service has {total} jobs queued or running; retry later",
                               headers=retry_after(30))

    def check_limits(self, token_id: str, *, max_per_token: int | None = None, max_total: int | None = None) -> None:
        """Refuse a new job of ``token_id`` now, before any work is done for it (two counts, no write).

        :meth:`create` checks again, atomically, when the job is recorded.

        Raises
        ------
        ApiError
            429 ``too_many_jobs`` (per token) or 503 ``jobs_queue_full`` (service).
        """
        self._check_limits(lambda sql, args: int(self.db.scalar(sql, args)), token_id, max_per_token, max_total)

    def get(self, job_id: str) -> JobRecord | None:
        """A job record, or ``None``."""
        return _row(self.db.one(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)))

    def spec(self, job_id: str) -> dict[str, Any] | None:
        """What the worker needs to run the job (``None`` for an unknown job)."""
        raw = self.db.scalar("SELECT spec FROM jobs WHERE id = ?", (job_id,))
        return None if raw is None else json.loads(raw)

    def update(self, job_id: str, *, only_if: tuple[str, ...] | None = None, **fields: Any) -> JobRecord | None:
        """Change fields of a job (only while its state is in ``only_if``, if given); an error message is
        stored as clients will see it (:func:`~connectome.api.errors.public_message`: no server path, no
        worker address)."""
        if fields.get("error_message") is not None:
            fields["error_message"] = public_message(fields["error_message"])
        fields["updated"] = utc_now()
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql = f"UPDATE jobs SET {sets} WHERE id = ?"
        args: list[Any] = [*fields.values(), job_id]
        if only_if:
            sql += f" AND state IN ({', '.join('?' for _ in only_if)})"
            args += list(only_if)
        self.db.execute(sql, tuple(args))
        return self.get(job_id)

    def list(self, *, user: str | None = None, dataset: str | None = None, kind: str | None = None,
             state: str | None = None, limit: int = 100, offset: int = 0) -> list[JobRecord]:
        """Jobs, newest first."""
        where, args = [], []
        for col, value in (("user", user), ("dataset", dataset), ("kind", kind), ("state", state)):
            if value is not None:
                where.append(f"{col} = ?")
                args.append(value)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, id DESC LIMIT ? OFFSET ?"
        return [_row(r) for r in self.db.all(sql, (*args, limit, offset))]  # type: ignore[misc]

    def find_succeeded(self, kind: str, dataset: str | None, params: dict[str, Any], user: str) -> JobRecord | None:
        """The newest succeeded job of ``user`` with exactly these parameters, if any."""
        row = self.db.one(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE kind = ? AND dataset IS ? AND params = ? "
                          "AND user = ? AND state = 'succeeded' ORDER BY finished DESC LIMIT 1",
                          (kind, dataset, json.dumps(params, sort_keys=True), user))
        return _row(row)

    def active(self) -> list[JobRecord]:
        """Queued and running jobs, oldest first."""
        rows = self.db.all(f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state IN ('queued', 'running') "
                           "ORDER BY created, id")
        return [_row(r) for r in rows]  # type: ignore[misc]

    def active_count(self, token_id: str | None = None) -> int:
        """Queued + running jobs (of one token, if given)."""
        if token_id is None:
            return int(self.db.scalar("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')"))
        return int(self.db.scalar("SELECT count(*) FROM jobs WHERE token_id = ? AND state IN ('queued', 'running')",
                                  (token_id,)))


# ----------------------------------------------------------------------------- backends


class _ThreadBackend:
    """Jobs in a thread pool of the server (``cluster="threads"``)."""

    name = "threads"

    def __init__(self, workers: int, on_event: Callable[[dict], None]) -> None:
        import concurrent.futures

        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="cx-job")
        self._on_event = on_event

    def submit(self, spec: dict[str, Any]) -> Any:
        return self._pool.submit(run_job, spec, self._on_event)

    def kill(self, future: Any) -> None:
        future.cancel()  # a running thread stops at its next progress report

    def wait_stopped(self, future: Any, timeout: float) -> bool:
        """Wait until the job's thread returned (it stops at its next progress report)."""
        import concurrent.futures

        done, _ = concurrent.futures.wait([future], timeout=timeout)
        return bool(done)

    def describe(self) -> dict[str, Any]:
        return {"kind": "threads", "workers": self._pool._max_workers}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _runs_key(key: str, dask_worker: Any = None) -> bool:
    """True while ``dask_worker`` still executes task ``key`` (a cancelled task runs on until it returns)."""
    state = getattr(dask_worker, "state", None)
    if state is None:
        return False
    return any(ts.key == key for ts in (*state.executing, *state.long_running))


def _external_client(cluster: str, tls: tuple[str | None, str | None, str | None] | None) -> Any:
    """A client of an external scheduler, with the operator's TLS files if given.

    An external cluster's security is the operator's: who may connect to its
    scheduler, and so run code on its workers and read the data root they
    share, is decided there. The service only presents ``tls`` (CA, client
    certificate, client key) when the scheduler asks for TLS.
    """
    from distributed import Client

    security = None
    if tls is not None and any(tls):
        from distributed.security import Security

        for flag, path in zip(("--cluster-tls-ca", "--cluster-tls-cert", "--cluster-tls-key"), tls):
            if path and not Path(path).expanduser().is_file():
                raise SchedulerError(f"{flag}: {path!r} is not a file; give the PEM file (or the matching "
                                     f"CONNECTOME_API_{flag[2:].upper().replace('-', '_')} variable)")
        ca, cert, key = (str(Path(x).expanduser()) if x else None for x in tls)
        security = Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    elif cluster.strip().lower().startswith("tls://"):
        raise SchedulerError(f"cluster: {cluster!r} is a TLS scheduler; give --cluster-tls-ca and --cluster-tls-cert "
                             "(and --cluster-tls-key) so the service can present a certificate")
    try:
        return Client(cluster, timeout="10s", set_as_default=False, security=security)
    except Exception as exc:  # OSError, TimeoutError, ssl errors, "encryption required" ...
        raise SchedulerError(f"cluster: cannot reach the Dask scheduler at {cluster!r} ({type(exc).__name__}: "
                             f"{exc}); check the address and the --cluster-tls-* files") from None


class _DaskBackend:
    """Jobs on a dask.distributed cluster (a LocalCluster we start, or an external scheduler).

    The LocalCluster speaks TLS with a temporary certificate held in memory
    (only this server and its workers can connect: nobody else on the machine
    can submit work to it) and serves no HTTP pages unless ``dashboard``.
    """

    def __init__(self, cluster: str, workers: int, on_event: Callable[[dict], None], *, dashboard: bool = False,
                 tls: tuple[str | None, str | None, str | None] | None = None) -> None:
        self.owned = cluster.strip().lower() == "local"
        if self.owned:
            self.client = local_cluster(n_workers=workers, threads_per_worker=1, security=True, dashboard=dashboard)
        else:
            self.client = _external_client(cluster, tls)
        self.name = "local" if self.owned else cluster
        self.client.subscribe_topic(EVENT_TOPIC, lambda event: on_event(event[1]))

    def submit(self, spec: dict[str, Any]) -> Any:
        key = f"connectome-job-{spec['id']}-{spec['attempt']}"
        return self.client.submit(run_job, spec, key=key, pure=False, retries=0)

    def kill(self, future: Any) -> None:
        """Cancel the task; on a LocalCluster we own, restart the worker that runs it."""
        key = future.key
        running_on = []
        try:
            running_on = [w for w, keys in self.client.processing().items() if key in keys]
        except Exception as exc:  # pragma: no cover - scheduler gone
            logger.warning("could not ask the scheduler where %s runs: %s", key, exc)
        future.cancel()
        if self.owned and running_on:
            try:
                self.client.restart_workers(running_on, timeout=60)
            except Exception as exc:  # pragma: no cover
                logger.warning("could not restart worker(s) %s: %s", running_on, exc)

    def wait_stopped(self, future: Any, timeout: float) -> bool:
        """Wait until no worker executes the task of ``future`` any more; ``False`` if that is unknown."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                busy = any(self.client.run(_runs_key, future.key).values())
            except Exception as exc:  # the cluster is closing: recovery sweeps the marker
                logger.debug("could not ask the workers about %s: %s", future.key, exc)
                return False
            if not busy:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(1.0)

    def describe(self) -> dict[str, Any]:
        try:
            info = self.client.scheduler_info()
            workers = len(info.get("workers", {}))
            address = info.get("address")
        except Exception:  # pragma: no cover
            workers, address = None, None
        return {"kind": "local" if self.owned else "external", "scheduler": address, "workers": workers,
                "tls": bool(address and str(address).startswith("tls://"))}

    def close(self) -> None:
        try:
            close_client(self.client)
        except Exception as exc:  # pragma: no cover
            logger.warning("closing the Dask cluster failed: %s", exc)


# ----------------------------------------------------------------------------- manager


class JobManager:
    """Submit, track, cancel and recover jobs.

    Parameters
    ----------
    settings : Settings
    db : Database
    on_finished : callable, optional
        Called with the job record after a job succeeded (e.g. to register an
        ingested dataset).
    """

    def __init__(self, settings: Settings, db: Database,
                 on_finished: Callable[[JobRecord], None] | None = None) -> None:
        self.settings = settings
        self.store = JobStore(db)
        self.on_finished = on_finished
        self._backend: Any = None
        self._futures: dict[str, Any] = {}
        self._sent: dict[str, str] = {}  # job id -> token id, of the attempts sent to the cluster and not ended
        self._held: list[tuple[JobRecord, dict[str, Any]]] = []  # jobs waiting for their token's turn, in order
        self._timers: dict[str, threading.Timer] = {}  # time limits of the running attempts
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._callbacks = 0  # job callbacks (progress events, done callbacks) running now
        self._idle = threading.Condition(self._lock)  # notified when the last running callback returns

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Create folders, start or connect to the cluster, recover unfinished jobs (blocking)."""
        self.settings.results_dir.mkdir(parents=True, exist_ok=True)
        cluster = self.settings.cluster
        if cluster.strip().lower() == "threads":
            self._backend = _ThreadBackend(self.settings.workers, self._on_event)
        else:
            s = self.settings
            self._backend = _DaskBackend(cluster, s.workers, self._on_event, dashboard=s.dashboard,
                                         tls=(s.cluster_tls_ca, s.cluster_tls_cert, s.cluster_tls_key))
        logger.info("jobs run on %s", self._backend.name)
        self._started.set()
        self.recover()

    #: Seconds :meth:`stop` waits for the job callbacks already running to return.
    STOP_WAIT_S = 60.0

    def stop(self) -> None:
        """Stop tracking; unfinished jobs stay queued/running in the database and resume at the next start.

        From now on the callbacks of jobs (progress events, a finished attempt) do
        nothing; the ones already running are waited for, so that nothing uses the
        database once this returns (the service closes it next).
        """
        with self._lock:
            self._started.clear()
            self._futures.clear()
            self._sent.clear()
            self._held.clear()
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            if not self._idle.wait_for(lambda: self._callbacks == 0, timeout=self.STOP_WAIT_S):
                logger.warning("%d job callback(s) still running after %.0f s; stopping anyway (the database "
                               "waits for their statements)", self._callbacks, self.STOP_WAIT_S)
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    @property
    def running(self) -> bool:
        """True once the cluster is up."""
        return self._started.is_set() and self._backend is not None

    @contextmanager
    def _callback(self) -> Iterator[bool]:
        """Whether a job callback may act (``False`` once stopping); :meth:`stop` waits for those that do."""
        with self._lock:
            act = self.running
            self._callbacks += int(act)
        try:
            yield act
        finally:
            if act:
                with self._lock:
                    self._callbacks -= 1
                    if self._callbacks == 0:
                        self._idle.notify_all()

    def describe(self) -> dict[str, Any]:
        """Where jobs run (for ``GET /v1/service``; the scheduler address is shown to admins only)."""
        return self._backend.describe() if self._backend is not None else {"kind": "stopped"}

    # ------------------------------------------------------------------ files
    def result_path(self, job_id: str) -> Path:
        """Where the result of a job is written."""
        return self.settings.results_dir / f"{job_id}.json"

    def _cancel_marker(self, job_id: str) -> Path:
        return self.settings.results_dir / f"{job_id}.cancel"

    def _write_result(self, job_id: str, result: dict[str, Any]) -> Path:
        return write_sealed(self.result_path(job_id), json.dumps(result, default=str).encode(), fsync=True)

    def read_result(self, job_id: str) -> bytes:
        """The encoded result of a finished job, checked against the checksum written with it.

        Raises
        ------
        ApiError
            410 ``result_missing`` when the file is gone, 410 ``result_corrupt``
            when it does not match its checksum (truncated or edited): never served.
        """
        try:
            return read_sealed(self.result_path(job_id), f"result of job {job_id}")
        except FileNotFoundError:
            raise ApiError(410, "result_missing", f"the result of job {job_id} is missing on the server; submit "
                           "the job again", field="job_id") from None
        except CorruptFileError as exc:
            logger.error("result of job %s is corrupt: %s", job_id, exc)
            raise ApiError(410, "result_corrupt", f"the result of job {job_id} is damaged on the server (its "
                           "checksum does not match); submit the job again", field="job_id") from None
        except OSError as exc:
            raise ApiError(503, "result_unreadable", f"the result of job {job_id} cannot be read right now "
                           f"({exc.strerror or type(exc).__name__}); retry later", field="job_id",
                           headers=retry_after(5)) from None

    def _result_intact(self, job_id: str) -> bool:
        try:
            read_sealed(self.result_path(job_id), f"result of job {job_id}")
            return True
        except (OSError, CorruptFileError):
            return False

    # ------------------------------------------------------------------ submit
    def admit(self, who: Principal) -> None:
        """Refuse a job of ``who`` before any work is done for it: the job cluster is up, the token and the
        service are below their job limits (``max_jobs_per_token``, ``max_queued_jobs``).

        Submission routes call this first, so that a refused request costs two counts, not the
        resolution of its neuron sets; :meth:`submit` checks again when it records the job.

        Raises
        ------
        ApiError
            503 ``jobs_unavailable``, 429 ``too_many_jobs`` or 503 ``jobs_queue_full``, with ``Retry-After``.
        """
        if not self.running:
            raise ApiError(503, "jobs_unavailable", "the job cluster is starting or stopped; retry shortly",
                           headers=retry_after(5))
        self.store.check_limits(who.token_id, max_per_token=self.settings.max_jobs_per_token,
                                max_total=self.settings.max_queued_jobs)

    def submit(self, kind: str, dataset: str | None, params: dict[str, Any], who: Principal,
               spec: dict[str, Any]) -> JobRecord:
        """Record a job and send it to the cluster.

        ``params`` are what the client asked for (stored, shown back);
        ``spec`` adds what the worker needs (store path, output folder, version).
        """
        if not self.running:
            raise ApiError(503, "jobs_unavailable", "the job cluster is starting or stopped; retry shortly",
                           headers=retry_after(5))
        job = self.store.create(kind, dataset, params, user=who.user, token_id=who.token_id, spec=spec,
                                max_per_token=self.settings.max_jobs_per_token,
                                max_total=self.settings.max_queued_jobs,
                                time_limit_s=self.settings.job_time_limit(kind))
        return self._dispatch(job, spec)

    def _time_limit(self, job: JobRecord) -> float:
        return float(job.time_limit_s or self.settings.job_time_limit(job.kind))

    def _dispatch(self, job: JobRecord, spec: dict[str, Any]) -> JobRecord:
        """Send a job to the cluster, or hold it (``queued``) while its token has
        ``running_jobs_per_token`` jobs on the cluster, so that one token never holds every worker."""
        cap = self.settings.running_jobs_per_token
        with self._lock:
            busy = sum(1 for t in self._sent.values() if t == job.token_id)
            hold = busy >= cap
            if hold:
                self._held.append((job, spec))
            else:
                self._sent[job.id] = job.token_id
        if hold:
            logger.info("job %s waits: its token has %d job(s) on the cluster (at most %d)", job.id, busy, cap)
            return self.store.update(job.id, only_if=ACTIVE, message=f"waiting: this token already has {busy} job(s) "
                                     f"running (at most {cap} at once per token, so that other users' jobs can "
                                     "start)") or job
        try:
            return self._send(job, spec)
        except BaseException:
            with self._lock:
                self._sent.pop(job.id, None)
            raise

    def _send(self, job: JobRecord, spec: dict[str, Any]) -> JobRecord:
        attempt = job.attempts + 1
        full = {**spec, "id": job.id, "kind": job.kind, "dataset": job.dataset, "attempt": attempt,
                "results_dir": str(self.settings.results_dir), "nice": self.settings.job_nice,
                "time_limit_s": self._time_limit(job)}
        job = self.store.update(job.id, attempts=attempt, message="queued") or job
        future = self._backend.submit(full)
        with self._lock:
            self._futures[job.id] = future
        future.add_done_callback(lambda f, _id=job.id, _a=attempt: self._on_done(_id, _a, f))
        logger.info("job %s (%s, attempt %d) submitted", job.id, job.kind, attempt)
        return job

    def _release(self, job_id: str) -> None:
        """A sent attempt ended (or was stopped): its token's turn passes to the next held job."""
        with self._lock:
            self._sent.pop(job_id, None)
            timer = self._timers.pop(job_id, None)
        if timer is not None:
            timer.cancel()
        self._pump()

    def _pump(self) -> None:
        """Send the held jobs whose token is below ``running_jobs_per_token``, oldest first."""
        cap = self.settings.running_jobs_per_token
        while True:
            with self._lock:
                if not self.running:
                    return
                pick = None
                for i, (job, _) in enumerate(self._held):
                    if sum(1 for t in self._sent.values() if t == job.token_id) < cap:
                        pick = self._held.pop(i)
                        self._sent[job.id] = job.token_id
                        break
            if pick is None:
                return
            job, spec = pick
            current = self.store.get(job.id)
            try:
                if current is None or current.state not in ACTIVE:
                    raise LookupError("no longer active")
                self._send(current, spec)
            except Exception as exc:
                with self._lock:
                    self._sent.pop(job.id, None)
                if not isinstance(exc, LookupError):
                    logger.error("could not send job %s: %s", job.id, exc)
                    self.store.update(job.id, only_if=ACTIVE, state="failed", finished=utc_now(),
                                      error_code="job_failed", error_message="the job could not be sent to the "
                                      "cluster; submit it again", message="failed")

    # ------------------------------------------------------------------ time limits
    def _start_clock(self, job: JobRecord) -> None:
        """Start the time limit of a job's attempt (when it starts running on a worker)."""
        limit = self._time_limit(job)
        timer = threading.Timer(limit, self._on_time_limit, args=(job.id, job.attempts, limit))
        timer.daemon = True
        with self._lock:
            if job.id in self._timers or job.id not in self._sent:
                return
            self._timers[job.id] = timer
        timer.start()

    def _on_time_limit(self, job_id: str, attempt: int, limit: float) -> None:
        """A job ran past its limit: fail it with ``timeout``, stop its attempt, free its token's turn."""
        with self._callback() as act:
            if not act:
                return
            with self._lock:
                self._timers.pop(job_id, None)
            job = self.store.get(job_id)
            if job is None or job.state not in ACTIVE or job.attempts != attempt:
                return
            self._cancel_marker(job_id).parent.mkdir(parents=True, exist_ok=True)
            self._cancel_marker(job_id).touch()  # a job in the server's threads stops at its next report
            self.store.update(job_id, only_if=ACTIVE, state="failed", finished=utc_now(), error_code="timeout",
                              error_message=self._timeout_message(job, limit), message="failed")
            logger.warning("job %s (%s) ran past its time limit of %g s: stopped", job_id, job.kind, limit)
            with self._lock:
                future = self._futures.pop(job_id, None)
            threading.Thread(target=self._stop_attempt, args=(job_id, future), daemon=True,
                             name=f"timeout-{job_id}").start()
            self._release(job_id)

    @staticmethod
    def _timeout_message(job: JobRecord, limit: float) -> str:
        return (f"the job ran past its time limit of {limit:g} s ({job.kind} jobs on this server) and was stopped; "
                "submit it with less work (fewer neurons, iterations or samples), or ask the operator for a longer "
                "limit (job_time_limits)")

    # ------------------------------------------------------------------ events
    def _on_event(self, msg: Any) -> None:
        """A progress message from a worker (ignored once stopping)."""
        with self._callback() as act:
            if act:
                self._record_event(msg)

    def _record_event(self, msg: Any) -> None:
        try:
            job_id = msg["job"]
            attempt = int(msg.get("attempt", 0))
            job = self.store.get(job_id)
            if job is None or job.state in TERMINAL or job.attempts != attempt:
                return
            fields: dict[str, Any] = {"progress": float(msg.get("progress", 0.0)), "message": str(msg.get("message", ""))}
            if job.state == "queued":
                fields.update(state="running", started=job.started or utc_now())
            self.store.update(job_id, only_if=ACTIVE, **fields)
            if job.state == "queued":
                self._start_clock(job)
        except Exception as exc:  # never let a bad message break the event stream
            logger.warning("ignoring job event %r: %s", msg, exc)

    def _on_done(self, job_id: str, attempt: int, future: Any) -> None:
        """An attempt ended (ignored once stopping: the job stays active and recovery resumes it)."""
        with self._callback() as act:
            if act:
                self._done(job_id, attempt, future)

    def _done(self, job_id: str, attempt: int, future: Any) -> None:
        with self._lock:
            mine = self._futures.get(job_id) is future
            if mine:
                del self._futures[job_id]
        try:
            if mine:
                self._release_after(job_id, attempt, future)
            else:
                self._finish(job_id, attempt, future)
        except Exception as exc:  # never leave a finished job 'running': fail it with the reason
            logger.exception("finishing job %s failed: %s", job_id, exc)
            if disk_full_cause(exc) is not None:
                fields = {"error_code": "disk_full", "error_message": "the job finished but its result could not be "
                          "saved: the server's disk is full; submit it again once space is freed (retryable)"}
            else:
                fields = {"error_code": "job_failed",
                          "error_message": f"the job could not be completed: {type(exc).__name__}: {exc}"}
            self._mark_failed(job_id, fields)

    #: Seconds between attempts to record the failure of a job while the database cannot be written.
    MARK_RETRY_S = 2.0

    def _mark_failed(self, job_id: str, fields: dict[str, Any]) -> None:
        """Record a finished attempt's failure; while the database cannot be written (a full disk), try again
        every :attr:`MARK_RETRY_S` seconds, so that the job never stays ``running`` and keeps its slot once
        space is freed (until the server stops: recovery at the next start decides then)."""
        try:
            self.store.update(job_id, only_if=ACTIVE, state="failed", finished=utc_now(), message="failed", **fields)
            return
        except Exception as db_exc:
            logger.error("could not mark job %s failed (retrying in %g s): %s", job_id, self.MARK_RETRY_S, db_exc)

        def again() -> None:
            with self._callback() as act:
                if act:
                    self._mark_failed(job_id, fields)

        timer = threading.Timer(self.MARK_RETRY_S, again)
        timer.daemon = True
        timer.start()

    def _release_after(self, job_id: str, attempt: int, future: Any) -> None:
        try:
            self._finish(job_id, attempt, future)
        finally:
            self._release(job_id)

    def _finish(self, job_id: str, attempt: int, future: Any) -> None:
        if not self.running:
            return  # the server is stopping: the job stays active and recovery resumes it
        job = self.store.get(job_id)
        if job is None or job.attempts != attempt:
            return  # a newer attempt owns the job
        if job.state in TERMINAL:
            return
        if future.cancelled():
            self.store.update(job_id, only_if=ACTIVE, state="cancelled", finished=utc_now(), message="cancelled")
            return
        exc = future.exception()
        if exc is None:
            result = future.result()
            try:
                path = self._write_result(job_id, result)
            except OSError as write_exc:  # a full disk fails the job (retryable) and frees its slot
                self._fail_write(job_id, write_exc)
                return
            job = self.store.update(job_id, only_if=ACTIVE, state="succeeded", progress=1.0, message="done",
                                    result_path=str(path), finished=utc_now())
            logger.info("job %s succeeded", job_id)
            if job is not None and job.state == "succeeded" and self.on_finished is not None:
                try:
                    self.on_finished(job)
                except Exception as cb_exc:
                    logger.exception("post-processing of job %s failed: %s", job_id, cb_exc)
            return

        if isinstance(exc, JobCancelled):
            self.store.update(job_id, only_if=ACTIVE, state="cancelled", finished=utc_now(), message="cancelled")
            return
        if isinstance(exc, JobTimeout):  # the worker saw the limit before the server did
            self.store.update(job_id, only_if=ACTIVE, state="failed", finished=utc_now(), error_code="timeout",
                              error_message=self._timeout_message(job, self._time_limit(job)), message="failed")
            logger.warning("job %s ran past its time limit", job_id)
            return
        status, body = error_from_exception(exc)
        err = body["error"]
        if status >= 500 and err["code"] == "internal":
            err = {"code": "job_failed", "message": f"{type(exc).__name__}: {exc}"}
            logger.error("job %s failed: %s", job_id, exc, exc_info=exc)
        self.store.update(job_id, only_if=ACTIVE, state="failed", finished=utc_now(), error_code=err["code"],
                          error_message=err["message"], message="failed")
        logger.info("job %s failed: %s", job_id, err["code"])

    def _fail_write(self, job_id: str, exc: OSError) -> None:
        full = disk_full_cause(exc) is not None
        code = "disk_full" if full else "result_write_failed"
        what = "the server's disk is full" if full else f"writing it failed ({exc.strerror or exc})"
        logger.error("job %s: could not write its result: %s", job_id, exc)
        self.store.update(job_id, only_if=ACTIVE, state="failed", finished=utc_now(), error_code=code,
                          error_message=f"the job finished but its result could not be saved: {what}; submit it "
                                        "again once space is freed (retryable)", message="failed")

    # ------------------------------------------------------------------ cancel
    def cancel(self, job_id: str) -> JobRecord | None:
        """Cancel a queued or running job (a finished job is returned unchanged)."""
        job = self.store.get(job_id)
        if job is None or job.state in TERMINAL:
            return job
        self._cancel_marker(job_id).parent.mkdir(parents=True, exist_ok=True)
        self._cancel_marker(job_id).touch()
        job = self.store.update(job_id, only_if=ACTIVE, state="cancelled", finished=utc_now(),
                                message="cancelled by the user") or job
        with self._lock:
            future = self._futures.pop(job_id, None)
            self._held = [(j, s) for j, s in self._held if j.id != job_id]
        threading.Thread(target=self._stop_attempt, args=(job_id, future), daemon=True,
                         name=f"cancel-{job_id}").start()
        logger.info("job %s cancelled", job_id)
        self._release(job_id)
        return job

    #: How long a cancelled attempt may take to reach its next progress report before its marker is
    #: left to the sweep at the next start.
    CANCEL_WAIT_S = 3600.0

    def _stop_attempt(self, job_id: str, future: Any) -> None:
        """Stop a cancelled job's attempt, then remove its ``.cancel`` marker once nothing runs it."""
        backend = self._backend
        stopped = False
        try:
            if future is None:  # no attempt of this server runs it (an external cluster may still: keep the marker)
                stopped = backend is None or getattr(backend, "owned", True)
            elif backend is not None:
                backend.kill(future)
                stopped = backend.wait_stopped(future, self.CANCEL_WAIT_S)
        except Exception as exc:  # pragma: no cover - the sweep at the next start cleans up
            logger.warning("stopping job %s failed: %s", job_id, exc)
        if stopped:
            self._cancel_marker(job_id).unlink(missing_ok=True)

    def sweep_cancel_markers(self) -> list[str]:
        """Remove ``.cancel`` markers no attempt needs any more (at a start, before recovery).

        A marker of a finished or unknown job is stale. A marker of a job still
        queued or running (the server stopped between writing the marker and
        the record) is a cancel request that was not recorded: the job is
        marked cancelled instead of resumed. An attempt that a previous server
        left running on an external cluster no longer sees the marker.

        Returns
        -------
        list of str
            Ids of the jobs whose marker was removed.
        """
        removed = []
        results = self.settings.results_dir
        for marker in sorted(results.glob("job_*.cancel")) if results.is_dir() else ():
            job_id = marker.name[: -len(".cancel")]
            with self._lock:
                if job_id in self._futures:
                    continue
            job = self.store.get(job_id)
            if job is not None and job.state in ACTIVE:
                self.store.update(job_id, only_if=ACTIVE, state="cancelled", finished=utc_now(),
                                  message="cancelled by the user")
            marker.unlink(missing_ok=True)
            removed.append(job_id)
        if removed:
            logger.info("removed %d stale cancel marker(s)", len(removed))
        return removed

    # ------------------------------------------------------------------ recovery
    def recover(self) -> list[str]:
        """Resume or fail the jobs a previous server left queued or running.

        Returns
        -------
        list of str
            Ids of the jobs started again.
        """
        self.sweep_cancel_markers()
        resumed = []
        for job in self.store.active():
            job_id = job.id
            with self._lock:
                if job_id in self._futures:
                    continue
            path = self.result_path(job_id)
            if self._result_intact(job_id):  # finished, but the record was not updated before the crash
                self.store.update(job_id, only_if=ACTIVE, state="succeeded", progress=1.0, message="done",
                                  result_path=str(path), finished=utc_now())
                done = self.store.get(job_id)
                if done is not None and self.on_finished is not None:
                    try:
                        self.on_finished(done)
                    except Exception as exc:
                        logger.exception("post-processing of job %s failed: %s", job_id, exc)
                continue
            spec = self.store.spec(job_id)
            attempts = job.attempts
            if attempts >= self.settings.job_attempts:
                reason = f"the server stopped while it ran, {attempts} time(s) (limit {self.settings.job_attempts})"
                self.store.update(job_id, only_if=ACTIVE, state="failed", finished=utc_now(), error_code="interrupted",
                                  error_message=f"job interrupted: {reason}; submit it again", message="failed")
                logger.warning("job %s marked failed after a restart: %s", job_id, reason)
                continue
            self.store.update(job_id, state="queued", progress=0.0,
                              message=f"resumed after a server restart (attempt {attempts + 1} of "
                                      f"{self.settings.job_attempts})")
            job = self.store.get(job_id)
            assert job is not None
            self._dispatch(job, spec or {})
            resumed.append(job_id)
            logger.info("job %s resumed after a restart", job_id)
        return resumed
