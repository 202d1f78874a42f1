"""Request and response bodies (pydantic). Root ids are strings in JSON.

Root ids are ``int64`` (as in CAVE, Codex and neuPrint; below 2**63); JavaScript's
``JSON.parse`` rounds integers above 2**53, so every id the service returns is a
decimal string, and ids sent to it may be strings (preferred) or integers.

Examples
--------
>>> MotifCountRequest(query="A -> B").timeout_s is None
True
>>> LinkRequest(root_ids=["720575940621039145", 5]).root_ids
['720575940621039145', '5']
>>> LinkRequest(root_ids=["9223372036854775808"])
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for LinkRequest
root_ids.0
  Value error, root id 9223372036854775808 is 2**63 or more; root ids are int64 ...
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from connectome.errors import InputError
from connectome.ingest.cave import CavePreset, Selection, get_preset
from connectome.ingest.cave.options import version_or_timestamp
from connectome.neuroglancer.sources import KNOWN_DATASETS, known_dataset

__all__ = [
    "NAME_PATTERN", "RootId", "ErrorDetail", "ErrorResponse", "Terms", "DatasetItem", "DatasetList", "DatasetInfo",
    "TypeRow", "TypePage", "TriadCensus", "DyadCensus", "MotifCountRequest", "MotifCount", "MotifMatchesRequest",
    "MotifMatches", "SignificanceRequest", "TrainRequest", "IngestRequest", "JobInfo", "JobList", "LinkRequest",
    "Link", "ViewerSource", "Health", "JobsBackend", "ServiceInfo", "WhoAmI", "TermsAccepted", "ModelInfo", "ModelList", "PredictionPage",
]

#: Dataset names accepted in paths (never interpreted as file paths).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_MAX_ID = 2**63 - 1  # root ids are int64 (connectome.schema.MAX_ID)


def _root_id(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("root id must be a non-negative integer or a string of digits, not a boolean")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        n = int(value)
    else:
        raise ValueError(f"root id must be a non-negative integer or a string of digits, not {value!r}"[:200])
    if n < 0:
        raise ValueError(f"root id must be a non-negative integer, not {n}")
    if n > _MAX_ID:
        raise ValueError(f"root id {n} is 2**63 or more; root ids are int64 (the field's datastacks all use ids "
                         "below 2**63)")
    return str(n)


RootId = Annotated[str, BeforeValidator(_root_id), Field(
    description="int64 root id (below 2**63) as a decimal string (integers are accepted on input)",
    json_schema_extra={"pattern": "^[0-9]{1,19}$", "examples": ["720575940621039145"]},
)]


#: Volumes a link may show: a known dataset or a source URL — never a path on the server.
def _remote_source(value: str) -> str:
    if "file:" in value.lower():
        raise ValueError("source: a volume on the server's disk cannot be linked; use a remote source URL")
    if "://" not in value:
        if known_dataset(value) is None:
            raise ValueError(f"source: {value!r} is not a known dataset ({', '.join(KNOWN_DATASETS)}, optionally "
                             "with :version, or a datastack name) nor a source URL such as precomputed://gs://b/seg")
    return value


ViewerSource = Annotated[str, AfterValidator(_remote_source), Field(
    max_length=1000, pattern=r"^([A-Za-z0-9][A-Za-z0-9_.:-]{0,127}|[a-z][a-z0-9+.-]*://\S+)$",
    description="a known dataset (flywire, microns, pinky100, hemibrain, manc; optionally name:version, e.g. "
                "flywire:630, or a datastack such as minnie65_public_v943) or a Neuroglancer source URL "
                "(precomputed://..., graphene://..., https://...)")]


def _nul_path(value: Any, path: str = "") -> str | None:
    """Where in a JSON value a string holds a NUL character (``None`` if nowhere)."""
    if isinstance(value, str):
        return path or "value" if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            where = _nul_path(k, path) if isinstance(k, str) and "\x00" in k else _nul_path(v, f"{path}.{k}" if path else str(k))
            if where:
                return where
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            where = _nul_path(v, f"{path}.{i}" if path else str(i))
            if where:
                return where
    return None


class _Strict(BaseModel):
    """Request bodies: unknown fields and NUL characters in strings are refused (400).

    Examples
    --------
    >>> MotifCountRequest(query="A -> B" + chr(0))
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for MotifCountRequest
      Value error, query: strings may not contain NUL (\\u0000) characters ...
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = _nul_path(data)
        if where:
            raise ValueError(f"{where}: strings may not contain NUL (\\u0000) characters")
        return data


