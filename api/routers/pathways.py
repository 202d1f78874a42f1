"""Partners, paths, influence and information-flow layers (cached per dataset version, within a time budget).

Thin routes over :func:`connectome.partners`, :func:`connectome.shortest_paths` /
:func:`connectome.paths` / :func:`connectome.count_paths`, :func:`connectome.influence` and
:func:`connectome.flow_layers`. Layers are a job (``POST …/layers``, 202; its table is read at
``GET …/layers/{job_id}``, paged). Root ids are strings; neuron sets are ``{"root_ids": [...]}`` or
``{"select": {"cell_type": "AVA"}}``; results are bounded by ``limit`` (at most the server's
``max_page_size``) and the time budget (``timeout_s``, as motif queries).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

import connectome as cx
from connectome.pathgraph import pair_graph
from connectome.schema import ID_DTYPE, ROOT_ID, coerce_ids
from connectome.validate import check_pair_budget

from ..cache import CacheKey
from ..deps import DataDep, PrincipalDep, ServiceDep
from ..encoding import model_bytes
from ..errors import ApiError
from ..jobs import JOB_ID_PATTERN
from ..pagination import check_limit
from ..responses import ERRORS, cached_response, dataset_version, query_start
from ..schemas import (
    InfluenceRequest,
    InfluenceResult,
    JobInfo,
    LayersPage,
    LayersRequest,
    NeuronSet,
    PartnerTable,
    PathsRequest,
    PathsResult,
    _root_id,
)
from ..service import Service
from .job_pages import PageSlice, finished_job, job_page
from .links import SourceQ, build_link, state_store
from .models import submit_job

router = APIRouter(prefix="/v1/datasets", tags=["pathways"], responses={
    **ERRORS, 422: {"model": ERRORS[400]["model"], "description": "the analysis ran past its time budget "
                                                                 "(query_timeout)"}})

JobId = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the id of a layers job")]

#: Seconds the server waits beyond an analysis's own time budget before answering 503 still_computing.
GRACE_S = 2.0


def _ids(c: Any, s: NeuronSet) -> np.ndarray:
    if s.root_ids is not None:
        return coerce_ids(list(s.root_ids), "root_ids")
    return cx.ids_of(c, **(s.select or {}))


def _records(df: Any, limit: int | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and JSON rows of a table: root ids as decimal strings (never through a float), missing values
    as null."""
    part = df if limit is None else df.iloc[:limit]
    out = part.copy()
    for col in out.columns:
        if col.endswith("root_id") and (pd.api.types.is_integer_dtype(out[col].dtype) or out[col].dtype == object):
            out[col] = pd.Series([None if pd.isna(v) else str(int(v)) for v in out[col].tolist()], index=out.index,
                                 dtype=object)
    obj = out.astype(object).where(out.notna(), None)
    return [str(c) for c in out.columns], obj.to_dict("records")


def _link(fn: Any, service: Service, c: Any, table: Any, source: str | None, **kw: Any) -> str:
    got = build_link(fn, c, table, source=source, store=state_store(service), **kw)
    return got[0] if isinstance(got, tuple) else got


def _kind(edge_kind: str) -> str | None:
    return None if edge_kind == "all" else edge_kind


