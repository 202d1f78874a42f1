"""A CAVE-protocol server on 127.0.0.1 for tests and benchmarks, with fault injection.

It answers the requests ``caveclient`` 8.x makes (see ``../shared/STACK.md``):

* info service: ``/info/version``, ``/info/api/v2/datastacks``,
  ``/info/api/v2/datastack/full/{datastack}``;
* materialization engine: API and server versions, ``versions``,
  version metadata, ``tables``, table ``metadata`` and ``count``, and
  ``query`` (one table) / join ``query`` (a reference table and its target)
  with the filter dictionaries, ``select_columns``, ``limit`` / ``offset`` and
  ``desired_resolution``. Replies are Apache Arrow IPC streams with
  ``Content-Type: data.arrow``. Like the real servers it caps a reply at
  ``max_rows`` rows and says so in a ``Warning`` header;
* chunkedgraph: ``roots_binary`` (raw little-endian uint64 in and out),
  ``node/{sv}/root``, ``is_latest_roots``, ``root_timestamps`` (also
  ``latest=True``), ``past_id_mapping``, ``lineage_graph_multiple``,
  ``valid_nodes``, ``node/{root}/leaves``, ``node/leaves_many`` and the
  segmentation ``info``: what ``caveclient``'s live queries and its lineage
  calls (``get_latest_roots``, ``get_past_ids``, ``get_lineage_graph``,
  ``suggest_latest_roots``, ``is_valid_nodes``) send. Leaves are always
  supervoxels (``stop_layer`` is ignored).

Faults (:class:`Fault`) make chosen requests fail: an HTTP status, a delay
longer than the client's timeout, a dropped connection, a body shorter than
its ``Content-Length``, or an Arrow stream cut at a record-batch boundary (a
valid HTTP reply that silently lacks rows). Versions can be published or
expired while a client is running. Everything is also reachable over HTTP
(``/_testing/...``) for a server run in another process::

    python -m connectome.ingest.testing.cave_server --datastack flywire --synapses 200000

Examples
--------
>>> from connectome.ingest.testing import CaveTestServer, generic_datastack
>>> with CaveTestServer([generic_datastack(n_synapses=50)], max_rows=20) as srv:
...     fault = srv.add_fault("status", code=503, match="query", times=1)
...     len(srv.faults)
1
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import logging
import re
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pyarrow as pa

from connectome.loopback import ThreadedServer

from .cave_data import Datastack, flywire_datastack, generic_datastack, microns_datastack

logger = logging.getLogger(__name__)

__all__ = ["CaveTestServer", "Fault", "main"]

INFO_VERSION = "4.7.0"
MAT_VERSION = "5.14.0"
PCG_VERSION = "2.18.0"
FAULT_KINDS = ("status", "timeout", "drop", "truncate_body", "truncate", "delay")


@dataclass
class Fault:
    """One injected fault.

    Parameters
    ----------
    kind : {"status", "timeout", "drop", "truncate_body", "truncate", "delay"}
        ``status``: reply ``code`` with a JSON error. ``timeout``: wait ``delay``
        seconds, then close without replying. ``drop``: close the connection
        without replying. ``truncate_body``: send part of the body of a reply
        whose ``Content-Length`` promises more. ``truncate``: a complete HTTP
        reply whose Arrow stream stops after some record batches (no
        end-of-stream marker). ``delay``: answer normally after ``delay`` s.
    match : str
        Route names it applies to (substring), e.g. ``"query"``, ``"roots"``,
        ``"metadata"``; ``""`` matches every route.
    times : int or None
        How many requests it hits (``None``: until cleared).
    after : int
        Let this many matching requests pass first.
    """

    kind: str
    match: str = "query"
    times: int | None = 1
    after: int = 0
    code: int = 503
    delay: float = 2.0
    seen: int = 0
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}, not {self.kind!r}")

    def take(self, route: str) -> bool:
        if self.match not in route:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times


class _HTTPError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_ROUTES: list[tuple[str, str, re.Pattern]] = [
    (m, name, re.compile("^" + pat + "$")) for m, name, pat in [
        ("GET", "info_version", r"/info/version"),
        ("GET", "datastacks", r"/info/api/v2/datastacks"),
        ("GET", "datastack_info", r"/info/api/v2/datastack/full/(?P<ds>[^/]+)"),
        ("GET", "aligned_volume", r"/info/api/v2/aligned_volume/(?P<av>[^/]+)"),
        ("GET", "mat_api_versions", r"/materialize/api/versions"),
        ("GET", "mat_version", r"/materialize/version"),
        ("GET", "versions", r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/versions"),
        ("GET", "versions_metadata", r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/metadata"),
        ("GET", "version_metadata", r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/version/(?P<v>\d+)"),
        ("GET", "tables", r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/version/(?P<v>\d+)/tables"),
        ("GET", "tables_metadata",
         r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/version/(?P<v>\d+)/tables/metadata"),
        ("GET", "table_metadata",
         r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/version/(?P<v>\d+)/table/(?P<t>[^/]+)/metadata"),
        ("GET", "table_count",
         r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/version/(?P<v>\d+)/table/(?P<t>[^/]+)/count"),
        ("POST", "query",
         r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/version/(?P<v>\d+)/table/(?P<t>[^/]+)/query"),
        ("POST", "join_query", r"/materialize/api/v[23]/datastack/(?P<ds>[^/]+)/version/(?P<v>\d+)/query"),
        ("GET", "pcg_api_versions", r"/segmentation/api/versions"),
        ("GET", "pcg_version", r"/segmentation/api/version"),
        ("POST", "roots_binary", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/roots_binary"),
        ("POST", "is_latest_roots", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/is_latest_roots"),
        ("POST", "root_timestamps", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/root_timestamps"),
        ("GET", "past_id_mapping", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/past_id_mapping"),
        ("POST", "lineage_graph", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/lineage_graph_multiple"),
        ("GET", "valid_nodes", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/valid_nodes"),
        ("POST", "leaves_many", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/node/leaves_many"),
        ("GET", "leaves", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/node/(?P<node>\d+)/leaves"),
        ("GET", "root_of_supervoxel", r"/segmentation/api/v1/table/(?P<tid>[^/]+)/node/(?P<node>\d+)/root"),
        ("GET", "segmentation_info", r"/segmentation/table/(?P<tid>[^/]+)/info"),
        ("GET", "testing_stats", r"/_testing/stats"),
        ("POST", "testing_faults", r"/_testing/faults"),
        ("DELETE", "testing_faults", r"/_testing/faults"),
        ("POST", "testing_publish", r"/_testing/publish_version"),
        ("POST", "testing_expire", r"/_testing/expire_version"),
    ]
]
_CG_ROUTES = ("roots_binary", "is_latest_roots", "root_timestamps", "past_id_mapping", "lineage_graph",
              "valid_nodes", "leaves_many", "leaves", "root_of_supervoxel", "segmentation_info")
_PUBLIC = {"info_version", "mat_api_versions", "mat_version", "pcg_api_versions", "pcg_version"}
_FILTERS = ("filter_in_dict", "filter_notin_dict", "filter_equal_dict", "filter_greater_dict",
            "filter_less_dict", "filter_greater_equal_dict", "filter_less_equal_dict", "filter_spatial_dict",
            "filter_regex_dict")


class CaveTestServer(ThreadedServer):
    """A threaded CAVE-protocol HTTP server on 127.0.0.1 serving :class:`Datastack` objects.

    Parameters
    ----------
    datastacks : list of Datastack
        What it serves (see :mod:`connectome.ingest.testing.cave_data`).
    max_rows : int
        Row cap of one query reply (real servers: about 200,000).
    tokens : iterable of str, optional
        Accepted auth tokens (``Authorization: Bearer`` or the
        ``middle_auth_token`` cookie). ``None`` accepts requests without one.
    port : int
        0 picks a free port.
    batch_rows : int
        Rows per Arrow record batch in replies.

    Use it as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    thread_name = "cave-test-server"

    def __init__(self, datastacks: list[Datastack], *, max_rows: int = 200_000, tokens: Any = None,
                 port: int = 0, batch_rows: int = 65_536) -> None:
        self.datastacks = {d.name: d for d in datastacks}
        self.max_rows = int(max_rows)
        self.tokens = None if tokens is None else set(tokens)
        self.batch_rows = int(batch_rows)
        self.faults: list[Fault] = []
        self.stats: Counter = Counter()
        self.query_log: list[dict] = []
        self._lock = threading.Lock()
        self._port = port
        #: ``local_server`` the info service announces (default: this server), e.g. to test a dead one
        self.local_server: str | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123``."""
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> CaveTestServer:
        return self._serve("127.0.0.1", self._port, type("Handler", (_Handler,), {"app": self}))

    # ------------------------------------------------------------------ control
    def add_fault(self, kind: str, **kwargs: Any) -> Fault:
        """Inject a fault (see :class:`Fault`); returns it (``.hits`` counts its uses)."""
        f = Fault(kind, **kwargs)
        with self._lock:
            self.faults.append(f)
        return f

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats.clear()
            self.query_log.clear()

    def publish_version(self, datastack: str, when: _dt.datetime | None = None) -> int:
        """Freeze a new materialization version of ``datastack`` now; returns its number."""
        return self.datastacks[datastack].publish_version(when)

    def expire_version(self, datastack: str, version: int) -> None:
        self.datastacks[datastack].expire_version(version)

    def _fault_for(self, route: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.take(route):
                    return f
        return None

    # ------------------------------------------------------------------ handlers
    def _ds(self, name: str) -> Datastack:
        ds = self.datastacks.get(name)
        if ds is None:
            raise _HTTPError(404, f"datastack {name!r} not found")
        return ds

    def _version(self, ds: Datastack, v: str, allow_expired: bool = False) -> float:
        info = ds.version(int(v))
        if info is None:
            raise _HTTPError(404, f"version {v} not found for datastack {ds.name}")
        if info.expired and not allow_expired:
            raise _HTTPError(410, f"version {v} of datastack {ds.name} has expired")
        return info.time_stamp.timestamp()

    def _table(self, ds: Datastack, t: str):
        st = ds.tables.get(t)
        if st is None:
            raise _HTTPError(404, f"table {t!r} not found in datastack {ds.name}")
        return st

    def handle(self, method: str, route: str, params: dict, query: dict, body: bytes) -> tuple[int, dict, bytes]:
        """Answer one request: (status, headers, body)."""
        q1 = {k: v[-1] for k, v in query.items()}
        if route == "info_version":
            return _json(INFO_VERSION)
        if route == "mat_api_versions":
            return _json([2, 3])
        if route == "mat_version":
            return _json(MAT_VERSION)
        if route == "pcg_api_versions":
            return _json([0, 1])
        if route == "pcg_version":
            return _json(PCG_VERSION)
        if route == "datastacks":
            return _json(sorted(self.datastacks))
        if route == "datastack_info":
            info = self._ds(params["ds"]).info(self.url)
            if self.local_server:
                info["local_server"] = self.local_server
            return _json(info)
        if route == "aligned_volume":
            return _json({"name": params["av"], "id": 1, "description": "", "image_source": ""})
        if route in ("versions", "versions_metadata"):
            ds = self._ds(params["ds"])
            expired = q1.get("expired", "False").lower() == "true"
            vs = ds.all_versions() if expired else ds.valid_versions()
            if route == "versions":
                return _json(vs)
            return _json([ds.version(v).metadata(ds.name) for v in vs])
        if route == "version_metadata":
            ds = self._ds(params["ds"])
            self._version(ds, params["v"], allow_expired=True)
            return _json(ds.version(int(params["v"])).metadata(ds.name))
        if route == "tables":
            ds = self._ds(params["ds"])
            self._version(ds, params["v"])
            return _json(sorted(ds.tables))
        if route == "tables_metadata":
            ds = self._ds(params["ds"])
            self._version(ds, params["v"])
            return _json([t.metadata(ds.name) for t in ds.tables.values()])
        if route == "table_metadata":
            ds = self._ds(params["ds"])
            self._version(ds, params["v"])
            return _json(self._table(ds, params["t"]).metadata(ds.name))
        if route == "table_count":
            ds = self._ds(params["ds"])
            t = self._version(ds, params["v"])
            self._table(ds, params["t"])
            return _json(ds.materialize(params["t"], t).num_rows)
        if route in ("query", "join_query"):
            return self._query(route, params, q1, body)
        if route in _CG_ROUTES:
            return self._chunkedgraph(route, params, q1, body)
        if route.startswith("testing_"):
            return self._testing(method, route, body)
        raise _HTTPError(404, f"no route {route}")  # pragma: no cover

    def _cg(self, tid: str):
        for ds in self.datastacks.values():
            if ds.chunkedgraph.table_id == tid:
                return ds.chunkedgraph
        raise _HTTPError(404, f"segmentation table {tid!r} not found")

    def _chunkedgraph(self, route: str, params: dict, q1: dict, body: bytes) -> tuple[int, dict, bytes]:
        cg = self._cg(params["tid"])
        now = time.time()
        ts = float(q1["timestamp"]) if "timestamp" in q1 else now
        if route == "roots_binary":
            svs = np.frombuffer(body, dtype="<u8")
            roots = cg.lookup(svs, ts).astype("<u8")
            return 200, {"Content-Type": "application/octet-stream"}, roots.tobytes()
        if route == "root_of_supervoxel":
            return _json({"root_id": int(cg.lookup(np.array([int(params["node"])], dtype=np.uint64), ts)[0])})
        if route == "segmentation_info":
            return _json(cg.info())
        if route == "leaves":
            root = int(params["node"])
            self._known(cg, [root])
            return _json({"leaf_ids": [int(v) for v in cg.sv[cg.supervoxels_of(root)]]})
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise _HTTPError(400, f"body is not JSON: {exc}") from None
        if route == "is_latest_roots":
            ids = np.asarray(data.get("node_ids", []), dtype=np.uint64)
            return _json({"is_latest": cg.is_latest(ids, ts).tolist()})
        if route == "root_timestamps":
            ids = np.asarray(data.get("node_ids", []), dtype=np.uint64)
            if q1.get("latest", "False").lower() == "true":
                # the last moment each root was valid: when it was superseded, else the query's timestamp
                return _json({"timestamp": [cg.superseded.get(int(r), ts) for r in ids]})
            return _json({"timestamp": cg.creation_times(ids).tolist()})
        if route == "valid_nodes":
            ids = np.asarray(data.get("node_ids", []), dtype=np.uint64)
            start = float(q1.get("start_timestamp", 0.0))
            end = float(q1.get("end_timestamp", now))
            ok = cg.is_root(ids) | cg.is_supervoxel(ids)
            ok &= np.array([cg.creation_time(int(r)) <= end and cg.superseded.get(int(r), np.inf) >= start
                            for r in ids], dtype=bool)
            return _json({"valid_roots": [int(r) for r in ids[ok]]})
        if route == "leaves_many":
            ids = [int(r) for r in data.get("node_ids", [])]
            self._known(cg, ids)
            return _json({str(r): [int(v) for v in cg.sv[cg.supervoxels_of(r)]] for r in ids})
        ids = np.asarray(data.get("root_ids", []), dtype=np.uint64)
        if route == "lineage_graph":
            self._known(cg, ids)
            t_past = float(q1.get("timestamp_past", 0.0))
            t_future = float(q1.get("timestamp_future", now))
            return _json(cg.lineage_graph(ids, t_past, t_future))
        t_past = float(q1.get("timestamp_past", 0.0))
        t_future = float(q1["timestamp_future"]) if "timestamp_future" in q1 else None
        return _json(cg.past_id_mapping(ids, t_past, t_future))

    @staticmethod
    def _known(cg, ids) -> None:
        ids = np.asarray(ids, dtype=np.uint64)
        bad = ids[~cg.is_root(ids)]
        if len(bad):
            raise _HTTPError(400, f"{len(bad)} node id(s) are not root ids of {cg.table_id}, e.g. {int(bad[0])}")

    def _testing(self, method: str, route: str, body: bytes) -> tuple[int, dict, bytes]:
        data = json.loads(body or b"{}")
        if route == "testing_stats":
            with self._lock:
                return _json({"stats": dict(self.stats), "faults": [asdict(f) for f in self.faults]})
        if route == "testing_faults":
            if method == "DELETE":
                self.clear_faults()
                return _json({"faults": []})
            for f in data if isinstance(data, list) else [data]:
                self.add_fault(**f)
            return _json({"faults": len(self.faults)})
        if route == "testing_publish":
            return _json({"version": self.publish_version(data["datastack"])})
        self.expire_version(data["datastack"], int(data["version"]))
        return _json({"expired": int(data["version"])})

    # ------------------------------------------------------------------ queries
    def _query(self, route: str, params: dict, q1: dict, body: bytes) -> tuple[int, dict, bytes]:
        ds = self._ds(params["ds"])
        t = self._version(ds, params["v"])
        try:
            data = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise _HTTPError(400, f"query body is not JSON: {exc}") from None
        if route == "query":
            name = params["t"]
            st = self._table(ds, name)
            tbl = ds.materialize(name, t)
            names = [name]
        else:
            tables = data.get("tables") or []
            if len(tables) != 2:
                raise _HTTPError(400, "join queries need two [table, column] pairs")
            (name, col), (ref, ref_col) = tables
            st = self._table(ds, name)
            self._table(ds, ref)
            tbl = _join(ds.materialize(name, t), ds.materialize(ref, t), col, ref_col,
                        (data.get("suffix_map") or {}).get(ref, "_ref"))
            names = [name, ref]
        ids = tbl.column("id").to_numpy()
        lo, hi = 0, len(ids)
        mask = None
        cols_np: dict[str, np.ndarray] = {}

        def col(c: str) -> np.ndarray:
            if c not in tbl.column_names:
                raise _HTTPError(400, f"column {c!r} is not in table {name!r} (columns: {tbl.column_names})")
            if c not in cols_np:
                cols_np[c] = tbl.column(c).to_numpy(zero_copy_only=False)
            return cols_np[c]

        filters: list[tuple[str, str, Any]] = []
        for fname in _FILTERS:
            block = data.get(fname)
            if not block:
                continue
            for tname, d in block.items():
                if tname not in names:
                    raise _HTTPError(400, f"{fname}: table {tname!r} is not part of this query")
                for c, v in d.items():
                    filters.append((fname, c, v))
        # id bounds slice the sorted table; everything else is a mask
        for fname, c, v in filters:
            if c == "id" and fname in ("filter_greater_equal_dict", "filter_greater_dict"):
                lo = max(lo, int(np.searchsorted(ids, v, side="left" if fname.endswith("equal_dict") else "right")))
            elif c == "id" and fname in ("filter_less_dict", "filter_less_equal_dict"):
                hi = min(hi, int(np.searchsorted(ids, v, side="left" if fname == "filter_less_dict" else "right")))
        hi = max(lo, hi)
        sl = slice(lo, hi)
        mask = np.ones(hi - lo, dtype=bool)
        for fname, c, v in filters:
            if c == "id" and fname in ("filter_greater_equal_dict", "filter_greater_dict", "filter_less_dict",
                                       "filter_less_equal_dict"):
                continue
            if fname == "filter_spatial_dict":
                box = np.asarray(v, dtype=float)
                if box.shape != (2, 3):
                    raise _HTTPError(400, f"filter_spatial_dict: {c} needs [[x,y,z],[x,y,z]], got {v}")
                for i, ax in enumerate("xyz"):
                    a = col(f"{c}_{ax}")[sl]
                    mask &= (a >= box[0, i]) & (a <= box[1, i])
                continue
            if fname == "filter_regex_dict":
                raise _HTTPError(400, "filter_regex_dict is not supported by this test server")
            a = col(c)[sl]
            if fname == "filter_in_dict":
                mask &= np.isin(a, np.asarray(v, dtype=a.dtype))
            elif fname == "filter_notin_dict":
                mask &= ~np.isin(a, np.asarray(v, dtype=a.dtype))
            elif fname == "filter_equal_dict":
                mask &= a == np.asarray(v).astype(a.dtype)
            elif fname == "filter_greater_dict":
                mask &= a > v
            elif fname == "filter_less_dict":
                mask &= a < v
            elif fname == "filter_greater_equal_dict":
                mask &= a >= v
            else:
                mask &= a <= v
        out = tbl.slice(lo, hi - lo)
        if not mask.all():
            out = out.filter(pa.array(mask))
        off = int(data.get("offset") or 0)
        limit = data.get("limit")
        cap = self.max_rows if limit is None else min(int(limit), self.max_rows)
        headers: dict[str, str] = {"Content-Type": "data.arrow"}
        n_all = out.num_rows - off
        out = out.slice(off, cap)
        if n_all > cap and (limit is None or int(limit) > self.max_rows):
            headers["Warning"] = f'201 - "Limited query to {self.max_rows} rows'
        select = data.get("select_columns")
        if select is None and data.get("select_column_map"):
            select = [c for cs in data["select_column_map"].values() for c in cs]
        if select:
            keep = []
            for c in select:
                if c in out.column_names:
                    keep.append(c)
                elif f"{c}_x" in out.column_names:
                    keep += [f"{c}_x", f"{c}_y", f"{c}_z"]
                else:
                    raise _HTTPError(400, f"select_columns: {c!r} is not in table {name!r}")
            out = out.select(keep)
        if data.get("desired_resolution"):
            want = np.asarray(data["desired_resolution"], dtype=float)
            have = np.asarray(st.voxel_resolution, dtype=float)
            arrays = []
            for c in out.column_names:
                m = re.match(r"^(.*_position)_([xyz])$", c)
                a = out.column(c)
                if m:
                    i = "xyz".index(m.group(2))
                    a = pa.array(a.to_numpy().astype(float) * have[i] / want[i])
                arrays.append(a)
            out = pa.table(arrays, names=out.column_names)
            headers["dataframe_resolution"] = ", ".join(str(float(x)) for x in want)
        with self._lock:
            self.query_log.append({"route": route, "table": name, "rows": out.num_rows,
                                   "filters": [(f, c) for f, c, _ in filters], "lo_id": int(ids[lo]) if lo < len(ids) else None})
        return 200, headers, _arrow_stream(out, self.batch_rows)


def _join(main: pa.Table, ref: pa.Table, col: str, ref_col: str, suffix: str) -> pa.Table:
    """Inner join of a reference table with its target; clashing ref columns get ``suffix``."""
    r = ref.to_pandas()
    m = main.to_pandas()
    r = r.rename(columns={c: (c + suffix if c in m.columns else c) for c in r.columns})
    key = ref_col + suffix if ref_col in m.columns else ref_col
    out = m.merge(r, left_on=col, right_on=key, how="inner", sort=False).sort_values("id", kind="stable")
    return pa.Table.from_pandas(out, preserve_index=False)


def _arrow_stream(tbl: pa.Table, batch_rows: int) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, tbl.schema) as w:
        w.write_table(tbl, max_chunksize=max(1, batch_rows))
    return sink.getvalue()


def _cut_arrow_stream(tbl_bytes: bytes) -> bytes:
    """The stream without its last record batch and end-of-stream marker (still valid Arrow)."""
    reader = pa.ipc.open_stream(tbl_bytes)
    batches = list(reader)
    sink = io.BytesIO()
    w = pa.ipc.new_stream(sink, reader.schema)
    for b in batches[: max(0, len(batches) - 1)]:
        w.write_batch(b)
    return sink.getvalue()  # writer not closed: no end-of-stream marker


def _json(obj: Any, code: int = 200) -> tuple[int, dict, bytes]:
    return code, {"Content-Type": "application/json"}, json.dumps(obj).encode()


class _Handler(BaseHTTPRequestHandler):
    app: CaveTestServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every keep-alive reply
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        logger.debug("%s " + fmt, self.address_string(), *args)

    def _route(self, method: str) -> tuple[str, dict] | None:
        path = urlparse(self.path).path.rstrip("/") or "/"
        for m, name, pat in _ROUTES:
            if m == method:
                hit = pat.match(path)
                if hit:
                    return name, hit.groupdict()
        return None

    def _authorized(self) -> bool:
        tokens = self.app.tokens
        if tokens is None:
            return True
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and auth[7:].strip() in tokens:
            return True
        cookie = self.headers.get("Cookie", "")
        return any(part.strip() == f"middle_auth_token={t}" for t in tokens for part in cookie.split(";"))

    def _send(self, code: int, headers: dict, body: bytes, declared: int | None = None) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if declared is None else declared))
        self.end_headers()
        self.wfile.write(body)

    def _do(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        found = self._route(method)
        if found is None:
            self._send(*_json({"message": f"not found: {self.path}"}, 404))
            return
        route, params = found
        app = self.app
        with app._lock:
            app.stats[route] += 1
        if route not in _PUBLIC and not route.startswith("testing_") and not self._authorized():
            has = bool(self.headers.get("Authorization") or "middle_auth_token" in self.headers.get("Cookie", ""))
            msg = "invalid token" if has else "no token: Unauthorized"
            self._send(*_json({"message": msg, "error": "unauthorized"}, 401))
            return
        fault = None if route.startswith("testing_") else app._fault_for(route)
        try:
            if fault is not None and fault.kind in ("drop", "timeout"):
                if fault.kind == "timeout":
                    time.sleep(fault.delay)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault is not None and fault.kind == "status":
                self._send(*_json({"message": f"injected fault {fault.code}"}, fault.code))
                return
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
            query = parse_qs(urlparse(self.path).query)
            try:
                code, headers, out = app.handle(method, route, params, query, body)
            except _HTTPError as exc:
                code, headers, out = _json({"message": exc.message}, exc.code)
            except Exception as exc:  # a bug of this server: answer 500 as a real service does, and log it
                logger.exception("%s %s: the handler of %r failed", method, self.path, route)
                code, headers, out = _json({"message": f"internal server error: {type(exc).__name__}: {exc}"},
                                           500)
            if fault is not None and fault.kind == "truncate_body" and len(out) > 1:
                self.close_connection = True
                self._send(code, headers, out[: len(out) // 2], declared=len(out))
                return
            if fault is not None and fault.kind == "truncate" and headers.get("Content-Type") == "data.arrow":
                out = _cut_arrow_stream(out)
            self._send(code, headers, out)
        except (BrokenPipeError, ConnectionResetError, OSError):  # client went away (its timeout)
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        self._do("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._do("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._do("DELETE")


# ----------------------------------------------------------------------------- command line


def build_datastack(kind: str, n_synapses: int, n_neurons: int, seed: int) -> Datastack:
    """A datastack by kind: ``flywire``, ``microns`` or ``generic``."""
    if kind == "flywire":
        return flywire_datastack(n_synapses, n_neurons, seed=seed)
    if kind == "microns":
        return microns_datastack(n_synapses, n_neurons, seed=seed)
    if kind == "generic":
        return generic_datastack(n_synapses, n_neurons, seed=seed)
    raise ValueError(f"unknown datastack kind {kind!r}; use flywire, microns or generic")


def main(argv: list[str] | None = None) -> int:
    """Run a server in the foreground; prints its URL on the first line of stdout."""
    p = argparse.ArgumentParser(prog="python -m connectome.ingest.testing.cave_server", description=__doc__.split("\n")[0])
    p.add_argument("--datastack", action="append", choices=["flywire", "microns", "generic"],
                   help="datastack kind(s) to serve (default: all three)")
    p.add_argument("--synapses", type=int, default=20_000)
    p.add_argument("--neurons", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-rows", type=int, default=200_000)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", action="append", help="accepted token (repeatable); default: no auth")
    a = p.parse_args(argv)
    kinds = a.datastack or ["flywire", "microns", "generic"]
    srv = CaveTestServer([build_datastack(k, a.synapses, a.neurons, a.seed) for k in kinds],
                         max_rows=a.max_rows, tokens=a.token, port=a.port).start()
    print(srv.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:  # pragma: no cover
        srv.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
