"""Paged tables of finished jobs (flow layers, clusters, matches): the job check, cursor and cache in one place.

A job's table is read at ``GET /v1/datasets/{name}/{kind}/{job_id}``. :func:`finished_job` answers
404 for a job of another kind or dataset and 409 while it is not done; :func:`job_page` checks the
page size, decodes the cursor, and serves each page from the cache or builds it once, off the
event loop. The route supplies only what its page holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi.responses import Response

from ..cache import CacheKey
from ..errors import ApiError
from ..jobs import JobRecord
from ..pagination import check_limit, cursor_scope, decode_cursor, encode_cursor
from ..responses import json_response
from ..service import Service
from ..tasks import job_table_path
from .jobs import job_access, owned_job
from .models import job_table


def finished_job(service: Service, who: Any, dataset: str, job_id: str, kind: str) -> JobRecord:
    """The caller's succeeded ``kind`` job of ``dataset``.

    The caller must still be allowed to read the job's datasets (:func:`~connectome.api.routers.jobs.job_access`,
    the check ``GET /v1/jobs/{id}/result`` makes too).

    Raises
    ------
    ApiError
        404 ``job_not_found`` (another kind or dataset), 409 ``job_<state>`` while queued, running or failed,
        404 ``dataset_not_found`` when read access to one of its datasets was revoked.
    """
    job = owned_job(service, who, job_id)
    if job.kind != kind or job.dataset != dataset:
        raise ApiError(404, "job_not_found", f"no {kind} job {job_id!r} of dataset {dataset!r}", field="job_id")
    if job.state != "succeeded":
        detail = f": {job.error_code}: {job.error_message}" if job.state == "failed" else ""
        raise ApiError(409, f"job_{job.state}", f"{kind} job {job_id} is {job.state}{detail}; poll "
                       f"GET /v1/jobs/{job_id}", field="job_id", state=job.state)
    job_access(service, who, job)
    return job


@dataclass(frozen=True)
class PageSlice:
    """Which rows a page holds, and the job's result and table to take them from."""

    offset: int
    limit: int
    scope: str
    result: dict[str, Any]
    table: Any

    def rows(self, table: Any = None) -> Any:
        """This page's rows of ``table`` (default: the job's table)."""
        t = self.table if table is None else table
        return t.iloc[self.offset:self.offset + self.limit]

    def next_cursor(self, total: int) -> str | None:
        """The cursor of the next page, ``None`` on the last one."""
        return encode_cursor(self.offset + self.limit, self.scope) if self.offset + self.limit < total else None


async def job_page(service: Service, dataset: str, job_id: str, kind: str, limit: int, cursor: str | None,
                   key_params: dict[str, Any], build: Callable[[PageSlice], bytes]) -> Response:
    """A page of a finished job's table: ``build`` turns a :class:`PageSlice` into the reply's bytes.

    Pages are cached per job, offset, limit and ``key_params`` (the route's other query parameters).
    The table is checked against the checksum the job recorded (410 when missing or damaged).
    """
    check_limit(limit, service.settings.max_page_size)
    scope = cursor_scope(job_id, {"dataset": dataset})
    offset = decode_cursor(cursor, scope)
    key = CacheKey(dataset, f"job-{job_id}", kind, {"offset": offset, "limit": limit, **key_params})

    def page() -> bytes:
        body = service.cache.get(key)
        if body is None:
            result = json.loads(service.jobs.read_result(job_id))
            table = job_table(service, job_id, job_table_path(service.settings.results_dir, job_id, kind),
                              "table_sha256", f"the {kind} table of job {job_id}", kind, "submit the job again")
            body = build(PageSlice(offset, limit, scope, result, table))
            service.cache.put(key, body)
        return body

    return json_response(await anyio.to_thread.run_sync(page))
