"""Statistics: connectivity statistics, triad and dyad census (cached per dataset version)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

import connectome as cx

from ..cache import CacheKey
from ..deps import DataDep, ServiceDep
from ..responses import ERRORS, cached_response, dataset_version
from ..schemas import DyadCensus, TriadCensus

router = APIRouter(prefix="/v1/datasets", tags=["statistics"], responses=ERRORS)

EdgeKindQ = Annotated[Literal["chemical", "gap_junction", "all"],
                      Query(description="edges that connect a pair (all: every kind)")]
MinSynQ = Annotated[int | None, Query(ge=1, le=1_000_000, description="pairs below this synapse count are unconnected")]


async def _census(kind: str, acc: DataDep, service: ServiceDep, edge_kind: str, min_synapses: int | None) -> Response:
    b = service.settings.query_timeout_s
    version = await dataset_version(service, acc.name, b)
    params = {"edge_kind": edge_kind, "min_synapses": min_synapses}
    fn = cx.triad_census if kind == "triads" else cx.dyad_census

    def compute() -> dict:
        c = service.catalog.load(acc.name)[0]
        s = fn(c, edge_kind=None if edge_kind == "all" else edge_kind, min_synapses=min_synapses)
        return {"dataset": acc.name, "version": version, **params,
                "counts": {str(k): int(v) for k, v in s.items()}}

    return await cached_response(service, CacheKey(acc.name, version, kind, params), compute, b,
                             model=TriadCensus if kind == "triads" else DyadCensus)


@router.get("/{name}/triad-census", response_model=TriadCensus,
            summary="Triad census: the 16 MAN classes, exactly as networkx.triadic_census")
async def triad_census(acc: DataDep, service: ServiceDep, edge_kind: EdgeKindQ = "chemical",
                       min_synapses: MinSynQ = None) -> Response:
    return await _census("triads", acc, service, edge_kind, min_synapses)


@router.get("/{name}/dyad-census", response_model=DyadCensus,
            summary="Dyad census: mutual, asymmetric and null pairs")
async def dyad_census(acc: DataDep, service: ServiceDep, edge_kind: EdgeKindQ = "chemical",
                      min_synapses: MinSynQ = None) -> Response:
    return await _census("dyads", acc, service, edge_kind, min_synapses)


@router.get("/{name}/statistics", response_model=dict[str, Any],
            summary="Connectivity statistics: degrees, synapse counts, reciprocity, clustering, components, "
                    "rich club, path lengths (cx.stats)")
async def statistics(acc: DataDep, service: ServiceDep, edge_kind: EdgeKindQ = "chemical",
                     min_synapses: MinSynQ = None,
                     path_samples: Annotated[int | None, Query(ge=1, le=4096, description="sources sampled for path "
                                                               "lengths (default: exact on small graphs)")] = None,
                     seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0) -> Response:
    b = service.settings.query_timeout_s
    version = await dataset_version(service, acc.name, b)
    params = {"edge_kind": edge_kind, "min_synapses": min_synapses, "path_samples": path_samples, "seed": seed}

    def compute() -> dict:
        c = service.catalog.load(acc.name)[0]
        s = cx.stats(c, edge_kind=None if edge_kind == "all" else edge_kind, min_synapses=min_synapses,
                      path_samples=path_samples, seed=seed)
        return {**s, "version": version}

    return await cached_response(service, CacheKey(acc.name, version, "stats", params), compute, b)
