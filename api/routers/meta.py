"""Service routes: health (public) and who am I."""

from __future__ import annotations

from fastapi import APIRouter

from ..deps import PrincipalDep, ServiceDep
from ..responses import ERRORS
from ..schemas import Health, WhoAmI

router = APIRouter(prefix="/v1", tags=["service"])


@router.get("/health", response_model=Health, summary="Liveness and where jobs run (no token needed)")
async def health(service: ServiceDep) -> Health:
    from connectome import __version__

    running = service.jobs.running
    return Health(status="ok" if running else "starting", version=__version__, jobs=service.jobs.describe())


@router.get("/whoami", response_model=WhoAmI, responses=ERRORS, summary="The user behind the bearer token")
async def whoami(who: PrincipalDep) -> WhoAmI:
    return WhoAmI(user=who.user, token_id=who.token_id, admin=who.admin)
