"""Warnings about links that do not show what they seem to, and a way to collect them.

Every warning of :mod:`connectome.neuroglancer` (a segmentation that does not
match the store's materialization, a link that only opens on this machine, a
``color_by`` column with no values for the selected neurons) is logged with
``logging.getLogger(...).warning`` (printed on stderr when logging is not
configured) and, inside :func:`collect_warnings`, also kept in a list — which is
how the ``connectome link`` command prints them and adds them to its ``--json``
output.

Examples
--------
>>> import logging
>>> with collect_warnings(log=False) as found:
...     warn(logging.getLogger("demo"), "the link opens only on this machine")
...     warn(logging.getLogger("demo"), "the link opens only on this machine")   # said once
>>> found
['the link opens only on this machine']
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["collect_warnings", "warn"]


@dataclass
class _Collector:
    log: bool
    messages: list[str] = field(default_factory=list)


_active: ContextVar[_Collector | None] = ContextVar("connectome_neuroglancer_warnings", default=None)


def warn(logger: logging.Logger, message: str) -> None:
    """Log ``message`` as a warning and keep it in the active :func:`collect_warnings` list.

    Inside a collection, a message already kept is not repeated (one link per
    match gives one warning, not one per link).
    """
    col = _active.get()
    if col is None:
        logger.warning("%s", message)
        return
    if message in col.messages:
        return
    col.messages.append(message)
    if col.log:
        logger.warning("%s", message)


@contextmanager
def collect_warnings(log: bool = True) -> Iterator[list[str]]:
    """Collect the warnings raised while building states and links.

    Parameters
    ----------
    log : bool
        Also log each warning (default). ``False`` leaves the reporting to the
        caller (the CLI prints them as ``warning: ...`` lines on stderr).

    Yields
    ------
    list of str
        The warnings, in order, each once; filled while the block runs.

    Examples
    --------
    >>> import connectome as cx
    >>> with cx.neuroglancer.collect_warnings() as found:
    ...     url = cx.neuroglancer.link(None, [720575940621039145], dataset="flywire")
    >>> found
    []
    """
    outer = _active.get()
    col = _Collector(log=log)
    token = _active.set(col)
    try:
        yield col.messages
    finally:
        _active.reset(token)
        if outer is not None:
            for m in col.messages:
                if m not in outer.messages:
                    outer.messages.append(m)
