"""Jobs: status and progress, result, cancel, list (the caller's own; admins see all)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from ..auth import Principal
from ..deps import PrincipalDep, ServiceDep
from ..errors import ApiError, public_message
from ..jobs import JOB_ID_PATTERN, JobRecord
from ..pagination import check_limit
from ..responses import ERRORS, json_response
from ..schemas import ErrorDetail, JobInfo, JobList
from ..service import Service

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERRORS)

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="a job id (job_ + 32 hex digits)")]


def job_info(job: JobRecord) -> JobInfo:
    """The public view of a job record."""
    err = None
    if job.state == "failed":
        err = ErrorDetail(code=job.error_code or "job_failed",
                          message=public_message(job.error_message or "the job failed"))
    return JobInfo(id=job.id, kind=job.kind, dataset=job.dataset, state=job.state, progress=job.progress,
                   message=job.message, params=job.params, attempts=job.attempts, created=job.created,
                   started=job.started, finished=job.finished, error=err, time_limit_s=job.time_limit_s,
                   result_url=f"/v1/jobs/{job.id}/result" if job.state == "succeeded" else None)


def job_response(job: JobRecord, status: int = 200) -> Response:
    """A job as JSON (202 with ``Location`` for a new job)."""
    headers = {"Location": f"/v1/jobs/{job.id}"} if status == 202 else None
    return json_response(job_info(job), status=status, headers=headers)


def owned_job(service: Service, who: Principal, job_id: str) -> JobRecord:
    """A job of the caller (or any job, for admins)."""
    job = service.jobs.store.get(job_id)
    if job is None:
        raise ApiError(404, "job_not_found", f"no job {job_id!r}", field="job_id")
    if job.user != who.user and not who.admin:
        raise ApiError(403, "forbidden", f"job {job_id!r} belongs to another user", field="job_id")
    return job


def job_access(service: Service, who: Principal, job: JobRecord) -> None:
    """Check that the caller may still read the data of every dataset a job's result shows.

    The one access check of every route that returns a job's result or pages of it
    (``GET /v1/jobs/{id}/result`` and the paged ``GET /v1/datasets/{name}/<kind>/{job_id}``): access
    is checked now, not when the job was submitted, so a revoked grant (or data-use terms not
    accepted) hides results computed before. The dataset of the job and, for a match across two
    datasets, ``other``.

    Raises
    ------
    ApiError
        404 ``dataset_not_found`` (no longer readable: the same answer as for an unknown name) or 403
        ``terms_not_accepted``; for the second dataset of a match the message starts ``other:``.
    """
    from ..deps import data_dataset

    if job.dataset:
        data_dataset(job.dataset, service, who)
    other = job.params.get("other") if isinstance(job.params, dict) else None
    if isinstance(other, str) and other:
        try:
            data_dataset(other, service, who)
        except ApiError as exc:
            raise ApiError(exc.status, exc.code, f"other: {exc.message}", field="other", headers=exc.headers) from None


@router.get("", response_model=JobList, summary="The caller's jobs (an admin's: everyone's), newest first")
async def list_jobs(
    service: ServiceDep, who: PrincipalDep,
    state: Annotated[Literal["queued", "running", "succeeded", "failed", "cancelled"] | None, Query()] = None,
    kind: Annotated[Literal["cluster", "ingest", "layers", "match", "significance", "train"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    check_limit(limit, service.settings.max_page_size)
    jobs = service.jobs.store.list(user=None if who.admin else who.user, state=state, kind=kind, limit=limit,
                                   offset=offset)
    return json_response(JobList(jobs=[job_info(j) for j in jobs]))


@router.get("/{job_id}", response_model=JobInfo, summary="State and progress of a job")
async def get_job(job_id: JobId, service: ServiceDep, who: PrincipalDep) -> Response:
    return job_response(owned_job(service, who, job_id))


@router.get("/{job_id}/result", response_model=dict[str, Any], summary="The result of a finished job",
            responses={409: {"model": ERRORS[400]["model"], "description": "the job has not succeeded"}})
async def job_result(job_id: JobId, service: ServiceDep, who: PrincipalDep) -> Response:
    job = owned_job(service, who, job_id)
    if job.state != "succeeded":
        detail = f": {job.error_code}: {job.error_message}" if job.state == "failed" else ""
        raise ApiError(409, f"job_{job.state}", f"job {job_id} is {job.state}{detail}; poll GET /v1/jobs/{job_id}",
                       field="job_id", state=job.state)
    import anyio

    def result() -> bytes:
        job_access(service, who, job)
        return service.jobs.read_result(job_id)

    return json_response(await anyio.to_thread.run_sync(result))


@router.post("/{job_id}/cancel", response_model=JobInfo, summary="Cancel a queued or running job")
async def cancel_job(job_id: JobId, service: ServiceDep, who: PrincipalDep) -> Response:
    owned_job(service, who, job_id)
    import anyio

    job = await anyio.to_thread.run_sync(service.jobs.cancel, job_id)
    return job_response(job)
