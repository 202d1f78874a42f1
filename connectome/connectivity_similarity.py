"""Connectivity similarity: cosine, Jaccard and vertex similarity of input/output vectors, sparse throughout.

A neuron's **connectivity vector** holds its synapse counts with each partner
(:func:`connectivity_profiles`): its presynaptic partners (``direction="input"``),
its postsynaptic partners (``"output"``) or both, concatenated (``"both"``). With
``by=`` the partners are collapsed to one of their labels (``cell_type``,
``merge_class``, any node column), which makes neurons of different hemispheres
or different datasets comparable: their partners differ, their partner *types*
need not. This is neuPrint's cosine matrix, navis's ``connectivity_similarity``
and the type-level co-clustering of coconatfly.

:func:`similarity` compares vectors without a dense ``N x N`` matrix: for each
query neuron only the neurons that share a partner (or partner label) are
visited (a sparse product, compiled, row blocks as Dask tasks). With ``top_k``
it returns each neuron's ``k`` most similar neurons as a tidy table; for an id
set it returns the dense block. The FlyWire-scale graph (139,255 neurons, 2.7 M
connections) gives the top 20 of every neuron in seconds (see
``benchmarks/RESULTS.md``).

Metrics (the definitions of navis 1.12, ``connectivity_similarity``):

``"cosine"``
    ``x . y / (|x| |y|)`` on synapse counts.
``"jaccard"``
    shared partners / partners of either (navis's ``matching_index``), on the
    binary supports.
``"vertex_normalized"``
    Jarrell et al. (2012): ``sum_k min(x_k, y_k) - c1 max(x_k, y_k) exp(-c2 min(x_k, y_k))``,
    scaled between its lowest (no shared partner) and highest (equal counts)
    achievable values; ``c1 = 0.5``, ``c2 = 1`` as in navis.

Neurons without partners (an empty vector under the chosen direction, edge kind,
threshold and labels) have no defined similarity: NaN in dense blocks (as navis
gives), no rows in ``top_k`` tables; their number is in the result's metadata and
logged as a warning.

**Unlabelled partners** (with ``by=``): partners whose label is missing or a
placeholder (``""``, ``"unk"``, ``"unknown"``, ``"nan"``, ``"none"``, ``"na"``,
``"n/a"``, ``"?"``, case-insensitive) are handled as ``unlabelled`` says:

``"drop"``
    their synapses leave the vectors (the share dropped is in the metadata);
``"pool"``
    they form one pseudo-label, ``"<unlabelled>"``, per direction;
``"keep"``
    each stays a partner of its own (keyed by its root id): comparable within
    one dataset, never across datasets.

Leaving ``unlabelled`` unset means ``"drop"`` and logs a warning saying how much
was dropped; pass it to choose knowingly. Every result carries its parameters and
these counts in ``DataFrame.attrs["similarity"]``. The option, the placeholder
values and the messages are those of every function that groups by a label
(:mod:`connectome.unlabelled`); only the default differs: a pooled
pseudo-label would make unrelated neurons look alike, so similarity drops.

Examples
--------
>>> import connectome as cx
>>> c = cx.load("celegans_cook2019_herm")
>>> top = cx.similarity(c, cx.ids_of(c, name="AVAL"), top_k=3)
>>> names = c.node_table().set_index("root_id")["name"]
>>> [names[i] for i in top["similar_root_id"]]
['AVAR', 'PVCL', 'AVDL']
>>> block = cx.similarity(c, cx.ids_of(c, cell_type=["AVA", "AVB"]), metric="jaccard")
>>> block.shape
(4, 4)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import ColumnError, InputError
from .graph import Connectome
from .progress import progress_bar
from .scheduler import compute, get_scheduler, share
from .schema import ID_DTYPE, POST, PRE, ROOT_ID, SYNAPSE_COUNT, coerce_ids
from .typelevel import pair_totals
from .unlabelled import UNLABELLED_VALUES, check_unlabelled, group_by_label, is_unlabelled
from .validate import check_int

logger = logging.getLogger(__name__)

__all__ = ["similarity", "connectivity_profiles", "Profiles", "align_profiles", "UNLABELLED", "METRICS",
           "DIRECTIONS", "MAX_DENSE"]

#: Label values that mean "no label" (compared after stripping spaces, case-insensitive).
UNLABELLED: tuple[str, ...] = UNLABELLED_VALUES
#: Pseudo-label of pooled unlabelled partners (``unlabelled="pool"``).
POOLED = "<unlabelled>"
METRICS = ("cosine", "jaccard", "vertex_normalized")
DIRECTIONS = ("input", "output", "both")
#: Largest dense block (entries) :func:`similarity` returns; above it, ask for ``top_k``.
MAX_DENSE = 25_000_000
#: navis's constants of the vertex similarity (Jarrell et al. 2012).
VERTEX_C1, VERTEX_C2 = 0.5, 1.0


# ----------------------------------------------------------------------------- checks
def _check_choice(value: Any, choices: tuple[str, ...], parameter: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{parameter} must be one of {', '.join(repr(c) for c in choices)}, not {value!r}",
                         parameter)
    return value


def _check_min_synapses(min_synapses: Any) -> int:
    return check_int(min_synapses, "min_synapses", low=1,
                     what="a positive integer (1 keeps every connection; FlyWire practice is 5)")


def _check_top_k(top_k: Any) -> int | None:
    if top_k is None:
        return None
    return check_int(top_k, "top_k", low=1,
                     what="a positive integer (the neighbours kept per neuron) or None for a dense block")


# ----------------------------------------------------------------------------- profiles
@dataclass
class Profiles:
    """Connectivity vectors of neurons: a sparse matrix, its rows' root ids and its features.

    Attributes
    ----------
    matrix : scipy.sparse.csr_array
        ``matrix[i, f]`` = synapses between neuron ``ids[i]`` and feature ``f``
        (float64).
    ids : numpy.ndarray of int64
        Root id of each row.
    features : pandas.DataFrame
        One row per column: ``direction`` (``"output"`` or ``"input"``),
        ``kind`` (``"neuron"``: a partner, ``"label"``: a partner label,
        ``"pooled"``: the unlabelled partners) and ``key`` (the partner's root
        id or the label, as a string).
    meta : dict
        The parameters and what happened to unlabelled partners.
    """

    matrix: Any
    ids: np.ndarray
    features: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def rows(self, root_ids: np.ndarray) -> Any:
        """The rows of ``root_ids`` (in that order) as a CSR matrix."""
        idx = np.searchsorted(self.ids, root_ids)
        return self.matrix[np.clip(idx, 0, max(len(self.ids) - 1, 0))]


def _node_index(nodes: pd.DataFrame) -> np.ndarray:
    ids = nodes[ROOT_ID].to_numpy(dtype=ID_DTYPE)
    if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
        raise InputError("nodes: root ids must be unique", "nodes")  # stores keep them sorted and unique
    return ids


def connectivity_profiles(c: Connectome, *, direction: str = "both", by: str | None = None,
                          min_synapses: int = 1, edge_kind: str | None = "chemical",
                          unlabelled: str | None = None, scheduler: Any = None) -> Profiles:
    """Every neuron's connectivity vector (synapses per partner or per partner label), as a sparse matrix.

    Parameters
    ----------
    c : Connectome
    direction : {"both", "input", "output"}
        Presynaptic partners (``input``), postsynaptic partners (``output``),
        or both side by side (outputs first).
    by : str, optional
        Node column whose values replace the partners (``cell_type``,
        ``merge_class``, ...): a neuron's vector then holds its synapses per
        partner label.
    min_synapses : int
        Neuron pairs with fewer synapses (summed over neuropils) are not partners.
    edge_kind : str or None
        Edge kind counted (default chemical; ``None`` sums all kinds).
    unlabelled : {"drop", "pool", "keep"}, optional
        What unlabelled partners become with ``by=`` (see the module notes);
        unset means ``"drop"`` with a warning.

    Returns
    -------
    Profiles

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> p = cx.connectivity_profiles(c, direction="input", by="cell_type", unlabelled="drop")
    >>> p.matrix.shape[0] == c.n_nodes, set(p.features["direction"])
    (True, {'input'})
    """
    import scipy.sparse as sp

    _check_choice(direction, DIRECTIONS, "direction")
    min_synapses = _check_min_synapses(min_synapses)
    explicit = check_unlabelled(unlabelled) is not None
    unlabelled = unlabelled if explicit else "drop"
    if by is not None and (not isinstance(by, str) or by not in c.label_columns):
        raise ColumnError("nodes", str(by), c.label_columns, "Pass by= a node label column, or by=None for partners.")
    nodes = c.node_table([ROOT_ID] if by is None else [ROOT_ID, by])
    ids = _node_index(nodes)
    n = len(ids)
    pairs = pair_totals(c, edge_kind=edge_kind, scheduler=scheduler)
    if min_synapses > 1:
        pairs = pairs[pairs[SYNAPSE_COUNT] >= min_synapses]
    pre = np.searchsorted(ids, pairs[PRE].to_numpy(dtype=ID_DTYPE))
    post = np.searchsorted(ids, pairs[POST].to_numpy(dtype=ID_DTYPE))
    w = pairs[SYNAPSE_COUNT].to_numpy(dtype=np.float64)
    meta: dict[str, Any] = {"dataset": c.name, "direction": direction, "by": by, "min_synapses": min_synapses,
                            "edge_kind": edge_kind, "unlabelled": unlabelled if by is not None else None,
                            "warnings": []}

    if by is None:
        code = np.arange(n, dtype=np.int64)
        keys = [str(int(x)) for x in ids]
        kinds = ["neuron"] * n
    else:
        raw = nodes[by]
        missing = is_unlabelled(raw)
        labels = raw.astype(object).where(~missing, None)
        vocab = sorted({str(v) for v in labels[~missing]})
        lut = {v: i for i, v in enumerate(vocab)}
        code = np.array([lut[str(v)] if not m else -1 for v, m in zip(labels, missing)], dtype=np.int64)
        keys, kinds = list(vocab), ["label"] * len(vocab)
        if unlabelled == "pool":
            code[missing] = len(vocab)
            keys.append(POOLED)
            kinds.append("pooled")
        elif unlabelled == "keep":
            un = np.flatnonzero(missing)
            code[un] = len(vocab) + np.arange(len(un))
            keys += [str(int(x)) for x in ids[un]]
            kinds += ["neuron"] * len(un)
        total = float(w.sum())
        dropped_out = float(w[missing[post]].sum())  # an output's partner is the post neuron
        dropped_in = float(w[missing[pre]].sum())
        share = {"output": dropped_out / total if total else 0.0, "input": dropped_in / total if total else 0.0}
        used = [d for d in ("output", "input") if direction in (d, "both")]
        meta["unlabelled_partners"] = int(missing.sum())
        meta["unlabelled_synapse_share"] = {d: share[d] for d in used}
        said = ", ".join(f"{100 * share[d]:.1f}% of {d} synapses" for d in used)
        detail = {"drop": f"their synapses were dropped from the vectors: {said}",
                  "pool": f"their synapses form one pseudo-label {POOLED!r}: {said}",
                  "keep": f"their synapses stay, one partner each: {said}"}[unlabelled]
        if any(share[d] > 0 for d in used):  # unlabelled neurons that are nobody's partner change nothing
            grouping = group_by_label(raw, ids, by=by, unlabelled=unlabelled if explicit else None, default="drop",
                                      pool_as=POOLED, where="similarity", detail=detail)
            meta.update({k: v for k, v in grouping.meta.items() if k != "unlabelled"})
            meta["warnings"] += grouping.warnings
    nf = len(keys)
    blocks, feats = [], []
    if direction in ("output", "both"):
        blocks.append((pre, code[post], w))
        feats.append(("output", 0))
    if direction in ("input", "both"):
        blocks.append((post, code[pre], w))
        feats.append(("input", len(blocks) - 1))
    rows, cols, vals = [], [], []
    for b, (r, f, v) in enumerate(blocks):
        keep = f >= 0
        rows.append(r[keep])
        cols.append(f[keep] + b * nf)
        vals.append(v[keep])
    mat = sp.csr_array((np.concatenate(vals) if vals else np.zeros(0), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(n, nf * len(blocks)), dtype=np.float64)
    mat.sum_duplicates()
    mat.sort_indices()
    features = pd.DataFrame({"direction": np.repeat([d for d, _ in feats], nf),
                             "kind": kinds * len(blocks), "key": keys * len(blocks)})
    return Profiles(mat, ids, features, meta)


def align_profiles(a: Profiles, b: Profiles, vocabulary: str = "shared") -> tuple[Any, Any, pd.DataFrame, dict]:
    """Put the vectors of two profile sets on the same columns (partners or labels of both).

    Parameters
    ----------
    vocabulary : {"shared", "union", "strict"}
        ``"shared"``: only features present on both sides (the others are
        named in the report and logged); ``"union"``: every feature (absent
        ones count 0 on the other side); ``"strict"``: differing features are an
        error that lists what each side lacks.

    Returns
    -------
    (matrix_a, matrix_b, features, report)
        ``report`` has ``only_a`` and ``only_b`` (feature keys found on one side only).

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> p = cx.connectivity_profiles(c, direction="input", by="super_class", unlabelled="drop")
    >>> xa, xb, f, rep = align_profiles(p, p)
    >>> xa.shape == p.matrix.shape, rep["only_a"], rep["only_b"]
    (True, [], [])
    """
    import scipy.sparse as sp

    _check_choice(vocabulary, ("shared", "union", "strict"), "vocabulary")
    ka = list(zip(a.features["direction"], a.features["key"]))
    kb = list(zip(b.features["direction"], b.features["key"]))
    sa, sb = set(ka), set(kb)
    only_a = sorted(k for k in sa - sb)
    only_b = sorted(k for k in sb - sa)

    def names(keys: list[tuple[str, str]]) -> list[str]:
        return sorted({k for _, k in keys})

    report = {"only_a": names(only_a), "only_b": names(only_b)}
    if (only_a or only_b) and vocabulary == "strict":
        raise InputError(
            f"by: the label vocabularies differ: {len(report['only_a'])} label(s) only in {a.meta.get('dataset')!r} "
            f"({_short(report['only_a'])}), {len(report['only_b'])} only in {b.meta.get('dataset')!r} "
            f"({_short(report['only_b'])}); rename them to agree, or pass vocabulary='shared' (compare on the "
            "labels of both) or 'union'", "by")
    if vocabulary == "shared":
        keys = [k for k in ka if k in sb]
    else:
        keys = ka + only_b
    pos = {k: i for i, k in enumerate(keys)}

    def remap(p: Profiles, kk: list[tuple[str, str]]) -> Any:
        target = np.array([pos.get(k, -1) for k in kk], dtype=np.int64)
        coo = p.matrix.tocoo()
        cols = target[coo.col]
        keep = cols >= 0
        m = sp.csr_array((coo.data[keep], (coo.row[keep], cols[keep])), shape=(p.matrix.shape[0], len(keys)))
        m.sum_duplicates()
        m.sort_indices()
        return m

    feats = pd.DataFrame({"direction": [d for d, _ in keys], "key": [k for _, k in keys]})
    return remap(a, ka), remap(b, kb), feats, report


def _short(items: list[str], n: int = 8) -> str:
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "") if items else "none"


# ----------------------------------------------------------------------------- scoring
@dataclass
class _Prepared:
    """Query rows and transposed candidate rows, ready for the kernels."""

    q: Any
    tt: Any
    q_aux: np.ndarray
    t_aux: np.ndarray
    self_t: np.ndarray
    metric: int


def _prepare(q: Any, t: Any, metric: str, self_t: np.ndarray) -> _Prepared:
    import scipy.sparse as sp

    from .similarity_kernels import COSINE, JACCARD, VERTEX  # lazy: imports numba

    q = sp.csr_array(q, dtype=np.float64, copy=True)  # scaled in place below: never the caller's arrays
    t = sp.csr_array(t, dtype=np.float64, copy=True)
    q.sort_indices()
    t.sort_indices()
    if metric == "cosine":
        code = COSINE
        for m in (q, t):
            norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
            scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
            m.data *= np.repeat(scale, np.diff(m.indptr))
        q_aux = np.zeros((q.shape[0], 2))
        t_aux = np.zeros((t.shape[0], 2))
    elif metric == "jaccard":
        code = JACCARD
        q.data[:] = 1.0
        t.data[:] = 1.0
        q_aux = np.stack([np.diff(q.indptr).astype(np.float64), np.zeros(q.shape[0])], axis=1)
        t_aux = np.stack([np.diff(t.indptr).astype(np.float64), np.zeros(t.shape[0])], axis=1)
    else:
        code = VERTEX

        def aux(m: Any) -> np.ndarray:
            g = m.data - VERTEX_C1 * m.data * np.exp(-VERTEX_C2 * m.data)
            return np.stack([np.asarray(m.sum(axis=1)).ravel(),
                             np.asarray(sp.csr_array((g, m.indices, m.indptr), shape=m.shape).sum(axis=1)).ravel()],
                            axis=1).astype(np.float64)

        q_aux, t_aux = aux(q), aux(t)
    tt = t.T.tocsr()
    tt.sort_indices()
    return _Prepared(q, tt, np.ascontiguousarray(q_aux), np.ascontiguousarray(t_aux),
                     np.ascontiguousarray(self_t, dtype=np.int64), code)


def _topk_task(p: _Prepared, lo: int, hi: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from .similarity_kernels import topk_block  # lazy: imports numba

    idx = np.zeros((hi - lo, k), np.int64)
    val = np.zeros((hi - lo, k))
    cnt = np.zeros(hi - lo, np.int64)
    q, tt = p.q, p.tt
    topk_block(q.indptr, q.indices, q.data, tt.indptr, tt.indices, tt.data, p.q_aux, p.t_aux, p.self_t,
               p.metric, VERTEX_C1, VERTEX_C2, lo, hi, k, idx, val, cnt)
    return idx, val, cnt


def _dense_task(p: _Prepared, lo: int, hi: int) -> np.ndarray:
    from .similarity_kernels import dense_block  # lazy: imports numba

    out = np.zeros((hi - lo, p.t_aux.shape[0]))
    q, tt = p.q, p.tt
    dense_block(q.indptr, q.indices, q.data, tt.indptr, tt.indices, tt.data, p.q_aux, p.t_aux, p.metric,
                VERTEX_C1, VERTEX_C2, lo, hi, out)
    return out


def _blocks(n: int, block_rows: int) -> list[tuple[int, int]]:
    return [(lo, min(n, lo + block_rows)) for lo in range(0, n, block_rows)]


def _run(p: _Prepared, tasks: list[tuple[int, int]], fn: Any, args: tuple, scheduler: Any,
         progress: bool | None, desc: str) -> list[Any]:
    """Row blocks as Dask tasks (one block runs inline), in batches so the bar moves."""
    import dask

    if len(tasks) <= 1:
        return [fn(p, lo, hi, *args) for lo, hi in tasks]
    sched = get_scheduler(scheduler)
    shared = share(p, sched)
    batch = max(4, len(tasks) // 8)
    out: list[Any] = []
    with progress_bar(total=p.q.shape[0], desc=desc, unit="neuron", progress=progress) as bar:
        for s in range(0, len(tasks), batch):
            part = tasks[s:s + batch]
            out.extend(compute(*[dask.delayed(fn, pure=True)(shared, lo, hi, *args) for lo, hi in part],
                               scheduler=sched))
            bar.update(sum(hi - lo for lo, hi in part))
    return out


def score_topk(q: Any, t: Any, k: int, *, metric: str = "cosine", self_t: np.ndarray | None = None,
               block_rows: int = 4096, scheduler: Any = None,
               progress: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` best candidate rows of ``t`` for every row of ``q`` (sparse matrices on the same columns).

    Returns ``(index, score, count)``: ``index``/``score`` are ``len(q) x k``
    (best first), ``count`` how many entries of each row are filled.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> x = sp.csr_array(np.array([[1.0, 0, 1], [1.0, 0, 0], [0, 2.0, 0]]))
    >>> idx, val, cnt = score_topk(x, x, 2, self_t=np.arange(3))
    >>> idx[0, :1].tolist(), np.round(val[0, :1], 4).tolist(), cnt.tolist()
    ([1], [0.7071], [1, 1, 0])
    """
    _check_choice(metric, METRICS, "metric")
    nq = q.shape[0]
    p = _prepare(q, t, metric, np.full(nq, -1, np.int64) if self_t is None else self_t)
    k = max(1, min(int(k), max(1, t.shape[0])))
    parts = _run(p, _blocks(nq, block_rows), _topk_task, (k,), scheduler, progress, f"{metric} top {k}")
    if not parts:
        return np.zeros((0, k), np.int64), np.zeros((0, k)), np.zeros(0, np.int64)
    return (np.concatenate([x[0] for x in parts]), np.concatenate([x[1] for x in parts]),
            np.concatenate([x[2] for x in parts]))


