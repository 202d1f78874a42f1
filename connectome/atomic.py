"""Atomic file replacement: readers see the old file or the new one, never half of one.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> p = Path(tempfile.mkdtemp()) / "result.json"
>>> replace_atomically(p, lambda tmp: tmp.write_text('{"ok": true}')).read_text()
'{"ok": true}'
>>> sorted(x.name for x in p.parent.iterdir())   # no temporary file left behind
['result.json']
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["replace_atomically"]


def replace_atomically(path: str | os.PathLike, write: Callable[[Path], Any], *, fsync: bool = False) -> Path:
    """Write a file through ``write(tmp)`` into a hidden sibling of ``path``, then rename it over ``path``.

    Parameters
    ----------
    path : path-like
        The file to create or replace (its folder must exist).
    write : callable
        Writes the complete content to the temporary path it is given.
    fsync : bool
        Flush the new file to disk before the rename (for files that must
        survive a power cut or a killed process: journals, job results).

    Returns
    -------
    pathlib.Path
        ``path``. On any error the temporary file is removed and the old file is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
