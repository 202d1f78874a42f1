"""The private corners of ``caveclient`` this package uses, in one place.

Two things caveclient does not offer publicly are needed:

* ``MaterializationClient.get_versions_metadata`` sits behind a 12-hour TTL
  cache; an ingest must see a version expire while it runs (and the message
  for an expired version must name its date), so it calls the function under
  the cache, ``get_versions_metadata.__wrapped__`` (set by ``cachetools.cached``).
* ``AuthClient._token_file`` is where caveclient looked for a token; only the
  message of a refused request names it.

Everything else goes through caveclient's public API. ``tests/ingest/test_cave_compat.py``
checks both attributes against the installed caveclient, so an upgrade that
changes them fails there, by name, rather than deep inside an ingest.

Examples
--------
>>> TESTED_WITH
'caveclient 8.2.1'
"""

from __future__ import annotations

import logging
from typing import Any

from .errors import CaveError

logger = logging.getLogger(__name__)

__all__ = ["TESTED_WITH", "uncached_versions_metadata", "token_file"]

#: The caveclient release these attributes were checked against.
TESTED_WITH = "caveclient 8.2.1"


def _changed(what: str) -> CaveError:
    try:
        from importlib.metadata import version

        found = f"caveclient {version('caveclient')}"
    except Exception:  # noqa: BLE001 - message only
        found = "the installed caveclient"
    return CaveError(f"{found} no longer has {what} (checked with {TESTED_WITH}); install caveclient==8.2.1 or "
                     "update ingest/cave/_compat.py")


def uncached_versions_metadata(mat: Any, *, expired: bool = False) -> list[dict]:
    """``mat.get_versions_metadata(expired=...)`` read from the server, past caveclient's TTL cache.

    Raises
    ------
    CaveError
        caveclient no longer wraps the method the way this shim expects.
    """
    fn = getattr(type(mat).get_versions_metadata, "__wrapped__", None)
    if not callable(fn):
        raise _changed("MaterializationClient.get_versions_metadata.__wrapped__")
    return fn(mat, expired=expired)


def token_file(auth: Any) -> str | None:
    """The token file an ``AuthClient`` read (or would read); ``None`` if caveclient no longer says."""
    where = getattr(auth, "_token_file", None)
    if where is None:
        logger.debug("%s", _changed("AuthClient._token_file"))
    return where