def score_dense(q: Any, t: Any, *, metric: str = "cosine", block_rows: int = 1024, scheduler: Any = None,
                progress: bool | None = None) -> np.ndarray:
    """Scores of every row of ``q`` against every row of ``t``; NaN where either vector is empty.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> x = sp.csr_array(np.array([[1.0, 0], [1.0, 1.0], [0, 0]]))
    >>> np.round(score_dense(x, x), 4).tolist()
    [[1.0, 0.7071, nan], [0.7071, 1.0, nan], [nan, nan, nan]]
    """
    _check_choice(metric, METRICS, "metric")
    p = _prepare(q, t, metric, np.full(q.shape[0], -1, np.int64))
    parts = _run(p, _blocks(q.shape[0], block_rows), _dense_task, (), scheduler, progress, f"{metric} block")
    out = np.concatenate(parts) if parts else np.zeros((0, t.shape[0]))
    out[np.diff(p.q.indptr) == 0, :] = np.nan
    out[:, _row_nnz(t) == 0] = np.nan
    return out


def _row_nnz(m: Any) -> np.ndarray:
    import scipy.sparse as sp

    return np.diff(sp.csr_array(m).indptr)


# ----------------------------------------------------------------------------- the public function
def _ids(c: Connectome, root_ids: Any, parameter: str, all_ids: np.ndarray) -> np.ndarray:
    if root_ids is None:
        return all_ids
    if isinstance(root_ids, (int, np.integer, str)):
        root_ids = [root_ids]
    ids = coerce_ids(pd.Series(list(root_ids) if not isinstance(root_ids, (np.ndarray, pd.Series)) else root_ids),
                     parameter)
    ids = pd.unique(np.asarray(ids, dtype=ID_DTYPE))
    if len(ids) == 0:
        raise InputError(f"{parameter}: the id set is empty; give at least one root id (see cx.ids_of), or None "
                         "for every neuron", parameter)
    pos = np.searchsorted(all_ids, ids)
    bad = (pos >= len(all_ids)) | (all_ids[np.clip(pos, 0, max(len(all_ids) - 1, 0))] != ids)
    if bad.any():
        raise InputError(f"{parameter}: {int(bad.sum())} id(s) are not neurons of {c.name}, e.g. {int(ids[bad][0])}; "
                         "pick ids with cx.ids_of", parameter)
    return np.asarray(ids, dtype=ID_DTYPE)