# ----------------------------------------------------------------------------- errors


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. query_syntax, forbidden, too_many_jobs")
    message: str = Field(description="what went wrong and how to fix it")
    field: str | None = Field(None, description="the request field at fault")
    line: int | None = Field(None, description="1-based line of a query syntax error")
    column: int | None = Field(None, description="1-based column of a query syntax error")
    value: str | None = Field(None, description="the offending value (e.g. an unknown column name)")


class ErrorResponse(BaseModel):
    error: ErrorDetail


# ----------------------------------------------------------------------------- service


class Health(BaseModel):
    """Liveness only: nothing here helps an unauthenticated caller reach the cluster."""

    status: Literal["ok", "starting"]
    version: str


class JobsBackend(BaseModel):
    kind: str = Field(description="local (the service's own TLS LocalCluster), external, threads or stopped")
    workers: int | None = None
    tls: bool | None = Field(None, description="whether the Dask scheduler speaks TLS")
    scheduler: str | None = Field(None, description="the Dask scheduler's address (admin tokens only)")


class ServiceInfo(BaseModel):
    status: Literal["ok", "starting"]
    version: str
    jobs: JobsBackend


class WhoAmI(BaseModel):
    user: str
    token_id: str
    admin: bool


# ----------------------------------------------------------------------------- datasets


class Terms(BaseModel):
    text: str | None = None
    url: str | None = None
    accepted: bool = Field(description="whether the caller accepted the current terms")


class DatasetItem(BaseModel):
    name: str
    title: str = ""
    species: str = ""
    source: str = ""
    nodes: int | None = None
    edges: int | None = None
    location: str = Field(description="home | embedded | buildable | service")
    private: bool = False
    owner: str | None = None
    access: Literal["read", "write"]
    terms: Terms | None = None


class DatasetList(BaseModel):
    datasets: list[DatasetItem]


class DatasetInfo(DatasetItem):
    version: str | None = Field(None, description="live store version (v-<content hash>); results are cached per version")
    release: dict[str, Any] = Field(default_factory=dict, description="release / materialization / timestamp of the source")
    units: dict[str, str] = Field(default_factory=dict)
    voxel_resolution_nm: list[float] | None = None
    label_columns: list[str] = Field(default_factory=list)
    edge_columns: list[str] = Field(default_factory=list)


class TermsAccepted(BaseModel):
    dataset: str
    accepted: str = Field(description="UTC time of acceptance")


class TypeRow(BaseModel):
    pre: str | None
    post: str | None
    synapse_count: int
    connection_count: int
    n_pre: int
    n_post: int
    connection_probability: float | None


class TypePage(BaseModel):
    dataset: str
    version: str
    by: str
    total: int
    rows: list[TypeRow]
    next_cursor: str | None = None
    unlabelled: dict[str, Any] = Field(default_factory=dict, description="neurons without a `by` label: what was "
                                       "done (pool, drop, keep), their count and fraction")
    warnings: list[str] = Field(default_factory=list, description="e.g. unlabelled neurons pooled into 'unknown'")


class TriadCensus(BaseModel):
    dataset: str
    version: str
    edge_kind: str | None
    min_synapses: int | None
    counts: dict[str, int] = Field(description="the 16 MAN classes '003' … '300', as networkx.triadic_census")


class DyadCensus(BaseModel):
    dataset: str
    version: str
    edge_kind: str | None
    min_synapses: int | None
    counts: dict[str, int]


# ----------------------------------------------------------------------------- motifs

_Query = Annotated[str, Field(min_length=1, max_length=20_000, description="a DotMotif query",
                              examples=["A -> B [weight >= 5]\nB -> C [weight >= 5]\nA -> C [weight >= 5]",
                                        'A -> B [neuropil == "AL_L", weight >= 5]\nB -> C [neuropil == "AL_L", '
                                        'weight >= 5]\nA -> C [neuropil == "AL_L", weight >= 5]'])]
_Timeout = Annotated[float | None, Field(None, gt=0, description="time budget in seconds (default and maximum: "
                                                                "the server's settings)")]
