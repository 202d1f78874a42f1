"""Connectivity similarity, clusters and matching (cx.similarity, cx.cluster, cx.match).

``GET …/similar`` is a read: computed once per dataset version and parameters, within the request's
time budget (``timeout_s``, default and maximum: the server's query settings); past the budget the
answer is 503 ``still_computing`` with ``Retry-After`` while the work goes on, as for motif queries.

``POST …/cluster`` and ``POST …/match`` start jobs (202 with the job; ``GET /v1/jobs/{id}`` shows
its state). The job limits are checked first (429 ``too_many_jobs`` before any work); bad options and
unknown column names are then refused (400) before anything is queued; the neuron sets, seeds and (across
datasets, with ``vocabulary: "strict"``) the connectivity profiles are resolved in the job itself, so
unknown ids, seeds or label vocabularies that differ fail the job with the parameter named. The clusters
and pairs, equal to what
:func:`connectome.cluster` and :func:`connectome.match` return, are read paged at
``GET …/cluster/{job_id}`` and ``GET …/match/{job_id}`` (with a Neuroglancer link on request);
their table is checked against the checksum the job recorded. A match across datasets
(``other``) needs read access to both: another user's private dataset is answered 404, exactly
as an unknown name.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import anyio
import pandas as pd
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

import connectome as cx
from connectome.match_attributes import MIN_AUTO_SEEDS
from connectome.neuron_clusters import MAX_HIERARCHICAL, check_cluster_args
from connectome.validate import check_pair_budget

from ..cache import CacheKey
from ..deps import DataDep, PrincipalDep, ServiceDep, data_dataset
from ..encoding import model_bytes
from ..errors import ApiError
from ..jobs import JOB_ID_PATTERN
from ..responses import ERRORS, budget, cached_response, dataset_version
from ..schemas import (
    ClusterPage,
    ClusterRequest,
    JobInfo,
    MatchPage,
    MatchRequest,
    RootId,
    SimilarResult,
    _root_id,
)
from .job_pages import PageSlice, finished_job, job_page
from .links import SourceQ, build_link, state_store
from .models import check_node_columns, submit_job

router = APIRouter(prefix="/v1/datasets", tags=["similarity"], responses=ERRORS)

#: Seconds the server waits beyond a request's own budget before answering 503 still_computing.
GRACE_S = 2.0


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
    try:
        ids = sorted({_root_id(x) for x in root_id}, key=int)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"root_id: {exc}", field="root_id") from None
    s = service.settings
    check_pair_budget(len(ids), top_k, s.max_pairs, parameter="top_k",
                      what=f"{len(ids):,} query neurons x top_k={top_k}", fix="give fewer root_id or a smaller top_k")
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


@router.post("/{name}/cluster", status_code=202, response_model=JobInfo,
             responses={200: {"model": JobInfo, "description": "the same request already succeeded on this dataset "
                                                               "version: that job (seeded, deterministic)"}},
             summary="Start a job: cluster neurons on connectivity similarity (ward, average: scipy; leiden: igraph); "
                     "read the clusters at GET …/cluster/{job_id}")
async def cluster(acc: DataDep, service: ServiceDep, who: PrincipalDep, req: ClusterRequest) -> Response:
    params = req.model_dump()

    def prepare() -> dict[str, Any]:  # cheap checks only: the job resolves the neurons (unknown ids fail it)
        check_cluster_args(req.method, req.n_clusters, req.threshold, req.resolution, req.top_k)
        check_node_columns(service, acc.name, [("by", req.by), *(("compare", col) for col in req.compare)])
        n = len(req.neurons.root_ids) if req.neurons is not None and req.neurons.root_ids is not None else 0
        if req.method != "leiden" and n > MAX_HIERARCHICAL:
            raise ApiError(400, "invalid_parameter", f"neurons: {n:,} neurons are above {MAX_HIERARCHICAL:,} for "
                           f"method={req.method!r} (a dense block); use method 'leiden' or select fewer neurons",
                           field="neurons")
        return params

    return await submit_job("cluster", acc, service, who, params, out=str(service.settings.results_dir), reuse=True,
                         prepare=prepare)


async def _other_dataset(service: Any, who: Any, name: str) -> Any:
    """The second dataset of a match, if the caller may read its data: the same 404 as for an unknown name
    when it is someone else's private dataset (its name does not leak)."""
    try:
        return await anyio.to_thread.run_sync(data_dataset, name, service, who)
    except ApiError as exc:
        raise ApiError(exc.status, exc.code, f"other: {exc.message}", field="other", headers=exc.headers) from None


