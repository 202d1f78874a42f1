"""The typed options of a CAVE read: which synapses (:class:`Selection`) and how pages are fetched (:class:`FetchOptions`).

Both are frozen dataclasses that check their values when built, so a bad
value (or a misspelt keyword) fails before anything is fetched, with an error
naming the parameter. The command line (:mod:`connectome.ingest.cave.cli`) and the HTTP
service build them from their own arguments; :func:`connectome.ingest.cave.ingest_cave`
takes them as they are. The third typed argument, the tables and conventions of
a datastack, is :class:`connectome.ingest.cave.presets.CavePreset`.

Examples
--------
>>> Selection(root_ids=[3, 1, 3], side="pre").root_ids
(1, 3)
>>> FetchOptions(page_rows=50_000).concurrency
4
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from connectome.errors import InputError
from connectome.schema import coerce_ids
from connectome.validate import check_int

__all__ = ["Selection", "FetchOptions", "version_or_timestamp", "parse_timestamp", "bbox_array", "SIDES", "UNITS"]

SIDES = ("both", "pre", "post", "within")
UNITS = ("nm", "voxels")
_KEEP_DROP = ("drop", "keep")


def parse_timestamp(value: Any) -> _dt.datetime:
    """A timezone-aware UTC datetime from a datetime or ISO 8601 string; naive values are refused.

    Examples
    --------
    >>> parse_timestamp("2024-06-01T12:00:00Z").isoformat()
    '2024-06-01T12:00:00+00:00'
    >>> parse_timestamp("2024-06-01T14:00:00+02:00").isoformat()
    '2024-06-01T12:00:00+00:00'
    >>> parse_timestamp("2024-06-01 12:00")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: timestamp: '2024-06-01 12:00' has no timezone; give it in UTC, e.g. '2024-06-01T12:00:00Z' or '...+00:00'
    """
    ts = value
    if isinstance(value, str):
        s = value.strip()
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            ts = _dt.datetime.fromisoformat(s)
        except ValueError:
            raise InputError(f"timestamp: cannot read {value!r}; use ISO 8601 in UTC, e.g. '2024-06-01T12:00:00Z'",
                             "timestamp") from None
    if not isinstance(ts, _dt.datetime):
        raise InputError(f"timestamp must be a datetime or an ISO 8601 string, not {type(value).__name__}",
                         "timestamp")
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        raise InputError(f"timestamp: {value!r} has no timezone; give it in UTC, e.g. "
                         "'2024-06-01T12:00:00Z' or '...+00:00'", "timestamp")
    return ts.astimezone(_dt.timezone.utc)


def version_or_timestamp(version: Any, timestamp: Any) -> tuple[int | None, _dt.datetime | None]:
    """The moment a read is at: a materialization version, a UTC timestamp, or neither (the latest); never both.

    Examples
    --------
    >>> version_or_timestamp("783", None)
    (783, None)
    >>> version_or_timestamp(None, "2025-01-01T00:00:00Z")[1].isoformat()
    '2025-01-01T00:00:00+00:00'
    >>> version_or_timestamp(783, "2025-01-01T00:00:00Z")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: pass a materialization version or a timestamp, not both (a version is a frozen timestamp; both would disagree)
    """
    if version is not None and timestamp is not None:
        raise InputError("pass a materialization version or a timestamp, not both (a version is a frozen "
                         "timestamp; both would disagree)", "timestamp")
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, (int, np.integer, str)) or \
                not str(version).isdigit():
            raise InputError(f"version must be a materialization version number, not {version!r}", "version")
        version = int(version)
    ts = parse_timestamp(timestamp) if timestamp is not None else None
    return version, ts


def bbox_array(bbox: Any) -> np.ndarray:
    """A bounding box as a (2, 3) float array ``[[x0, y0, z0], [x1, y1, z1]]`` (six numbers also accepted).

    Examples
    --------
    >>> bbox_array([0, 0, 0, 10, 20, 30]).tolist()
    [[0.0, 0.0, 0.0], [10.0, 20.0, 30.0]]
    >>> bbox_array([[0, 0], [1, 1]])
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: bbox must be [[x0, y0, z0], [x1, y1, z1]] (or six numbers x0 y0 z0 x1 y1 z1); got shape (2, 2)
    """
    try:
        arr = np.asarray(bbox, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"bbox must be numbers [[x0, y0, z0], [x1, y1, z1]], not {bbox!r}", "bbox") from None
    if arr.shape == (6,):
        arr = arr.reshape(2, 3)
    if arr.shape != (2, 3):
        raise InputError("bbox must be [[x0, y0, z0], [x1, y1, z1]] (or six numbers x0 y0 z0 x1 y1 z1); "
                         f"got shape {arr.shape}", "bbox")
    if not np.all(np.isfinite(arr)):
        raise InputError("bbox: corners must be finite numbers", "bbox")
    if np.any(arr[0] >= arr[1]):
        ax = "xyz"[int(np.argmax(arr[0] >= arr[1]))]
        raise InputError(f"bbox: the first corner must be below the second on every axis ({ax}: "
                         f"{arr[0]['xyz'.index(ax)]:g} >= {arr[1]['xyz'.index(ax)]:g}); give [[min...], [max...]]",
                         "bbox")
    return arr


def _root_ids(root_ids: Any) -> tuple[int, ...] | None:
    if root_ids is None:
        return None
    if isinstance(root_ids, (int, np.integer, str)):
        root_ids = [root_ids]
    arr = coerce_ids(pd.Series(list(root_ids), dtype=object), "root_ids")
    if not len(arr):
        raise InputError("root_ids: the list is empty; pass ids or leave root_ids out for the whole table",
                         "root_ids")
    if np.any(arr == 0):
        raise InputError("root_ids: 0 is not a neuron (it marks unsegmented space); remove it", "root_ids")
    return tuple(int(x) for x in np.unique(arr))


@dataclass(frozen=True)
class Selection:
    """Which synapses to read and keep: all, those of some root ids, those in a box (or both).

    Parameters
    ----------
    root_ids : list of int, optional
        Read only synapses of these neurons (see ``side``); ids of the version
        or moment read. Stored sorted and without repeats.
    side : {"both", "pre", "post", "within"}
        For ``root_ids``: their synapses in either role, their outputs (as
        pre), their inputs (as post), or those among themselves.
    bbox : [[x0, y0, z0], [x1, y1, z1]], optional
        Read only synapses whose position lies in this half-open box ``[min, max)``
        (six numbers are accepted too).
    bbox_units : {"nm", "voxels"}
        Units of ``bbox``: nm, or voxels of the synapse table's resolution.
        Required with ``bbox``: units are never assumed.
    autapses, zero_root : {"drop", "keep"}
        Synapses of a neuron onto itself, and synapses on root id 0 (no
        segment). The counts of both go to the manifest either way.

    Examples
    --------
    >>> Selection(bbox=[0, 0, 0, 100, 100, 10], bbox_units="voxels").bbox
    ((0.0, 0.0, 0.0), (100.0, 100.0, 10.0))
    >>> Selection(bbox=[0, 0, 0, 100, 100, 10])
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: bbox_units: say whether bbox is in 'nm' or 'voxels' (voxels of the synapse table, e.g. 4x4x40 nm); units are never assumed
    >>> Selection(root_ids=[5], side="pre").describe()
    {'kind': 'subset', 'root_ids': ['5'], 'side': 'pre'}
    """

    root_ids: tuple[int, ...] | None = None
    side: str = "both"
    bbox: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    bbox_units: str | None = None
    autapses: str = "drop"
    zero_root: str = "drop"

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise InputError(f"side must be one of {list(SIDES)}, not {self.side!r}", "side")
        for name in ("autapses", "zero_root"):
            if getattr(self, name) not in _KEEP_DROP:
                raise InputError(f"{name} must be 'drop' or 'keep', not {getattr(self, name)!r}", name)
        object.__setattr__(self, "root_ids", _root_ids(self.root_ids))
        box = None
        if self.bbox is not None:
            arr = bbox_array(self.bbox)
            if self.bbox_units is None:
                raise InputError("bbox_units: say whether bbox is in 'nm' or 'voxels' (voxels of the synapse "
                                 "table, e.g. 4x4x40 nm); units are never assumed", "bbox_units")
            box = (tuple(float(v) for v in arr[0]), tuple(float(v) for v in arr[1]))
        if self.bbox_units is not None and self.bbox_units not in UNITS:
            raise InputError(f"bbox_units must be 'nm' or 'voxels', not {self.bbox_units!r}", "bbox_units")
        object.__setattr__(self, "bbox", box)
        object.__setattr__(self, "bbox_units", self.bbox_units if box is not None else None)

    @property
    def whole(self) -> bool:
        """Whether the whole table is read (no root ids, no box)."""
        return self.root_ids is None and self.bbox is None

    def describe(self) -> dict:
        """What was read, for the manifest and the resume key (root ids as strings)."""
        d: dict[str, Any] = {"kind": "whole table" if self.whole else "subset"}
        if self.root_ids is not None:
            d.update(root_ids=[str(r) for r in self.root_ids], side=self.side)
        if self.bbox is not None:
            d.update(bbox=[list(c) for c in self.bbox], bbox_units=self.bbox_units)
        return d


#: HTTP statuses retried by default: 5xx from an overloaded or restarting server, 408 and 429.
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class FetchOptions:
    """How pages are fetched: their size, the requests in flight, retries and timeouts.

    Retries are caveclient's own: the transport of every caveclient session
    gets a ``urllib3`` ``Retry`` built from these values, as
    ``caveclient.set_session_defaults`` builds one, but for this client only
    (see :mod:`connectome.ingest.cave.session`).

    Parameters
    ----------
    page_rows : int
        Rows asked for per request (``limit``); keep it at or below the
        server's cap (about 200,000). Pages that hit it are split.
    concurrency : int
        Requests in flight at once (a bound, not a target).
    retries : int
        Retries of one request after a transient failure (a status of
        ``retry_statuses``, a timeout, a dropped connection, a cut reply).
    backoff, max_backoff : float
        Backoff factor and largest wait, seconds: after the second failure in
        a row a request waits ``backoff * 2 ** (failures - 1)`` seconds, at most
        ``max_backoff`` (urllib3's schedule, which caveclient uses).
    timeout : float
        Seconds to wait for a reply before it counts as a timeout.
    connect_timeout : float
        Seconds for the first probe of the server (an unreachable server fails this fast).
    id_batch : int
        Root ids per request when selecting by root ids.
    retry_statuses : tuple of int
        HTTP statuses that are retried (default: 408, 429, 500, 502, 503, 504).

    Examples
    --------
    >>> FetchOptions(retries=2, backoff=0.1).retry_statuses
    (408, 429, 500, 502, 503, 504)
    >>> FetchOptions(page_rows=0)
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: page_rows must be a positive integer, not 0
    """

    page_rows: int = 100_000
    concurrency: int = 4
    retries: int = 6
    backoff: float = 0.5
    max_backoff: float = 30.0
    timeout: float = 120.0
    connect_timeout: float = 5.0
    id_batch: int = 500
    retry_statuses: tuple[int, ...] = RETRY_STATUSES

    def __post_init__(self) -> None:
        for name in ("page_rows", "concurrency", "id_batch"):
            object.__setattr__(self, name, check_int(getattr(self, name), name, low=1, what="a positive integer"))
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InputError(f"retries must be a non-negative integer, not {self.retries!r}", "retries")
        for name in ("backoff", "max_backoff", "timeout", "connect_timeout"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or (name.endswith("timeout") and v == 0):
                raise InputError(f"{name} must be a positive number of seconds, not {v!r}", name)
        codes = tuple(self.retry_statuses)
        if not all(isinstance(c, int) and not isinstance(c, bool) and 400 <= c <= 599 for c in codes):
            raise InputError(f"retry_statuses must be HTTP error statuses (400-599), not {self.retry_statuses!r}",
                             "retry_statuses")
        object.__setattr__(self, "retry_statuses", codes)
