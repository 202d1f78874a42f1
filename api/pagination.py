"""Opaque page cursors tied to one query on one dataset version.

A cursor encodes the offset of the next page and a digest of what was asked
(dataset version, query, filters). Presenting it with a different query, or
after the dataset changed version, is a clear ``400 invalid_cursor`` instead of
a silently shifted page.

Examples
--------
>>> scope = cursor_scope("v-abc", {"query": "A -> B"})
>>> c = encode_cursor(200, scope)
>>> decode_cursor(c, scope)
200
>>> decode_cursor(c, cursor_scope("v-def", {"query": "A -> B"}))
Traceback (most recent call last):
...
connectome.api.errors.ApiError: cursor: this cursor belongs to another query or an older version of the dataset; start again without a cursor
>>> decode_cursor(None, scope)
0
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from .errors import ApiError

__all__ = ["cursor_scope", "encode_cursor", "decode_cursor", "check_limit"]


def cursor_scope(version: str, params: dict[str, Any]) -> str:
    """A short digest of what a cursor pages through."""
    raw = json.dumps([version, params], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_cursor(offset: int, scope: str) -> str:
    """The cursor of the page starting at ``offset``."""
    raw = json.dumps({"o": int(offset), "s": scope}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, scope: str) -> int:
    """The offset a cursor points to (0 without a cursor).

    Raises
    ------
    ApiError
        400 ``invalid_cursor`` for a malformed cursor or one of another query.
    """
    if cursor is None or cursor == "":
        return 0
    try:
        pad = "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(cursor + pad))
        offset, got = int(data["o"]), str(data["s"])
    except Exception:
        raise ApiError(400, "invalid_cursor", "cursor: not a cursor returned by this service", field="cursor") from None
    if got != scope:
        raise ApiError(400, "invalid_cursor", "cursor: this cursor belongs to another query or an older version of "
                       "the dataset; start again without a cursor", field="cursor")
    if offset < 0:
        raise ApiError(400, "invalid_cursor", "cursor: not a cursor returned by this service", field="cursor")
    return offset


def check_limit(limit: int, max_page_size: int) -> int:
    """Refuse a page size above the server's maximum.

    Examples
    --------
    >>> check_limit(5000, 1000)
    Traceback (most recent call last):
    ...
    connectome.api.errors.ApiError: limit: 5000 is larger than the maximum page size of 1000; page with the cursor instead
    """
    if limit > max_page_size:
        raise ApiError(400, "invalid_parameter",
                       f"limit: {limit} is larger than the maximum page size of {max_page_size}; page with the "
                       "cursor instead", field="limit")
    return limit
