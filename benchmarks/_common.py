"""Shared helpers of the benchmarks: run a function in a child process and report its
wall time, result and peak RSS; format ratios."""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from typing import Any, Callable


def _child(fn: Callable, args: tuple, conn: Any) -> None:
    t0 = time.perf_counter()
    out = fn(*args)
    elapsed = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux reports KiB)
    conn.send((elapsed, out, rss))
    conn.close()


def measure(fn: Callable, *args: Any) -> tuple[float, Any, float]:
    """Run ``fn(*args)`` in a fresh process: (seconds, result, peak RSS MiB)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(fn, args, child))
    p.start()
    child.close()
    elapsed, out, rss = parent.recv()
    p.join()
    return elapsed, out, rss
