"""Synthetic CAVE datastacks for the loopback server: tables, versions, root-id history.

A :class:`Datastack` holds annotation tables (:class:`SynthTable`) that store
*supervoxel* ids, a tiny chunkedgraph (:class:`Chunkedgraph`) that maps
supervoxels to root ids at any moment (merges and splits after a version
change root ids, as proofreading does), and materialization versions. A table
"materialized" at a version carries the root ids of that version's time, just
as the real materialization engine freezes them.

The builders make FlyWire-like (``flywire_fafb_public``: ``synapses_nt_v1``
with cleft scores and transmitter probabilities, ``hierarchical_neuron_annotations``),
MICrONS-like (``minnie65_public``: ``synapses_pni_2`` with ``ctr_pt_position``
and ``size``, ``nucleus_detection_v0``, and the reference table
``aibs_metamodel_celltypes_v661``) and generic datastacks. Their contents are
synthetic; FlyWire root ids and labels can be real ones passed in.

Examples
--------
>>> ds = generic_datastack(n_synapses=200, seed=1)
>>> t = ds.materialize("synapses", ds.version_time(2))
>>> t.num_rows, "pre_pt_root_id" in t.column_names
(200, True)
"""

from __future__ import annotations

import bisect
import datetime as _dt
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "Chunkedgraph",
    "SynthTable",
    "VersionInfo",
    "Datastack",
    "flywire_datastack",
    "microns_datastack",
    "generic_datastack",
    "utc",
]

U64 = np.uint64
_UTC = _dt.timezone.utc


def utc(*args: int) -> _dt.datetime:
    """A timezone-aware UTC datetime.

    Examples
    --------
    >>> utc(2024, 3, 1).isoformat()
    '2024-03-01T00:00:00+00:00'
    """
    return _dt.datetime(*args, tzinfo=_UTC)


# ----------------------------------------------------------------------------- chunkedgraph


def _in_sorted(values: np.ndarray, sorted_pool: np.ndarray) -> np.ndarray:
    """``np.isin`` for a sorted pool: a binary search per value (a lookup of one id costs microseconds, not a
    sort of the whole pool)."""
    if not len(sorted_pool):
        return np.zeros(len(values), dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_pool, values), len(sorted_pool) - 1)
    return sorted_pool[idx] == values


