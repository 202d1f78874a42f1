"""Neuroglancer links for results, and the stored states they point to.

Links are built by :mod:`connectome.neuroglancer`; long states go to the
service's content-addressed state store (``<data_root>/states``) and the link
loads them from ``GET /v1/states/{id}`` on this service. That route (and the
segment-properties files next to it) needs no token — Neuroglancer fetches it
from the browser — and answers with CORS headers; ids are SHA-256 hashes of the
state, so only holders of a link find a state.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

import connectome as cx
from connectome.errors import ColumnError, InputError
from connectome.neuroglancer import StateStore, collect_warnings, parse_link
from connectome.neuroglancer.sources import KNOWN_DATASETS
from connectome.neuroglancer.statestore import StateNotFoundError

from ..deps import DataDep, PrincipalDep, ServiceDep
from ..errors import ApiError
from ..jobs import JOB_ID_PATTERN
from ..responses import ERRORS, dataset_version, json_response
from ..schemas import ErrorResponse, Link, LinkRequest, ViewerSource
from ..service import Service
from .models import _model, model_predictions

router = APIRouter(prefix="/v1", tags=["neuroglancer"])

StateId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the state's canonical JSON")]
_CORS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=31536000, immutable"}
_NOT_FOUND = {404: {"model": ErrorResponse, "description": "no such state"},
              400: {"model": ErrorResponse, "description": "not a state id"}}


def state_store(service: Service) -> Any:
    """The service's state store, served at ``<base_url>/v1/states``."""
    return StateStore(service.settings.states_dir, base_url=service.settings.base_url + "/v1/states")


def link_response(service: Service, built: tuple[str, list[str]]) -> Link:
    """``{url, state_id, state_url, warnings}``; the state fields are set when the state was stored here."""
    url, warnings = built
    parsed = parse_link(url)
    base = service.settings.base_url + "/v1/states/"
    if parsed.state_url and parsed.state_url.startswith(base):
        return Link(url=url, state_id=parsed.state_url[len(base):], state_url=parsed.state_url, warnings=warnings)
    return Link(url=url, warnings=warnings)


def build_link(fn: Any, *args: Any, source: str | None, **kwargs: Any) -> tuple[str, list[str]]:
    """Call a link builder: the link and its warnings; names the request's ``source`` field when no volume
    is known."""
    try:
        with collect_warnings() as warnings:
            url = fn(*args, dataset=source, **kwargs)
        return url, warnings
    except InputError as exc:
        if exc.parameter == "dataset":
            raise ApiError(400, "no_volume", "source: no image or segmentation volume is known for this dataset "
                           f"(its manifest names no known datastack); send source: a known dataset ({', '.join(KNOWN_DATASETS)}, e.g. 'flywire:783') "
                           "or a source URL such as precomputed://gs://bucket/seg", field="source") from None
        raise


@router.post("/datasets/{name}/links", response_model=Link, responses=ERRORS,
             summary="A Neuroglancer link showing neurons (by root id or by labels), coloured by a label")
async def make_link(acc: DataDep, service: ServiceDep, req: LinkRequest) -> Response:
    import anyio

    await dataset_version(service, acc.name, service.settings.max_query_timeout_s)  # builds a buildable dataset

    def work() -> Link:
        c = service.catalog.load(acc.name)[0]
        if req.root_ids is not None:
            ids = [int(i) for i in req.root_ids]
        else:
            labels = dict(req.select or {})
            known = [col for col in c.label_columns if col not in ("query", "c")]
            for col in labels:
                if col not in known:  # only plain label columns: never an expression

                    err = ColumnError("nodes", col, known)
                    raise ApiError(400, "unknown_column", f"select: {err}", field="select", value=col)
            ids = cx.ids_of(c, **labels)  # nothing matching: LabelError (400) naming close values and columns
        url = build_link(cx.neuroglancer.link, c, ids, source=req.source, color_by=req.color_by,
                         store=state_store(service), max_length=0 if req.store else None)
        return link_response(service, url)

    return json_response(await anyio.to_thread.run_sync(work))


@router.get("/states/{state_id}", response_model=dict, responses=_NOT_FOUND,
            summary="A stored Neuroglancer state (no token: Neuroglancer fetches it by json_url)")
async def get_state(state_id: StateId, service: ServiceDep) -> Response:
    body = await _read_state(service, "read_bytes", state_id, "state")
    return Response(body, media_type="application/json", headers=_CORS)


@router.get("/states/segment_properties/{properties_id}/info", response_model=dict, responses=_NOT_FOUND,
            summary="Segment properties (labels shown in the viewer) referenced by stored states")
async def get_segment_properties(properties_id: StateId, service: ServiceDep) -> Response:
    body = await _read_state(service, "read_properties", properties_id, "segment properties")
    return Response(body, media_type="application/json", headers=_CORS)


async def _read_state(service: Service, method: str, sid: str, what: str) -> bytes:
    """A stored state file (off the event loop); 404 naming only the id, never a server path."""
    import anyio

    try:
        return await anyio.to_thread.run_sync(getattr(state_store(service), method), sid)
    except StateNotFoundError:
        raise ApiError(404, "not_found", f"no {what} {sid} on this service; make the link again",
                       field="state_id" if what == "state" else "properties_id") from None


ModelId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="a model id (the id of its training job)")]
SourceQ = Annotated[ViewerSource | None, Query(description="volume to show: flywire, microns or a source URL "
                                                            "(default: known from the dataset)")]


@router.get("/datasets/{name}/models/{model_id}/link", response_model=Link, responses=ERRORS,
            summary="A Neuroglancer link with neurons coloured by predicted type (and the disagreements)")
async def prediction_link(acc: DataDep, service: ServiceDep, who: PrincipalDep, model_id: ModelId,
                          source: SourceQ = None,
                          only_disagreements: Annotated[bool, Query()] = False,
                          min_probability: Annotated[float | None, Query(ge=0, le=1)] = None) -> Response:
    import anyio

    job = _model(service, who, acc.name, model_id)
    label = job.params.get("label")

    def work() -> Link:
        c = service.catalog.load(acc.name)[0]
        pred = model_predictions(service, job)
        truth = label if label in c.label_columns else None
        url = build_link(cx.neuroglancer.prediction_link, c, pred, source=source, truth=truth,
                         only_disagreements=only_disagreements, min_probability=min_probability,
                         store=state_store(service))
        return link_response(service, url)

    return json_response(await anyio.to_thread.run_sync(work))
