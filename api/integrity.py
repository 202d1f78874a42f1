"""Files that prove they are whole: a SHA-256 header written with the payload, checked on read.

Job results and cache entries are written as ``cx-sha256:<hex digest>\\n`` followed
by the payload (JSON or Parquet bytes), in one atomic replacement. Reading checks
the digest: a truncated, edited or foreign file raises :class:`CorruptFileError`,
so the cache discards and recomputes it and a job result is reported as
``result_corrupt`` — never served.

Examples
--------
>>> raw = seal(b'{"003": 10}')
>>> raw[:10], unseal(raw)
(b'cx-sha256:', b'{"003": 10}')
>>> unseal(raw.replace(b"10", b"11"), "cache entry x")
Traceback (most recent call last):
...
connectome.api.integrity.CorruptFileError: cache entry x: its checksum does not match its content (truncated or edited)
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from connectome.atomic import replace_atomically
from connectome.errors import StoreCorruptError

__all__ = ["seal", "unseal", "CorruptFileError", "write_sealed", "read_sealed", "frame_bytes", "read_frame"]

MAGIC = b"cx-sha256:"
_HEADER = len(MAGIC) + 64 + 1


class CorruptFileError(StoreCorruptError):
    """A sealed file whose content does not match its checksum (or has none)."""


def seal(payload: bytes) -> bytes:
    """``payload`` with its SHA-256 header."""
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def unseal(raw: bytes, what: str = "file") -> bytes:
    """The payload of a sealed file, after checking its digest.

    Raises
    ------
    CorruptFileError
        No header, or a digest that does not match.
    """
    if len(raw) < _HEADER or not raw.startswith(MAGIC) or raw[_HEADER - 1:_HEADER] != b"\n":
        raise CorruptFileError(f"{what}: it has no checksum header (truncated or not written by this service)")
    digest, payload = raw[len(MAGIC):_HEADER - 1], raw[_HEADER:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CorruptFileError(f"{what}: its checksum does not match its content (truncated or edited)")
    return payload


def write_sealed(path: Path, payload: bytes, fsync: bool = False) -> Path:
    """Write ``payload`` sealed, atomically (the old file stays whole until the new one is complete)."""
    return replace_atomically(path, lambda tmp: tmp.write_bytes(seal(payload)), fsync=fsync)


def read_sealed(path: Path, what: str) -> bytes:
    """The checked payload of a sealed file (``OSError`` when missing, :class:`CorruptFileError` when damaged)."""
    return unseal(Path(path).read_bytes(), what)


def frame_bytes(df: Any) -> bytes:
    """A DataFrame as Parquet bytes (to seal)."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def read_frame(payload: bytes) -> Any:
    """A DataFrame from Parquet bytes."""
    import pandas as pd

    return pd.read_parquet(io.BytesIO(payload))