def similarity(
    c: Connectome,
    ids: Any = None,
    *,
    direction: str = "both",
    by: str | None = None,
    metric: str = "cosine",
    min_synapses: int = 1,
    top_k: int | None = None,
    candidates: Any = None,
    other: Connectome | None = None,
    edge_kind: str | None = "chemical",
    unlabelled: str | None = None,
    vocabulary: str = "shared",
    max_dense: int = MAX_DENSE,
    block_rows: int | None = None,
    scheduler: Any = None,
    progress: bool | None = None,
    _profiles: Profiles | None = None,
) -> pd.DataFrame:
    """Connectivity similarity of neurons: the ``k`` most similar of each, or a dense block.

    Parameters
    ----------
    c : Connectome
    ids : sequence of int, optional
        Query neurons (default: every neuron).
    direction : {"both", "input", "output"}
        Compare inputs, outputs, or both side by side (default).
    by : str, optional
        Collapse partners to this node label (``cell_type``, ``merge_class``,
        ...). See the module notes for unlabelled partners.
    metric : {"cosine", "jaccard", "vertex_normalized"}
    min_synapses : int
        Neuron pairs with fewer synapses are not partners (default 1: all).
    top_k : int, optional
        Return each query neuron's ``top_k`` most similar candidates (itself
        excluded when comparing within one connectome) as a table; ``None``
        returns the dense block ``ids x candidates``.
    candidates : sequence of int, optional
        Neurons compared against (default: every neuron of ``c``, or of
        ``other``; for a dense block of ``ids`` within one connectome, ``ids``).
    other : Connectome, optional
        Compare the neurons of ``c`` against those of another connectome (a
        second dataset): the vectors are put on the features of both
        (``vocabulary``); use ``by=`` so that the features are labels both share.
    edge_kind : str or None
        Edge kind (default chemical; ``None`` sums all kinds).
    unlabelled : {"drop", "pool", "keep"}, optional
        Unlabelled partners with ``by=``; unset: ``"drop"`` and a warning.
    vocabulary : {"shared", "union", "strict"}
        With ``other``: compare on the features both have (default), on all, or
        refuse differing label sets (see :func:`align_profiles`).
    max_dense : int
        Largest dense block (entries) returned; above it, use ``top_k``.
    block_rows : int, optional
        Query rows per Dask task (default 4,096 for ``top_k``, 1,024 for blocks).
    scheduler, progress
        Where Dask runs the row blocks; show a progress bar.

    Returns
    -------
    pandas.DataFrame
        With ``top_k``: ``root_id``, ``rank`` (1 = most similar),
        ``similar_root_id``, ``similarity``, sorted by query then rank; a
        neuron has fewer than ``top_k`` rows when fewer candidates share a
        partner with it (every other candidate scores 0). Without: a float
        block, index = query root ids, columns = candidate root ids (NaN for
        neurons with an empty vector). ``.attrs["similarity"]`` holds the
        parameters, counts (``empty_queries``, ``empty_candidates``, unlabelled
        shares) and ``warnings``.

    Raises
    ------
    InputError
        Unknown ids, an empty id set, ``top_k <= 0``, an unknown metric or
        direction, a dense block above ``max_dense``, label sets that differ
        under ``vocabulary="strict"``.

    Examples
    --------
    >>> import connectome as cx
    >>> c = cx.load("celegans_cook2019_herm")
    >>> ava = cx.ids_of(c, cell_type="AVA")
    >>> s = cx.similarity(c, ava, top_k=2, direction="input")
    >>> list(s.columns)
    ['root_id', 'rank', 'similar_root_id', 'similarity']
    >>> b = cx.similarity(c, ava)
    >>> round(float(b.iloc[0, 1]), 3) == round(float(b.iloc[1, 0]), 3)
    True
    >>> cx.similarity(c, ava, top_k=0)
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: top_k must be a positive integer (the neighbours kept per neuron) or None for a dense block, not 0
    """
    _check_choice(metric, METRICS, "metric")
    _check_choice(direction, DIRECTIONS, "direction")
    top_k = _check_top_k(top_k)
    pa = _profiles or connectivity_profiles(c, direction=direction, by=by, min_synapses=min_synapses,
                                            edge_kind=edge_kind, unlabelled=unlabelled, scheduler=scheduler)
    q_ids = _ids(c, ids, "ids", pa.ids)
    meta = {k: v for k, v in pa.meta.items() if k != "dataset"}
    meta.update({"dataset": c.name, "metric": metric, "top_k": top_k, "warnings": list(pa.meta["warnings"])})
    if other is None:
        pb = pa
        t_ids = _ids(c, candidates, "candidates", pa.ids) if (candidates is not None or top_k or ids is None) else q_ids
        xq, xt = pa.rows(q_ids), pa.rows(t_ids)
    else:
        if not isinstance(other, Connectome):
            raise InputError(f"other must be a Connectome (a second dataset), not {type(other).__name__}", "other")
        pb = connectivity_profiles(other, direction=direction, by=by, min_synapses=min_synapses, edge_kind=edge_kind,
                                   unlabelled=unlabelled, scheduler=scheduler)
        t_ids = _ids(other, candidates, "candidates", pb.ids)
        ma, mb, feats, report = align_profiles(pa, pb, vocabulary)
        meta.update({"other": other.name, "vocabulary": vocabulary, "only_in_c": report["only_a"],
                     "only_in_other": report["only_b"], "features": int(len(feats))})
        meta["warnings"] += [w for w in pb.meta["warnings"] if w not in meta["warnings"]]
        if report["only_a"] or report["only_b"]:
            msg = (f"features differ between {c.name} and {other.name}: {len(report['only_a'])} only in {c.name} "
                   f"({_short(report['only_a'], 5)}), {len(report['only_b'])} only in {other.name} "
                   f"({_short(report['only_b'], 5)}); vocabulary={vocabulary!r}")
            logger.warning("%s", msg)
            meta["warnings"].append(msg)
        if by is None and len(feats) < 0.1 * max(pa.matrix.shape[1], 1):
            msg = (f"by=None across datasets: only {len(feats)} partner ids are shared between {c.name} and "
                   f"{other.name}; pass by= a label column both have")
            logger.warning("%s", msg)
            meta["warnings"].append(msg)
        xq = Profiles(ma, pa.ids, pa.features).rows(q_ids)
        xt = Profiles(mb, pb.ids, pb.features).rows(t_ids)
    empty_q = int((_row_nnz(xq) == 0).sum())
    empty_t = int((_row_nnz(xt) == 0).sum())
    meta.update({"queries": int(len(q_ids)), "candidates": int(len(t_ids)), "empty_queries": empty_q,
                 "empty_candidates": empty_t})
    if empty_q or (empty_t and top_k is None):
        msg = (f"{empty_q:,} query and {empty_t:,} candidate neurons have no partners under these settings "
               f"(direction={direction!r}, edge_kind={edge_kind!r}, min_synapses={min_synapses}"
               + (f", by={by!r}" if by else "") + "): their similarity is undefined "
               + ("(no rows)" if top_k else "(NaN)"))
        logger.warning("%s", msg)
        meta["warnings"].append(msg)

    if top_k is None:
        entries = len(q_ids) * len(t_ids)
        if entries > max_dense:
            raise InputError(
                f"top_k: a dense {len(q_ids):,} x {len(t_ids):,} block ({entries * 8 / 2**30:,.1f} GiB) is above "
                f"max_dense={max_dense:,} entries; pass top_k=20 for each neuron's nearest neighbours, or fewer ids",
                "top_k")
        block = score_dense(xq, xt, metric=metric, block_rows=block_rows or 1024, scheduler=scheduler,
                            progress=progress)
        out = pd.DataFrame(block, index=pd.Index(q_ids, name=ROOT_ID), columns=pd.Index(t_ids, name="similar_root_id"))
        out.attrs["similarity"] = meta
        return out

    if other is None:
        pos = {int(x): i for i, x in enumerate(t_ids)}
        self_t = np.array([pos.get(int(x), -1) for x in q_ids], dtype=np.int64)
    else:
        self_t = np.full(len(q_ids), -1, np.int64)
    idx, val, cnt = score_topk(xq, xt, top_k, metric=metric, self_t=self_t, block_rows=block_rows or 4096,
                               scheduler=scheduler, progress=progress)
    k = idx.shape[1]
    mask = np.arange(k)[None, :] < cnt[:, None]
    rows = np.repeat(np.arange(len(q_ids)), k).reshape(-1, k)[mask]
    out = pd.DataFrame({
        ROOT_ID: q_ids[rows],
        "rank": np.tile(np.arange(1, k + 1), len(q_ids)).reshape(-1, k)[mask].astype(np.int64),
        "similar_root_id": t_ids[idx[mask]],
        "similarity": val[mask],
    })
    short = int(((cnt < top_k) & (_row_nnz(xq) > 0)).sum())
    meta["fewer_than_k"] = short
    out.attrs["similarity"] = meta
    return out
