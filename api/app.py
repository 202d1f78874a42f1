"""The FastAPI application: :func:`create_app`.

The app opens its :class:`~connectome.api.service.Service` when it starts (the data
root, the SQLite database, the Dask cluster, recovery of unfinished jobs) and
closes it when it stops. Creating the app does neither: nothing happens at
import time or in :func:`create_app`.

Run it with ``connectome serve`` (uvicorn on 127.0.0.1:8000 by default), or
``uvicorn --factory connectome.api.app:create_app`` (settings from ``CONNECTOME_API_*``).

Examples
--------
>>> import tempfile
>>> from connectome.api.settings import Settings
>>> app = create_app(Settings(data_root=tempfile.mkdtemp(), cluster="threads"))
>>> schema = app.openapi()
>>> schema["info"]["title"], "/v1/datasets/{name}/triad-census" in schema["paths"]
('connectome-service', True)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI

from connectome import __version__
from connectome.config import data_home

from .deps import AuthMiddleware
from .errors import install_handlers, set_redactions
from .limits import LimitsMiddleware
from .logs import install_log_redaction
from .routers import datasets, jobs, links, meta, models, motifs, pathways, similarity, statistics
from .service import Service
from .settings import Settings

logger = logging.getLogger(__name__)

__all__ = ["create_app", "API_DESCRIPTION"]

API_DESCRIPTION = """
Connectome analysis over HTTP: datasets, statistics, triad census, DotMotif queries, cell-type
connectivity, null-model significance and GNN training as jobs, predictions and Neuroglancer links.

Every route except `/v1/health` and `/v1/states/{id}` needs `Authorization: Bearer <token>`
(`connectome token create USER`). Root ids are strings. Errors are
`{"error": {"code", "message", "field", ...}}` with a stable `code`.
"""


def create_app(settings: Settings | None = None) -> Any:
    """Build the FastAPI app (settings from the environment when not given).

    Parameters
    ----------
    settings : Settings, optional
        Default: :meth:`Settings.from_env`.

    Returns
    -------
    fastapi.FastAPI
    """
    settings = settings or Settings.from_env()

    set_redactions([(settings.data_root, "<data root>"), (settings.data_root.resolve(), "<data root>"),
                    (data_home(), "<data home>"), (data_home().resolve(), "<data home>")])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_log_redaction()  # after uvicorn configured its loggers
        service = Service(settings).open()
        app.state.service = service
        try:
            await anyio.to_thread.run_sync(service.start_jobs)
            logger.info("connectome service ready on %s (data root %s)", settings.base_url, settings.data_root)
            yield
        finally:
            await anyio.to_thread.run_sync(service.close)

    app = FastAPI(title="connectome-service", version=__version__, description=API_DESCRIPTION,
                  lifespan=lifespan)
    app.state.settings = settings
    install_handlers(app)
    for module in (meta, datasets, statistics, motifs, pathways, jobs, models, links):
        app.include_router(module.router)
    app.include_router(similarity.router)
    # the last added runs first: authentication, then the limits (which then know the caller's token)
    app.add_middleware(LimitsMiddleware, max_body_bytes=settings.max_body_bytes, max_inflight=settings.max_inflight,
                       max_inflight_per_token=settings.max_inflight_per_token,
                       body_timeout_s=settings.body_timeout_s)
    app.add_middleware(AuthMiddleware)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: Any) -> dict[str, Any]:
    """FastAPI's schema, minus its default 422 answers: this service answers invalid input with 400."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            responses = op.get("responses", {})
            r422 = responses.get("422")
            if r422 and "HTTPValidationError" in str(r422):
                del responses["422"]
    comps = schema.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in str(schema.get("paths")):
        comps.pop("HTTPValidationError", None)
        comps.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema
