"""Errors of the CAVE and CloudVolume sources, in the project's one exception tree.

Bad input (an unknown datastack, table or column, an expired version, a
malformed bounding box) derives from :class:`connectome.errors.InputError` and
names the parameter; trouble with the server (unreachable, refusing the token,
failing after all retries) derives from :class:`CaveError`.

Examples
--------
>>> err = DatastackNotFoundError("minnie65_publik", ["minnie65_public", "flywire_fafb_public"], "https://x")
>>> print(err)
datastack: 'minnie65_publik' is not served by https://x; did you mean 'minnie65_public'? Datastacks there: flywire_fafb_public, minnie65_public
>>> err.parameter, isinstance(err, ValueError)
('datastack', True)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from connectome.errors import ConnectomeError, InputError

__all__ = [
    "CaveError",
    "CaveConnectionError",
    "CaveAuthError",
    "CaveServerError",
    "DatastackNotFoundError",
    "TableNotFoundError",
    "VersionExpiredError",
    "ResumeMismatchError",
]


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class CaveError(ConnectomeError):
    """A CAVE server that cannot be used (unreachable, refusing, failing)."""


class CaveConnectionError(CaveError, ConnectionError):
    """The server cannot be reached (refused, unresolvable, timing out)."""


class CaveAuthError(CaveError, PermissionError):
    """The server refuses the request for want of a valid token."""


class CaveServerError(CaveError):
    """A request kept failing after every retry (5xx replies, timeouts, broken replies).

    ``status`` is the last HTTP status (``None`` for transport errors).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DatastackNotFoundError(InputError):
    """A datastack the server does not serve; the message lists those it does."""

    def __init__(self, name: str, known: Iterable[str], server: str) -> None:
        known = sorted(known)
        msg = (f"datastack: {name!r} is not served by {server}{_suggest(name, known)} "
               f"Datastacks there: {', '.join(known) or 'none'}")
        super().__init__(msg, "datastack")
        self.name = name
        self.known = known


class TableNotFoundError(InputError):
    """A table absent from the datastack at the chosen version; the message lists those present."""

    def __init__(self, table: str, known: Iterable[str], where: str, parameter: str = "table") -> None:
        known = sorted(known)
        msg = (f"{parameter}: table {table!r} does not exist in {where}{_suggest(table, known)} "
               f"Tables there: {', '.join(known) or 'none'}")
        super().__init__(msg, parameter)
        self.table = table
        self.known = known


class VersionExpiredError(InputError):
    """A materialization version that has expired (or does not exist)."""


class ResumeMismatchError(InputError):
    """An unfinished ingest with different parameters occupies the work folder."""