EdgeKind = Literal["chemical", "gap_junction"]


class MotifCountRequest(_Strict):
    query: _Query
    timeout_s: _Timeout = None
    edge_kind: EdgeKind | None = Field("chemical", description="edges the query runs over (null: all kinds)")
    min_synapses: int | None = Field(None, ge=1, le=1_000_000, description="drop pairs below this synapse count first")
    exclude_automorphisms: bool = Field(False, description="one match per distinct subgraph (DotMotif's option)")
    ignore_direction: bool = Field(False, description="edges match in either direction (DotMotif's option)")


class MotifCount(BaseModel):
    dataset: str
    version: str
    query: str
    count: int
    warnings: list[str] = Field(default_factory=list, description="constraints that make the count say nothing "
                                "about the graph: a label value no neuron has (with close values), a weight "
                                "constraint that always or never holds")


class MotifMatchesRequest(MotifCountRequest):
    limit: int = Field(100, ge=1, description="page size (at most the server's max_page_size)")
    cursor: str | None = Field(None, max_length=512, description="next_cursor of the previous page")
    link: bool = Field(False, description="add a Neuroglancer link showing this page's matches")
    source: ViewerSource | None = Field(None, description="volume of the link (default: known from the dataset)")


class MotifMatches(BaseModel):
    dataset: str
    version: str
    columns: list[str] = Field(description="motif node names, in query order")
    matches: list[dict[str, str]] = Field(description="one mapping node name -> root id (string) per match")
    total: int = Field(description="matches held for this query (all of them unless truncated)")
    truncated: bool = Field(description="the query has more matches than the server keeps (max_matches); "
                                        "add constraints to see them all")
    next_cursor: str | None = None
    link: str | None = Field(None, description="a Neuroglancer link showing the neurons of this page, if requested")
    link_warnings: list[str] = Field(default_factory=list, description="warnings about the link (see Link.warnings)")
    warnings: list[str] = Field(default_factory=list, description="constraints that match nothing or always hold "
                                "(as in MotifCount.warnings)")


# ----------------------------------------------------------------------------- jobs


class SignificanceRequest(_Strict):
    null: Literal["degree_reciprocal", "degree", "er", "reciprocal_er", "block"] = Field(
        "degree_reciprocal", description="null model; the default keeps every degree and every mutual pair "
        "(plain 'degree' breaks mutual pairs and inflates the triads made of them; the result's "
        "params.warnings says when that matters)")
    n: int = Field(100, ge=1, le=10_000, description="null graphs to sample")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    edge_kind: EdgeKind | None = Field("chemical", description="edges that connect a pair (null: all kinds)")
    min_synapses: int | None = Field(None, ge=1, le=1_000_000)
    by: str = Field("cell_type", min_length=1, max_length=128, description="node label of the blocks (null=block)")
    unlabelled: Literal["pool", "drop", "keep"] | None = Field(
        None, description="null=block: neurons without a `by` label form one block (default; the result's "
        "params.warnings says so, with their count), leave the graph, or each form a block of their own")


class TrainRequest(_Strict):
    label: str = Field("cell_type", min_length=1, max_length=128, description="node label column to predict")
    model: Literal["partner_sage", "dir_sage", "sage", "gcn", "mlp"] = Field(
        "partner_sage", description="architecture (gnn.MODELS); sage, gcn and mlp are the flywire-gnn baselines")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    epochs: int | None = Field(None, ge=1, le=2000, description="training epochs (default: gnn's)")
    hidden: int | None = Field(None, ge=4, le=1024, description="hidden units (default: gnn's)")


class IngestCelegans(_Strict):
    source: Literal["celegans"]
    cect_dataset: str | None = Field(None, pattern=NAME_PATTERN, description="a C. elegans dataset of cect "
                                     "(default: the dataset name)")
    private: bool = True


class IngestLarva(_Strict):
    source: Literal["larva"]
    private: bool = True


class IngestTables(_Strict):
    source: Literal["tables"]
    edges: str = Field(min_length=1, max_length=512, description="edge file, relative to the server's imports folder")
    nodes: str | None = Field(None, min_length=1, max_length=512, description="node file, relative to the imports folder")
    columns: dict[str, str] | None = Field(None, description="your edge column names to ours")
    node_columns: dict[str, str] | None = None
    min_synapses: int | None = Field(None, ge=1)
    private: bool = True


