"""What a job does on a worker: thin calls into ``connectome``, ``ingest`` and ``gnn``.

:func:`run_job` is the one function the service submits to Dask. It loads the
dataset from its store path, calls the library function of the job's kind and
returns a small JSON-friendly result; large outputs (stores, models, layer tables,
predictions) are written under the service's data root, which workers share
with the server. Progress and the start of each attempt are reported as Dask
worker events (topic :data:`EVENT_TOPIC`), or to a callback when the job runs
in the server's own thread pool.

This module imports nothing heavy at import time: workers import it to run
jobs.

Examples
--------
>>> sorted(KINDS)
['cluster', 'ingest', 'layers', 'match', 'significance', 'train']
>>> reports = []
>>> run_job({"id": "job_x", "kind": "nope", "attempt": 1, "params": {}}, reporter=reports.append)
Traceback (most recent call last):
...
connectome.errors.InputError: kind: unknown job kind 'nope'; known: cluster, ingest, layers, match, significance, train
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import connectome as cx
from connectome.atomic import replace_atomically
from connectome.errors import ConnectomeError, DependencyError, InputError
from connectome.ingest.cave import ingest_cave
from connectome.ingest.celegans import ingest_celegans
from connectome.ingest.larva import ingest_larva
from connectome.ingest.release import ingest_tables
from connectome.registry import load
from connectome.schema import coerce_ids
from connectome.scheduler import use_scheduler
from connectome.store import read_manifest

from .encoding import plain

logger = logging.getLogger(__name__)

__all__ = ["run_job", "KINDS", "EVENT_TOPIC", "JobCancelled", "JobTimeout", "Progress", "neuron_set"]

#: Dask worker-event topic carrying job progress to the server.
EVENT_TOPIC = "connectome-jobs"


class JobCancelled(ConnectomeError):
    """The job was cancelled while it ran (seen at a progress report)."""


class JobTimeout(ConnectomeError):
    """The job ran past its time limit (seen at a progress report; the job fails with code ``timeout``)."""


class Progress:
    """Report progress of one job attempt; raises :class:`JobCancelled` once it was cancelled and
    :class:`JobTimeout` once it ran past ``spec["time_limit_s"]`` seconds.

    The server asks a job to stop by writing ``<results>/<id>.cancel``; the job
    sees it at its next report. The server also stops a job at its time limit on its own
    (:class:`~connectome.api.jobs.JobManager`); the check here stops the work itself where the
    server cannot (a job in the server's own threads).

    Examples
    --------
    >>> p = Progress({"id": "job_x", "time_limit_s": 0.01}, send=lambda m: None)
    >>> time.sleep(0.02)
    >>> p(0.5, "half way")
    Traceback (most recent call last):
    ...
    connectome.api.tasks.JobTimeout: job job_x ran past its time limit of 0.01 s
    """

    def __init__(self, spec: dict[str, Any], send: Callable[[dict], None]) -> None:
        self.job_id = spec["id"]
        self.attempt = spec.get("attempt", 1)
        self._send = send
        results = spec.get("results_dir")
        self._cancel_marker = Path(results) / f"{self.job_id}.cancel" if results else None
        self._limit = float(spec["time_limit_s"]) if spec.get("time_limit_s") else None
        self._deadline = None if self._limit is None else time.monotonic() + self._limit

    def __call__(self, fraction: float, message: str = "", state: str = "running") -> None:
        if self._cancel_marker is not None and self._cancel_marker.exists():
            raise JobCancelled(f"job {self.job_id} was cancelled")
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise JobTimeout(f"job {self.job_id} ran past its time limit of {self._limit:g} s")
        try:
            self._send({"job": self.job_id, "attempt": self.attempt, "state": state,
                        "progress": max(0.0, min(1.0, float(fraction))), "message": message, "time": time.time()})
        except Exception as exc:  # progress is best effort; the result is what counts
            logger.debug("progress report of %s failed: %s", self.job_id, exc)


def _worker_events(msg: dict) -> None:
    from distributed import get_worker

    get_worker().log_event(EVENT_TOPIC, msg)


def _cluster() -> Any:
    """A client to the cluster this task runs on (``worker_client``), or ``None`` off a worker."""
    from contextlib import nullcontext

    try:
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError):
        return nullcontext(None)
    return worker_client()


def _load(spec: dict[str, Any]) -> Any:
    return load(Path(spec["store"]))


# ----------------------------------------------------------------------------- kinds


def _ingest(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Write a store for ``spec['dataset']`` at ``spec['out']`` from an ingest source."""
    p = dict(spec["params"])
    source = p.pop("source")
    out = Path(spec["out"])
    progress(0.05, f"ingesting from {source}")
    if source == "celegans":
        path = ingest_celegans(p["cect_dataset"], out=out, progress=False)
    elif source == "larva":
        path = ingest_larva(out=out, progress=False)
    elif source == "tables":
        path = ingest_tables(p["edges"], p.get("nodes"), name=spec["dataset"], out=out,
                             columns=p.get("columns") or None, node_columns=p.get("node_columns") or None,
                             min_synapses=p.get("min_synapses"), progress=False)
    elif source == "cave":
        from .schemas import IngestCave  # lazy: imports pydantic

        # the stored parameters pass the request's model again: the route and the worker read them alike
        args = IngestCave.model_validate({"source": source, **p}).ingest_arguments()
        path = ingest_cave(out=out, name=spec["dataset"], progress=False, **args)
    else:
        raise InputError(f"source: unknown ingest source {source!r}", "source")

    m, vdir = read_manifest(path)
    progress(1.0, "store written")
    return {"dataset": spec["dataset"], "version": vdir.name, "nodes": m.rows("nodes"), "edges": m.rows("edges"),
            "title": m.title}


def _significance(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Motif over/under-representation against a null model."""
    fn = getattr(cx, "motif_significance", None)
    if fn is None:
        raise DependencyError("motif significance is not available in this version of connectome")
    progress(0.05, "loading dataset")
    c = _load(spec)
    p = dict(spec["params"])
    progress(0.1, f"sampling {p.get('n')} {p.get('null')} null graphs")
    with _cluster() as client:  # on a Dask worker: spread the samples over the whole cluster
        res = fn(c, **p, scheduler=client, progress=False)
    progress(1.0, "done")
    out = plain(res.to_dict())
    return {"dataset": spec["dataset"], "version": spec.get("version"), **out}


def _train(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Train a GNN cell-type model, save it and its predictions."""
    try:
        from connectome import gnn
    except ImportError as exc:  # pragma: no cover - gnn extras missing

        raise DependencyError(f"GNN training is not available: {exc}") from None
    if not hasattr(gnn, "train"):
        raise DependencyError("GNN training is not available in this version of gnn")
    progress(0.05, "loading dataset")
    c = _load(spec)
    out = Path(spec["out"]) / spec["id"]
    out.mkdir(parents=True, exist_ok=True)
    progress(0.1, "training")
    model = gnn.train(c, **spec["params"], device="cpu", threads=1, progress=False)  # one core per worker
    progress(0.8, "saving model")
    model.save(out / "model")
    progress(0.9, "predicting")
    pred = model.predict(c)
    path = _write_parquet(pred, out / "predictions.parquet")
    progress(1.0, "done")
    metrics = getattr(model, "metrics", None)
    return {"dataset": spec["dataset"], "version": spec.get("version"), "model_id": spec["id"],
            "params": spec["params"], "metrics": plain(metrics), "predictions": int(len(pred)),
            "predictions_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def job_table_path(out: str | Path, job_id: str, kind: str) -> Path:
    """Where a layers, cluster or match job writes its table (``<out>/<job id>.<kind>.parquet``).

    Examples
    --------
    >>> job_table_path("/srv/results", "job_1", "match").name
    'job_1.match.parquet'
    """
    return Path(out) / f"{job_id}.{kind}.parquet"


def _write_job_table(spec: dict[str, Any], table: Any, progress: Progress) -> dict[str, str]:
    """Write a job's table beside its result (:func:`job_table_path`); the result's keys that find it.

    ``table_sha256`` lets the rows route refuse a damaged table; ``rows_url`` is where it is read.
    """
    progress(0.9, f"writing the {spec['kind']} table")
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    path = _write_parquet(table, job_table_path(out, spec["id"], spec["kind"]))
    progress(1.0, "done")
    return {"table_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "rows_url": f"/v1/datasets/{spec['dataset']}/{spec['kind']}/{spec['id']}"}


def _layers(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Information-flow layers (:func:`connectome.flow_layers`); the table is written beside the result.

    ``params`` hold ``seeds`` (the request's neuron set, resolved here by :func:`neuron_set`) or
    ``seed_ids`` (root ids as strings) and the keyword arguments of :func:`connectome.flow_layers`.
    The table (every neuron of the graph, as the library returns it) goes to :func:`job_table_path`; the result records its
    SHA-256, so a damaged table is never served.

    Examples
    --------
    >>> import hashlib, tempfile
    >>> import connectome as cx
    >>> from connectome.registry import resolve
    >>> c = cx.load("celegans_cook2019_herm")
    >>> seeds = [str(int(x)) for x in cx.ids_of(c, name=["ASHL", "ASHR"])]
    >>> spec = {"id": "job_doc", "kind": "layers", "dataset": c.name, "out": tempfile.mkdtemp(), "version": None,
    ...         "store": str(resolve(c.name)), "params": {"seed_ids": seeds, "n_iterations": 20, "seed": 1}}
    >>> r = run_job(spec, reporter=lambda m: None)
    >>> r["neurons"] == c.n_nodes, r["params"]["seeds"], r["rows_url"]
    (True, 2, '/v1/datasets/celegans_cook2019_herm/layers/job_doc')
    >>> path = job_table_path(spec["out"], "job_doc", "layers")
    >>> hashlib.sha256(path.read_bytes()).hexdigest() == r["table_sha256"]
    True
    >>> run_job({**spec, "params": {"seed_ids": ["3"]}}, reporter=lambda m: None)
    Traceback (most recent call last):
    ...
    connectome.errors.IdError: seeds: 1 id(s) not in celegans_cook2019_herm: 3; check the ids (cx.ids_of(c, ...)) and the dataset version: root ids change with proofreading
    """
    progress(0.05, "loading dataset")
    c = _load(spec)
    p = dict(spec["params"])
    if "seeds" in p:  # the request's neuron set, resolved here (not in the server's request threads)
        _preparing(spec, "resolving the seeds")
        ids = neuron_set(c, p.pop("seeds"), "seeds")
    else:  # a job recorded before the resolution moved into the job
        ids = coerce_ids(list(p.pop("seed_ids")), "seeds")
    progress(0.1, f"{p.get('n_iterations', 1000)} traversals from {len(ids)} seed(s)")
    with _cluster() as client:  # on a Dask worker: spread the iteration blocks over the whole cluster
        t = cx.flow_layers(c, ids, **p, scheduler=client, progress=False)
    written = _write_job_table(spec, t, progress)
    meta = {k: v for k, v in t.attrs.items() if k not in ("dataset", "notes")}
    return {"dataset": spec["dataset"], "version": spec.get("version"), "params": plain(meta),
            "notes": [str(x) for x in t.attrs.get("notes", [])], "neurons": len(t),
            "reached": int((t["reached"] > 0).sum()), "columns": [str(x) for x in t.columns], **written}


def _preparing(spec: dict[str, Any], what: str) -> None:
    logger.info("job %s (%s): preparing: %s", spec.get("id"), spec.get("kind"), what)


def neuron_set(c: Any, s: dict[str, Any] | None, field: str) -> Any:
    """The root ids of a request's neuron set (``{"root_ids": [...]}`` or ``{"select": {...}}``), or ``None``.

    Jobs resolve their sets themselves, on the worker: a submission does no such work in the
    server. Root ids are checked by the library call the job makes next (an unknown id fails
    the job, naming the parameter); a selection goes through :func:`connectome.ids_of`.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> neuron_set(c, {"root_ids": ["648518346349538157"], "select": None}, "seeds").tolist()
    [648518346349538157]
    >>> len(neuron_set(c, {"root_ids": None, "select": {"name": ["AVAL", "AVAR"]}}, "seeds"))
    2
    >>> neuron_set(c, None, "neurons") is None
    True
    """
    if s is None:
        return None
    if s.get("root_ids") is not None:
        return coerce_ids(list(s["root_ids"]), field)
    return cx.ids_of(c, **(s.get("select") or {}))


def _ids_param(values: Any) -> Any:
    """Root ids of a job's parameters (strings) as int64, or ``None``."""
    return None if values is None else coerce_ids(list(values), "root_ids")


def _finite(x: Any) -> float | None:
    import math

    return None if x is None or not math.isfinite(float(x)) else float(x)


def _cluster_job(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Clusters on connectivity similarity (:func:`connectome.cluster`); the labels table is written beside.

    ``params`` hold ``neurons`` (the request's neuron set, resolved here by :func:`neuron_set`; ``None``
    for every neuron) or ``neuron_ids`` (root ids as strings), ``compare`` (node columns scored by
    adjusted Rand) and the keyword arguments of :func:`connectome.cluster`. The table (``root_id``, ``cluster``, as the library
    returns it) goes to :func:`job_table_path`; the result records its SHA-256.

    Examples
    --------
    >>> import tempfile
    >>> import connectome as cx
    >>> from connectome.registry import resolve
    >>> c = cx.load("celegans_cook2019_herm")
    >>> ids = [str(int(x)) for x in cx.ids_of(c, super_class="motor")]
    >>> spec = {"id": "job_doc", "kind": "cluster", "dataset": c.name, "out": tempfile.mkdtemp(), "version": None,
    ...         "store": str(resolve(c.name)), "params": {"neuron_ids": ids, "method": "average", "n_clusters": 4,
    ...                                                   "compare": ["cell_type"]}}
    >>> r = run_job(spec, reporter=lambda m: None)
    >>> r["n_clusters"], r["rows"] == len(ids), r["rows_url"]
    (4, True, '/v1/datasets/celegans_cook2019_herm/cluster/job_doc')
    """
    progress(0.05, "loading dataset")
    c = _load(spec)
    p = dict(spec["params"])
    if "neurons" in p:  # the request's neuron set, resolved here (not in the server's request threads)
        _preparing(spec, "resolving the neurons")
        ids = neuron_set(c, p.pop("neurons"), "neurons")
    else:  # a job recorded before the resolution moved into the job
        ids = _ids_param(p.pop("neuron_ids", None))
    compare = list(p.pop("compare", []) or [])
    progress(0.1, f"clustering ({p.get('method', 'ward')})")
    with _cluster() as client:  # on a Dask worker: the similarity's row blocks spread over the cluster
        r = cx.cluster(c, ids, **p, scheduler=client, progress=False)
    written = _write_job_table(spec, r.labels, progress)
    return {"dataset": spec["dataset"], "version": spec.get("version"), "n_clusters": int(r.n_clusters),
            "clustered": int(r.meta["clustered"]), "not_clustered": int(r.meta["not_clustered"]),
            "modularity": _finite(r.meta.get("modularity")),
            "adjusted_rand": {col: float(r.adjusted_rand(c, col)) for col in compare},
            "warnings": [str(w) for w in r.meta["warnings"]], "rows": int(len(r.labels)), **written}


def _match_job(spec: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """Pairs of matched neurons (:func:`connectome.match`); the pairs table is written beside the result.

    ``params`` hold ``set_a``/``set_b`` (the request's neuron sets, resolved here by :func:`neuron_set`;
    without ``other_store`` and ``set_a``, ``side`` splits the dataset) or ``ids_a``/``ids_b`` (root ids as
    strings), ``seeds`` (pairs of root-id strings), ``truth`` (a node column scored by
    :meth:`MatchResult.accuracy`), ``other_store``
    (the store of the second dataset, for a match across datasets) and the keyword arguments of
    :func:`connectome.match`.

    Examples
    --------
    >>> import tempfile
    >>> import connectome as cx
    >>> from connectome.registry import resolve
    >>> c = cx.load("celegans_cook2019_herm")
    >>> spec = {"id": "job_doc", "kind": "match", "dataset": c.name, "out": tempfile.mkdtemp(), "version": None,
    ...         "store": str(resolve(c.name)), "params": {"side": "side", "method": "bisected"}}
    >>> r = run_job(spec, reporter=lambda m: None)
    >>> r["matched"] == len(cx.match(c, side="side", method="bisected").pairs), r["rows_url"]
    (True, '/v1/datasets/celegans_cook2019_herm/match/job_doc')
    """
    progress(0.05, "loading dataset(s)")
    c = _load(spec)
    p = dict(spec["params"])
    other = p.pop("other_store", None)
    cb = load(Path(other)) if other else None
    truth = p.pop("truth", None)
    if "set_a" in p:  # the request's sets, resolved here (not in the server's request threads)
        _preparing(spec, "resolving the sets and seeds")
        set_a, set_b, side = p.pop("set_a"), p.pop("set_b", None), p.pop("side", None)
        if cb is None and set_a is None:
            p["side"] = side
        else:
            p["ids_a"] = neuron_set(c, set_a, "set_a")
            p["ids_b"] = neuron_set(cb if cb is not None else c, set_b, "set_b")
    for key in ("ids_a", "ids_b"):
        if p.get(key) is not None and not hasattr(p[key], "dtype"):  # root-id strings of an older job
            p[key] = _ids_param(p[key])
    if p.get("seeds") is not None:
        p["seeds"] = [(int(x), int(y)) for x, y in p["seeds"]]
    progress(0.1, f"matching ({p.get('method', 'gm')})")
    with _cluster() as client:
        m = cx.match(c, cb, **p, scheduler=client, progress=False)
    written = _write_job_table(spec, m.pairs, progress)
    return {"dataset": spec["dataset"], "other": cb.name if cb is not None else None,
            "version": spec.get("version"), "matched": int(m.meta["matched"]),
            "unmatched_a": [str(int(x)) for x in m.unmatched_a], "unmatched_b": [str(int(x)) for x in m.unmatched_b],
            "objective": _finite(m.meta.get("objective")),
            "accuracy": plain(m.accuracy(truth)) if truth else None,
            "attributes": plain(m.meta["attributes"]) if "attributes" in m.meta else None,
            "warnings": [str(w) for w in m.meta["warnings"]], "rows": int(len(m.pairs)), **written}


KINDS: dict[str, Callable[[dict[str, Any], Progress], dict[str, Any]]] = {
    "cluster": _cluster_job,
    "ingest": _ingest,
    "layers": _layers,
    "match": _match_job,
    "significance": _significance,
    "train": _train,
}


# ----------------------------------------------------------------------------- helpers


def _write_parquet(df: Any, path: Path) -> Path:
    return replace_atomically(path, lambda tmp: df.to_parquet(tmp, index=False))


def lower_priority(nice: int) -> int | None:
    """Run this job's CPU work at niceness ``nice`` (at least), so that it never slows the requests.

    On a Dask worker the whole worker process is lowered (every thread of it;
    threads it starts later inherit the value); in the server's own job
    threads, only the calling thread. Niceness is only ever raised. Returns
    the niceness now in force (``None`` where the platform has none).

    Examples
    --------
    >>> lower_priority(0) is None or isinstance(lower_priority(0), int)
    True
    """
    import os
    import threading

    if not hasattr(os, "setpriority"):  # pragma: no cover - not on Linux/macOS
        return None
    try:
        from distributed import get_worker

        get_worker()
        tids = [int(t) for t in os.listdir("/proc/self/task")] if os.path.isdir("/proc/self/task") else [0]
    except (ImportError, ValueError):
        tids = [threading.get_native_id()]
    now = None
    for tid in tids:
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            if current < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
            now = max(current, nice)
        except OSError as exc:  # a thread that ended meanwhile, or no permission: the job still runs
            logger.debug("could not lower the priority of thread %s: %s", tid, exc)
    return now


def run_job(spec: dict[str, Any], reporter: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Run one job attempt (on a Dask worker, or in the server's thread pool).

    Parameters
    ----------
    spec : dict
        ``id``, ``kind``, ``attempt``, ``params`` and, by kind, ``dataset``,
        ``store`` (store path to load), ``out`` (where outputs go), ``results_dir``.
    reporter : callable, optional
        Receives progress messages; default: Dask worker events.

    Returns
    -------
    dict
        The job's JSON-friendly result.
    """
    fn = KINDS.get(spec.get("kind", ""))
    if fn is None:
        raise InputError(f"kind: unknown job kind {spec.get('kind')!r}; known: {', '.join(sorted(KINDS))}", "kind")
    lower_priority(int(spec.get("nice", 0)))
    progress = Progress(spec, reporter or _worker_events)
    progress(0.0, "started")

    with use_scheduler("threads"):  # Dask work inside a job stays on its worker
        return fn(spec, progress)
