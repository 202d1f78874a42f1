"""DotMotif queries: count, or paged matches with a cursor, within a time budget (cached per version)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from ..cache import CacheKey
from ..deps import DataDep, ServiceDep
from ..pagination import check_limit, cursor_scope, decode_cursor, encode_cursor
from ..responses import ERRORS, budget, cached, dataset_version, json_response
from ..schemas import MotifCount, MotifCountRequest, MotifMatches, MotifMatchesRequest
from ..service import Service

router = APIRouter(prefix="/v1/datasets", tags=["motifs"], responses={
    **ERRORS, 422: {"model": ERRORS[400]["model"], "description": "the query ran past its time budget (query_timeout)"}})

#: Seconds the server waits beyond a query's own time budget before answering 503 still_computing.
GRACE_S = 2.0


def _graph(service: Service, name: str, edge_kind: str | None, min_synapses: int | None) -> Any:
    import connectome as cx

    c = service.catalog.load(name)[0]
    if edge_kind is None and min_synapses is None:
        return c
    return cx.filter_edges(c, min_synapses=min_synapses, edge_kind=edge_kind)


def _params(req: MotifCountRequest) -> dict[str, Any]:
    return {"query": req.query.strip(), "edge_kind": req.edge_kind, "min_synapses": req.min_synapses}


@router.post("/{name}/motifs/count", response_model=MotifCount, summary="Count the matches of a DotMotif query")
async def count_motifs(acc: DataDep, service: ServiceDep, req: MotifCountRequest) -> Response:
    import connectome as cx

    s = service.settings
    b = budget(req.timeout_s, s.query_timeout_s, s.max_query_timeout_s)
    version = await dataset_version(service, acc.name, b)
    params = _params(req)

    def compute() -> dict[str, Any]:
        g = _graph(service, acc.name, req.edge_kind, req.min_synapses)
        n = cx.count_motifs(g, params["query"], timeout=b)
        return {"dataset": acc.name, "version": version, "query": params["query"], "count": int(n)}

    body, hit = await cached(service, CacheKey(acc.name, version, "motif-count", params), compute, b + GRACE_S)
    return json_response(body, headers={"X-Cache": "hit" if hit else "miss"})


@router.post("/{name}/motifs/matches", response_model=MotifMatches,
             summary="Matches of a DotMotif query, one page at a time (root ids as strings)")
async def find_motifs(acc: DataDep, service: ServiceDep, req: MotifMatchesRequest) -> Response:
    import connectome as cx

    s = service.settings
    check_limit(req.limit, s.max_page_size)
    b = budget(req.timeout_s, s.query_timeout_s, s.max_query_timeout_s)
    version = await dataset_version(service, acc.name, b)
    params = _params(req)
    scope = cursor_scope(version, params)
    offset = decode_cursor(req.cursor, scope)
    limit = req.limit

    def compute() -> dict[str, Any]:
        g = _graph(service, acc.name, req.edge_kind, req.min_synapses)
        df = cx.find_motifs(g, params["query"], limit=offset + limit + 1, timeout=b)
        cols = [str(c) for c in df.columns]
        page = df.iloc[offset:offset + limit]
        matches = [{col: str(int(v)) for col, v in zip(cols, row)} for row in page.itertuples(index=False)]
        nxt = encode_cursor(offset + limit, scope) if len(df) > offset + limit else None
        return {"dataset": acc.name, "version": version, "columns": cols, "matches": matches, "next_cursor": nxt}

    key = CacheKey(acc.name, version, "motif-matches", {**params, "offset": offset, "limit": limit})
    body, hit = await cached(service, key, compute, b + GRACE_S)
    return json_response(body, headers={"X-Cache": "hit" if hit else "miss"})
