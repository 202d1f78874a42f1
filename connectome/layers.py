"""Information-flow layers from a probabilistic traversal (Schlegel et al. 2021, eLife, "Information
flow, cell types and stereotypy in a full olfactory connectome"; navis ``TraversalModel``).

Starting from seed neurons (layer 1, e.g. the sensory neurons), each step activates unvisited
neurons at random; a neuron's layer is the step at which it was activated. Over many iterations
each neuron gets a layer distribution (mean, median, histogram). Two activation rules:

``rule="summed"`` (default, the rule of the issue and of Schlegel et al. 2021)
    at each step an unvisited neuron is activated with probability
    ``min(1, synapses from visited neurons / (threshold × its total input))``;
``rule="per_edge"`` (navis ``TraversalModel`` with its default ``random_linear_activation_function``)
    every edge from a visited neuron to an unvisited one is traversed with probability
    ``min(1, w / threshold)`` with ``w`` its input-normalised weight (synapses / total input of
    the postsynaptic neuron), and a neuron is activated when one of its edges is traversed.

Both redraw at every step (a neuron that was not activated may be at the next step), stop at
``max_steps`` or when no unvisited neuron has input from a visited one. Total input is over the
graph used (edge kind, ``min_synapses``). The default threshold is 0.3 (30 % of a neuron's input).

Signed traversals (``signed=True``): only excitatory input activates, and inhibitory input counts
against activation. Each pair gets its signed synapses ``s`` = Σ sign × synapses over its rows
(:func:`connectome.signed_pairs`: the transmitter → sign table ``signs``, by default the species'
documented table, e.g. ACh +1, GABA −1, glutamate −1 in the fly; a sign of 0, as monoamines or a
missing transmitter, makes the input neutral). The denominator stays the unsigned total input.

``rule="summed"``
    an unvisited neuron is activated with probability
    ``clip(Σ s from visited neurons / (threshold × its total input), 0, 1)``: inhibitory synapses
    from visited neurons subtract from the excitatory ones, and a neuron whose visited input is
    net inhibitory (or neutral) is not activated at that step;
``rule="per_edge"``
    an excitatory edge (``s > 0``) from a visited neuron is traversed with probability
    ``min(1, (s / input) / threshold)``; an inhibitory edge (``s < 0``) from a visited neuron blocks
    the activation of its target at that step with probability ``min(1, (|s| / input) / threshold)``
    (independently); a neuron is activated when an excitatory edge is traversed and no inhibitory
    edge blocks: ``P = (1 − Π(1 − q_exc)) × Π(1 − q_inh)``.

With ``signed=False`` (the default) every synapse counts as excitatory, as in Schlegel et al. 2021
and navis; the result is exactly that of the unsigned model.

Each iteration draws from its own random stream, derived from ``seed`` and the iteration number,
so the result does not depend on how iterations are split into Dask tasks or on the scheduler.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> L = cx.flow_layers(c, cx.ids_of(c, super_class="sensory"), n_iterations=200, seed=0)
>>> L.set_index("name").loc[["ASHL", "AVAL", "VA8"], "layer_mean"].round(1).tolist()
[1.0, 2.0, 2.8]
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, QueryTimeoutError, SeedError
from .graph import Connectome
from .pathgraph import check_min_synapses, graph_metadata, label_columns, pair_graph, resolve_ids
from .progress import progress_bar
from .scheduler import compute, get_scheduler, share
from .schema import ROOT_ID
from .signs import signed_pairs
from .validate import check_int, check_number

logger = logging.getLogger(__name__)

__all__ = ["flow_layers", "RULES"]

RULES = ("summed", "per_edge")
_ITER_BLOCK = 64  # iterations per Dask task (at least)


def _run(indptr: np.ndarray, idx: np.ndarray, p_edge: np.ndarray, in_total: np.ndarray, threshold: float,
         seeds: np.ndarray, max_steps: int, rule: int, seed: int, lo: int, hi: int, deadline: float | None
         ) -> np.ndarray:
    from .path_kernels import traverse  # lazy: imports numba

    hist = np.zeros((len(in_total), max_steps + 1), np.int64)
    step = 16
    for a in range(lo, hi, step):
        if deadline is not None and time.time() > deadline:
            raise QueryTimeoutError("flow_layers: time budget exhausted")
        traverse(indptr, idx, p_edge, in_total, threshold, seeds, max_steps, rule, seed, a, min(hi, a + step), hist)
    return hist


def _run_packed(args: tuple, lo: int, hi: int, deadline: float | None) -> np.ndarray:
    return _run(*args, lo, hi, deadline)


def _median(hist: np.ndarray) -> np.ndarray:
    """Median layer per row of a histogram (columns 1..: layers), as pandas' median of the draws."""
    counts = hist[:, 1:]
    n = counts.sum(axis=1)
    cum = np.cumsum(counts, axis=1)
    lo_k = (n - 1) // 2
    hi_k = n // 2
    lo = (cum <= lo_k[:, None]).sum(axis=1) + 1
    hi = (cum <= hi_k[:, None]).sum(axis=1) + 1
    return np.where(n > 0, (lo + hi) / 2.0, np.nan)