class IngestCave(_Strict):
    source: Literal["cave"]
    datastack: str | None = Field(None, pattern=NAME_PATTERN, description="e.g. minnie65_public (default: the preset's)")
    preset: Literal["flywire", "microns"] | None = None
    version: int | None = Field(None, ge=0, description="materialization version (never with timestamp)")
    timestamp: str | None = Field(None, max_length=64, description="ISO 8601 moment in UTC, e.g. 2024-01-01T00:00:00Z")
    server: str | None = Field(None, max_length=500, description="CAVE server URL; must be one the service allows "
                                                                 "(setting cave_servers)")
    synapse_table: str | None = Field(None, pattern=NAME_PATTERN)
    cell_tables: list[Annotated[str, Field(pattern=NAME_PATTERN)]] | None = Field(None, max_length=16)
    root_ids: list[RootId] | None = Field(None, min_length=1, max_length=10_000,
                                          description="read only synapses of these neurons (see side)")
    side: Literal["both", "pre", "post", "within"] = "both"
    min_synapses: int | None = Field(None, ge=1, le=1_000_000, description="default: the preset's (FlyWire: 5)")
    keep_synapses: bool = True
    private: bool = True

    def ingest_arguments(self) -> dict[str, Any]:
        """The typed arguments of ``connectome.ingest.cave.ingest_cave`` this request stands for.

        The route calls it to refuse a bad request at once (an ``InputError``
        names the field: HTTP 400); the job worker validates the stored
        parameters with this model again and calls it, so both read a request
        the same way and a misspelt key fails loudly.

        Examples
        --------
        >>> args = IngestCave(source="cave", preset="microns", version=1300, root_ids=["5"]).ingest_arguments()
        >>> args["preset"].datastack, args["selection"].root_ids, args["version"]
        ('minnie65_public', (5,), 1300)
        """
        version_or_timestamp(self.version, self.timestamp)
        base = get_preset(self.preset)
        if base is None:
            if self.datastack is None:
                raise InputError("datastack: give a datastack or a preset (flywire, microns)", "datastack")
            base = CavePreset(self.datastack)
        preset = base.with_overrides(datastack=self.datastack, server=self.server, synapse_table=self.synapse_table,
                                     cell_tables=self.cell_tables, min_synapses=self.min_synapses)
        selection = Selection(root_ids=[int(r) for r in self.root_ids] if self.root_ids else None, side=self.side)
        return {"preset": preset, "selection": selection, "version": self.version, "timestamp": self.timestamp,
                "keep_synapses": self.keep_synapses}


IngestRequest = Annotated[IngestCelegans | IngestLarva | IngestTables | IngestCave, Field(discriminator="source")]


class JobInfo(BaseModel):
    id: str
    kind: str
    dataset: str | None
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    message: str
    params: dict[str, Any]
    attempts: int
    created: str
    started: str | None
    finished: str | None
    error: ErrorDetail | None = None
    result_url: str | None = None
    time_limit_s: float | None = Field(None, description="seconds the job may run; past it the job is stopped "
                                       "and fails with code 'timeout'")


class JobList(BaseModel):
    jobs: list[JobInfo]


class ModelInfo(BaseModel):
    id: str
    dataset: str
    params: dict[str, Any]
    metrics: Any = None
    created: str
    finished: str | None


class ModelList(BaseModel):
    models: list[ModelInfo]


class PredictionPage(BaseModel):
    dataset: str
    model: str
    total: int
    columns: list[str]
    rows: list[dict[str, Any]] = Field(description="one row per neuron; root_id is a string")
    next_cursor: str | None = None


# ----------------------------------------------------------------------------- links


class LinkRequest(_Strict):
    root_ids: list[RootId] | None = Field(None, min_length=1, max_length=10_000,
                                          description="neurons to show (or use select)")
    select: dict[Annotated[str, Field(max_length=128)], str | list[str]] | None = Field(
        None, max_length=8, description="neurons to show by node labels, e.g. {\"cell_type\": \"AVA\"}")
    color_by: str | None = Field(None, max_length=128, description="node label column that sets segment colours")
    source: ViewerSource | None = None
    store: bool = Field(False, description="always store the state here and link it by URL")

    @model_validator(mode="after")
    def _one_selection(self) -> LinkRequest:
        if (self.root_ids is None) == (self.select is None):
            raise ValueError("give exactly one of root_ids or select")
        return self


