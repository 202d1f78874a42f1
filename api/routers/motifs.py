"""DotMotif queries: count, or paged matches with a cursor, within a time budget (cached per version)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

import connectome as cx
from connectome.motifs.query import parse_query_isolated

from ..cache import CacheKey
from ..deps import DataDep, ServiceDep
from ..pagination import check_limit, cursor_scope, decode_cursor, encode_cursor
from ..responses import ERRORS, cached_response, query_start
from ..schemas import MotifCount, MotifCountRequest, MotifMatches, MotifMatchesRequest
from ..service import Service
from .links import build_link, state_store

router = APIRouter(prefix="/v1/datasets", tags=["motifs"], responses={
    **ERRORS, 422: {"model": ERRORS[400]["model"], "description": "the query ran past its time budget "
                    "(query_timeout) or would hold more memory than the server's motif_memory (query_too_large, "
                    "with estimate and limit in bytes)"}})

#: Seconds the server waits beyond a query's own time budget before answering 503 still_computing.
GRACE_S = 2.0


def _graph(service: Service, name: str, min_synapses: int | None) -> Any:
    c = service.catalog.load(name)[0]
    return c if min_synapses is None else cx.filter_edges(c, min_synapses=min_synapses)


def _parsed(service: Service, req: MotifCountRequest, text: str, budget_s: float) -> tuple[Any, float]:
    """The parsed query and the budget left for running it.

    Parsing happens here, in the compute pool and inside the request's time budget: the query is
    bounded before expansion (:class:`connectome.QueryLimits`, a bomb is refused in milliseconds with
    ``query_too_large``), then DotMotif parses it in a child process with a memory cap
    (``query_memory_bytes``) that is killed when the budget runs out.
    """
    import time

    start = time.monotonic()
    q = parse_query_isolated(text, exclude_automorphisms=req.exclude_automorphisms,
                             ignore_direction=req.ignore_direction, timeout=budget_s,
                             memory_bytes=service.settings.query_memory_bytes)
    return q, max(0.05, budget_s - (time.monotonic() - start))


def _bounded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn`` (count or find) under the server's ``motif_memory``; over it, a message for HTTP clients
    (the budget is the server's, not a request field): 422 ``query_too_large`` with the estimate."""
    from connectome.errors import QueryMemoryError

    try:
        return fn(*args, **kwargs)
    except QueryMemoryError as exc:
        est, lim = exc.estimate_bytes or 0, exc.limit_bytes or 0
        raise QueryMemoryError(
            f"motif query would hold about {est / 2**20:,.1f} MiB while it runs, over this server's motif memory "
            f"budget of {lim / 2**20:,.1f} MiB per query; add constraints (edge weights, node labels) or use a "
            "smaller motif", "query", estimate_bytes=est, limit_bytes=lim) from None


def _params(req: MotifCountRequest) -> dict[str, Any]:
    return {"query": req.query.strip(), "edge_kind": req.edge_kind, "min_synapses": req.min_synapses,
            "exclude_automorphisms": req.exclude_automorphisms, "ignore_direction": req.ignore_direction}


@router.post("/{name}/motifs/count", response_model=MotifCount, summary="Count the matches of a DotMotif query")
async def count_motifs(acc: DataDep, service: ServiceDep, req: MotifCountRequest) -> Response:
    b, version = await query_start(service, acc.name, req.timeout_s)
    params = _params(req)

    def compute() -> dict[str, Any]:
        q, left = _parsed(service, req, params["query"], b)
        g = _graph(service, acc.name, req.min_synapses)
        n = _bounded(cx.count_motifs, g, q, timeout=left, edge_kind=req.edge_kind,
                     memory=service.settings.motif_memory)
        return {"dataset": acc.name, "version": version, "query": params["query"], "count": int(n),
                "warnings": [str(w) for w in n.attrs.get("warnings", [])]}

    return await cached_response(service, CacheKey(acc.name, version, "motif-count", params), compute, b + GRACE_S,
                             model=MotifCount)


@router.post("/{name}/motifs/matches", response_model=MotifMatches,
             summary="Matches of a DotMotif query, one page at a time (root ids as strings)")
async def find_motifs(acc: DataDep, service: ServiceDep, req: MotifMatchesRequest) -> Response:
    """All matches of a query (up to ``max_matches``, sorted) are found once per dataset version and
    kept; pages are slices of that table, so a cursor always continues where the last page ended."""
    s = service.settings
    check_limit(req.limit, s.max_page_size)
    b, version = await query_start(service, acc.name, req.timeout_s)
    params = _params(req)
    scope = cursor_scope(version, params)
    offset = decode_cursor(req.cursor, scope)
    limit = req.limit
    all_key = CacheKey(acc.name, version, "motif-matches", params)

    def matches() -> Any:
        def compute() -> Any:
            q, left = _parsed(service, req, params["query"], b)
            g = _graph(service, acc.name, req.min_synapses)
            return _bounded(cx.find_motifs, g, q, limit=s.max_matches + 1, timeout=left, edge_kind=req.edge_kind,
                            memory=s.motif_memory)

        return service.cache.frame(all_key, compute)

    def page() -> dict[str, Any]:
        df = matches()
        truncated = len(df) > s.max_matches
        held = df.iloc[:s.max_matches]
        cols = [str(c) for c in held.columns]
        part = held.iloc[offset:offset + limit]
        rows = [{col: str(int(v)) for col, v in zip(cols, row)} for row in part.itertuples(index=False)]
        nxt = encode_cursor(offset + limit, scope) if len(held) > offset + limit else None
        link, link_warnings = None, []
        if req.link and len(part):
            link, link_warnings = build_link(cx.neuroglancer.motif_link, service.catalog.load(acc.name)[0],
                                             part.reset_index(drop=True), source=req.source, top_k=None,
                                             store=state_store(service))
        return {"dataset": acc.name, "version": version, "columns": cols, "matches": rows, "total": int(len(held)),
                "truncated": bool(truncated), "next_cursor": nxt, "link": link, "link_warnings": link_warnings,
                "warnings": [str(w) for w in df.attrs.get("warnings", [])]}

    key = CacheKey(acc.name, version, "motif-page", {**params, "offset": offset, "limit": limit,
                                                      "link": req.link, "source": req.source})
    return await cached_response(service, key, page, b + GRACE_S, model=MotifMatches)
