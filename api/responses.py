"""Helpers shared by the routers: JSON responses, cached computations, time budgets.

Examples
--------
>>> budget(None, default=10.0, maximum=60.0), budget(5, default=10.0, maximum=60.0)
(10.0, 5.0)
>>> budget(120, default=10.0, maximum=60.0)
Traceback (most recent call last):
...
connectome.api.errors.ApiError: timeout_s: 120 s is above the server's maximum time budget of 60 s
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel

from .cache import CacheKey
from .encoding import dumps, model_bytes
from .errors import ApiError, error_from_exception
from .schemas import ErrorResponse
from .service import Service

logger = logging.getLogger(__name__)

__all__ = ["json_response", "cached", "cached_response", "cached_error", "budget", "dataset_version", "query_start",
           "ERRORS"]


def json_response(body: bytes | BaseModel | Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response from encoded bytes, a response model, or a plain value to encode."""
    if isinstance(body, bytes):
        raw = body
    elif isinstance(body, BaseModel):
        raw = body.model_dump_json().encode()
    else:
        raw = dumps(body)
    return Response(content=raw, status_code=status, media_type="application/json", headers=headers)


def budget(timeout_s: float | None, default: float, maximum: float) -> float:
    """The time budget of a request: its ``timeout_s``, else the default; never above the maximum."""
    if timeout_s is None:
        return float(default)
    if timeout_s > maximum:
        raise ApiError(400, "invalid_parameter", f"timeout_s: {timeout_s:g} s is above the server's maximum time "
                       f"budget of {maximum:g} s", field="timeout_s")
    return float(timeout_s)


async def dataset_version(service: Service, name: str, budget_s: float) -> str:
    """The live version of ``name``; a buildable dataset is built first (in the compute pool)."""
    version = service.catalog.version(name, build=False)
    if version is not None:
        return version
    return await service.compute.run(("build", name), lambda: service.catalog.version(name, build=True), budget_s)


async def cached(service: Service, key: CacheKey, compute: Callable[[], Any], budget_s: float,
                 model: type[BaseModel] | None = None, cheap: bool = False) -> tuple[bytes, bool]:
    """The encoded result for ``key``: from the cache, or computed once (shared by identical requests).

    With ``model`` (the route's response model) the computed value is validated
    against it before it is encoded and cached: the bytes served, now and from
    the cache later, are the model's. ``cheap=True`` (small, bounded work) lets
    the computation use the compute pool's cheap threads too.

    Returns
    -------
    (bytes, bool)
        The JSON body and whether it came from the cache.
    """
    hit = service.cache.get(key)
    if hit is not None:
        return hit, True
    known = service.cache.get_error(key, budget_s)
    if known is not None:
        raise cached_error(*known)

    def work() -> bytes:
        again = service.cache.get(key)
        if again is not None:
            return again
        try:
            value = compute()
            body = model_bytes(model, value) if model is not None else dumps(value)
        except Exception as exc:
            status, err = error_from_exception(exc)
            if 400 <= status < 500:  # final for this budget: a client retrying after 503 reaches this error
                service.cache.put_error(key, status, err, getattr(exc, "headers", None), budget_s=budget_s)
            raise
        service.cache.put(key, body)
        return body

    return await service.compute.run(key.id, work, budget_s, cheap=cheap), False


async def query_start(service: Service, name: str, timeout_s: float | None) -> tuple[float, str]:
    """A synchronous query's time budget (its ``timeout_s`` within the server's limits) and the dataset's
    live version (a buildable dataset is built first)."""
    s = service.settings
    b = budget(timeout_s, s.query_timeout_s, s.max_query_timeout_s)
    return b, await dataset_version(service, name, b)


async def cached_response(service: Service, key: CacheKey, compute: Callable[[], Any], budget_s: float,
                          model: type[BaseModel] | None = None, cheap: bool = False) -> Response:
    """:func:`cached`, answered as JSON with ``X-Cache: hit|miss``."""
    body, hit = await cached(service, key, compute, budget_s, model=model, cheap=cheap)
    return json_response(body, headers={"X-Cache": "hit" if hit else "miss"})


def cached_error(status: int, body: dict[str, Any], headers: dict[str, str]) -> ApiError:
    """An :class:`ApiError` that answers exactly as the remembered error did."""
    err = dict(body["error"])
    code, message, field = err.pop("code"), err.pop("message"), err.pop("field", None)
    return ApiError(status, code, message, field=field, headers=headers or None, **err)


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


#: Error responses documented on every authenticated route.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("invalid input (code names the problem, field names the parameter)"),
    401: _err("no bearer token, or an invalid or revoked one"),
    403: _err("no access to this dataset or job, or its data-use terms are not accepted"),
    404: _err("no such dataset, job, model or state"),
    413: _err("request body too large"),
    429: _err("too many jobs, requests or queued computations for this token (Retry-After)"),
    503: _err("overloaded, still computing or starting (Retry-After)"),
}
