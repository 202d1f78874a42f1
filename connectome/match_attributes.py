"""Node attributes in graph matching: what a homologous pair should share besides its wiring.

Wiring alone cannot tell apart neurons whose edges are near copies of each other:
on the larva's hemispheres (``benchmarks/RESULTS.md``) every edge objective tried
scores the matching found *above* the true pairing, and the errors left are
swaps of two neurons of one class. What the annotators used to pair them —
lineage, class, axon laterality, how many synapses each compartment holds — is in
the node table. :func:`attribute_similarity` turns chosen node columns into a
pair-by-pair similarity in ``[0, 1]`` that :func:`connectome.match` adds to its
objective (``attributes=``), weighted by ``attribute_weight`` or by a weight
chosen on the seeds alone (:func:`choose_weight`, ``attribute_weight="auto"``).

Per column:

``label`` (text, categories, booleans)
    1 where the two neurons carry the same value, else 0. Placeholders of
    "unknown" (``unk``, ``unknown``, empty, missing) earn nothing. Matching the
    hemispheres of one connectome, side tokens inside a label (``_l``/``_r``,
    ``left``/``right`` as separate words, as in ``CM4-dm_l``) are neutralised
    first, so the left and right spellings of one lineage agree.
``numeric`` (integers, floats)
    ``exp(-(z_a - z_b)^2 / 2)`` of the standardised values (``log1p`` first when
    no value is negative). A missing value earns nothing.

The similarity of a pair is the mean over the columns.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .connectivity_similarity import is_unlabelled
from .errors import ColumnError, InputError
from .progress import progress_iter
from .schema import ROOT_ID

logger = logging.getLogger(__name__)

__all__ = ["attribute_similarity", "choose_weight", "check_attributes", "neutral_sides", "KINDS",
           "DEFAULT_WEIGHT", "AUTO_WEIGHTS", "MIN_AUTO_SEEDS"]

KINDS = ("label", "numeric")
#: ``attribute_weight`` when attributes are given without one (times the objective's scale).
DEFAULT_WEIGHT = 3.0
#: The weights ``attribute_weight="auto"`` compares on the seeds (0: wiring alone).
AUTO_WEIGHTS = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)
#: Fewest seed pairs for ``attribute_weight="auto"`` (two folds of at least 5).
MIN_AUTO_SEEDS = 10
_SIDE = re.compile(r"(?<![A-Za-z0-9])(?:left|right|l|r)(?![A-Za-z0-9])", re.IGNORECASE)


def neutral_sides(values: pd.Series) -> tuple[pd.Series, int]:
    """Labels with their side tokens replaced by ``<side>``, and how many labels changed.

    A side token is ``l``, ``r``, ``left`` or ``right`` (any case) standing alone
    between non-alphanumerics: ``CM4-dm_l`` and ``CM4-dm_r`` become one label,
    ``ALl1`` or ``L1`` stay as they are.

    Examples
    --------
    >>> s, n = neutral_sides(pd.Series(["CM4-dm_l", "CM4-dm_r", "BLP12 claw 1 left", "ALl1", None]))
    >>> s.tolist(), n
    (['CM4-dm_<side>', 'CM4-dm_<side>', 'BLP12 claw 1 <side>', 'ALl1', None], 3)
    """
    text = values.astype(object)
    known = text.notna()
    out = text.copy()
    out[known] = text[known].astype(str).str.replace(_SIDE, "<side>", regex=True)
    changed = int((out[known] != text[known].astype(str)).sum())
    return out, changed


def _kind_of(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        return "label"
    return "numeric"


def check_attributes(attributes: Any, columns_a: Sequence[str], columns_b: Sequence[str],
                     reserved: Sequence[str] = ()) -> dict[str, str | None]:
    """The ``attributes=`` of :func:`connectome.match`, checked: column name -> kind (None: inferred).

    Accepts one column name, a list of names, or a mapping of name to ``"label"``
    / ``"numeric"`` (to override the kind read from the column's type, e.g. for
    integer codes). ``reserved`` columns (the side column of a hemisphere match,
    ``root_id``) are refused: they differ between the sets by construction.

    Raises
    ------
    InputError
        Not a name, list or mapping; an empty list; an unknown kind; a reserved column.
    ColumnError
        A column missing from either node table.

    Examples
    --------
    >>> check_attributes("lineage", ["lineage", "side"], ["lineage", "side"])
    {'lineage': None}
    >>> check_attributes({"code": "label"}, ["code"], ["code"])
    {'code': 'label'}
    >>> check_attributes(["side"], ["side"], ["side"], reserved=["side"])
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: attributes: 'side' splits the two sets (the side column or an id), so it never agrees across them; leave it out
    """
    if isinstance(attributes, str):
        spec: dict[str, str | None] = {attributes: None}
    elif isinstance(attributes, Mapping):
        spec = {}
        for k, v in attributes.items():
            if v is not None and v not in KINDS:
                raise InputError(f"attributes: kind {v!r} of column {k!r} is not one of {KINDS}", "attributes")
            spec[str(k)] = v
    elif isinstance(attributes, Sequence) and all(isinstance(x, str) for x in attributes):
        spec = dict.fromkeys(attributes)
    else:
        raise InputError("attributes: give a node column name, a list of them, or a mapping of name to "
                         f"'label'/'numeric' (got {type(attributes).__name__})", "attributes")
    if not spec:
        raise InputError("attributes: the list is empty; name at least one node column, or pass None", "attributes")
    for col in spec:
        if col in reserved:
            raise InputError(f"attributes: {col!r} splits the two sets (the side column or an id), so it never "
                             "agrees across them; leave it out", "attributes")
        for cols, which in ((columns_a, "set a"), (columns_b, "set b")):
            if col not in cols:
                raise ColumnError(f"nodes of {which}", col, [c for c in cols if c != ROOT_ID],
                                  "(attributes= names node columns a matched pair should share)")
    return spec


def _label_block(va: pd.Series, vb: pd.Series, mirror: bool) -> tuple[np.ndarray, dict[str, Any]]:
    info: dict[str, Any] = {"kind": "label"}
    if mirror:
        va, na = neutral_sides(va)
        vb, nb = neutral_sides(vb)
        info["side_tokens_neutralised"] = na + nb
    ka, kb = ~is_unlabelled(va), ~is_unlabelled(vb)
    text_a = va.astype(object).where(ka, None).astype(str).str.strip().to_numpy()
    text_b = vb.astype(object).where(kb, None).astype(str).str.strip().to_numpy()
    codes, _ = pd.factorize(np.concatenate([text_a, text_b]))
    ca, cb = codes[:len(text_a)], codes[len(text_a):]
    same = (ca[:, None] == cb[None, :]) & ka[:, None] & kb[None, :]
    info["shared_values"] = int(len(np.intersect1d(ca[ka], cb[kb])))
    return same.astype(np.float64), info


def _numeric_block(va: pd.Series, vb: pd.Series) -> tuple[np.ndarray, dict[str, Any]]:
    xa = pd.to_numeric(va, errors="coerce").to_numpy(np.float64)
    xb = pd.to_numeric(vb, errors="coerce").to_numpy(np.float64)
    both = np.concatenate([xa, xb])
    finite = both[np.isfinite(both)]
    info: dict[str, Any] = {"kind": "numeric", "transform": "z"}
    if len(finite) and finite.min() >= 0:
        xa, xb, finite = np.log1p(xa), np.log1p(xb), np.log1p(finite)
        info["transform"] = "log1p, z"
    sd = float(finite.std()) if len(finite) else 0.0
    info["constant"] = sd <= 1e-12 * max(1.0, float(np.abs(finite).max()) if len(finite) else 1.0)
    if info["constant"]:
        sim = np.isfinite(xa)[:, None] & np.isfinite(xb)[None, :]
        return sim.astype(np.float64), info
    za, zb = (xa - finite.mean()) / sd, (xb - finite.mean()) / sd
    with np.errstate(invalid="ignore"):
        sim = np.exp(-0.5 * (za[:, None] - zb[None, :]) ** 2)
    return np.nan_to_num(sim, nan=0.0), info


def attribute_similarity(nodes_a: pd.DataFrame, nodes_b: pd.DataFrame, set_a: np.ndarray, set_b: np.ndarray,
                         spec: Mapping[str, str | None], *, mirror_sides: bool = False
                         ) -> tuple[np.ndarray, dict[str, Any]]:
    """Mean per-column similarity of every (a, b) pair, ``len(set_a) x len(set_b)`` in ``[0, 1]``.

    Parameters
    ----------
    nodes_a, nodes_b : pandas.DataFrame
        Node tables with ``root_id`` and the columns of ``spec``.
    set_a, set_b : numpy.ndarray
        Root ids of the two sets (rows and columns of the result).
    spec : mapping
        Column -> ``"label"``, ``"numeric"`` or None (read from the dtype), as
        :func:`check_attributes` returns it.
    mirror_sides : bool
        Neutralise side tokens in labels (hemispheres of one connectome).

    Returns
    -------
    (similarity, meta)
        ``meta["columns"]`` says, per column, the kind used, the transform, how
        many labels lost a side token and how many values the two sets share;
        ``meta["warnings"]`` names columns that cannot help (no shared label, a
        constant number).

    Raises
    ------
    InputError
        A column without a single known value among the neurons of either set.

    Examples
    --------
    >>> a = pd.DataFrame({"root_id": [1, 2], "lineage": ["BLP_l", "CM4_l"], "size": [10, 100]})
    >>> b = pd.DataFrame({"root_id": [3, 4], "lineage": ["CM4_r", "BLP_r"], "size": [90, 12]})
    >>> s, meta = attribute_similarity(a, b, np.array([1, 2]), np.array([3, 4]),
    ...                                {"lineage": None, "size": None}, mirror_sides=True)
    >>> s.argmax(axis=1).tolist(), meta["columns"]["size"]["transform"]
    ([1, 0], 'log1p, z')
    """
    ta = nodes_a.set_index(ROOT_ID)
    tb = nodes_b.set_index(ROOT_ID)
    total = np.zeros((len(set_a), len(set_b)))
    meta: dict[str, Any] = {"columns": {}, "mirrored_sides": mirror_sides, "warnings": []}
    for col, kind in spec.items():
        va, vb = ta[col].reindex(set_a), tb[col].reindex(set_b)
        for v, which in ((va, "a"), (vb, "b")):
            if is_unlabelled(v).all():
                raise InputError(f"attributes: column {col!r} has no known value among the neurons of set {which}; "
                                 "leave it out or fill it", "attributes")
        kind = kind or ("numeric" if _kind_of(va) == _kind_of(vb) == "numeric" else "label")
        block, info = _label_block(va, vb, mirror_sides) if kind == "label" else _numeric_block(va, vb)
        if kind == "label" and info["shared_values"] == 0:
            meta["warnings"].append(f"attributes: column {col!r} shares no value between the two sets, so it "
                                    "earns no pair anything" + ("" if mirror_sides else
                                                                "; if its labels name a side, match with side="))
        if kind == "numeric" and info["constant"]:
            meta["warnings"].append(f"attributes: column {col!r} is constant: it cannot tell pairs apart")
        total += block
        meta["columns"][col] = info
    for w in meta["warnings"]:
        logger.warning("%s", w)
    return total / len(spec), meta


def choose_weight(run: Callable[[float, np.ndarray, np.ndarray], np.ndarray], seeds_a: np.ndarray,
                  seeds_b: np.ndarray, *, weights: Sequence[float] = AUTO_WEIGHTS, seed: int = 0,
                  progress: bool | None = None) -> tuple[float, dict[str, Any]]:
    """The attribute weight that recovers the most held-out seed pairs (two-fold cross-validation).

    The seeds are split in two halves at random (``seed``); for each weight,
    ``run(weight, seeds_a[train], seeds_b[train])`` matches with one half as
    seeds and is scored on the pairs of the other half it recovers. Ties go to
    the smaller weight (wiring first). No pair outside the seeds is looked at.

    Parameters
    ----------
    run : callable
        ``run(weight, seeds_a, seeds_b) -> perm`` (``perm[i]`` = b index of a node ``i``).
    seeds_a, seeds_b : numpy.ndarray
        The seed pairs, as positions in the two sets.

    Returns
    -------
    (weight, meta)
        ``meta["recovered"]`` maps each weight to the fraction of held-out seeds recovered.

    Raises
    ------
    InputError
        Fewer than :data:`MIN_AUTO_SEEDS` seed pairs.

    Examples
    --------
    >>> truth = np.arange(20)
    >>> def run(w, sa, sb):  # a toy matcher: right only when the weight is 2
    ...     return truth if w == 2 else np.roll(truth, 1)
    >>> choose_weight(run, truth, truth, weights=(0, 1, 2, 3), progress=False)[0]
    2
    """
    k = len(seeds_a)
    if k < MIN_AUTO_SEEDS:
        raise InputError(f"attribute_weight: 'auto' chooses the weight on the seeds and needs at least "
                         f"{MIN_AUTO_SEEDS} seed pairs (got {k}); give seeds= or a number", "attribute_weight")
    fold = np.random.default_rng(seed).permutation(k) % 2
    recovered: dict[float, float] = {}
    for w in progress_iter(list(weights), total=len(weights), desc="attribute weight on the seeds", unit="weight",
                           progress=progress):
        hits = 0
        for f in (0, 1):
            train, test = fold != f, fold == f
            perm = run(w, seeds_a[train], seeds_b[train])
            hits += int((perm[seeds_a[test]] == seeds_b[test]).sum())
        recovered[w] = hits / k
    best = max(recovered.values())
    chosen = min(w for w, r in recovered.items() if r == best)
    logger.info("attribute_weight 'auto': %s recovers %.3f of the held-out seeds", chosen, best)
    return chosen, {"recovered": {str(w): r for w, r in recovered.items()}, "folds": 2}