class Link(BaseModel):
    url: str
    state_id: str | None = None
    state_url: str | None = None
    warnings: list[str] = Field(default_factory=list, description="what the link may not show as it seems to "
                                "(e.g. it opens only on the server's machine; a segmentation that may not match)")


# ----------------------------------------------------------------------------- pathways


class NeuronSet(_Strict):
    """Neurons by root id or by node labels (exactly one of the two)."""

    root_ids: list[RootId] | None = Field(None, min_length=1, max_length=10_000)
    select: dict[Annotated[str, Field(max_length=128)], str | list[Annotated[str, Field(max_length=256)]]] | None = \
        Field(None, max_length=8, description="node labels, e.g. {\"super_class\": \"sensory\"}")

    @model_validator(mode="after")
    def _one(self) -> NeuronSet:
        if (self.root_ids is None) == (self.select is None):
            raise ValueError("give exactly one of root_ids or select")
        return self


class PartnerTable(BaseModel):
    dataset: str
    version: str
    params: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]] = Field(description="one row per (query, direction, partner); root ids as strings")
    total: int = Field(description="rows of the whole table")
    truncated: bool = Field(description="more rows exist than limit")
    fraction_of: str | None = Field(None, description="what `fraction` is a fraction of (the denominator)")
    warnings: list[str] = Field(default_factory=list, description="e.g. partners without a `by` label pooled "
                                "into 'unknown', with their count")


class PathsRequest(_Strict):
    sources: NeuronSet
    targets: NeuronSet
    shortest: bool = Field(True, description="all shortest paths (false: simple paths of at most max_hops hops)")
    max_hops: int | None = Field(None, ge=1, le=256, description="longest path in hops (simple paths: <= 16, "
                                                                 "default 3)")
    min_synapses: int = Field(1, ge=1, le=1_000_000, description="synapses each hop needs (FlyWire practice: 5)")
    weight: Literal["inverse_synapses"] | None = Field(None, description="hop cost 1/synapses (shortest paths)")
    edge_kind: EdgeKind | None = "chemical"
    limit: int = Field(100, ge=1, description="paths returned (at most the server's max_page_size)")
    count: bool = Field(False, description="return path counts per (source, target, hops) instead of paths")
    signed: bool = Field(False, description="add each hop's signed synapses and each path's sign")
    timeout_s: _Timeout = None
    link: bool = Field(False, description="add a Neuroglancer link showing the paths")
    source: ViewerSource | None = None


class PathCount(BaseModel):
    source_root_id: str
    target_root_id: str
    hops: int
    cost: float
    paths: int


class PathsResult(BaseModel):
    dataset: str
    version: str
    params: dict[str, Any]
    paths: int = Field(description="paths returned (or counted)")
    truncated: bool
    columns: list[str] = Field(default_factory=list)
    rows: list[dict[str, Any]] = Field(default_factory=list, description="one row per (path, hop); root ids as strings")
    counts: list[PathCount] | None = None
    link: str | None = None


class InfluenceRequest(_Strict):
    sources: NeuronSet
    targets: NeuronSet | None = None
    hops: int | None = Field(3, ge=1, le=100, description="sum over 1..hops hops; null: the steady state")
    normalize: Literal["post", "pre"] | None = "post"
    signed: bool = False
    alpha: float | None = Field(None, gt=0, le=10, description="per-hop factor (default 1; steady state 0.9)")
    top: int | None = Field(None, ge=1, le=1000, description="the strongest targets kept per source (only these "
                            "are computed): default 100 of all neurons when targets is null, every target "
                            "otherwise; sources x targets (or x top) must stay within the server's max_pairs")
    min_synapses: int | None = Field(None, ge=1, le=1_000_000)
    edge_kind: EdgeKind | None = "chemical"
    timeout_s: _Timeout = None
    link: bool = False
    source: ViewerSource | None = None


class InfluenceResult(BaseModel):
    dataset: str
    version: str
    params: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    truncated: bool
    link: str | None = None


