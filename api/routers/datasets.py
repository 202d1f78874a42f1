"""Datasets: list, info, manifest, summary, cell-type connectivity, data-use terms, ingest jobs."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

import connectome as cx
from connectome.errors import ColumnError
from connectome.ingest.celegans import CELEGANS_DATASETS
from connectome.store import read_manifest

from ..auth import DatasetPolicy, Principal
from ..cache import CacheKey
from ..catalog import DatasetRecord
from ..deps import DataDep, PrincipalDep, ReadableDep, ServiceDep, WritableDep
from ..errors import ApiError, hide_paths
from ..jobs import JobRecord
from ..pagination import check_limit, cursor_scope, decode_cursor, encode_cursor
from ..responses import ERRORS, cached_response, dataset_version, json_response
from ..schemas import (
    DatasetInfo,
    DatasetItem,
    DatasetList,
    IngestRequest,
    JobInfo,
    Terms,
    TermsAccepted,
    TypePage,
)
from ..service import Service
from .jobs import job_response

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/datasets", tags=["datasets"], responses=ERRORS)


def _item(service: Service, who: Principal, rec: DatasetRecord, policy: DatasetPolicy, access: str) -> dict[str, Any]:
    terms = None
    if policy.terms_hash is not None:
        terms = Terms(text=policy.terms, url=policy.terms_url,
                      accepted=not service.policies.terms_pending(who, policy))
    return dict(name=rec.name, title=rec.title, species=rec.species, source=rec.source, nodes=rec.nodes,
                edges=rec.edges, location=rec.location, private=policy.private, owner=policy.owner, access=access,
                terms=terms)


@router.get("", response_model=DatasetList, summary="Datasets the caller may see")
def list_datasets(service: ServiceDep, who: PrincipalDep) -> DatasetList:  # a thread: may scan the catalog
    policies = service.policies.policies()
    items = []
    for name, rec in sorted(service.catalog.records().items()):
        policy = policies.get(name, DatasetPolicy(name))
        access = service.policies.access(who, name, policy)
        if access is None:
            continue
        items.append(DatasetItem(**_item(service, who, rec, policy, access)))
    return DatasetList(datasets=items)


@router.get("/{name}", response_model=DatasetInfo, summary="One dataset: provenance, version, columns, terms")
def dataset_info(acc: ReadableDep, service: ServiceDep) -> DatasetInfo:  # a thread: reads the manifest

    rec = acc.record
    access = service.policies.access(acc.who, rec.name, acc.policy) or "read"
    info: dict[str, Any] = _item(service, acc.who, rec, acc.policy, access)
    if rec.path is not None:
        m, vdir = read_manifest(rec.path)
        nodes = m.tables.get("nodes")
        edges = m.tables.get("edges")
        info.update(version=vdir.name, release=m.version, units=m.units, voxel_resolution_nm=m.voxel_resolution_nm,
                    label_columns=[c for c in (nodes.columns if nodes else {}) if c != "root_id"],
                    edge_columns=list(edges.columns) if edges else [])
    return DatasetInfo(**info)


@router.get("/{name}/manifest", summary="The store manifest (source, version, units, files and checksums)",
            response_model=dict[str, Any])
async def dataset_manifest(acc: ReadableDep, service: ServiceDep) -> Response:
    import anyio

    await dataset_version(service, acc.name, service.settings.query_timeout_s)
    path = service.catalog.store_path(acc.name, build=False)
    assert path is not None
    m, vdir = await anyio.to_thread.run_sync(read_manifest, path)
    d = m.to_dict()  # provenance by file names only, never the server's folders (the store's own files stay)
    d.update({part: hide_paths(d[part]) for part in ("source", "version", "extra") if part in d})
    return json_response({**d, "store_version": vdir.name})


@router.post("/{name}/terms", response_model=TermsAccepted, summary="Accept the dataset's data-use terms")
async def accept_terms(acc: ReadableDep, service: ServiceDep) -> TermsAccepted:
    if acc.policy.terms_hash is None:
        raise ApiError(400, "no_terms", f"dataset {acc.name!r} has no data-use terms to accept", field="name")
    when = service.policies.accept_terms(acc.who, acc.policy)
    return TermsAccepted(dataset=acc.name, accepted=when)


@router.get("/{name}/summary", response_model=dict[str, Any],
            summary="Counts, edge kinds, labels and provenance (cached per dataset version)")
async def dataset_summary(acc: DataDep, service: ServiceDep) -> Response:
    b = service.settings.query_timeout_s
    version = await dataset_version(service, acc.name, b)
    key = CacheKey(acc.name, version, "summary", {"server_paths": False})  # not a summary cached with them
    return await cached_response(service, key, lambda: hide_paths(cx.summary(service.catalog.load(acc.name)[0])), b)


@router.get("/{name}/types", response_model=TypePage,
            summary="Type-to-type connectivity (neurons collapsed by a label; cached per version)")
async def cell_types(
    acc: DataDep,
    service: ServiceDep,
    by: Annotated[str, Query(min_length=1, max_length=128, description="node label column, e.g. cell_type")] = "cell_type",
    min_synapses: Annotated[int | None, Query(ge=1, le=1_000_000, description="pairs below this count are no connection")] = None,
    edge_kind: Annotated[Literal["chemical", "gap_junction", "all"], Query()] = "chemical",
    unlabelled: Annotated[Literal["pool", "drop", "keep"] | None,
                          Query(description="neurons without a `by` label: pooled as 'unknown' (default, said in "
                                            "warnings), dropped, or kept each as a type of its own")] = None,
    limit: Annotated[int, Query(ge=1, description="page size")] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    check_limit(limit, service.settings.max_page_size)
    b = service.settings.query_timeout_s
    version = await dataset_version(service, acc.name, b)
    params = {"by": by, "min_synapses": min_synapses, "edge_kind": edge_kind,
              **({"unlabelled": unlabelled} if unlabelled is not None else {})}
    scope = cursor_scope(version, params)
    offset = decode_cursor(cursor, scope)

    def table() -> Any:
        """The whole type-to-type table (computed once per version, kept as a checked frame)."""
        def compute() -> Any:
            c = service.catalog.load(acc.name)[0]
            try:
                t = cx.collapse(c, by=by, min_synapses=min_synapses,
                                edge_kind=None if edge_kind == "all" else edge_kind, unlabelled=unlabelled)
            except ColumnError as exc:
                raise ApiError(400, "unknown_column", str(exc), field="by", value=exc.column) from None
            return t.rename(columns={f"pre_{by}": "pre", f"post_{by}": "post"}).reset_index(drop=True)

        return service.cache.frame(CacheKey(acc.name, version, "types-table", params), compute)

    def page() -> dict[str, Any]:  # in the compute pool: never parses or slices on the event loop
        t = table()
        nxt = encode_cursor(offset + limit, scope) if offset + limit < len(t) else None
        meta = dict(t.attrs)
        said = {k: meta[k] for k in ("unlabelled", "unlabelled_neurons", "unlabelled_fraction", "pooled_as")
                if k in meta}
        return {"dataset": acc.name, "version": version, "by": by, "total": int(len(t)),
                "rows": t.iloc[offset:offset + limit], "next_cursor": nxt, "unlabelled": said,
                "warnings": [str(w) for w in meta.get("warnings", [])]}

    key = CacheKey(acc.name, version, "types-page", {**params, "offset": offset, "limit": limit})
    return await cached_response(service, key, page, b, model=TypePage)


def _ingest_spec(service: Service, name: str, req: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    params = req.model_dump(exclude_none=True)
    params.pop("private", None)
    if req.source == "celegans":
        cect = req.cect_dataset or name
        if cect not in CELEGANS_DATASETS:
            raise ApiError(400, "invalid_input", f"cect_dataset: unknown C. elegans dataset {cect!r}; known: "
                           f"{', '.join(sorted(CELEGANS_DATASETS))}", field="cect_dataset")
        params["cect_dataset"] = cect
    elif req.source == "tables":
        root = service.imports_dir.resolve()
        for fld in ("edges", "nodes"):
            rel = params.get(fld)
            if rel is None:
                continue
            p = (root / rel).resolve()
            if root not in p.parents:
                raise ApiError(400, "invalid_input", f"{fld}: must be a path inside the server's imports folder "
                               "(relative, without '..')", field=fld)
            if not p.is_file():
                raise ApiError(400, "invalid_input", f"{fld}: {rel!r} is not a file in the server's imports folder",
                               field=fld)
            params[fld] = str(p)
    elif req.source == "cave":
        req.ingest_arguments()  # read as the job will read it: an InputError names the field (400)
        if req.server is not None and req.server.rstrip("/") not in service.settings.allowed_cave_servers:
            raise ApiError(400, "invalid_input", "server: this CAVE server is not allowed by the service (ask its admin "
                           "to add it to CONNECTOME_API_CAVE_SERVERS)", field="server")
    spec = {"out": str(service.settings.stores_dir / name), "params": params}
    shown = req.model_dump(exclude_none=True)
    return shown, spec


def refuse_look_alike(service: Service, name: str) -> None:
    """Refuse a new dataset name that looks like a public one (same
    :func:`~connectome.api.catalog.name_key`: differs only in case, punctuation or look-alike
    characters), so that nobody can list a dataset others would take for the real one.

    Raises
    ------
    ApiError
        409 ``name_too_similar``, naming the public dataset (``existing``).
    """
    existing = service.catalog.similar_public_name(name)
    if existing is not None:
        raise ApiError(409, "name_too_similar", f"the dataset name {name!r} looks like the public dataset "
                       f"{existing!r} (it differs only in case, punctuation or look-alike characters); choose a "
                       "clearly different name", field="name", existing=existing)


@router.post("/{name}/ingest", status_code=202, response_model=JobInfo,
             summary="Start an ingest job that writes (or replaces) this dataset's store")
async def ingest_dataset(name: WritableDep, service: ServiceDep, who: PrincipalDep,
                         req: Annotated[IngestRequest, Body()]) -> Response:
    import anyio

    def submit() -> JobRecord:
        new = service.policies.policy(name).owner is None and name not in service.catalog.records()
        if new:
            refuse_look_alike(service, name)
        shown, spec = _ingest_spec(service, name, req)
        # the job is accepted (limits checked) before the name is claimed: a refused request reserves nothing
        job = service.jobs.submit("ingest", name, shown, who, spec)
        if new:
            owner = service.policies.policy(name).owner
            if owner is None:
                service.policies.set_policy(name, owner=who.user, private=req.private)
            elif owner != who.user:  # another user claimed the name meanwhile
                service.jobs.cancel(job.id)
                raise ApiError(403, "forbidden", f"the dataset name {name!r} is not available to you; ingest "
                               "under another name", field="name")
        return job

    return job_response(await anyio.to_thread.run_sync(submit), status=202)
