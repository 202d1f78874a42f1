"""Jobs on a dataset (null-model significance, GNN training), trained models and their predictions.

(Flow layers are a job too: their routes are in :mod:`connectome.api.routers.pathways`.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Annotated, Any

import anyio

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from connectome.errors import ColumnError
from connectome.schema import ID_DTYPE
from connectome.store import read_manifest

from ..auth import Principal
from ..cache import CacheKey
from ..deps import DataDep, PrincipalDep, ServiceDep
from ..encoding import model_bytes
from ..errors import ApiError
from ..integrity import read_frame
from ..jobs import JOB_ID_PATTERN, JobRecord
from ..pagination import check_limit, cursor_scope, decode_cursor, encode_cursor
from ..responses import ERRORS, dataset_version, json_response
from ..schemas import JobInfo, ModelInfo, ModelList, PredictionPage, SignificanceRequest, TrainRequest
from ..service import Service
from .jobs import job_response

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/datasets", tags=["jobs", "models"], responses=ERRORS)
_NOT_TRAINED = {409: {"model": ERRORS[400]["model"], "description": "the model's training job has not succeeded"}}

ModelId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="a model id (the id of its training job)")]


def _check_label(path: Any, field: str, column: str) -> None:
    """Refuse, before a job starts, a node label the dataset does not have."""
    m, _ = read_manifest(path)
    nodes = m.tables.get("nodes")
    columns = [c for c in (nodes.columns if nodes else {}) if c != "root_id"]
    if column not in columns:
        raise ApiError(400, "unknown_column", f"{field}: {ColumnError('nodes', column, columns)}", field=field,
                       value=column)


def check_node_columns(service: Service, name: str, checks: list[tuple[str, str | None]]) -> None:
    """Refuse, before a job is recorded, node columns dataset ``name`` does not have.

    Reads only the store's manifest (no table is loaded), so that it may run in a request.
    ``checks`` are ``(field, column)`` pairs; a ``None`` column is not checked.

    Raises
    ------
    ApiError
        400 ``unknown_column`` naming the field and the close column names.
    """
    wanted = [(f, col) for f, col in checks if col is not None]
    if not wanted:
        return
    m, _ = read_manifest(service.catalog.store_path(name, build=False))
    nodes = m.tables.get("nodes")
    columns = [c for c in (nodes.columns if nodes else {}) if c != "root_id"]
    for field, column in wanted:
        if column not in columns:
            raise ApiError(400, "unknown_column", f"{field}: {ColumnError(f'nodes of {name}', column, columns)}",
                           field=field, value=column)


async def submit_job(kind: str, acc: DataDep, service: Service, who: Any, params: dict[str, Any],
                  out: str | None = None, label: tuple[str, str] | None = None, reuse: bool = False,
                  prepare: Callable[[], dict[str, Any]] | None = None) -> Response:
    """Submit a job of ``kind`` (202), or answer an identical succeeded one (200, with ``reuse``).

    ``params`` are what the client asked (stored and shown, with the dataset version);
    ``prepare``, when given, runs in a thread before the job is recorded and returns the
    parameters the worker gets instead: it does only cheap checks (options, column names in
    the manifest) and leaves the resolution of neuron sets, labels and profiles to the job
    itself. A request it refuses starts nothing. The job limits are checked first
    (:meth:`JobManager.admit`): a token at its limit is answered 429 before any work.
    """
    await anyio.to_thread.run_sync(service.jobs.admit, who)
    version = await dataset_version(service, acc.name, service.settings.query_timeout_s)

    def submit() -> tuple[JobRecord, int]:  # a thread: manifest read, database transaction
        path = service.catalog.store_path(acc.name, build=False)
        if label is not None:
            _check_label(path, *label)
        shown = {**params, "version": version}
        if reuse:  # deterministic jobs: the same request on the same dataset version has the same result
            done = service.jobs.store.find_succeeded(kind, acc.name, shown, who.user)
            if done is not None:
                return done, 200
        worker = prepare() if prepare is not None else params
        spec = {"store": str(path), "version": version, "params": worker, "out": out}
        return service.jobs.submit(kind, acc.name, shown, who, spec), 202

    job, status = await anyio.to_thread.run_sync(submit)
    return job_response(job, status=status)


@router.post("/{name}/significance", status_code=202, response_model=JobInfo,
             responses={200: {"model": JobInfo, "description": "the same request already succeeded on this "
                                                               "dataset version: that job (seeded, deterministic)"}},
             summary="Start a job: triad motif significance against a null model")
async def significance(acc: DataDep, service: ServiceDep, who: PrincipalDep, req: SignificanceRequest) -> Response:
    params = req.model_dump()
    if req.null != "block":
        params.pop("by")
        params.pop("unlabelled")
    return await submit_job("significance", acc, service, who, params,
                         label=("by", req.by) if req.null == "block" else None, reuse=True)


@router.post("/{name}/models", status_code=202, response_model=JobInfo,
             summary="Start a job: train a GNN cell-type model (its id is the job id)")
async def train(acc: DataDep, service: ServiceDep, who: PrincipalDep, req: TrainRequest) -> Response:
    params = req.model_dump(exclude_none=True)
    return await submit_job("train", acc, service, who, params, out=str(service.settings.models_dir),
                         label=("label", req.label))


def _model(service: Service, who: Principal, dataset: str, model_id: str) -> JobRecord:
    """A trained model of ``dataset`` that ``who`` may use: its trainer's, or any for admins (as jobs)."""
    job = service.jobs.store.get(model_id)
    if job is None or job.kind != "train" or job.dataset != dataset:
        raise ApiError(404, "model_not_found", f"no model {model_id!r} of dataset {dataset!r}", field="model_id")
    if job.user != who.user and not who.admin:
        raise ApiError(403, "forbidden", f"model {model_id!r} belongs to another user", field="model_id")
    if job.state != "succeeded":
        raise ApiError(409, f"job_{job.state}", f"model {model_id} is not trained yet ({job.state}); poll "
                       f"GET /v1/jobs/{model_id}", field="model_id")
    return job