class LayersRequest(_Strict):
    """A flow-layers job: :func:`connectome.flow_layers` from ``seeds`` (resolved when the job is submitted)."""

    seeds: NeuronSet
    max_steps: int = Field(15, ge=1, le=255)
    n_iterations: int = Field(1000, ge=1, le=100_000)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    threshold: float = Field(0.3, gt=0, le=100)
    rule: Literal["summed", "per_edge"] = "summed"
    min_synapses: int | None = Field(None, ge=1, le=1_000_000)
    edge_kind: EdgeKind | None = "chemical"
    signed: bool = Field(False, description="inhibitory input counts against activation (the species' sign "
                                            "table; see connectome.flow_layers)")


class LayersPage(BaseModel):
    dataset: str
    version: str = Field(description="the dataset version the job ran on")
    job: str = Field(description="the id of the layers job")
    params: dict[str, Any]
    notes: list[str] = Field(default_factory=list)
    columns: list[str]
    rows: list[dict[str, Any]] = Field(description="one row per neuron reached, earliest mean layer first; root "
                                                   "ids as strings")
    total: int = Field(description="neurons reached")
    next_cursor: str | None = None
    link: str | None = None


__all__ += ["NeuronSet", "PartnerTable", "PathsRequest", "PathCount", "PathsResult", "InfluenceRequest",
            "InfluenceResult", "LayersRequest", "LayersPage"]


# ----------------------------------------------------------------------------- similarity, clusters, matching

SimDirection = Literal["both", "input", "output"]
SimMetric = Literal["cosine", "jaccard", "vertex_normalized"]
Unlabelled = Literal["drop", "pool", "keep"]
_LabelColumn = Annotated[str | None, Field(None, min_length=1, max_length=128,
                                           description="collapse partners to this node label (cell_type, ...)")]


class SimilarRow(BaseModel):
    root_id: RootId
    rank: int
    similar_root_id: RootId
    similarity: float


class SimilarResult(BaseModel):
    dataset: str
    version: str
    params: dict[str, Any]
    rows: list[SimilarRow] = Field(description="each query neuron's most similar neurons, best first")
    warnings: list[str] = Field(default_factory=list, description="unlabelled partners dropped, empty vectors, ...")


class ClusterRequest(_Strict):
    """A cluster job (:func:`connectome.cluster`); read its clusters at ``GET …/cluster/{job_id}``."""

    neurons: NeuronSet | None = Field(None, description="neurons to cluster (default: all; ward/average: "
                                                        "at most 20,000)")
    method: Literal["ward", "average", "leiden"] = "leiden"
    n_clusters: int | None = Field(None, ge=1, le=100_000, description="ward/average: number of clusters")
    threshold: float | None = Field(None, gt=0, le=10, description="ward/average: cut height instead")
    resolution: float = Field(1.0, gt=0, le=1000, description="leiden: higher gives more clusters")
    top_k: int = Field(20, ge=1, le=200, description="leiden: neighbours per neuron")
    direction: SimDirection = "both"
    by: _LabelColumn = None
    metric: SimMetric = "cosine"
    min_synapses: int = Field(1, ge=1, le=1_000_000)
    edge_kind: EdgeKind | None = "chemical"
    unlabelled: Unlabelled | None = None
    seed: int = Field(0, ge=0, le=2**32 - 1)
    compare: list[Annotated[str, Field(max_length=128)]] = Field(
        default_factory=list, max_length=8, description="node columns to score the clusters against (adjusted Rand)")


class ClusterRow(BaseModel):
    root_id: RootId
    cluster: int | None = Field(description="null: the neuron has no partners under the settings")