def _influence_budget(n_src: int, n_tgt: int | None, top: int | None, limit: int) -> None:
    """Influence rows are sources x targets (every target) or sources x top: refused above ``max_pairs``."""
    per = (top or 100) if n_tgt is None else (n_tgt if top is None else min(top, n_tgt))
    what = (f"{n_src:,} sources x {per:,} targets" if n_tgt is not None and top is None
            else f"{n_src:,} sources x top={per:,} targets each")
    k = max(1, min(limit // max(n_src, 1), 1000))
    fix = (f"give fewer sources, or top (the strongest targets per source; only those are computed), e.g. top: {k} "
           f"gives {n_src * k:,} rows" if k < per else "give fewer sources")
    check_pair_budget(n_src, per, limit, parameter="targets" if n_tgt is not None and top is None else "top",
                      what=what, fix=fix)


def _partner_groups_budget(c: Any, root_ids: list[str], direction: str, by: str, edge_kind: str,
                           limit: int) -> None:
    """Partners grouped ``by`` a column: neurons x directions x groups rows at most (and never more than the
    partners themselves): refused above ``max_pairs``."""
    g = pair_graph(c, edge_kind=_kind(edge_kind))
    ids = np.asarray([int(x) for x in root_ids], dtype=ID_DTYPE)
    pos = np.searchsorted(g.ids, ids)
    known = pos < len(g.ids)
    known[known] = g.ids[pos[known]] == ids[known]
    pos = pos[known]  # unknown ids: cx.partners says so
    dirs = ("upstream", "downstream") if direction == "both" else (direction,)
    degree = sum(int(np.diff(g.in_indptr if d == "upstream" else g.out_indptr)[pos].sum()) for d in dirs)
    groups = int(c.node_table([by])[by].nunique(dropna=True)) + 1  # + the pooled "unknown"
    check_pair_budget(len(root_ids) * len(dirs), groups, limit, parameter="by", at_most=degree,
                      what=f"{len(root_ids):,} neurons x {len(dirs)} direction(s) x {groups:,} groups of {by!r}",
                      fix="give fewer ids, a coarser by (e.g. super_class), or leave by out and page the partners")


@router.get("/{name}/partners", response_model=PartnerTable,
            summary="Upstream/downstream partners of neurons: synapses, fraction of input/output, labels, neuropils")
async def partners(acc: DataDep, service: ServiceDep,
                   ids: Annotated[list[str], Query(min_length=1, max_length=1000, description="root ids (repeat)")],
                   direction: Literal["both", "upstream", "downstream"] = "both",
                   min_synapses: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
                   by: Annotated[str | None, Query(max_length=128, description="group partners by this node "
                                                                             "column")] = None,
                   unlabelled: Annotated[Literal["pool", "drop", "keep"] | None,
                                         Query(description="with by: partners without a value are pooled as "
                                                           "'unknown' (default, said in warnings), dropped, or "
                                                           "kept each as a group of its own")] = None,
                   neuropil: Annotated[list[str] | None, Query(max_length=64)] = None,
                   totals: Annotated[list[str] | None,
                                     Query(min_length=2, max_length=2,
                                           description="two node columns (input, output) with whole-brain totals, "
                                                       "e.g. input_synapses and output_synapses (Codex): fractions "
                                                       "of those instead of this graph's synapses")] = None,
                   signed: bool = False,
                   edge_kind: Literal["chemical", "gap_junction", "all"] = "chemical",
                   limit: Annotated[int | None, Query(ge=1, description="rows returned (default and maximum: "
                                                                        "max_page_size)")] = None) -> Response:
    s = service.settings
    limit = check_limit(limit, s.max_page_size) if limit is not None else s.max_page_size
    try:
        root_ids = sorted({_root_id(x) for x in ids}, key=int)
    except ValueError as exc:
        raise ApiError(400, "invalid_parameter", f"ids: {exc}", field="ids") from None
    b = s.query_timeout_s
    version = await dataset_version(service, acc.name, b)
    params = {"ids": root_ids, "direction": direction, "min_synapses": min_synapses, "by": by,
              **({"unlabelled": unlabelled} if by is not None and unlabelled is not None else {}),
              "neuropil": sorted(neuropil) if neuropil else None, "signed": signed, "edge_kind": edge_kind,
              "limit": limit, **({"totals": list(totals)} if totals else {})}

    def compute() -> dict[str, Any]:
        c = service.catalog.load(acc.name)[0]
        if by is not None and by in c.label_columns:
            _partner_groups_budget(c, root_ids, direction, by, edge_kind, s.max_pairs)
        t = cx.partners(c, [int(x) for x in root_ids], direction=direction, min_synapses=min_synapses, by=by,
                        neuropil=neuropil, signed=signed, edge_kind=_kind(edge_kind), unlabelled=unlabelled,
                        totals=tuple(totals) if totals else "graph")
        cols, rows = _records(t, limit)
        return {"dataset": acc.name, "version": version, "params": params, "columns": cols, "rows": rows,
                "total": int(len(t)), "truncated": bool(len(t) > limit), "fraction_of": t.attrs["fraction_of"],
                "warnings": [str(w) for w in t.attrs.get("warnings", [])]}

    return await cached_response(service, CacheKey(acc.name, version, "partners", params), compute, b,
                                 model=PartnerTable, cheap=len(root_ids) <= 16)  # a few neurons: the cheap lane


@router.post("/{name}/paths", response_model=PathsResult,
             summary="All shortest paths, simple paths of at most k hops, or their counts, between neuron sets")
async def find_paths(acc: DataDep, service: ServiceDep, req: PathsRequest) -> Response:
    s = service.settings
    check_limit(req.limit, s.max_page_size)
    b, version = await query_start(service, acc.name, req.timeout_s)
    params = req.model_dump(exclude={"timeout_s"})

    def compute() -> dict[str, Any]:
        c = service.catalog.load(acc.name)[0]
        src, tgt = _ids(c, req.sources), _ids(c, req.targets)
        check_pair_budget(len(src), len(tgt), s.max_pairs, parameter="targets",
                          what=f"{len(src):,} sources x {len(tgt):,} targets",
                          fix="give fewer sources or targets (a narrower select), or split the request")
        kind = req.edge_kind
        out: dict[str, Any] = {"dataset": acc.name, "version": version, "params": params}
        if req.count:
            n = cx.count_paths(c, src, tgt, req.max_hops if (req.max_hops or req.shortest) else 3, req.min_synapses,
                               shortest=req.shortest, weight=req.weight, edge_kind=kind, timeout=b)
            _, rows = _records(n)
            return {**out, "paths": int(n.attrs["total"]), "truncated": False, "counts": rows}
        if req.shortest:
            p = cx.shortest_paths(c, src, tgt, req.min_synapses, req.max_hops, req.weight, edge_kind=kind,
                                  limit=req.limit, timeout=b, signed=req.signed)
        else:
            if req.weight is not None:
                raise cx.errors.InputError("weight: only shortest paths have a weighted length; set shortest: true",
                                           "weight")
            p = cx.paths(c, src, tgt, req.max_hops or 3, req.min_synapses, req.limit, edge_kind=kind, timeout=b,
                         signed=req.signed)
        cols, rows = _records(p)
        link = _link(cx.neuroglancer.path_link, service, c, p, req.source) if (req.link and len(p)) else None
        return {**out, "paths": int(p.attrs["paths"]), "truncated": bool(p.attrs["truncated"]), "columns": cols,
                "rows": rows, "link": link}

    return await cached_response(service, CacheKey(acc.name, version, "paths", params), compute, b + GRACE_S,
                             model=PathsResult)


@router.post("/{name}/influence", response_model=InfluenceResult,
             summary="Multi-hop effective connectivity from input-normalised weights (Pospisil et al. 2024)")
async def influence(acc: DataDep, service: ServiceDep, req: InfluenceRequest) -> Response:
    s = service.settings
    b, version = await query_start(service, acc.name, req.timeout_s)
    params = req.model_dump(exclude={"timeout_s"})

    def compute() -> dict[str, Any]:
        c = service.catalog.load(acc.name)[0]
        src = _ids(c, req.sources)
        if len(src) > 1000:
            raise cx.errors.InputError(f"sources: {len(src)} neurons; at most 1000 per request", "sources")
        tgt = _ids(c, req.targets) if req.targets is not None else None
        _influence_budget(len(src), None if tgt is None else len(tgt), req.top, s.max_pairs)
        t = cx.influence(c, src, tgt, hops=req.hops, normalize=req.normalize, signed=req.signed, alpha=req.alpha,
                         top=req.top, min_synapses=req.min_synapses, edge_kind=req.edge_kind, timeout=b)
        cap = s.max_page_size * 10
        cols, rows = _records(t, cap)
        meta = {k: v for k, v in t.attrs.items() if k not in ("dataset",)}
        link = _link(cx.neuroglancer.influence_link, service, c, t, req.source) if (req.link and len(t)) else None
        return {"dataset": acc.name, "version": version, "params": {**params, **meta}, "columns": cols, "rows": rows,
                "total": int(len(t)), "truncated": bool(len(t) > cap), "link": link}

    return await cached_response(service, CacheKey(acc.name, version, "influence", params), compute, b + GRACE_S,
                             model=InfluenceResult)


@router.post("/{name}/layers", status_code=202, response_model=JobInfo,
             responses={200: {"model": JobInfo, "description": "the same request already succeeded on this "
                                                               "dataset version: that job (seeded, deterministic)"}},
             summary="Start a job: information-flow layers from a seeded probabilistic traversal "
                     "(Schlegel et al. 2021); read them at GET …/layers/{job_id}")
async def layers(acc: DataDep, service: ServiceDep, who: PrincipalDep, req: LayersRequest) -> Response:
    params = req.model_dump()

    # the job resolves the seeds (unknown ids or an empty selection fail it, naming ``seeds``)
    return await submit_job("layers", acc, service, who, params, out=str(service.settings.results_dir), reuse=True)


_NOT_DONE = {409: {"model": ERRORS[400]["model"], "description": "the layers job has not succeeded"},
             410: {"model": ERRORS[400]["model"], "description": "the job's table is missing or damaged"}}


@router.get("/{name}/layers/{job_id}", response_model=LayersPage, responses=_NOT_DONE,
            summary="The layers a flow-layers job computed, paged (earliest mean layer first)")
async def layers_rows(acc: DataDep, service: ServiceDep, who: PrincipalDep, job_id: JobId,
                      limit: Annotated[int, Query(ge=1)] = 100,
                      cursor: Annotated[str | None, Query(max_length=512)] = None,
                      link: bool = False, source: SourceQ = None) -> Response:
    finished_job(service, who, acc.name, job_id, "layers")

    def build(sl: PageSlice) -> bytes:
        t, result = sl.table, sl.result
        reached = t[t["reached"] > 0].sort_values(["layer_mean", ROOT_ID], kind="stable")
        cols, rows = _records(sl.rows(reached))
        url = None
        if link:
            c = service.catalog.load(acc.name)[0]
            url = _link(cx.neuroglancer.layers_link, service, c, t, source)
        return model_bytes(LayersPage, {"dataset": acc.name, "version": str(result.get("version") or ""),
                                        "job": job_id, "params": result.get("params", {}),
                                        "notes": result.get("notes", []), "columns": cols, "rows": rows,
                                        "total": int(len(reached)), "next_cursor": sl.next_cursor(len(reached)),
                                        "link": url})

    return await job_page(service, acc.name, job_id, "layers", limit, cursor, {"link": link, "source": source},
                          build)