def _model_info(service: Service, job: JobRecord) -> ModelInfo:
    try:
        result = json.loads(service.jobs.read_result(job.id))
    except ApiError as exc:  # a missing or damaged result file: the model is listed without metrics
        logger.warning("model %s: %s", job.id, exc.message)
        result = {}
    return ModelInfo(id=job.id, dataset=job.dataset or "", params=job.params, metrics=result.get("metrics"),
                     created=job.created, finished=job.finished)


def job_table(service: Service, job_id: str, path: FilePath, checksum_key: str, what: str, code: str,
              remedy: str, field: str = "job_id") -> Any:
    """A table a job wrote beside its result, checked against the checksum the result recorded.

    ``what`` names the table in messages ("the predictions of model X"), ``code`` prefixes the
    error codes, ``remedy`` says what to do.

    Raises
    ------
    ApiError
        410 ``<code>_missing`` or ``<code>_corrupt`` (never a 500, never a damaged table).
    """
    import hashlib

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ApiError(410, f"{code}_missing", f"{what} are missing on the server; {remedy}", field=field) from None
    expected = json.loads(service.jobs.read_result(job_id)).get(checksum_key)
    damaged = expected is not None and hashlib.sha256(raw).hexdigest() != expected
    if not damaged:
        try:
            df = read_frame(raw)
        except Exception as exc:  # not Parquet (tables saved before checksums were recorded)
            logger.error("%s: unreadable: %s", what, exc)
            damaged = True
    if damaged:
        raise ApiError(410, f"{code}_corrupt", f"{what} are damaged on the server (truncated or edited); {remedy}",
                       field=field)
    return df


def model_predictions(service: Service, job: JobRecord) -> Any:
    """The predictions table of a trained model, checked against the checksum its job recorded.

    Raises
    ------
    ApiError
        410 ``predictions_missing`` or ``predictions_corrupt`` (never a 500, never a damaged table).
    """
    return job_table(service, job.id, service.model_dir(job.id) / "predictions.parquet", "predictions_sha256",
                     f"the predictions of model {job.id}", "predictions", "train the model again", field="model_id")


@router.get("/{name}/models", response_model=ModelList, summary="Trained models of a dataset")
async def list_models(acc: DataDep, service: ServiceDep, who: PrincipalDep) -> Response:
    def work() -> ModelList:
        jobs = service.jobs.store.list(user=None if who.admin else who.user, dataset=acc.name, kind="train",
                                       state="succeeded", limit=1000)
        return ModelList(models=[_model_info(service, j) for j in jobs])

    return json_response(await anyio.to_thread.run_sync(work))


@router.get("/{name}/models/{model_id}", response_model=ModelInfo, responses=_NOT_TRAINED,
            summary="One trained model and its metrics")
async def get_model(acc: DataDep, service: ServiceDep, who: PrincipalDep, model_id: ModelId) -> Response:
    job = _model(service, who, acc.name, model_id)
    return json_response(await anyio.to_thread.run_sync(_model_info, service, job))


@router.get("/{name}/models/{model_id}/predictions", response_model=PredictionPage, responses=_NOT_TRAINED,
            summary="Predictions of a model for every neuron of the dataset, paged")
async def predictions(acc: DataDep, service: ServiceDep, who: PrincipalDep, model_id: ModelId,
                      limit: Annotated[int, Query(ge=1)] = 100,
                      cursor: Annotated[str | None, Query(max_length=512)] = None) -> Response:
    job = _model(service, who, acc.name, model_id)
    check_limit(limit, service.settings.max_page_size)
    scope = cursor_scope(model_id, {"dataset": acc.name})
    offset = decode_cursor(cursor, scope)
    key = CacheKey(acc.name, f"model-{model_id}", "predictions", {"offset": offset, "limit": limit})

    def page() -> bytes:
        body = service.cache.get(key)
        if body is not None:
            return body
        df = model_predictions(service, job)
        part = df.iloc[offset:offset + limit].copy()
        if "root_id" in part.columns:
            part["root_id"] = [str(int(v)) for v in part["root_id"].to_numpy(dtype=ID_DTYPE).tolist()]
        nxt = encode_cursor(offset + limit, scope) if offset + limit < len(df) else None
        body = model_bytes(PredictionPage, {"dataset": acc.name, "model": model_id, "total": int(len(df)),
                                            "columns": [str(c) for c in df.columns], "rows": part,
                                            "next_cursor": nxt})
        service.cache.put(key, body)
        return body

    return json_response(await anyio.to_thread.run_sync(page))