class MatchRequest(_Strict):
    """A match job (:func:`connectome.match`); read its pairs at ``GET …/match/{job_id}``."""

    side: str | None = Field("side", min_length=1, max_length=128,
                             description="node column with left/right: match the hemispheres (not with other)")
    other: str | None = Field(None, pattern=NAME_PATTERN, description="a second dataset (you need access to both): "
                                                                      "match set_a of this one against set_b of it")
    set_a: NeuronSet | None = Field(None, description="instead of side: the first node set (with other: default "
                                                      "every neuron)")
    set_b: NeuronSet | None = Field(None, description="instead of side: the second node set (of other, if given)")
    vocabulary: Literal["strict", "shared", "union"] = Field(
        "strict", description="with other and by: labels found on one side only are an error (strict, 400 naming "
                              "them), dropped (shared) or kept (union)")
    seeds: list[tuple[RootId, RootId]] | None = Field(None, max_length=100_000, description="known (a, b) pairs")
    method: Literal["gm", "bisected", "similarity"] = "bisected"
    weight: Literal["log", "synapse_count", "binary"] = "log"
    by: _LabelColumn = None
    direction: SimDirection = "both"
    metric: SimMetric = "cosine"
    min_synapses: int = Field(1, ge=1, le=1_000_000)
    edge_kind: EdgeKind | None = "chemical"
    unlabelled: Unlabelled | None = None
    similarity_weight: float | None = Field(None, ge=0, le=1000, description="with by and graph matching: weight "
                                                                            "of the partner-type term (default 0.1)")
    attributes: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        None, min_length=1, max_length=64, description="graph matching: node columns a pair should share (labels "
                                                       "agree, numbers close), see connectome.match")
    attribute_weight: Annotated[float, Field(ge=0, le=1000)] | Literal["auto"] | None = Field(
        None, description="weight of the attribute term (default 3), or auto: chosen by cross-validation on the "
                          "seeds (at least 10 pairs)")
    n_init: int = Field(1, ge=1, le=20)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    truth: str | None = Field(None, max_length=128, description="node column whose equal values are true pairs: "
                                                                "report the accuracy")

    @model_validator(mode="after")
    def _sets(self) -> MatchRequest:
        if (self.set_a is None) != (self.set_b is None):
            raise ValueError("give both set_a and set_b, or neither (then side= splits the hemispheres)")
        if self.other is not None and "side" in self.model_fields_set and self.side is not None:
            raise ValueError("side splits one dataset's hemispheres; with other, give set_a and set_b (or neither: "
                             "every neuron of each)")
        if self.attribute_weight is not None and self.attributes is None:
            raise ValueError("attribute_weight needs attributes (the node columns a pair should share)")
        if self.attributes is not None and self.method == "similarity":
            raise ValueError("attributes are used by graph matching (method gm or bisected), not by method "
                             "similarity")
        if self.similarity_weight is not None and self.by is None:
            raise ValueError("similarity_weight needs by (the label column whose partner types make the term)")
        return self


class MatchPair(BaseModel):
    a_root_id: RootId
    b_root_id: RootId
    score: float | None = Field(description="edge agreement (graph matching) or similarity; null: no edges")
    seed: bool


class ClusterPage(BaseModel):
    """The clusters of a cluster job, paged (in root-id order, as :func:`connectome.cluster` returns them)."""

    dataset: str
    version: str = Field(description="the dataset version the job ran on")
    job: str = Field(description="the id of the cluster job")
    params: dict[str, Any]
    n_clusters: int
    clustered: int
    not_clustered: int
    modularity: float | None = None
    adjusted_rand: dict[str, float | None] = Field(default_factory=dict)
    rows: list[ClusterRow]
    total: int
    next_cursor: str | None = None
    link: str | None = Field(None, description="Neuroglancer: the neurons coloured by cluster")
    warnings: list[str] = Field(default_factory=list)


class MatchPage(BaseModel):
    """The pairs of a match job, paged (by a_root_id, as :func:`connectome.match` returns them)."""

    dataset: str
    other: str | None = Field(None, description="the second dataset of a match across datasets")
    version: str = Field(description="the dataset version the job ran on")
    job: str = Field(description="the id of the match job")
    params: dict[str, Any]
    matched: int
    unmatched_a: list[RootId]
    unmatched_b: list[RootId]
    objective: float | None = None
    accuracy: dict[str, Any] | None = None
    attributes: dict[str, Any] | None = Field(None, description="with attributes: the columns, their kinds and "
                                                                "the weight used (chosen on the seeds with auto)")
    pairs: list[MatchPair]
    total: int
    next_cursor: str | None = None
    link: str | None = Field(None, description="Neuroglancer: each pair in its own colour")
    warnings: list[str] = Field(default_factory=list)


__all__ += ["SimilarRow", "SimilarResult", "ClusterRequest", "ClusterRow", "MatchRequest", "MatchPair",
            "ClusterPage", "MatchPage"]
