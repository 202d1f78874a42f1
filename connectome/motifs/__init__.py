"""Motif queries in DotMotif syntax, executed as relational joins over the edge table.

:func:`find_motifs` returns one row per match (one column per motif node,
root ids); :func:`count_motifs` counts matches without materialising them.
Semantics follow DotMotif (Matelsky et al. 2021): motif nodes map to distinct
neurons, extra edges between matched neurons are allowed, ``A !> B`` requires
that no edge A→B exists, a node constraint on a missing label behaves as
DotMotif's comparison with ``None``, comparisons between nodes
(``A.size > B.size``) and between edges (``ab.weight > bc.weight``) and
``ignore_direction=True`` work as in DotMotif.

Edges hold several rows per neuron pair (per neuropil; chemical synapses and gap
junctions). A constraint on a row-level column (``neuropil``, ``nt_type``,
``gaba_avg``, ``edge_kind``, any column of your own) selects rows of the pair;
``weight`` (alias ``synapse_count``) is the sum of synapse counts over the
selected rows; the pair matches the motif edge when at least one row is
selected and the weight constraints hold on that sum. ``A !> B [...]`` forbids
exactly the pairs that ``A -> B [...]`` would match.

``exclude_automorphisms=True`` keeps one match per distinct subgraph (see
:mod:`connectome.motifs.symmetry`; DotMotif 0.18 loses matches of motifs with
cyclic symmetry, such as half of the 3-cycles).

The seed scan is split into node blocks that run as Dask tasks (threads,
a LocalCluster with process workers, or a scheduler address).

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> ffl = '''
... A -> B [weight >= 5]
... B -> C [weight >= 5]
... A -> C [weight >= 5]
... A.cell_type == "AVA"
... '''
>>> m = cx.find_motifs(c, ffl)
>>> list(m.columns), len(m) == cx.count_motifs(c, ffl)
(['A', 'B', 'C'], True)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, QueryTimeoutError
from ..progress import progress_bar
from ..scheduler import compute, get_scheduler, share
from ..validate import check_number
from ..graph import Connectome
from .engine import DEFAULT_MEMORY, Host, Plan, parse_memory
from .query import (
    DEFAULT_QUERY_LIMITS,
    EdgeComparison,
    MotifQuery,
    QueryLimits,
    check_limits,
    parse_query,
    parse_query_isolated,
    query_warnings,
    validate_query,
)

logger = logging.getLogger(__name__)

__all__ = ["find_motifs", "count_motifs", "parse_query", "parse_query_isolated", "MotifQuery", "QueryLimits",
           "DEFAULT_QUERY_LIMITS", "EdgeComparison", "MotifCount", "DEFAULT_MEMORY", "parse_memory"]

_BLOCK_ROWS = 250_000


class MotifCount(int):
    """The number of matches (an ``int``) with ``.attrs`` like a DataFrame's: ``warnings`` lists
    constraints that make the count say nothing about the graph (see
    :func:`~connectome.motifs.query.query_warnings`)."""

    attrs: dict[str, Any]


def _prepare(c: Connectome, query: str | MotifQuery, exclude_automorphisms: bool | None,
             ignore_direction: bool | None, edge_kind: str | None, scheduler: Any, limits: QueryLimits | None,
             timeout: float | None, started: float) -> tuple[Host, Plan, list[str]]:
    for name, flag in (("exclude_automorphisms", exclude_automorphisms), ("ignore_direction", ignore_direction)):
        if flag is not None and not isinstance(flag, (bool, np.bool_)):
            raise InputError(f"{name} must be True or False, not {flag!r}", name)
    if isinstance(query, MotifQuery):
        q = query
        for name, flag in (("exclude_automorphisms", exclude_automorphisms), ("ignore_direction", ignore_direction)):
            if flag is not None and bool(flag) != getattr(q, name):
                raise InputError(
                    f"{name}={bool(flag)} disagrees with the parsed query, which was parsed with "
                    f"{name}={getattr(q, name)}; parse it with parse_query(text, {name}={bool(flag)}) or leave "
                    f"{name} out", name)
        check_limits(q, limits)
    else:
        q = parse_query(query, exclude_automorphisms=bool(exclude_automorphisms),
                        ignore_direction=bool(ignore_direction), limits=limits)
    if timeout is not None and time.time() - started >= timeout:
        raise QueryTimeoutError(
            f"motif query: parsing used the whole time budget of {timeout} s; simplify the query (fewer macros, "
            "shorter text) or raise timeout")
    validate_query(q, c.label_columns, c.edge_columns, edge_kind)
    keys = sorted({k for cons in q.node_constraints.values() for k in cons})
    said = query_warnings(q, c.node_table(keys, scheduler=scheduler))
    for msg in said:
        logger.warning(msg)
    host = Host.build(c, q, edge_kind=edge_kind, scheduler=scheduler)
    return host, host.plan(), said


def _check_positive(value: Any, name: str, kind: type = int) -> None:
    if value is None:
        return
    check_number(value, name, low=0, low_open=True, finite=False)
    if kind is int and int(value) != value:
        raise InputError(f"{name} must be a positive integer, not {value!r}", name)


def _blocks(host: Host, plan: Plan, blocks: int | None) -> list[tuple[int, int]]:
    if blocks is None:
        seed_rows = host.relations[plan.steps[0].rel].nnz if plan.steps[0].kind == "seed" else host.n
        blocks = max(1, min(64, seed_rows // _BLOCK_ROWS))
    return host.seed_blocks(plan, int(blocks))


def _execute(host: Host, plan: Plan, mode: str, limit: int | None, timeout: float | None, blocks: int | None,
             scheduler: Any, progress: bool | None, started: float, memory: int = DEFAULT_MEMORY) -> Any:
    import dask

    deadline = None if timeout is None else started + float(timeout)  # parsing counts against the budget
    ranges = _blocks(host, plan, blocks)
    try:
        if len(ranges) == 1:
            return [host.run(plan, mode=mode, limit=limit, deadline=deadline, memory=memory)]
        sched = get_scheduler(scheduler)
        shared = share(host, sched)
        wave = max(2, 2 * _workers(sched))  # waves of tasks: progress, and an early stop for `limit`
        out: list[Any] = []
        found = 0
        with progress_bar(total=len(ranges), desc=f"motif {mode}", unit="block", progress=progress) as bar:
            for k in range(0, len(ranges), wave):
                part = ranges[k:k + wave]
                # the tasks of a wave run at once: each gets its share of the budget, less what `find` holds
                held = sum(sum(v.nbytes for v in r.values()) for r in out) if mode == "find" else 0
                share_b = max(1, (memory - held) // len(part))
                tasks = [dask.delayed(_run_block, pure=True)(shared, plan, mode, lo, hi, limit, deadline, share_b)
                         for lo, hi in part]
                res = compute(*tasks, scheduler=sched)
                out.extend(res)
                bar.update(len(tasks))
                if limit is not None:
                    found += sum(len(next(iter(r.values()))) for r in res)
                    if found >= limit:
                        break
        return out
    except QueryTimeoutError:
        raise QueryTimeoutError(
            f"motif query ran past its time budget of {timeout} s; add constraints (edge weights, node "
            "labels), pass a limit, or raise timeout") from None


def _workers(sched: Any) -> int:
    if isinstance(sched, str):
        return 2
    try:
        return max(1, len(sched.scheduler_info()["workers"]))
    except Exception:  # pragma: no cover - informational only
        return 2


def _run_block(host: Host, plan: Plan, mode: str, lo: int, hi: int, limit: int | None,
               deadline: float | None, memory: int | None = None) -> Any:
    return host.run(plan, mode=mode, lo=lo, hi=hi, limit=limit, deadline=deadline, memory=memory)


def find_motifs(
    c: Connectome,
    query: str | MotifQuery,
    *,
    limit: int | None = None,
    timeout: float | None = None,
    exclude_automorphisms: bool | None = None,
    ignore_direction: bool | None = None,
    edge_kind: str | None = "chemical",
    blocks: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    limits: QueryLimits | None = None,
    memory: int | str | None = None,
) -> pd.DataFrame:
    """All matches of a DotMotif ``query`` in ``c``.

    Parameters
    ----------
    c : Connectome
    query : str
        DotMotif text, e.g. ``"A -> B [weight >= 5]\\nB -> C\\nA -> C"``.
    limit : int, optional
        Stop after this many matches (the first found, in node-block order).
    timeout : float, optional
        Time budget in seconds; :class:`~connectome.errors.QueryTimeoutError` past it.
    exclude_automorphisms : bool, optional
        Keep one match per distinct subgraph (per automorphism class of the motif); default False,
        or the parsed query's own setting when ``query`` is a :class:`MotifQuery`.
    ignore_direction : bool, optional
        DotMotif's option: every motif edge is undirected, ``A -> B`` matches a pair connected
        either way (its rows in both directions belong to it, so ``weight`` sums both) and
        ``A !> B`` forbids both directions. Default False (or the parsed query's setting).
    edge_kind : str or None
        Edge rows of the host graph (default chemical synapses; None: every kind, which lets the
        query select kinds with ``[edge_kind == "gap_junction"]``).
    blocks : int, optional
        Number of seed blocks (Dask tasks); default from the seed relation's size.
    scheduler : optional
        Dask scheduler (see :mod:`connectome.scheduler`).
    progress : bool, optional
        Progress bar over seed blocks.
    limits : QueryLimits, optional
        Size limits of the query (None: :data:`~connectome.motifs.DEFAULT_QUERY_LIMITS`:
        20,000 characters, 32 nodes, 128 edges, 256 constraints, macro depth 8,
        10,000 statements after macro expansion); checked before DotMotif parses.
    memory : int or str, optional
        Memory budget of the run, in bytes or as a size such as ``"512MiB"`` or ``"2GiB"`` (default
        :data:`~connectome.motifs.DEFAULT_MEMORY`, 1 GiB): the partial bindings held at every level,
        the candidate arrays and, for :func:`find_motifs`, the matches kept, enforced as the query
        runs (chunks of bindings shrink to fit; the graph itself is not counted). Above it,
        :class:`~connectome.errors.QueryMemoryError` (a ``QueryTooLargeError`` with
        ``estimate_bytes`` and ``limit_bytes``).

    Returns
    -------
    pandas.DataFrame
        One column per motif node (in order of appearance), int64 root ids,
        one row per match, sorted. ``.attrs["warnings"]`` (also logged) names node label values
        that no neuron has (``A.cell_type == "AVX"``: a 0 count from a typo) and ``weight``
        constraints that always or never hold (synapse counts are integers >= 1).

    Raises
    ------
    QuerySyntaxError
        The query does not parse (line and column in the message).
    QueryError
        An unknown node or edge attribute (the message lists those that exist), a constraint
        that cannot be honoured (the message names it), or a DotMotif parse failure (with line
        and column).
    QueryTooLargeError
        A motif node without edges or constraints (every neuron would match), or
        a query over ``limits`` (the message names the limit and how to raise it).
    QueryMemoryError
        The run would hold more than ``memory`` (a ``QueryTooLargeError``; the message gives the
        estimate and the budget).
    QueryTimeoutError
        The time budget ran out (parsing counts against it).

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> named = cx.find_motifs(c, "A -> B as ab\\nab.weight >= 40\\n")
    >>> named.equals(cx.find_motifs(c, "A -> B [synapse_count >= 40]"))
    True
    >>> cx.count_motifs(c, "A -> B as ab\\nB -> C as bc\\nab.weight > bc.weight\\n") > 0
    True
    >>> d = cx.dyad_census(c)
    >>> pairs = cx.count_motifs(c, "A -> B\\n", ignore_direction=True, exclude_automorphisms=True)
    >>> pairs == int(d["mutual"] + d["asymmetric"])
    True
    >>> ring = "\\n".join(f"N{i} -> N{i + 1}" for i in range(40))
    >>> cx.count_motifs(c, ring)
    Traceback (most recent call last):
    ...
    connectome.errors.QueryTooLargeError: motif query: the number of motif nodes is 41, over the limit max_nodes=32; to allow it, pass limits=QueryLimits(max_nodes=41)
    """
    started = time.time()
    _check_positive(limit, "limit")
    _check_positive(timeout, "timeout", float)
    budget = DEFAULT_MEMORY if memory is None else parse_memory(memory)
    host, plan, said = _prepare(c, query, exclude_automorphisms, ignore_direction, edge_kind, scheduler, limits,
                                timeout, started)
    parts = _execute(host, plan, "find", limit, timeout, blocks, scheduler, progress, started, budget)
    cols = {v: np.concatenate([p[v] for p in parts]) if parts else np.zeros(0, np.int64) for v in plan.variables}
    nodes = host.query.nodes
    n_found = len(cols[plan.variables[0]]) if plan.variables else 0
    keep = np.arange(n_found) if limit is None else np.arange(min(n_found, int(limit)))  # first found
    order = keep[np.lexsort([cols[v][keep] for v in reversed(nodes)])]
    out = pd.DataFrame({v: host.ids[cols[v][order]] for v in nodes})
    out.attrs = {"warnings": said}
    return out


def count_motifs(
    c: Connectome,
    query: str | MotifQuery,
    *,
    timeout: float | None = None,
    exclude_automorphisms: bool | None = None,
    ignore_direction: bool | None = None,
    edge_kind: str | None = "chemical",
    blocks: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    limits: QueryLimits | None = None,
    memory: int | str | None = None,
) -> int:
    """Number of matches of a DotMotif ``query`` (see :func:`find_motifs`), without materialising them.

    Returns a :class:`MotifCount`: an ``int`` whose ``.attrs["warnings"]`` (also logged) names node
    label values that no neuron has and ``weight`` constraints that always or never hold. ``memory``
    bounds what the run holds at once (default 1 GiB; see :func:`find_motifs`): a count holds chunks of
    partial bindings, never the matches, so it is refused only when not even one binding fits.

    Examples
    --------
    >>> import connectome as cx
    >>> cx.count_motifs(cx.load("celegans_cook2019_herm"), "A -> B\\nB -> A", exclude_automorphisms=True)
    669
    """
    started = time.time()
    _check_positive(timeout, "timeout", float)
    budget = DEFAULT_MEMORY if memory is None else parse_memory(memory)
    host, plan, said = _prepare(c, query, exclude_automorphisms, ignore_direction, edge_kind, scheduler, limits,
                                timeout, started)
    n = MotifCount(int(sum(_execute(host, plan, "count", None, timeout, blocks, scheduler, progress, started,
                                    budget))))
    n.attrs = {"warnings": said}
    return n