class Chunkedgraph:
    """Supervoxel -> root id at any time, with merges and splits.

    Parameters
    ----------
    table_id : str
        Graphene table name (the last part of ``segmentation_source``).
    supervoxels, roots : array of uint64
        Each supervoxel and its root id at ``created``.
    created : float
        Creation time (epoch seconds) of the initial roots.

    Examples
    --------
    >>> cg = Chunkedgraph("t", np.array([10, 11, 12], U64), np.array([1, 1, 2], U64), 0.0)
    >>> new = cg.merge([1, 2], 100.0)
    >>> cg.lookup(np.array([10, 12], U64), 50.0).tolist(), cg.lookup(np.array([10, 12], U64), 150.0) == new
    ([1, 2], array([ True,  True]))
    >>> cg.is_latest(np.array([1, new], U64), 150.0).tolist()
    [False, True]
    """

    def __init__(self, table_id: str, supervoxels: np.ndarray, roots: np.ndarray, created: float) -> None:
        order = np.argsort(supervoxels, kind="stable")
        self.table_id = table_id
        self.sv = np.asarray(supervoxels, dtype=U64)[order]
        self.root0 = np.asarray(roots, dtype=U64)[order]
        self.base_time = float(created)
        self.edits: list[tuple[float, np.ndarray, np.ndarray]] = []  # (time, sv index, new roots)
        self._times: list[float] = []
        self.created: dict[int, float] = {}
        self._max_root = int(self.root0.max()) if len(self.root0) else 0
        self._cache: dict[int, np.ndarray] = {}
        self._alive: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        #: lineage: each new root -> the roots it replaced, the operation that made it; and the reverse
        self.parents: dict[int, tuple[int, ...]] = {}
        self.children: dict[int, tuple[int, ...]] = {}
        self.operation: dict[int, int] = {}
        self.superseded: dict[int, float] = {}
        self._members: dict[int, np.ndarray] | None = None  # root -> sv indices after the last edit
        self._known: np.ndarray | None = None
        self._root0_order = np.argsort(self.root0, kind="stable")
        self._root0_sorted = self.root0[self._root0_order]

    # -- history
    def _n_edits(self, t: float) -> int:
        return bisect.bisect_right(self._times, t)  # edits are kept in time order

    def roots_at(self, t: float) -> np.ndarray:
        """Root of every supervoxel (aligned with ``self.sv``) at time ``t``."""
        n = self._n_edits(t)
        with self._lock:
            hit = self._cache.get(n)
            if hit is None:
                # start from the nearest cached state before n (edits only ever append)
                base = max((k for k in self._cache if k < n), default=None)
                hit = self.root0.copy() if base is None else self._cache[base].copy()
                for _, idx, new in self.edits[(0 if base is None else base):n]:
                    hit[idx] = new
                if len(self._cache) > 16:
                    self._cache.clear()
                self._cache[n] = hit
        return hit

    def alive(self, t: float) -> np.ndarray:
        """Sorted root ids that exist at time ``t``."""
        n = self._n_edits(t)
        with self._lock:
            hit = self._alive.get(n)
        if hit is None:
            hit = np.unique(self.roots_at(t))
            with self._lock:
                self._alive[n] = hit
        return hit

    def lookup(self, supervoxels: np.ndarray, t: float) -> np.ndarray:
        """Root ids of ``supervoxels`` at ``t`` (0 for supervoxel 0 or unknown ids)."""
        svs = np.asarray(supervoxels, dtype=U64)
        out = np.zeros(len(svs), dtype=U64)
        if not len(self.sv):
            return out
        idx = np.searchsorted(self.sv, svs)
        idx_c = np.minimum(idx, len(self.sv) - 1)
        ok = (idx < len(self.sv)) & (self.sv[idx_c] == svs) & (svs != 0)
        out[ok] = self.roots_at(t)[idx_c[ok]]
        return out

    def is_latest(self, roots: np.ndarray, t: float) -> np.ndarray:
        """Whether each root exists (and is not yet superseded) at ``t``."""
        return _in_sorted(np.asarray(roots, dtype=U64), self.alive(t))

    def creation_times(self, roots: np.ndarray) -> np.ndarray:
        """Epoch seconds at which each root was created."""
        return np.array([self.created.get(int(r), self.base_time) for r in roots], dtype=float)

    def info(self) -> dict:
        """The segmentation ``info`` reply (``n_layers`` 5: ``suggest_latest_roots`` then compares supervoxels)."""
        return {"app": {"supported_api_versions": [0, 1]}, "data_dir": "", "type": "segmentation",
                "graph": {"n_layers": 5, "chunk_size": [256, 256, 512]}, "mesh": "graphene_meshes",
                "scales": [{"resolution": [8, 8, 40], "size": [1, 1, 1], "voxel_offset": [0, 0, 0]}]}

    def supervoxels_of(self, root: int) -> np.ndarray:
        """Indices (into ``self.sv``) of the supervoxels of ``root`` when it was created."""
        root = int(root)
        op = self.operation.get(root)
        if op is not None:  # made by an edit: its supervoxels are in that edit
            _, idx, new = self.edits[op]
            return idx[new == U64(root)]
        lo = np.searchsorted(self._root0_sorted, U64(root), side="left")
        hi = np.searchsorted(self._root0_sorted, U64(root), side="right")
        return np.sort(self._root0_order[lo:hi])

    def known_roots(self) -> np.ndarray:
        """Sorted ids of every root that has ever existed."""
        with self._lock:
            if self._known is None:
                self._known = np.union1d(np.unique(self.root0), np.fromiter(self.created, dtype=U64,
                                                                             count=len(self.created)))
            return self._known

    def is_root(self, ids: np.ndarray) -> np.ndarray:
        """Whether each id is a root id that has ever existed."""
        return _in_sorted(np.asarray(ids, dtype=U64), self.known_roots())

    def is_supervoxel(self, ids: np.ndarray) -> np.ndarray:
        """Whether each id is a supervoxel id."""
        return _in_sorted(np.asarray(ids, dtype=U64), self.sv)

    def creation_time(self, root: int) -> float:
        return self.created.get(int(root), self.base_time)

    def lineage_graph(self, roots: np.ndarray, t_past: float, t_future: float) -> dict:
        """The reply of ``lineage_graph_multiple``: node-link JSON, links from old to new roots.

        From each root, successors are followed while a node is not newer than
        ``t_future`` and predecessors while it is not older than ``t_past``;
        the first node beyond either bound is included (its link crosses the
        bound), as the PyChunkedGraph does.
        """
        nodes: dict[int, dict] = {}
        links: set[tuple[int, int]] = set()

        def node(n: int) -> None:
            if n not in nodes:
                nodes[n] = {"id": n, "timestamp": self.creation_time(n), "operation_id": self.operation.get(n)}

        for r in (int(x) for x in np.unique(np.asarray(roots, dtype=U64))):
            node(r)
            stack = [r]
            while stack:  # future
                n = stack.pop()
                if self.creation_time(n) > t_future:
                    continue
                for ch in self.children.get(n, ()):
                    node(ch)
                    if (n, ch) not in links:
                        links.add((n, ch))
                        stack.append(ch)
            stack = [r]
            while stack:  # past
                n = stack.pop()
                if self.creation_time(n) < t_past:
                    continue
                for par in self.parents.get(n, ()):
                    node(par)
                    if (par, n) not in links:
                        links.add((par, n))
                        stack.append(par)
        return {"directed": True, "multigraph": False, "graph": {},
                "nodes": list(nodes.values()), "links": [{"source": a, "target": b} for a, b in sorted(links)]}

    # -- edits
    def _new_root(self, t: float) -> int:
        self._max_root += 1 + (self._max_root % 7)  # ids are not contiguous
        self.created[self._max_root] = t
        return self._max_root

    def _add_edit(self, t: float, idx: np.ndarray, new: np.ndarray) -> None:
        if self.edits and t < self.edits[-1][0]:
            raise ValueError("edits must be added in time order")
        with self._lock:
            self.edits.append((float(t), idx, np.asarray(new, dtype=U64)))
            self._times.append(float(t))
            self._alive.clear()
            self._known = None

    def _members_now(self) -> dict[int, np.ndarray]:
        """Root -> its supervoxel indices after the last edit (kept up to date by merge and split)."""
        if self._members is None:
            cur = self.roots_at(np.inf)
            order = np.argsort(cur, kind="stable")
            vals, starts = np.unique(cur[order], return_index=True)
            self._members = {int(v): idx for v, idx in zip(vals, np.split(order, starts[1:]))}
        return self._members

    def _link(self, olds: list[int], news: list[int], t: float) -> None:
        op = len(self.edits) - 1  # the edit just added
        for n in news:
            self.parents[n] = tuple(olds)
            self.operation[n] = op
        for o in olds:
            self.children[o] = tuple(news)
            self.superseded[o] = float(t)

    def _check_time(self, t: float) -> None:
        if self.edits and t < self.edits[-1][0]:
            raise ValueError("edits must be added in time order")

    def merge(self, roots: list[int], t: float) -> int:
        """Merge the objects ``roots`` (valid at ``t``, after every earlier edit) into a new root; returns it."""
        self._check_time(t)
        members = self._members_now()
        olds = sorted({int(r) for r in roots if int(r) in members})
        if not olds:
            raise ValueError(f"none of {roots} exists at {t}")
        idx = np.sort(np.concatenate([members.pop(o) for o in olds]))
        new = self._new_root(t)
        self._add_edit(t, idx, np.full(len(idx), new, dtype=U64))
        members[new] = idx
        self._link(olds, [new], t)
        return new

    def split(self, root: int, t: float) -> tuple[int, int]:
        """Split ``root`` into two new roots (its supervoxels halved); returns them."""
        self._check_time(t)
        members = self._members_now()
        idx = members.get(int(root))
        if idx is None or len(idx) < 2:
            raise ValueError(f"root {root} has fewer than two supervoxels at {t}")
        a, b = self._new_root(t), self._new_root(t)
        half = len(idx) // 2
        new = np.where(np.arange(len(idx)) < half, a, b).astype(U64)
        self._add_edit(t, idx, new)
        del members[int(root)]
        members[a], members[b] = idx[:half], idx[half:]
        self._link([int(root)], [a, b], t)
        return a, b

    def past_id_mapping(self, roots: np.ndarray, t_past: float, t_future: float | None) -> dict:
        """The reply of the chunkedgraph's ``past_id_mapping`` endpoint."""
        past = self.roots_at(t_past)
        fut = self.roots_at(np.inf if t_future is None else t_future)
        past_map: dict[str, list[int]] = {}
        future_map: dict[str, int] = {}
        for r in np.unique(np.asarray(roots, dtype=U64)):
            idx = self.supervoxels_of(int(r))
            olds = np.unique(past[idx])
            past_map[str(int(r))] = [int(o) for o in olds]
            for o in olds:
                fidx = np.flatnonzero(past == o)
                vals, counts = np.unique(fut[fidx], return_counts=True)
                future_map[str(int(o))] = int(vals[np.argmax(counts)])
        return {"past_id_map": past_map, "future_id_map": future_map}


