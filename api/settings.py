"""Service settings: where the service keeps its data, where jobs run, and its limits.

Settings come from keyword arguments or from ``CONNECTOME_API_*`` environment
variables (:meth:`Settings.from_env`). Reading them creates nothing: folders and
the database are made when the app starts.

``CONNECTOME_API_HOME``
    The service's data root (default ``<CONNECTOME_HOME>/service``): the SQLite
    database ``service.db`` (tokens, permissions, jobs), job results, trained
    models, datasets ingested through the service, Neuroglancer states and the
    result cache.
``CONNECTOME_API_CLUSTER``
    Where jobs run: ``local`` (default: a ``dask.distributed.LocalCluster``
    with process workers started with the app), ``tcp://host:port`` (an
    external Dask scheduler; the data root must then be on storage the workers
    share) or ``threads`` (a thread pool inside the server, for development).
``CONNECTOME_API_WORKERS``
    Process workers of the LocalCluster (default 2).
``CONNECTOME_API_DASHBOARD``
    ``1`` serves Dask's status pages of the LocalCluster on 127.0.0.1:8787 (default off).
``CONNECTOME_API_CLUSTER_TLS_CA``, ``CONNECTOME_API_CLUSTER_TLS_CERT``, ``CONNECTOME_API_CLUSTER_TLS_KEY``
    TLS files to connect to an external ``tls://`` scheduler (its security is the operator's).
Limits and the public URL
    ``CONNECTOME_API_MAX_BODY_BYTES``, ``CONNECTOME_API_MAX_PAGE_SIZE``,
    ``CONNECTOME_API_QUERY_TIMEOUT_S``, ``CONNECTOME_API_MAX_QUERY_TIMEOUT_S``,
    ``CONNECTOME_API_MAX_JOBS_PER_TOKEN``, ``CONNECTOME_API_MAX_QUEUED_JOBS``,
    ``CONNECTOME_API_MAX_INFLIGHT``, ``CONNECTOME_API_MAX_INFLIGHT_PER_TOKEN``,
    ``CONNECTOME_API_HEADER_TIMEOUT_S``, ``CONNECTOME_API_BODY_TIMEOUT_S``, ``CONNECTOME_API_QUERY_MEMORY_BYTES``,
    ``CONNECTOME_API_MOTIF_MEMORY``,
    ``CONNECTOME_API_JOB_NICE``, ``CONNECTOME_API_COMPUTE_THREADS``, ``CONNECTOME_API_COMPUTE_QUEUE``,
    ``CONNECTOME_API_COMPUTE_THREADS_PER_TOKEN``, ``CONNECTOME_API_COMPUTE_QUEUE_PER_TOKEN``,
    ``CONNECTOME_API_COMPUTE_CHEAP_THREADS``,
    ``CONNECTOME_API_JOB_ATTEMPTS``, ``CONNECTOME_API_JOB_TIME_LIMITS``, ``CONNECTOME_API_MAX_RUNNING_JOBS_PER_TOKEN``,
    ``CONNECTOME_API_MAX_PAIRS``, ``CONNECTOME_API_MAX_JOB_PAIRS``,
    ``CONNECTOME_API_PUBLIC_URL``: limits and the URL clients reach
    the service at (see :class:`Settings`).

Examples
--------
>>> s = Settings(data_root="/tmp/cx-service", max_page_size=100)
>>> s.db_path.name, s.max_page_size
('service.db', 100)
>>> Settings.from_env({"CONNECTOME_API_MAX_PAGE_SIZE": "50", "CONNECTOME_API_HOME": "/srv/cx"}).max_page_size
50
>>> Settings(max_page_size=0)
Traceback (most recent call last):
...
connectome.errors.InputError: max_page_size must be a positive integer, not 0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from connectome.config import data_home
from connectome.errors import InputError
from connectome.validate import check_int

__all__ = ["Settings", "JOB_TIME_LIMITS", "DEFAULT_JOB_TIME_LIMIT_S"]

_PREFIX = "CONNECTOME_API_"

#: Seconds a job of a kind may run by default (``Settings.job_time_limits`` overrides them).
JOB_TIME_LIMITS: dict[str, float] = {"cluster": 3600.0, "ingest": 7200.0, "layers": 3600.0, "match": 3600.0,
                                     "significance": 3600.0, "train": 7200.0}
#: The time limit of a job of any other kind.
DEFAULT_JOB_TIME_LIMIT_S = 3600.0


def _default_root() -> Path:
    return data_home() / "service"


@dataclass(frozen=True)
class Settings:
    """Everything the service needs to know, with safe defaults.

    Parameters
    ----------
    data_root : path, optional
        The service's own folder (default ``<CONNECTOME_HOME>/service``).
    host, port : str, int
        Where ``connectome serve`` listens (default ``127.0.0.1:8000``).
    public_url : str, optional
        Base URL clients use to reach the service (Neuroglancer ``json_url``
        links point here); default ``http://{host}:{port}``.
    cluster : str
        Where jobs run: ``local`` (a LocalCluster with process workers started
        with the app), ``threads`` (a thread pool in the server, for
        development) or a Dask scheduler address (``tcp://...``).
    workers : int
        Process workers of the LocalCluster (``cluster="local"``).
    max_body_bytes : int
        Largest request body accepted (413 above it).
    max_page_size : int
        Largest ``limit`` of a paged list (400 above it).
    query_timeout_s, max_query_timeout_s : float
        Default and largest time budget of a synchronous query.
    max_jobs_per_token : int
        Queued + running jobs one token may have (429 above it).
    max_queued_jobs : int
        Queued + running jobs of the whole service (503 above it).
    max_inflight : int
        Requests handled at once (503 with ``Retry-After`` above it).
    max_inflight_per_token : int
        Requests of one token handled at once (429 with ``Retry-After`` above
        it), so that one token's connections never use up ``max_inflight``.
    job_nice : int
        CPU niceness of job work (0-19; default 10): jobs use idle CPU first,
        so that requests keep their latency while jobs run on the same machine.
    query_memory_bytes : int
        Memory a motif query's parse may use (DotMotif runs in a child
        process with this address-space limit; 400 ``query_too_large`` above it).
    motif_memory : int
        Memory (bytes, default 1 GiB) one motif count or match query may hold
        while it runs (``memory=`` of :func:`connectome.count_motifs`: partial
        bindings, candidates and kept matches; chunks shrink to fit); 422
        ``query_too_large`` with the ``estimate`` above it.
    header_timeout_s, body_timeout_s : float
        Seconds a client may take to send its request headers (the
        connection is closed with 408 after it) and its body (408).
    compute_threads : int
        Threads computing uncached results (statistics, motif queries).
    compute_queue : int
        Computations running or queued in all (503 ``overloaded`` above it).
    compute_threads_per_token, compute_queue_per_token : int
        The pool is shared fairly: one token's computations running at once
        (default 2), and running or queued (default 8; 429
        ``too_many_requests`` with ``Retry-After`` above it). A freed thread
        takes the next computation of the waiting token with the fewest
        running, ties to the one served least recently.
    compute_cheap_threads : int
        More threads that run only work a route declares cheap (default 1;
        0 for none), so that cheap reads never wait behind heavy work.
    job_attempts : int
        How often a job interrupted by a server restart is started again
        before it is marked failed.
    job_time_limits : str
        Time limits of jobs, as ``kind=seconds`` pairs separated by commas
        (e.g. ``"layers=600,train=14400"``), overriding the defaults of
        :data:`JOB_TIME_LIMITS` (one hour; ingest and train two hours). A job
        running past its limit is stopped and fails with code ``timeout``; the
        job record states its limit (``time_limit_s``).
    max_running_jobs_per_token : int
        Jobs of one token sent to the workers at once; the token's other jobs
        wait (``queued``) until one ends. Default 0: one less than ``workers``
        (at least 1), so that one token never holds every worker while another
        token's job waits.
    cache_entries : int
        Results kept in memory (they are also kept on disk per dataset version).
    max_pairs : int
        Largest product of two sets one request may build (default 1,000,000): influence
        (sources × targets, or × ``top``), paths (sources × targets), similar (queries × ``top_k``),
        partners with ``by`` (neurons × directions × groups, at most their partners). Above it:
        400 ``too_many_pairs`` with the estimate, before any work.
    max_job_pairs : int
        The same for a match job (default 25,000,000: set a × set b, a dense block).
    max_matches : int
        Motif matches kept per query for paging (the first found, then sorted);
        a page response says ``truncated`` when a query has more.
    cave_servers : str
        Comma-separated CAVE server URLs an ingest job may name (besides the
        presets' own servers); the service uses its own CAVE credentials.
    dashboard : bool
        Serve Dask's status pages on 127.0.0.1:8787 for the LocalCluster
        (``connectome serve --dashboard``). Off by default: nothing but the
        API and the cluster's TLS ports listen.
    cluster_tls_ca, cluster_tls_cert, cluster_tls_key : str, optional
        TLS files for an external cluster (``cluster="tls://..."``): the CA
        that signed the scheduler's certificate, and this client's certificate
        and key (``--cluster-tls-ca/--cluster-tls-cert/--cluster-tls-key``).
        An external cluster's security is the operator's: the service only
        presents these credentials. The service's own LocalCluster always
        speaks TLS with a temporary certificate held in memory.
    """

    data_root: Path = field(default_factory=_default_root)
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    cluster: str = "local"
    workers: int = 2
    max_body_bytes: int = 1_048_576
    max_page_size: int = 1000
    query_timeout_s: float = 10.0
    max_query_timeout_s: float = 60.0
    max_jobs_per_token: int = 2
    max_queued_jobs: int = 32
    max_inflight: int = 256
    max_inflight_per_token: int = 64
    query_memory_bytes: int = 512 * 1024 * 1024
    motif_memory: int = 1 << 30
    job_nice: int = 10
    header_timeout_s: float = 10.0
    body_timeout_s: float = 20.0
    compute_threads: int = 4
    compute_queue: int = 32
    compute_threads_per_token: int = 2
    compute_queue_per_token: int = 8
    compute_cheap_threads: int = 1
    job_attempts: int = 2
    job_time_limits: str = ""
    max_running_jobs_per_token: int = 0
    cache_entries: int = 512
    max_matches: int = 100_000
    max_pairs: int = 1_000_000
    max_job_pairs: int = 25_000_000
    cave_servers: str = ""
    dashboard: bool = False
    cluster_tls_ca: str | None = None
    cluster_tls_cert: str | None = None
    cluster_tls_key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_root", Path(self.data_root).expanduser())
        for name in ("port", "workers", "max_body_bytes", "max_page_size", "max_jobs_per_token",
                     "max_queued_jobs", "max_inflight", "max_inflight_per_token", "query_memory_bytes", "motif_memory", "compute_threads", "compute_queue",
                     "compute_threads_per_token",
                     "compute_queue_per_token", "job_attempts", "cache_entries",
                     "max_matches", "max_pairs", "max_job_pairs"):
            value = getattr(self, name)
            check_int(value, name, low=1)
        check_int(self.compute_cheap_threads, "compute_cheap_threads", low=0)
        check_int(self.max_running_jobs_per_token, "max_running_jobs_per_token", low=0)
        self.job_time_limit("ingest")  # a malformed job_time_limits is refused at start
        for name in ("query_timeout_s", "max_query_timeout_s", "header_timeout_s", "body_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"{name} must be a positive number of seconds, not {value!r}", name)
        if isinstance(self.job_nice, bool) or not isinstance(self.job_nice, int) or not 0 <= self.job_nice <= 19:
            raise InputError(f"job_nice must be an integer from 0 to 19, not {self.job_nice!r}", "job_nice")
        if self.query_timeout_s > self.max_query_timeout_s:
            raise InputError("query_timeout_s must not exceed max_query_timeout_s", "query_timeout_s")
        s = self.cluster.strip().lower()
        if s not in ("local", "threads") and "://" not in s:
            raise InputError(f"cluster must be 'local', 'threads' or a Dask scheduler address such as "
                             f"'tcp://127.0.0.1:8786', not {self.cluster!r}", "cluster")
        if not isinstance(self.dashboard, bool):
            raise InputError(f"dashboard must be true or false, not {self.dashboard!r}", "dashboard")
        tls = {n: getattr(self, n) for n in ("cluster_tls_ca", "cluster_tls_cert", "cluster_tls_key")}
        if any(tls.values()):
            if s in ("local", "threads"):
                raise InputError("cluster_tls_*: TLS files are for an external cluster (--cluster tls://host:port); "
                                 "the service's own LocalCluster makes its own certificate", "cluster_tls_ca")
            if not (tls["cluster_tls_ca"] and tls["cluster_tls_cert"]):
                raise InputError("cluster_tls_ca and cluster_tls_cert: give both (the key too, unless the "
                                 "certificate file holds it)", "cluster_tls_ca")

    # ------------------------------------------------------------------ derived paths
    @property
    def db_path(self) -> Path:
        """The SQLite database (tokens, permissions, datasets, jobs)."""
        return self.data_root / "service.db"

    @property
    def results_dir(self) -> Path:
        """Job results (one JSON file per finished job)."""
        return self.data_root / "results"

    @property
    def models_dir(self) -> Path:
        """Trained models and their predictions."""
        return self.data_root / "models"

    @property
    def stores_dir(self) -> Path:
        """Stores of datasets ingested through the service."""
        return self.data_root / "stores"

    @property
    def states_dir(self) -> Path:
        """Neuroglancer states served at ``/v1/states/{id}``."""
        return self.data_root / "states"

    @property
    def cache_dir(self) -> Path:
        """Cached results, per dataset version."""
        return self.data_root / "cache"

    @property
    def allowed_cave_servers(self) -> list[str]:
        """CAVE servers an ingest job may name.

        Examples
        --------
        >>> Settings(data_root="/tmp/x", cave_servers="http://127.0.0.1:9/, https://cave.example.org").allowed_cave_servers
        ['http://127.0.0.1:9', 'https://cave.example.org']
        """
        return [u.strip().rstrip("/") for u in self.cave_servers.split(",") if u.strip()]

    def job_time_limit(self, kind: str) -> float:
        """Seconds a job of ``kind`` may run (:data:`JOB_TIME_LIMITS`, overridden by ``job_time_limits``).

        Examples
        --------
        >>> s = Settings(data_root="/tmp/x", job_time_limits="layers=600, match=1.5")
        >>> s.job_time_limit("layers"), s.job_time_limit("match"), s.job_time_limit("train")
        (600.0, 1.5, 7200.0)
        >>> Settings(job_time_limits="layers=soon")
        Traceback (most recent call last):
        ...
        connectome.errors.InputError: job_time_limits: 'layers=soon' is not kind=seconds (a positive number), e.g. 'layers=600,train=14400'
        """
        limits = dict(JOB_TIME_LIMITS)
        for part in (x.strip() for x in self.job_time_limits.split(",")):
            if not part:
                continue
            name, _, raw = part.partition("=")
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not name.strip() or not value > 0 or value == float("inf"):
                raise InputError(f"job_time_limits: {part!r} is not kind=seconds (a positive number), e.g. "
                                 "'layers=600,train=14400'", "job_time_limits")
            limits[name.strip()] = value
        return float(limits.get(kind, DEFAULT_JOB_TIME_LIMIT_S))

    @property
    def running_jobs_per_token(self) -> int:
        """Jobs of one token sent to the workers at once (``max_running_jobs_per_token``, or ``workers - 1``).

        Examples
        --------
        >>> Settings(data_root="/tmp/x", workers=2).running_jobs_per_token
        1
        >>> Settings(data_root="/tmp/x", workers=1).running_jobs_per_token, Settings(workers=4).running_jobs_per_token
        (1, 3)
        """
        if self.max_running_jobs_per_token:
            return self.max_running_jobs_per_token
        return max(1, self.workers - 1)

    @property
    def base_url(self) -> str:
        """The URL clients reach the service at."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields changed.

        Examples
        --------
        >>> Settings(data_root="/tmp/x").with_changes(port=9000).base_url
        'http://127.0.0.1:9000'
        """
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``CONNECTOME_API_*`` variables; keyword arguments win.

        ``CONNECTOME_API_HOME`` sets ``data_root``; every other field ``f`` is
        read from ``CONNECTOME_API_<F>``.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        types = {f.name: f.type for f in fields(cls)}
        if env.get(_PREFIX + "HOME"):
            values["data_root"] = Path(env[_PREFIX + "HOME"])
        for name, typ in types.items():
            if name == "data_root":
                continue
            raw = env.get(_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            try:
                if "bool" in str(typ):
                    if raw.strip().lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                        raise ValueError(raw)
                    values[name] = raw.strip().lower() in ("1", "true", "yes", "on")
                elif "int" in str(typ):
                    values[name] = int(raw)
                elif "float" in str(typ):
                    values[name] = float(raw)
                else:
                    values[name] = raw
            except ValueError:
                kind = "true or false" if "bool" in str(types[name]) else "a number"
                raise InputError(f"{_PREFIX}{name.upper()}: {raw!r} is not {kind}", name) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
