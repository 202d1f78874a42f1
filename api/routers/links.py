"""Neuroglancer: stored states served at ``/v1/states/{id}`` (public, content-addressed, CORS)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from ..deps import ServiceDep
from ..schemas import ErrorResponse

router = APIRouter(prefix="/v1", tags=["neuroglancer"])

StateId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the state's canonical JSON")]
_CORS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=31536000, immutable"}
_NOT_FOUND = {404: {"model": ErrorResponse, "description": "no such state"},
              400: {"model": ErrorResponse, "description": "not a state id"}}


@router.get("/states/{state_id}", response_model=dict, responses=_NOT_FOUND,
            summary="A stored Neuroglancer state (no token: Neuroglancer fetches it by json_url)")
async def get_state(state_id: StateId, service: ServiceDep) -> Response:
    from connectome.neuroglancer.statestore import state_bytes

    body = state_bytes(state_id, service.settings.states_dir)
    return Response(body, media_type="application/json", headers=_CORS)