def flow_layers(
    c: Connectome,
    seeds: Any,
    max_steps: int = 15,
    n_iterations: int = 1000,
    seed: int = 0,
    *,
    threshold: float = 0.3,
    rule: str = "summed",
    min_synapses: int | None = None,
    edge_kind: str | None = "chemical",
    signed: bool = False,
    signs: Any = None,
    labels: Any = None,
    blocks: int | None = None,
    timeout: float | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Layer distribution of every neuron in probabilistic traversals from ``seeds``.

    Parameters
    ----------
    c : Connectome
    seeds : sequence of int
        Root ids of the starting neurons (layer 1). Seeds without outgoing edges cannot start a
        traversal: all of them is a :class:`~connectome.errors.SeedError`, some of them a warning.
    max_steps : int
        Last layer (navis's ``max_steps``; at most 255).
    n_iterations : int
        Traversals (Monte-Carlo samples).
    seed : int
        Random seed; the same seed gives the same result on every scheduler and blocking.
    threshold : float
        Fraction of a neuron's input that activates it for sure (0.3).
    rule : {"summed", "per_edge"}
        Activation rule (see the module notes).
    min_synapses, edge_kind
        The graph traversed.
    signed : bool
        Inhibitory input counts against activation, neutral input (sign 0) does not count (see the
        module notes for the exact rule). Needs transmitters in the store.
    signs : mapping, optional
        Transmitter → sign table of a signed traversal (default: the species' documented table,
        :data:`connectome.FLY_SIGNS` or :data:`connectome.CELEGANS_SIGNS`); only with ``signed=True``.
    labels : list of str, optional
        Node columns to add (default: name, types … where present).
    blocks, timeout, scheduler, progress
        Dask tasks over iterations (default from the work), time budget, scheduler, progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per neuron: ``root_id``, ``layer_mean``, ``layer_median``, ``layer_min``,
        ``layer_max`` (over the iterations that reached it; NaN if none), ``reached`` (fraction of
        iterations), the histogram ``hist_1`` … ``hist_<max_steps>`` (iterations that reached it at
        each layer) and labels. ``.attrs`` holds the parameters.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> a = cx.flow_layers(c, cx.ids_of(c, super_class="sensory"), n_iterations=100, seed=1, labels=[])
    >>> b = cx.flow_layers(c, cx.ids_of(c, super_class="sensory"), n_iterations=100, seed=1, labels=[], blocks=4)
    >>> a.equals(b), int(a["hist_1"].max())
    (True, 100)

    Signed: GABAergic input now holds neurons back (C. elegans: ACh +1, GABA −1, glutamate 0).

    >>> s = cx.flow_layers(c, cx.ids_of(c, super_class="sensory"), n_iterations=100, seed=1, labels=[], signed=True)
    >>> s.attrs["sign_table"], bool(s["reached"].mean() < a["reached"].mean())
    ('CELEGANS_SIGNS', True)
    """
    started = time.time()
    for name, val, top in (("max_steps", max_steps, 255), ("n_iterations", n_iterations, 10**8)):
        check_int(val, name, low=1, high=top, what=f"an integer between 1 and {top:,}")
    check_int(seed, "seed", low=0, high=2**63 - 1, what="a non-negative integer")
    check_number(threshold, "threshold", low=0, low_open=True, finite=False,
                 what="a positive fraction of a neuron's input (e.g. 0.3)")
    if rule not in RULES:
        raise InputError(f"rule must be 'summed' or 'per_edge', not {rule!r}", "rule")
    check_number(timeout, "timeout", low=0, low_open=True, finite=False, optional=True,
                 what="a positive number of seconds")
    if not isinstance(signed, (bool, np.bool_)):
        raise InputError(f"signed must be True or False, not {signed!r}", "signed")
    if signs is not None and not signed:
        raise InputError("signs: a sign table only applies to a signed traversal; pass signed=True as well", "signs")
    k = check_min_synapses(min_synapses)
    g = pair_graph(c, edge_kind=edge_kind, min_synapses=k, self_loops=False)
    s = resolve_ids(g.ids, seeds, "seeds", name=c.name)
    notes: list[str] = []
    sign_meta: dict[str, Any] = {}
    syn = g.weight.astype(np.float64)
    if signed:
        spairs = signed_pairs(c, signs, edge_kind=edge_kind, graph=g)
        syn = spairs.signed
        sign_meta = spairs.metadata()
        notes.extend(spairs.warnings)
    out_deg = np.diff(g.out_indptr)[s]
    what = "an outgoing edge"
    if signed:  # only excitatory edges can activate
        out_deg = np.bincount(g.src[syn > 0], minlength=g.n)[s]
        what = "an excitatory outgoing edge (signed=True)"
    if not (out_deg > 0).any():
        raise SeedError(f"seeds: none of the {len(s)} seed(s) has {what} (edge_kind={edge_kind!r}, "
                        f"min_synapses={k}), so nothing can be traversed; choose other seeds or lower min_synapses",
                        "seeds")
    if (out_deg == 0).any():
        edges = "excitatory outgoing edges" if signed else "outgoing edges"
        msg = f"{int((out_deg == 0).sum())} of {len(s)} seeds have no {edges}; they stay at layer 1 and start nothing"
        notes.append(msg)
        logger.warning(msg)
    in_total = g.in_total.astype(np.float64)
    if rule == "summed":
        p_edge = syn
    elif not signed:
        p_edge = np.minimum(1.0, syn / (float(threshold) * in_total[g.dst]))
    else:  # inhibitory edges as negative probabilities: the kernel reads -q as "blocks with probability q"
        p_edge = np.sign(syn) * np.minimum(1.0, np.abs(syn) / (float(threshold) * in_total[g.dst]))
    args = (g.out_indptr, g.dst, p_edge, in_total, float(threshold), s, int(max_steps), RULES.index(rule), int(seed))
    deadline = None if timeout is None else started + float(timeout)
    if blocks is None:
        work = n_iterations * max(g.m, 1)
        blocks = 1 if work < 50_000_000 else min(max(1, n_iterations // _ITER_BLOCK), 16)
    blocks = max(1, min(int(blocks), n_iterations))
    edges = np.linspace(0, n_iterations, blocks + 1).astype(np.int64)
    try:
        if blocks == 1:
            hist = _run(*args, 0, n_iterations, deadline)
        else:
            import dask

            sched = get_scheduler(scheduler)
            shared = share(args, sched)
            tasks = [dask.delayed(_run_packed, pure=True)(shared, int(lo), int(hi), deadline)
                     for lo, hi in zip(edges[:-1], edges[1:])]
            with progress_bar(total=len(tasks), desc="flow layers", unit="block", progress=progress) as bar:
                parts = compute(*tasks, scheduler=sched)
                bar.update(len(tasks))
            hist = np.sum(parts, axis=0)
    except QueryTimeoutError:
        raise QueryTimeoutError(f"flow_layers ran past the time budget of {timeout} s; use fewer iterations or "
                                "raise timeout") from None
    counts = hist[:, 1:]
    reached = counts.sum(axis=1)
    layer = np.arange(1, max_steps + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (counts * layer).sum(axis=1) / reached
    has = counts > 0
    lmin = np.where(reached > 0, np.argmax(has, axis=1) + 1, np.nan)
    lmax = np.where(reached > 0, max_steps - np.argmax(has[:, ::-1], axis=1), np.nan)
    out = pd.DataFrame({ROOT_ID: g.ids, "layer_mean": np.where(reached > 0, mean, np.nan),
                        "layer_median": _median(hist), "layer_min": lmin, "layer_max": lmax,
                        "reached": reached / n_iterations})
    for j in range(max_steps):
        out[f"hist_{j + 1}"] = counts[:, j]
    cols = label_columns(c, labels)
    if cols:
        lut = c.node_table([ROOT_ID] + cols).set_index(ROOT_ID)
        for col in cols:
            out[col] = lut[col].reindex(g.ids).to_numpy()
    out.attrs = {**graph_metadata(c), "seeds": int(len(s)), "max_steps": int(max_steps), "n_iterations": int(n_iterations),
                 "seed": int(seed), "threshold": float(threshold), "rule": rule, "min_synapses": k,
                 "edge_kind": edge_kind, "signed": bool(signed), **sign_meta, "notes": notes}
    return out