# ----------------------------------------------------------------------------- tables


@dataclass
class SynthTable:
    """One annotation table, stored with supervoxel ids (roots come from the chunkedgraph).

    ``data`` holds ``id``, ``valid``, the columns of the schema, positions split
    as ``{prefix}_position_x/_y/_z`` (voxels), ``{prefix}_supervoxel_id`` for
    each prefix in ``bound`` and a hidden ``_created`` (epoch seconds): a row
    appears in the versions made after it was created.
    """

    name: str
    data: pd.DataFrame
    schema: str
    voxel_resolution: tuple[float, float, float]
    positions: tuple[str, ...] = ()
    bound: tuple[str, ...] = ()
    reference_table: str | None = None
    description: str = ""

    def columns(self) -> list[str]:
        """Column names of a materialized reply (split positions, with root ids)."""
        out = []
        for c in self.data.columns:
            if c == "_created":
                continue
            out.append(c)
            if c.endswith("_supervoxel_id"):
                out.append(c[: -len("supervoxel_id")] + "root_id")
        return out

    def metadata(self, datastack: str) -> dict:
        """The reply of the table-metadata endpoint."""
        vx, vy, vz = self.voxel_resolution
        return {
            "table_name": self.name, "schema": self.schema, "schema_type": self.schema,
            "reference_table": self.reference_table, "description": self.description,
            "voxel_resolution_x": vx, "voxel_resolution_y": vy, "voxel_resolution_z": vz,
            "valid": True, "created": "2023-01-01T00:00:00.000000", "datastack": datastack,
            "user_id": "0", "notice_text": None,
        }


