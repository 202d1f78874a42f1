"""Service routes: health (public: liveness only), the service and its jobs backend, who am I."""

from __future__ import annotations

from fastapi import APIRouter

from connectome import __version__

from ..deps import PrincipalDep, ServiceDep
from ..responses import ERRORS
from ..schemas import Health, JobsBackend, ServiceInfo, WhoAmI

router = APIRouter(prefix="/v1", tags=["service"])


@router.get("/health", response_model=Health, summary="Liveness and version (no token needed)")
async def health(service: ServiceDep) -> Health:
    return Health(status="ok" if service.jobs.running else "starting", version=__version__)


@router.get("/service", response_model=ServiceInfo, responses=ERRORS,
            summary="The service and where jobs run (the scheduler address for admin tokens only)")
def service_info(service: ServiceDep, who: PrincipalDep) -> ServiceInfo:
    """A plain function: FastAPI runs it in a worker thread (asking the scheduler must not block the event loop)."""
    jobs = dict(service.jobs.describe())
    if not who.admin:  # whoever can reach the scheduler may run code as the service: admins only
        jobs.pop("scheduler", None)
    return ServiceInfo(status="ok" if service.jobs.running else "starting", version=__version__,
                       jobs=JobsBackend(**{k: v for k, v in jobs.items() if k in JobsBackend.model_fields}))


@router.get("/whoami", response_model=WhoAmI, responses=ERRORS, summary="The user behind the bearer token")
async def whoami(who: PrincipalDep) -> WhoAmI:
    return WhoAmI(user=who.user, token_id=who.token_id, admin=who.admin)
