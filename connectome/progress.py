"""Progress bars with one switch (``progress=``), the way navis does it.

Examples
--------
>>> with progress_bar(total=3, desc="demo", progress=False) as bar:
...     bar.update(3)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["progress_bar", "progress_iter", "progress_default"]

T = TypeVar("T")


def progress_default() -> bool:
    """Whether bars are shown when ``progress=None``: on a terminal, unless
    ``CONNECTOME_PROGRESS=0``.

    Examples
    --------
    >>> isinstance(progress_default(), bool)
    True
    """
    env = os.environ.get("CONNECTOME_PROGRESS")
    if env is not None:
        return env.strip().lower() not in ("0", "false", "no", "off", "")
    return sys.stderr.isatty()


def _enabled(progress: bool | None) -> bool:
    return progress_default() if progress is None else bool(progress)


#: Totals from which a bar abbreviates its counts (``1.35M/2.70M rows``); below, counts stay whole
#: numbers (``2/100 samples``, never ``2.00/100``).
SCALE_FROM = 100_000


@contextmanager
def progress_bar(total: int | None = None, desc: str = "", unit: str = "it",
                 progress: bool | None = None, unit_scale: bool | None = None, **kwargs: Any) -> Iterator[Any]:
    """A tqdm bar (or a silent stand-in when ``progress`` is false).

    ``unit_scale`` (default: only for totals of at least :data:`SCALE_FROM`, or
    unknown totals) abbreviates large counts; counts of items (samples, blocks,
    epochs) are shown as whole numbers.
    """
    from tqdm.auto import tqdm

    if unit_scale is None:
        unit_scale = total is None or total >= SCALE_FROM
    bar = tqdm(total=total, desc=desc, unit=unit, disable=not _enabled(progress),
               unit_scale=unit_scale, leave=False, **kwargs)
    try:
        yield bar
    finally:
        bar.close()


def progress_iter(items: Iterable[T], total: int | None = None, desc: str = "",
                  unit: str = "it", progress: bool | None = None) -> Iterator[T]:
    """Iterate ``items`` with a bar.

    Examples
    --------
    >>> list(progress_iter([1, 2], progress=False))
    [1, 2]
    """
    from tqdm.auto import tqdm

    yield from tqdm(items, total=total, desc=desc, unit=unit, disable=not _enabled(progress), leave=False)