@dataclass
class VersionInfo:
    """A materialization version: number, frozen time, expiry."""

    version: int
    time_stamp: _dt.datetime
    expired: bool = False

    def metadata(self, datastack: str) -> dict:
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
        expires = self.time_stamp + _dt.timedelta(days=3650 if not self.expired else 30)
        return {"version": self.version, "id": self.version, "datastack": datastack, "valid": not self.expired,
                "time_stamp": self.time_stamp.astimezone(_UTC).strftime(fmt),
                "expires_on": expires.astimezone(_UTC).strftime(fmt), "status": "AVAILABLE",
                "is_merged": True}


@dataclass
class Datastack:
    """A datastack the loopback server serves: info, tables, versions, chunkedgraph."""

    name: str
    aligned_volume: str
    synapse_table: str | None
    tables: dict[str, SynthTable]
    chunkedgraph: Chunkedgraph
    versions: list[VersionInfo]
    viewer_resolution: tuple[float, float, float] = (4, 4, 40)
    soma_table: str | None = None
    description: str = ""
    _mat_cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- versions
    def version(self, v: int) -> VersionInfo | None:
        return next((x for x in self.versions if x.version == int(v)), None)

    def version_time(self, v: int) -> float:
        """Epoch seconds at which version ``v`` was frozen."""
        info = self.version(v)
        if info is None:
            raise KeyError(v)
        return info.time_stamp.timestamp()

    def valid_versions(self) -> list[int]:
        return sorted(x.version for x in self.versions if not x.expired)

    def all_versions(self) -> list[int]:
        return sorted(x.version for x in self.versions)

    def publish_version(self, when: _dt.datetime | None = None) -> int:
        """Freeze a new version at ``when`` (default: now); returns its number."""
        when = when or _dt.datetime.now(_UTC)
        v = max(self.all_versions(), default=0) + 1
        self.versions.append(VersionInfo(v, when))
        return v

    def expire_version(self, v: int) -> None:
        info = self.version(v)
        if info is None:
            raise KeyError(v)
        info.expired = True

    # -- tables
    def materialize(self, table: str, t: float) -> pa.Table:
        """``table`` as the materialization engine freezes it at time ``t``: rows
        created by then, root ids looked up at ``t``, sorted by ``id``."""
        key = (table, self.chunkedgraph._n_edits(t), float(t))
        with self._lock:
            hit = self._mat_cache.get(key)
        if hit is not None:
            return hit
        st = self.tables[table]
        df = st.data
        keep = df["_created"].to_numpy() <= t
        cols: dict[str, np.ndarray] = {}
        for c in df.columns:
            if c == "_created":
                continue
            vals = df[c].to_numpy()[keep]
            cols[c] = vals
            if c.endswith("_supervoxel_id"):
                roots = self.chunkedgraph.lookup(vals.astype(U64), t)
                cols[c[: -len("supervoxel_id")] + "root_id"] = roots.astype(np.int64)
        tbl = pa.table({k: pa.array(v) for k, v in cols.items()})
        with self._lock:
            if len(self._mat_cache) > 32:
                self._mat_cache.clear()
            self._mat_cache[key] = tbl
        return tbl

    def info(self, server: str) -> dict:
        """The info service's ``datastack/full`` reply."""
        vx, vy, vz = self.viewer_resolution
        return {
            "name": self.name, "description": self.description,
            "local_server": server,
            "segmentation_source": f"graphene://{server}/segmentation/table/{self.chunkedgraph.table_id}",
            "synapse_table": self.synapse_table, "soma_table": self.soma_table,
            "analysis_database": None, "viewer_site": "https://neuroglancer-demo.appspot.com",
            "viewer_resolution_x": vx, "viewer_resolution_y": vy, "viewer_resolution_z": vz,
            "aligned_volume": {"name": self.aligned_volume, "id": 1, "description": "",
                               "image_source": f"precomputed://{server}/image",
                               "display_name": self.aligned_volume},
        }


