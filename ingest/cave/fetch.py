"""Deterministic, resumable, concurrent paging of one CAVE table.

A query with no filters returns a server-limited and unordered subset, so a
table is read by *annotation id ranges*: the half-open range ``[0, stop)`` of
ids (``stop`` found by probes) is cut into pages of ``width`` ids sized to
stay under ``page_rows``. A page whose reply reaches the limit, or that the
server marks as capped, is split (at the median id of what came back, so
dense stretches split where the rows are) and both halves are fetched again;
its capped reply is discarded. Selections by root ids or a bounding box start
from one page over the whole range and split only where needed.

Every finished page is staged in the :class:`~connectome.ingest.cave.ledger.Ledger`
before it counts; a rerun fetches only the ranges no finished page covers.

Examples
--------
>>> split_span(0, 100, [10, 20, 30, 40, 90])
[(0, 30), (30, 100)]
>>> split_span(5, 6, [5, 5])
[]
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from connectome.progress import progress_bar

from .errors import CaveError
from .ledger import Ledger, chop, subtract
from .session import CaveSession

logger = logging.getLogger(__name__)

__all__ = ["Group", "TableJob", "plan_span", "fetch_table", "split_span", "merge_filters"]


@dataclass
class Group:
    """One stream of pages of a table: the id range read under extra ``filters``.

    ``adaptive`` groups start as one page over the whole range (selections);
    ``keep`` filters rows after a page arrives (exact bounds, live root ids).
    """

    key: str
    filters: dict = field(default_factory=dict)
    adaptive: bool = False
    keep: Callable[[pd.DataFrame], pd.DataFrame] | None = None


@dataclass
class TableJob:
    """What to read of one table and how."""

    table: str
    groups: list[Group]
    filters: dict = field(default_factory=dict)
    select: list[str] | None = None
    merge_reference: bool = False
    keep: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    concurrency: int | None = None


def merge_filters(*dicts: dict) -> dict:
    """Merge caveclient filter keyword dictionaries (``{"filter_in_dict": {col: values}}``).

    Examples
    --------
    >>> merge_filters({"filter_greater_equal_dict": {"cleft_score": 50}}, {"filter_greater_equal_dict": {"id": 7}})
    {'filter_greater_equal_dict': {'cleft_score': 50, 'id': 7}}
    """
    out: dict[str, dict] = {}
    for d in dicts:
        for k, v in (d or {}).items():
            out.setdefault(k, {}).update(v)
    return out


def split_span(lo: int, hi: int, ids: Any) -> list[tuple[int, int]]:
    """Two halves of ``[lo, hi)`` split at the median of ``ids`` (the midpoint if that fails);
    ``[]`` when the range is a single id and cannot be split."""
    if hi - lo <= 1:
        return []
    arr = np.asarray(ids, dtype=np.int64) if len(ids) else np.zeros(0, np.int64)
    mid = int(np.median(arr)) if len(arr) else (lo + hi) // 2
    if not lo < mid < hi:
        mid = (lo + hi) // 2
    return [(lo, mid), (mid, hi)]


def plan_span(session: CaveSession, table: str, version: int, page_rows: int, *, columns: bool = False) -> dict:
    """Probe a table's id range at ``version``: ``{"start", "stop", "width", "count"}`` (and
    ``"columns"``, the table's columns, when asked: the first probe reads them).

    ``stop`` is an exclusive bound on the ids (no row has ``id >= stop``),
    found by ``limit=1`` probes: ids are mostly dense, so the search starts at
    the row count and steps up by 1/16 of it, doubling. Empty pages above the
    last id cost one (concurrent) request each, so the bound is tightened by
    bisection only while more than four pages would be empty. ``width`` is the
    id span per page for about 80 % of ``page_rows`` rows.
    """
    count = session.count(table, version)
    found: dict[str, list[str]] = {}

    def exists(x: int) -> bool:
        first = columns and "columns" not in found
        df = session.query(table, version=version, timestamp=None,
                           filters={"filter_greater_equal_dict": {"id": int(x)}},
                           select=None if first else ["id"], limit=1, merge_reference=False,
                           what=f"probing the id range of {table}").frame
        if first:
            found["columns"] = [str(c) for c in df.columns]
        return len(df) > 0

    out: dict[str, Any] = {"start": 0, "stop": 1, "width": 1, "count": int(count)}
    if count == 0:
        if columns:
            exists(0)
        return {**out, **found}
    lo_yes = 0
    x = max(int(count), 1)
    if exists(x):
        lo_yes, step = x, max(x // 16, 1)
        while True:
            x = lo_yes + step
            if not exists(x):
                break
            lo_yes, step = x, step * 2
    hi_no = x
    while hi_no - lo_yes > 4 * max(1.0, page_rows * 0.8 * hi_no / count):
        mid = (lo_yes + hi_no) // 2
        if exists(mid):
            lo_yes = mid
        else:
            hi_no = mid
    width = max(1, int(page_rows * 0.8 * hi_no / count))
    return {**out, "stop": int(hi_no), "width": int(width), **found}


def fetch_table(session: CaveSession, ledger: Ledger, job: TableJob, *, version: int | None, timestamp: Any,
                base_version: int, progress: bool | None = None) -> dict:
    """Fetch every missing page of ``job`` into ``ledger``.

    Pages are filtered (``keep``) and converted (``transform``) in the worker
    threads, so that work overlaps the requests in flight, then staged.
    Returns counts for the log and manifest, and under ``"frames"`` the pages
    of this run still in memory (page file -> DataFrame).
    """
    opts = session.options
    plan = ledger.first("plan", table=job.table)
    if plan is None:
        span = plan_span(session, job.table, base_version, opts.page_rows)
        plan = {"kind": "plan", "table": job.table, **span}
        ledger.append(plan)
    start, stop, width = plan["start"], plan["stop"], plan["width"]
    queue: deque[tuple[Group, int, int]] = deque()
    done_rows = 0
    for g in job.groups:
        finished = ledger.pages(job.table, g.key)
        done_rows += sum(e["rows"] for e in finished)
        remaining = subtract([(start, stop)], [(e["lo"], e["hi"]) for e in finished])
        spans = remaining if g.adaptive else chop(remaining, width)
        queue.extend((g, a, b) for a, b in spans)
    whole = all(not g.filters and not g.adaptive for g in job.groups) and not job.filters
    total = plan["count"] if whole else None
    stats = {"table": job.table, "pages": 0, "splits": 0, "resumed_rows": done_rows, "fetched_rows": 0,
             "frames": {}}
    if not queue:
        return stats
    limit = opts.page_rows

    def work(g: Group, lo: int, hi: int) -> tuple[str, Any]:
        filters = merge_filters(job.filters, g.filters, {"filter_greater_equal_dict": {"id": lo}},
                                {"filter_less_dict": {"id": hi}})
        page = session.query(job.table, version=version, timestamp=timestamp, filters=filters,
                             select=job.select, limit=limit, merge_reference=job.merge_reference,
                             what=f"{job.table} ids [{lo}, {hi})")
        df = page.frame
        if page.capped or len(df) >= limit:
            halves = split_span(lo, hi, df["id"].to_numpy() if "id" in df.columns else [])
            if not halves:
                raise CaveError(f"{job.table}: one id ({lo}) returned {len(df)} rows, more than page_rows={limit}")
            return "split", halves
        if g.keep is not None:
            df = g.keep(df)
        if job.keep is not None:
            df = job.keep(df)
        if job.transform is not None:
            df = job.transform(df)
        return "ok", (ledger.stage(job.table, g.key, lo, hi, df), df)

    t0 = time.monotonic()
    width_now = job.concurrency or opts.concurrency
    with progress_bar(total=total, desc=job.table, unit="row", progress=progress, initial=done_rows) as bar, \
            ThreadPoolExecutor(max_workers=width_now, thread_name_prefix="cave-page") as pool:
        running: dict[Future, tuple[Group, int, int]] = {}
        try:
            while queue or running:
                while queue and len(running) < width_now:
                    g, a, b = queue.popleft()
                    running[pool.submit(work, g, a, b)] = (g, a, b)
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    g, a, b = running.pop(fut)
                    kind, value = fut.result()
                    if kind == "split":
                        stats["splits"] += 1
                        for c, d in value:
                            queue.appendleft((g, c, d))
                        continue
                    entry, df = value
                    ledger.append(entry)
                    stats["frames"][entry["file"]] = df
                    stats["pages"] += 1
                    stats["fetched_rows"] += entry["rows"]
                    bar.update(entry["rows"])
                    bar.set_postfix(pages=stats["pages"], refresh=False)
        except BaseException:
            for fut in running:
                fut.cancel()
            raise
    dt = time.monotonic() - t0
    logger.info("%s: %d rows in %d pages (%d splits) in %.1f s (%.0f rows/s)", job.table, stats["fetched_rows"],
                stats["pages"], stats["splits"], dt, stats["fetched_rows"] / dt if dt else 0.0)
    return stats
