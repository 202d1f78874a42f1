"""Connectivity similarity, clusters and matching (cx.similarity, cx.cluster, cx.match).

Each answer is computed once per dataset version and parameters, within the request's time budget
(``timeout_s``, default and maximum: the server's query settings); past the budget the answer is 503
``still_computing`` with ``Retry-After`` while the work goes on, as for motif queries.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..cache import CacheKey
from ..deps import DataDep, ServiceDep
from ..responses import ERRORS, budget, cached_response, dataset_version, query_start
from ..schemas import (ClusterRequest, ClusterResult, MatchRequest, MatchResult, NeuronSet, RootId, SimilarResult,
                       _root_id)

router = APIRouter(prefix="/v1/datasets", tags=["similarity"], responses=ERRORS)

#: Seconds the server waits beyond a request's own budget before answering 503 still_computing.
GRACE_S = 2.0


def _ids(c: Any, s: NeuronSet | None) -> Any:
    import connectome as cx

    if s is None:
        return None
    if s.root_ids is not None:
        return [int(x) for x in s.root_ids]
    return cx.ids_of(c, **(s.select or {}))


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


@router.get("/{name}/similar", response_model=SimilarResult,
            summary="The neurons most similar to given ones by connectivity (cosine, Jaccard, vertex; cx.similarity)")
async def similar(
    acc: DataDep, service: ServiceDep,
    root_id: Annotated[list[str], Query(min_length=1, max_length=1000, description="query neurons (repeat the "
                                                                                   "parameter)")],
    top_k: Annotated[int, Query(ge=1, le=100)] = 10,
    direction: Literal["both", "input", "output"] = "both",
    by: Annotated[str | None, Query(min_length=1, max_length=128, description="collapse partners to this "
                                                                              "node label")] = None,
    metric: Literal["cosine", "jaccard", "vertex_normalized"] = "cosine",
    min_synapses: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    edge_kind: Literal["chemical", "gap_junction", "all"] = "chemical",
    unlabelled: Literal["drop", "pool", "keep"] | None = None,
    timeout_s: Annotated[float | None, Query(gt=0)] = None,
) -> Response:
    import connectome as cx

    from ..errors import ApiError

    try:
        ids = sorted({_root_id(x) for x in root_id}, key=int)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"root_id: {exc}", field="root_id") from None
    s = service.settings
    b = budget(timeout_s, s.query_timeout_s, s.max_query_timeout_s)
    version = await dataset_version(service, acc.name, b)
    params = {"root_ids": ids, "top_k": top_k, "direction": direction, "by": by, "metric": metric,
              "min_synapses": min_synapses, "edge_kind": edge_kind, "unlabelled": unlabelled}

    def compute() -> dict[str, Any]:
        c = service.catalog.load(acc.name)[0]
        t = cx.similarity(c, [int(x) for x in ids], top_k=top_k, direction=direction, by=by, metric=metric,
                          min_synapses=min_synapses, edge_kind=None if edge_kind == "all" else edge_kind,
                          unlabelled=unlabelled, progress=False)
        rows = [{"root_id": str(int(r)), "rank": int(k), "similar_root_id": str(int(o)), "similarity": float(v)}
                for r, k, o, v in t.itertuples(index=False)]
        return {"dataset": acc.name, "version": version, "params": params, "rows": rows,
                "warnings": list(t.attrs["similarity"].get("warnings", []))}

    return await cached_response(service, CacheKey(acc.name, version, "similar", params), compute, b + GRACE_S,
                             model=SimilarResult)


@router.post("/{name}/cluster", response_model=ClusterResult,
             summary="Cluster neurons on connectivity similarity: ward, average (scipy) or leiden (igraph)")
async def cluster(acc: DataDep, service: ServiceDep, req: ClusterRequest) -> Response:
    import connectome as cx

    b, version = await query_start(service, acc.name, req.timeout_s)
    params = req.model_dump(exclude={"timeout_s"})

    def compute() -> dict[str, Any]:
        c = service.catalog.load(acc.name)[0]
        r = cx.cluster(c, _ids(c, req.neurons), method=req.method, n_clusters=req.n_clusters,
                       threshold=req.threshold, resolution=req.resolution, top_k=req.top_k, direction=req.direction,
                       by=req.by, metric=req.metric, min_synapses=req.min_synapses, edge_kind=req.edge_kind,
                       unlabelled=req.unlabelled, seed=req.seed, progress=False)
        import pandas as pd

        rows = [{"root_id": str(int(i)), "cluster": None if pd.isna(cl) else int(cl)}
                for i, cl in zip(r.labels["root_id"], r.labels["cluster"].astype(object))]
        return {"dataset": acc.name, "version": version, "params": params, "n_clusters": r.n_clusters,
                "clustered": r.meta["clustered"], "not_clustered": r.meta["not_clustered"],
                "modularity": _num(r.meta.get("modularity")),
                "adjusted_rand": {col: float(r.adjusted_rand(c, col)) for col in req.compare},
                "rows": rows, "warnings": r.meta["warnings"]}

    return await cached_response(service, CacheKey(acc.name, version, "cluster", params), compute, b + GRACE_S,
                             model=ClusterResult)


@router.post("/{name}/match", response_model=MatchResult,
             summary="Match neurons of two node sets (the hemispheres, by default): gm, bisected, similarity")
async def match(acc: DataDep, service: ServiceDep, req: MatchRequest) -> Response:
    import connectome as cx

    b, version = await query_start(service, acc.name, req.timeout_s)
    params = req.model_dump(exclude={"timeout_s"})

    def compute() -> dict[str, Any]:
        import pandas as pd

        c = service.catalog.load(acc.name)[0]
        seeds = None if req.seeds is None else [(int(x), int(y)) for x, y in req.seeds]
        sets: dict[str, Any] = {"side": req.side} if req.set_a is None else {
            "ids_a": _ids(c, req.set_a), "ids_b": _ids(c, req.set_b)}
        m = cx.match(c, seeds=seeds, method=req.method, weight=req.weight, by=req.by, direction=req.direction,
                     metric=req.metric, min_synapses=req.min_synapses, edge_kind=req.edge_kind,
                     unlabelled=req.unlabelled, n_init=req.n_init, seed=req.seed, progress=False, **sets)
        pairs = [{"a_root_id": str(int(x)), "b_root_id": str(int(y)), "score": _num(float(sc)) if not pd.isna(sc)
                  else None, "seed": bool(sd)} for x, y, sc, sd in m.pairs.itertuples(index=False)]
        return {"dataset": acc.name, "version": version, "params": params, "matched": m.meta["matched"],
                "unmatched_a": [str(int(x)) for x in m.unmatched_a],
                "unmatched_b": [str(int(x)) for x in m.unmatched_b], "objective": _num(m.meta.get("objective")),
                "accuracy": m.accuracy(req.truth) if req.truth else None, "pairs": pairs,
                "warnings": m.meta["warnings"]}

    return await cached_response(service, CacheKey(acc.name, version, "match", params), compute, b + GRACE_S,
                             model=MatchResult)


__all__ = ["router", "RootId"]
