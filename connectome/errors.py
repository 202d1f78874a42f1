"""The project's one exception tree.

Every error raised on purpose by ``connectome``, ``ingest``, ``gnn`` and ``api``
derives from :class:`ConnectomeError`. Errors about bad input name the
parameter (or column) at fault and say how to fix it.

Examples
--------
>>> from connectome.errors import ColumnError, ConnectomeError
>>> err = ColumnError("edges", "pre_root_id", ["pre", "post", "weight"])
>>> isinstance(err, ConnectomeError), isinstance(err, ValueError)
(True, True)
>>> err.parameter
'edges'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "ConnectomeError",
    "InputError",
    "ColumnError",
    "LabelError",
    "IdError",
    "SynapseCountError",
    "DuplicateEdgeError",
    "DatasetNotFoundError",
    "SourceNotFoundError",
    "StoreError",
    "StoreVersionError",
    "StoreCorruptError",
    "StoreWriteError",
    "SchedulerError",
    "DependencyError",
    "QueryError",
    "QuerySyntaxError",
    "QueryTooLargeError",
    "QueryMemoryError",
    "QueryTimeoutError",
    "NullModelError",
    "SignTableError",
    "SeedError",
    "DivergenceError",
    "PositionConflictError",
    "IdNamespaceError",
    "PairBudgetError",
]


class ConnectomeError(Exception):
    """Base class of every error this project raises on purpose."""


class InputError(ConnectomeError, ValueError):
    """A parameter has a value the function cannot use.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    parameter : str, optional
        Name of the parameter (or column) at fault.
    """

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class ColumnError(InputError):
    """A table lacks a column the operation needs (missing or misspelt).

    The message lists the columns that exist and suggests the closest one.
    """

    def __init__(self, table: str, column: str, available: Iterable[str], hint: str = "") -> None:
        available = [str(c) for c in available]
        msg = (
            f"column {column!r} not found in {table} (columns: {', '.join(available) or 'none'})"
            f"{_suggest(column, available)}"
        )
        if hint:
            msg += f" {hint}"
        super().__init__(msg, parameter=table)
        self.column = column
        self.available = available


class LabelError(InputError):
    """A label value that no node has (the message lists close values and the columns that have it)."""


class IdError(InputError):
    """Ids that are not non-negative integers fitting in 64 bits (or lost precision)."""


class SynapseCountError(InputError):
    """Synapse counts that are negative, zero, missing or not integers."""


class DuplicateEdgeError(InputError):
    """The same edge appears more than once in an edge table."""


class DatasetNotFoundError(ConnectomeError, LookupError):
    """A dataset name that is neither a known dataset nor a store path."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        msg = (
            f"unknown dataset {name!r}{_suggest(name, known)} Known datasets: {', '.join(known)}. "
            "Pass a store path, or see `connectome datasets`."
        )
        super().__init__(msg)
        self.name = name
        self.known = known

    def __str__(self) -> str:  # LookupError would repr() the message otherwise
        return str(self.args[0])


class SourceNotFoundError(ConnectomeError, FileNotFoundError):
    """An input file or folder that does not exist."""

    def __init__(self, path: object, parameter: str, hint: str = "") -> None:
        msg = f"{parameter}: {str(path)!r} does not exist"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)
        self.path = path
        self.parameter = parameter

    def __str__(self) -> str:
        return str(self.args[0])


class StoreError(ConnectomeError):
    """A connectome store that cannot be read or written."""


class StoreVersionError(StoreError):
    """A store written with a schema this version does not understand."""


class StoreCorruptError(StoreError):
    """A store whose files do not match its manifest (missing file, wrong hash)."""


class StoreWriteError(StoreError):
    """A store that cannot be written (unwritable path, a file in the way)."""


class SchedulerError(ConnectomeError):
    """A Dask scheduler that cannot be reached or started."""


class DependencyError(ConnectomeError, ImportError):
    """An optional dependency needed by the called function is not installed."""


class QueryError(InputError):
    """A motif query that cannot be run (unknown attribute, unbounded pattern, ...)."""


class QuerySyntaxError(QueryError):
    """A motif query that does not parse; carries the 1-based ``line`` and ``column``."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}", parameter="query")
        self.line = line
        self.column = column


class QueryTooLargeError(QueryError):
    """A query whose result would be unbounded or larger than allowed.

    ``estimate_bytes`` and ``limit_bytes`` (None unless the refusal is about memory) give the memory the
    query would hold and its budget (``memory=`` of :func:`connectome.count_motifs`)."""

    def __init__(self, message: str, parameter: str | None = None, *, estimate_bytes: int | None = None,
                 limit_bytes: int | None = None) -> None:
        super().__init__(message, parameter)
        self.estimate_bytes = estimate_bytes
        self.limit_bytes = limit_bytes


class QueryMemoryError(QueryTooLargeError):
    """A motif query whose bindings would exceed its memory budget (``memory=``) as it runs; carries
    ``estimate_bytes`` and ``limit_bytes``."""


class QueryTimeoutError(ConnectomeError, TimeoutError):
    """A query or analysis that ran past its time budget."""


class NullModelError(InputError):
    """A null model that cannot be sampled for this graph (the message says why)."""


class SignTableError(InputError):
    """A transmitter → sign table that misses a transmitter the store has, or holds a value that is not a sign."""


class SeedError(InputError):
    """Seeds of a traversal or influence analysis that cannot start it (no outgoing edges)."""


class DivergenceError(InputError):
    """A series that diverges for the parameters given (e.g. influence with ``alpha`` ≥ 1/ρ(W))."""


class PositionConflictError(InputError):
    """Two position columns of one table describe the same point and disagree (e.g. voxels times the voxel
    resolution used and the file's own nm columns); the message gives both nm-per-voxel factors."""


class IdNamespaceError(IdError):
    """Root ids that belong to another volume than the one chosen (e.g. pinky100 ids with the minnie65 preset)."""


class PairBudgetError(InputError):
    """A result that grows as the product of two sets (sources × targets, queries × candidates) above the
    allowed number of pairs (:func:`connectome.validate.check_pair_budget`); the message gives the estimate
    and what to do."""

    def __init__(self, message: str, parameter: str | None = None, *, estimate: int | None = None,
                 limit: int | None = None) -> None:
        super().__init__(message, parameter)
        self.estimate = estimate
        self.limit = limit