@router.post("/{name}/match", status_code=202, response_model=JobInfo,
             responses={200: {"model": JobInfo, "description": "the same request already succeeded on this dataset "
                                                               "version: that job (seeded, deterministic)"}},
             summary="Start a job: match neurons of two node sets (the hemispheres, or two datasets with other=): "
                     "gm, bisected, similarity; read the pairs at GET …/match/{job_id}")
async def match(acc: DataDep, service: ServiceDep, who: PrincipalDep, req: MatchRequest) -> Response:
    params = req.model_dump()
    await anyio.to_thread.run_sync(service.jobs.admit, who)  # before any work for the second dataset
    other = None
    if req.other is not None:
        other = await _other_dataset(service, who, req.other)
        params["other_version"] = await dataset_version(service, other.name, service.settings.query_timeout_s)

    def prepare() -> dict[str, Any]:  # cheap checks only: the job resolves the sets, seeds and profiles
        for name in [acc.name] if other is None else [acc.name, other.name]:
            check_node_columns(service, name, [("by", req.by), ("truth", req.truth)]
                               + [("attributes", a) for a in req.attributes or []])
        if other is not None and req.method == "bisected":
            raise ApiError(400, "invalid_parameter", "method: 'bisected' needs the edges between the two sets, which "
                           "two datasets do not have; use method 'gm' or 'similarity'", field="method")
        by_side = other is None and req.set_a is None
        if by_side and req.side is None:
            raise ApiError(400, "invalid_parameter", "side: give side (the node column with left/right), or "
                           "set_a and set_b, or other", field="side")
        if req.attributes is not None and by_side and req.side in req.attributes:
            raise ApiError(400, "invalid_parameter", f"attributes: {req.side!r} splits the two sets (the side column), "
                           "so it never agrees across them; leave it out", field="attributes", value=req.side)
        if req.attribute_weight == "auto" and len(req.seeds or []) < MIN_AUTO_SEEDS:
            raise ApiError(400, "invalid_parameter", f"attribute_weight: 'auto' chooses the weight on the seeds and "
                           f"needs at least {MIN_AUTO_SEEDS} seed pairs (got {len(req.seeds or [])}); give seeds or a "
                           "number", field="attribute_weight")
        if other is not None and req.method == "similarity" and req.by is None:
            raise ApiError(400, "invalid_parameter", "by: matching two datasets by similarity compares partner "
                           "labels (their partner ids differ); give by, a label column both have (e.g. "
                           "cell_type)", field="by")
        if req.set_a is not None and req.set_b is not None and req.set_a.root_ids is not None \
                and req.set_b.root_ids is not None:  # sizes known without loading: refused now (else in the job)
            na, nb = len(set(req.set_a.root_ids)), len(set(req.set_b.root_ids))
            check_pair_budget(max(na, nb), max(na, nb), service.settings.max_job_pairs, parameter="set_b",
                              setting="max_job_pairs", what=f"set a ({na:,}) x set b ({nb:,}), held as a dense "
                              f"{max(na, nb):,} x {max(na, nb):,} block", fix="match smaller sets")
        worker = {k: v for k, v in params.items() if k not in ("other", "other_version")}
        worker["max_pairs"] = service.settings.max_job_pairs  # the job refuses larger resolved sets
        if other is not None:
            worker["other_store"] = str(service.catalog.store_path(other.name, build=False))
        return worker

    return await submit_job("match", acc, service, who, params, out=str(service.settings.results_dir), reuse=True,
                         prepare=prepare)


_NOT_DONE = {409: {"model": ERRORS[400]["model"], "description": "the job has not succeeded"},
             410: {"model": ERRORS[400]["model"], "description": "the job's table is missing or damaged"}}
JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the id of the job")]


def _link_of(fn: Any, service: Any, *args: Any, source: str | None, **kw: Any) -> str:
    return build_link(fn, *args, source=source, store=state_store(service), **kw)[0]


@router.get("/{name}/cluster/{job_id}", response_model=ClusterPage, responses=_NOT_DONE,
            summary="The clusters a cluster job computed, paged (root-id order, as cx.cluster returns them)")
async def cluster_rows(acc: DataDep, service: ServiceDep, who: PrincipalDep, job_id: JobId,
                       limit: Annotated[int, Query(ge=1)] = 100,
                       cursor: Annotated[str | None, Query(max_length=512)] = None,
                       link: bool = False, source: SourceQ = None) -> Response:
    job = finished_job(service, who, acc.name, job_id, "cluster")

    def build(sl: PageSlice) -> bytes:
        t, result, part = sl.table, sl.result, sl.rows()
        rows = [{"root_id": str(int(i)), "cluster": None if pd.isna(cl) else int(cl)}
                for i, cl in zip(part["root_id"], part["cluster"].astype(object))]
        url = None
        if link:
            c = service.catalog.load(acc.name)[0]
            url = _link_of(cx.neuroglancer.cluster_link, service, c, t, source=source)
        return model_bytes(ClusterPage, {
            "dataset": acc.name, "version": str(result.get("version") or ""), "job": job_id, "params": job.params,
            "n_clusters": result["n_clusters"], "clustered": result["clustered"],
            "not_clustered": result["not_clustered"], "modularity": result.get("modularity"),
            "adjusted_rand": result.get("adjusted_rand", {}), "rows": rows, "total": int(len(t)),
            "next_cursor": sl.next_cursor(len(t)), "link": url, "warnings": result.get("warnings", [])})

    return await job_page(service, acc.name, job_id, "cluster", limit, cursor, {"link": link, "source": source},
                          build)


@router.get("/{name}/match/{job_id}", response_model=MatchPage, responses=_NOT_DONE,
            summary="The pairs a match job found, paged (by a_root_id, as cx.match returns them)")
async def match_rows(acc: DataDep, service: ServiceDep, who: PrincipalDep, job_id: JobId,
                     limit: Annotated[int, Query(ge=1)] = 100,
                     cursor: Annotated[str | None, Query(max_length=512)] = None,
                     link: bool = False, source: SourceQ = None,
                     source_b: Annotated[SourceQ, Query(description="volume of the second dataset (with other)")]
                     = None) -> Response:
    job = finished_job(service, who, acc.name, job_id, "match")
    other_name = job.params.get("other")
    if other_name:  # the caller must still be allowed to read the second dataset
        await _other_dataset(service, who, other_name)

    def build(sl: PageSlice) -> bytes:
        t, result, part = sl.table, sl.result, sl.rows()
        pairs = [{"a_root_id": str(int(x)), "b_root_id": str(int(y)), "score": _num(sc), "seed": bool(sd)}
                 for x, y, sc, sd in zip(part["a_root_id"], part["b_root_id"], part["score"].astype(float),
                                         part["seed"])]
        url = None
        if link:
            c = service.catalog.load(acc.name)[0]
            cb = service.catalog.load(other_name)[0] if other_name else None
            extra = {"dataset_b": source_b} if cb is not None else {}
            url = _link_of(cx.neuroglancer.match_link, service, c, t, cb, source=source, **extra)
        return model_bytes(MatchPage, {
            "dataset": acc.name, "other": other_name, "version": str(result.get("version") or ""), "job": job_id,
            "params": job.params, "matched": result["matched"], "unmatched_a": result["unmatched_a"],
            "unmatched_b": result["unmatched_b"], "objective": result.get("objective"),
            "accuracy": result.get("accuracy"), "attributes": result.get("attributes"), "pairs": pairs,
            "total": int(len(t)),
            "next_cursor": sl.next_cursor(len(t)), "link": url, "warnings": result.get("warnings", [])})

    return await job_page(service, acc.name, job_id, "match", limit, cursor,
                          {"link": link, "source": source, "source_b": source_b}, build)


__all__ = ["router", "RootId"]
