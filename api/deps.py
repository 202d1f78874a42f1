"""FastAPI dependencies: the service, the caller (bearer token), dataset access.

``401`` when a request carries no token or an invalid/revoked one (with
``WWW-Authenticate: Bearer``); ``403`` when the caller may not read (or write)
a dataset, or has not accepted its data-use terms. Tokens are never logged.

Examples
--------
>>> bearer_token("Bearer cx_abc")
'cx_abc'
>>> bearer_token("Basic dXNlcjpwYXNz") is None
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .auth import DatasetPolicy, Principal
from .catalog import DatasetRecord
from .errors import ApiError, error_body
from .schemas import NAME_PATTERN
from .service import Service

logger = logging.getLogger(__name__)

__all__ = ["AuthMiddleware", "PUBLIC_PREFIXES", "get_service", "current_principal", "readable_dataset", "data_dataset", "writable_name",
           "DatasetAccess", "ServiceDep", "PrincipalDep", "DatasetName"]

_bearer = HTTPBearer(auto_error=False, description="a token from `connectome token create USER`")

DatasetName = Annotated[str, Path(pattern=NAME_PATTERN, description="dataset name (see GET /v1/datasets)")]


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header value."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def get_service(request: Request) -> Service:
    """The app's :class:`~connectome.api.service.Service`."""
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message, field="Authorization",
                    headers={"WWW-Authenticate": 'Bearer realm="connectome"'})


async def current_principal(request: Request, service: ServiceDep,
                            creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The caller behind the bearer token (401 otherwise)."""
    known = getattr(request.state, "principal", None)
    if known is not None:  # already checked by AuthMiddleware
        return known
    if creds is None:
        raise _unauthenticated("this endpoint needs a bearer token: send 'Authorization: Bearer <token>' "
                               "(create one with `connectome token create USER`)")
    who = service.tokens.authenticate(creds.credentials)
    if who is None:
        raise _unauthenticated(service.tokens.refusal(creds.credentials))  # says so when it expired
    request.state.principal = who
    return who


PrincipalDep = Annotated[Principal, Depends(current_principal)]


@dataclass
class DatasetAccess:
    """A dataset the caller may use, with its record and policy."""

    record: DatasetRecord
    policy: DatasetPolicy
    who: Principal

    @property
    def name(self) -> str:
        return self.record.name


def _not_found(service: Service, who: Principal, name: str) -> ApiError:
    """404 naming only datasets the caller may see (never another user's private names)."""
    import difflib

    policies = service.policies.policies()
    visible = [n for n in service.catalog.records()
               if service.policies.can_read(who, n, policies.get(n, DatasetPolicy(n)))]
    close = difflib.get_close_matches(name, visible, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ApiError(404, "dataset_not_found", f"unknown dataset {name!r}{hint} (GET /v1/datasets lists them)",
                    field="name")


def _visible(service: Service, who: Principal, name: str) -> DatasetAccess:
    """The dataset, if the caller may see it; a private dataset of someone else is answered exactly as an
    unknown name (404), so that its name does not leak."""
    records = service.catalog.records()
    policy = service.policies.policy(name)
    if name not in records or not service.policies.can_read(who, name, policy):
        raise _not_found(service, who, name)
    return DatasetAccess(records[name], policy, who)


# The dependencies below are plain functions: FastAPI runs them in its thread pool, so a catalog scan or a
# slow database never blocks the event loop.
def readable_dataset(name: DatasetName, service: ServiceDep, who: PrincipalDep) -> DatasetAccess:
    """A dataset the caller may see (metadata; terms not required)."""
    return _visible(service, who, name)


def data_dataset(name: DatasetName, service: ServiceDep, who: PrincipalDep) -> DatasetAccess:
    """A dataset whose data the caller may read: visible, and its terms accepted."""
    acc = _visible(service, who, name)
    if service.policies.terms_pending(who, acc.policy):
        where = f" ({acc.policy.terms_url})" if acc.policy.terms_url else ""
        raise ApiError(403, "terms_not_accepted",
                       f"dataset {name!r} has data-use terms{where}; read them at GET /v1/datasets/{name} and accept "
                       f"them with POST /v1/datasets/{name}/terms", field="name")
    return acc


def writable_name(name: DatasetName, service: ServiceDep, who: PrincipalDep) -> str:
    """A dataset name the caller may write (ingest into): new, owned, granted ``write``, or admin."""
    policy = service.policies.policy(name)
    exists = name in service.catalog.records()
    if not exists and policy.owner is None and not policy.private:
        return name  # a new name: whoever ingests it owns it
    if not service.policies.can_read(who, name, policy):  # the same words whether or not it exists
        raise ApiError(403, "forbidden", f"the dataset name {name!r} is not available to you; ingest under "
                       "another name", field="name")
    if not service.policies.can_write(who, name, policy):
        raise ApiError(403, "forbidden", f"you may read {name!r} but not write it; ask its owner or an admin for "
                       "write access, or ingest under a new name", field="name")
    return name


#: Paths served without a token: liveness, the API description, stored Neuroglancer states.
PUBLIC_PREFIXES = ("/v1/health", "/v1/states/", "/openapi.json", "/docs", "/redoc")


class AuthMiddleware:
    """ASGI middleware: refuse requests without a valid bearer token (401) before anything else.

    Runs before routing and body parsing, so an unauthenticated request gets
    401 whatever its path or body; public paths (:data:`PUBLIC_PREFIXES`) pass.
    The principal is left in the request state for :func:`current_principal`.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") == "OPTIONS" or \
                any(scope.get("path", "").startswith(p) for p in PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        header = None
        for k, v in scope.get("headers", ()):
            if k == b"authorization":
                header = v.decode("latin-1")
                break
        token = bearer_token(header)
        if token is None:
            err = _unauthenticated("this endpoint needs a bearer token: send 'Authorization: Bearer <token>' "
                                   "(create one with `connectome token create USER`)")
        else:
            service: Service = scope["app"].state.service
            who = service.tokens.authenticate(token)
            if who is not None:
                scope.setdefault("state", {})["principal"] = who
                await self.app(scope, receive, send)
                return
            err = _unauthenticated(service.tokens.refusal(token))  # says so when it expired
        import json

        raw = json.dumps(error_body(err.code, err.message, err.field)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": raw})


ReadableDep = Annotated[DatasetAccess, Depends(readable_dataset)]
DataDep = Annotated[DatasetAccess, Depends(data_dataset)]
WritableDep = Annotated[str, Depends(writable_name)]