# ----------------------------------------------------------------------------- builders


def _ids_with_gaps(rng: np.random.Generator, n: int, start: int = 1) -> np.ndarray:
    """``n`` sorted unique annotation ids with gaps (deleted annotations)."""
    pool = np.arange(start, start + int(n * 1.04) + 8, dtype=np.int64)
    return np.sort(rng.choice(pool, size=n, replace=False))


def _root_ids(rng: np.random.Generator, n: int, base: int) -> np.ndarray:
    return np.sort(base + rng.choice(10**9, size=n, replace=False)).astype(U64)


def _pairs(rng: np.random.Generator, n_neurons: int, n_synapses: int, autapse_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """Pre/post neuron indices of ``n_synapses`` synapses over heavy-tailed connections."""
    n_edges = max(1, n_synapses // 3)
    pre = rng.integers(0, n_neurons, n_edges)
    post = rng.integers(0, n_neurons, n_edges)
    auto = rng.random(n_edges) < autapse_frac
    post[auto] = pre[auto]
    counts = rng.geometric(0.22, n_edges)
    rep = np.repeat(np.arange(n_edges), counts)[:n_synapses]
    while len(rep) < n_synapses:  # pragma: no cover - geometric tail too short
        rep = np.concatenate([rep, rng.integers(0, n_edges, n_synapses - len(rep))])
    rng.shuffle(rep)
    return pre[rep], post[rep]


def _sv_table(rng: np.random.Generator, roots: np.ndarray, per: int, base: int) -> tuple[np.ndarray, np.ndarray]:
    svs = (base + np.arange(len(roots) * per)).astype(U64)
    return svs, np.repeat(roots, per)


def _pick_sv(rng: np.random.Generator, neuron: np.ndarray, per: int, base: int, zero_frac: float) -> np.ndarray:
    sv = (base + neuron * per + rng.integers(0, per, len(neuron))).astype(np.int64)
    sv[rng.random(len(sv)) < zero_frac] = 0
    return sv


def _positions(rng: np.random.Generator, centers: np.ndarray, neuron: np.ndarray, spread: tuple) -> np.ndarray:
    return (centers[neuron] + rng.normal(0, 1, (len(neuron), 3)) * np.asarray(spread)).round().astype(np.int64).clip(0)


def _split(prefix: str, xyz: np.ndarray) -> dict[str, np.ndarray]:
    return {f"{prefix}_position_x": xyz[:, 0], f"{prefix}_position_y": xyz[:, 1], f"{prefix}_position_z": xyz[:, 2]}


def _churn(cg: Chunkedgraph, rng: np.random.Generator, roots: np.ndarray, start: float, n: int, step: float) -> float:
    """``n`` proofreading edits (alternating merges and splits) from ``start``; returns the last time."""
    t = start
    for i in range(n):
        t += step
        alive = cg.alive(t)
        alive = alive[np.isin(alive, roots) | (alive > roots.max())]
        if i % 2 == 0:
            a, b = rng.choice(alive, 2, replace=False)
            cg.merge([int(a), int(b)], t)
        else:
            cand = [int(r) for r in rng.permutation(alive)[:20] if len(np.flatnonzero(cg.roots_at(t) == r)) >= 2]
            if cand:
                cg.split(cand[0], t)
    return t


def flywire_datastack(n_synapses: int = 20_000, n_neurons: int = 300, *, seed: int = 0,
                      labels: pd.DataFrame | None = None, name: str = "flywire_fafb_public",
                      versions: tuple[int, int] = (630, 783), churn: int = 6) -> Datastack:
    """A FlyWire-like datastack: ``synapses_nt_v1`` and ``hierarchical_neuron_annotations``.

    Parameters
    ----------
    n_synapses, n_neurons : int
        Table sizes.
    labels : DataFrame, optional
        Real neurons to use (``root_id`` plus ``super_class``, ``class``,
        ``cell_type`` columns, e.g. the FlyWire v783 neuron table): their root
        ids and labels fill the tables.
    versions : (int, int)
        An expired and a valid materialization version.
    churn : int
        Proofreading edits after the valid version (merges and splits), so a
        timestamp after them sees new root ids.

    Examples
    --------
    >>> ds = flywire_datastack(n_synapses=500, n_neurons=40)
    >>> sorted(ds.tables), ds.valid_versions()
    (['hierarchical_neuron_annotations', 'synapses_nt_v1'], [783])
    """
    rng = np.random.default_rng(seed)
    if labels is not None:
        pick = labels.sample(n=min(n_neurons, len(labels)), random_state=seed).sort_values("root_id")
        roots = pick["root_id"].to_numpy(dtype=U64)
        n_neurons = len(roots)
    else:
        pick = None
        roots = _root_ids(rng, n_neurons, 720575940_600000000)
    per, sv_base = 4, 79_000_000_000_000_000
    svs, sv_roots = _sv_table(rng, roots, per, sv_base)
    t0, v_old, v_new = utc(2023, 1, 1), utc(2023, 9, 1), utc(2024, 3, 1)
    cg = Chunkedgraph("fly_v31", svs, sv_roots, t0.timestamp())
    _churn(cg, rng, roots, utc(2023, 10, 1).timestamp(), 2, 86400.0)  # between the versions
    pre, post = _pairs(rng, n_neurons, n_synapses, autapse_frac=0.01)
    centers = np.column_stack([rng.uniform(20_000, 200_000, n_neurons), rng.uniform(10_000, 80_000, n_neurons),
                               rng.uniform(100, 7_000, n_neurons)])
    post_xyz = _positions(rng, centers, post, (1500, 1500, 150))
    pre_xyz = (post_xyz + rng.integers(-30, 30, post_xyz.shape)).clip(0)
    nts = np.array(["gaba", "ach", "glut", "oct", "ser", "da"])
    nt_of = rng.choice(len(nts), n_neurons, p=[0.2, 0.5, 0.2, 0.03, 0.04, 0.03])
    alpha = np.full((n_synapses, len(nts)), 0.3)
    alpha[np.arange(n_synapses), nt_of[pre]] = 6.0
    probs = rng.gamma(alpha)
    probs /= probs.sum(axis=1, keepdims=True)
    created = np.full(n_synapses, t0.timestamp())
    created[rng.random(n_synapses) < 0.03] = utc(2023, 12, 1).timestamp()  # only in the newer version
    syn = pd.DataFrame({"id": _ids_with_gaps(rng, n_synapses), "valid": True, **_split("pre_pt", pre_xyz),
                        **_split("post_pt", post_xyz),
                        "pre_pt_supervoxel_id": _pick_sv(rng, pre, per, sv_base, 0.01),
                        "post_pt_supervoxel_id": _pick_sv(rng, post, per, sv_base, 0.01),
                        "connection_score": rng.gamma(2.0, 60.0, n_synapses).round(3),
                        "cleft_score": rng.integers(0, 200, n_synapses),
                        **{nt: probs[:, i].round(4) for i, nt in enumerate(nts)}, "_created": created})
    # hierarchical annotations: one row per neuron and classification level
    levels = ["super_class", "class", "cell_type"]
    rows = []
    for i in range(n_neurons):
        if pick is not None:
            vals = {lv: pick[lv].iloc[i] if lv in pick.columns else None for lv in levels}
        else:
            vals = {"super_class": ["central", "optic", "sensory"][i % 3], "class": f"class_{i % 7}",
                    "cell_type": f"type_{i % 23}"}
        if rng.random() < 0.1:
            continue  # unlabelled neuron
        for lv in levels:
            if vals[lv] is not None and not (isinstance(vals[lv], float) and np.isnan(vals[lv])):
                rows.append((i, lv, str(vals[lv])))
    ann_idx = np.array([r[0] for r in rows], dtype=np.int64)
    soma = centers[ann_idx].round().astype(np.int64)
    ann = pd.DataFrame({"id": np.arange(1, len(rows) + 1, dtype=np.int64), "valid": True,
                        "classification_system": [r[1] for r in rows], "cell_type": [r[2] for r in rows],
                        **_split("pt", soma), "pt_supervoxel_id": (sv_base + ann_idx * per).astype(np.int64),
                        "_created": t0.timestamp()})
    res = (4.0, 4.0, 40.0)
    tables = {
        "synapses_nt_v1": SynthTable("synapses_nt_v1", syn, "fly_nt_synapse", res, ("pre_pt", "post_pt"),
                                     ("pre_pt", "post_pt"), description="synthetic FlyWire-format synapses"),
        "hierarchical_neuron_annotations": SynthTable("hierarchical_neuron_annotations", ann,
                                                      "cell_type_local", res, ("pt",), ("pt",)),
    }
    ds = Datastack(name, "fafb_seung_alignment", "synapses_nt_v1", tables, cg,
                   [VersionInfo(versions[0], v_old, expired=True), VersionInfo(versions[1], v_new)],
                   viewer_resolution=res, description="synthetic FlyWire-format datastack")
    _churn(cg, rng, roots, utc(2024, 5, 1).timestamp(), churn, 3600.0)
    return ds


_MICRONS_TYPES = {"excitatory_neuron": ["23P", "4P", "5P-IT", "5P-ET", "5P-NP", "6P-IT", "6P-CT"],
                  "inhibitory_neuron": ["BC", "MC", "BPC", "NGC"],
                  "nonneuron": ["astrocyte", "microglia", "oligo", "OPC", "pericyte"]}


def microns_datastack(n_synapses: int = 20_000, n_cells: int = 300, *, seed: int = 0,
                      name: str = "minnie65_public", versions: tuple[int, int] = (343, 661),
                      churn: int = 6) -> Datastack:
    """A MICrONS-like datastack: ``synapses_pni_2``, ``nucleus_detection_v0`` and the
    reference table ``aibs_metamodel_celltypes_v661`` (joined to nuclei by ``target_id``).

    Examples
    --------
    >>> ds = microns_datastack(n_synapses=500, n_cells=40)
    >>> ds.tables["aibs_metamodel_celltypes_v661"].reference_table
    'nucleus_detection_v0'
    """
    rng = np.random.default_rng(seed)
    roots = _root_ids(rng, n_cells, 864691135_000000000)
    per, sv_base = 3, 88_000_000_000_000_000
    svs, sv_roots = _sv_table(rng, roots, per, sv_base)
    t0, v_old, v_new = utc(2022, 6, 1), utc(2022, 12, 1), utc(2023, 4, 1)
    cg = Chunkedgraph("minnie3_v1", svs, sv_roots, t0.timestamp())
    _churn(cg, rng, roots, utc(2023, 1, 1).timestamp(), 2, 86400.0)
    pre, post = _pairs(rng, n_cells, n_synapses, autapse_frac=0.01)
    centers = np.column_stack([rng.uniform(60_000, 300_000, n_cells), rng.uniform(40_000, 250_000, n_cells),
                               rng.uniform(15_000, 27_000, n_cells)])
    ctr = _positions(rng, centers, post, (2500, 2500, 300))
    created = np.full(n_synapses, t0.timestamp())
    created[rng.random(n_synapses) < 0.03] = utc(2023, 2, 1).timestamp()
    syn = pd.DataFrame({"id": _ids_with_gaps(rng, n_synapses, start=1000), "valid": True,
                        **_split("pre_pt", (ctr + rng.integers(-40, 0, ctr.shape)).clip(0)),
                        **_split("post_pt", ctr + rng.integers(0, 40, ctr.shape)), **_split("ctr_pt", ctr),
                        "size": rng.lognormal(6.0, 1.0, n_synapses).round().astype(np.int64) + 1,
                        "pre_pt_supervoxel_id": _pick_sv(rng, pre, per, sv_base, 0.01),
                        "post_pt_supervoxel_id": _pick_sv(rng, post, per, sv_base, 0.01),
                        "_created": created})
    # nuclei: one per cell, a few unattached (supervoxel 0), a few cells with two nuclei
    cell = np.arange(n_cells)
    extra = rng.choice(n_cells, max(1, n_cells // 50), replace=False)
    nuc_cell = np.concatenate([cell, extra])
    nuc_sv = (sv_base + nuc_cell * per).astype(np.int64)
    nuc_sv[rng.random(len(nuc_sv)) < 0.03] = 0
    nuc_ids = np.sort(rng.choice(np.arange(100_000, 900_000), len(nuc_cell), replace=False)).astype(np.int64)
    nuc = pd.DataFrame({"id": nuc_ids, "valid": True, "volume": rng.uniform(150, 600, len(nuc_cell)).round(3),
                        **_split("pt", (centers[nuc_cell] + rng.integers(-50, 50, (len(nuc_cell), 3))).round()
                                 .astype(np.int64)),
                        "pt_supervoxel_id": nuc_sv, "_created": t0.timestamp()})
    classes = rng.choice(list(_MICRONS_TYPES), len(nuc_ids), p=[0.6, 0.15, 0.25])
    ctypes = [rng.choice(_MICRONS_TYPES[c]) for c in classes]
    typed = rng.random(len(nuc_ids)) < 0.9
    ct = pd.DataFrame({"id": np.arange(1, int(typed.sum()) + 1, dtype=np.int64), "valid": True,
                       "target_id": nuc_ids[typed], "classification_system": classes[typed],
                       "cell_type": np.asarray(ctypes)[typed], "_created": t0.timestamp()})
    res = (4.0, 4.0, 40.0)
    tables = {
        "synapses_pni_2": SynthTable("synapses_pni_2", syn, "synapse", res, ("pre_pt", "post_pt", "ctr_pt"),
                                     ("pre_pt", "post_pt")),
        "nucleus_detection_v0": SynthTable("nucleus_detection_v0", nuc, "nucleus_detection", res, ("pt",), ("pt",)),
        "aibs_metamodel_celltypes_v661": SynthTable("aibs_metamodel_celltypes_v661", ct, "cell_type_reference",
                                                    res, (), (), reference_table="nucleus_detection_v0"),
    }
    ds = Datastack(name, "minnie65_phase3", "synapses_pni_2", tables, cg,
                   [VersionInfo(versions[0], v_old, expired=True), VersionInfo(versions[1], v_new)],
                   viewer_resolution=res, soma_table="nucleus_detection_v0",
                   description="synthetic MICrONS-format datastack")
    _churn(cg, rng, roots, utc(2023, 6, 1).timestamp(), churn, 3600.0)
    return ds


def generic_datastack(n_synapses: int = 5_000, n_neurons: int = 80, *, seed: int = 0, name: str = "toy_public",
                      resolution: tuple[float, float, float] = (8.0, 8.0, 40.0)) -> Datastack:
    """A small generic datastack: ``synapses`` (with a ``neuropil`` column) and ``cell_types``.

    Examples
    --------
    >>> ds = generic_datastack(n_synapses=100)
    >>> ds.tables["synapses"].columns()[:4]
    ['id', 'valid', 'pre_pt_position_x', 'pre_pt_position_y']
    """
    rng = np.random.default_rng(seed)
    roots = _root_ids(rng, n_neurons, 100_000_000_000)
    per, sv_base = 2, 5_000_000_000_000
    svs, sv_roots = _sv_table(rng, roots, per, sv_base)
    t0 = utc(2024, 1, 1)
    cg = Chunkedgraph("toy_seg", svs, sv_roots, t0.timestamp())
    pre, post = _pairs(rng, n_neurons, n_synapses, autapse_frac=0.02)
    centers = np.column_stack([rng.uniform(1_000, 9_000, (n_neurons, 2)), rng.uniform(10, 400, n_neurons)])
    xyz = _positions(rng, centers, post, (300, 300, 20))
    syn = pd.DataFrame({"id": _ids_with_gaps(rng, n_synapses), "valid": True,
                        **_split("pre_pt", xyz), **_split("post_pt", xyz + 2),
                        "pre_pt_supervoxel_id": _pick_sv(rng, pre, per, sv_base, 0.02),
                        "post_pt_supervoxel_id": _pick_sv(rng, post, per, sv_base, 0.02),
                        "neuropil": rng.choice(["AL_L", "AL_R", "MB_CA_L"], n_synapses),
                        "size": rng.integers(10, 900, n_synapses), "_created": t0.timestamp()})
    typed = np.flatnonzero(rng.random(n_neurons) < 0.8)
    cells = pd.DataFrame({"id": np.arange(1, len(typed) + 1, dtype=np.int64), "valid": True,
                          "cell_type": rng.choice(["PN", "KC", "LN"], len(typed)),
                          **_split("pt", centers[typed].round().astype(np.int64)),
                          "pt_supervoxel_id": (sv_base + typed * per).astype(np.int64), "_created": t0.timestamp()})
    tables = {
        "synapses": SynthTable("synapses", syn, "synapse_neuropil", resolution, ("pre_pt", "post_pt"),
                               ("pre_pt", "post_pt")),
        "cell_types": SynthTable("cell_types", cells, "cell_type_local", resolution, ("pt",), ("pt",)),
    }
    return Datastack(name, "toy_volume", "synapses", tables, cg,
                     [VersionInfo(1, utc(2024, 2, 1), expired=True), VersionInfo(2, utc(2024, 3, 1))],
                     viewer_resolution=resolution, description="synthetic generic datastack")
