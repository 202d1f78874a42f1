"""Neurons without a label, when neurons are grouped by one: one rule everywhere.

Grouping neurons by a node column (``by="cell_type"``) meets neurons whose
label is missing or a placeholder (``""``, ``"unk"``, ``"unknown"``, ``"nan"``,
``"none"``, ``"na"``, ``"n/a"``, ``"?"``, case-insensitive). Every function
that groups by a label (:func:`connectome.collapse`, :func:`connectome.partners`
and :func:`connectome.adjacency_matrix` with ``by=``, the block null of
:func:`connectome.motif_significance`, :func:`connectome.similarity`) takes
``unlabelled=`` and applies it through :func:`group_by_label`:

``"pool"``
    all of them form one group (``"unknown"``; ``"<unlabelled>"`` in
    similarity vectors). The default of the grouping functions: a pooled group
    of unrelated neurons is not a cell type, so pooling is **said**, with the
    count and share of unlabelled neurons, on the log (a warning) and in the
    result's metadata, unless ``unlabelled="pool"`` was asked for.
``"drop"``
    they leave the result (their rows, their groups, their synapses).
``"keep"``
    each is a group of its own, named by its root id.

The result's metadata carries ``unlabelled`` (the choice), ``unlabelled_neurons``,
``unlabelled_fraction`` and, when pooled, ``pooled_as``; a choice left unset adds
the message to the metadata's ``warnings``.

Examples
--------
>>> import pandas as pd
>>> g = group_by_label(pd.Series(["KC", None, "unk", "MBON"]), [11, 12, 13, 14], by="cell_type",
...                    unlabelled="keep")
>>> g.groups.tolist(), g.meta["unlabelled_neurons"]
(['KC', '12', '13', 'MBON'], 2)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["UNLABELLED_VALUES", "UNLABELLED_CHOICES", "POOLED_LABEL", "LabelGroups", "is_unlabelled",
           "check_unlabelled", "group_by_label"]

#: Label values that mean "no label" (compared after stripping spaces, case-insensitive).
UNLABELLED_VALUES: tuple[str, ...] = ("", "unk", "unknown", "nan", "none", "na", "n/a", "?")
#: What ``unlabelled=`` may say.
UNLABELLED_CHOICES: tuple[str, ...] = ("pool", "drop", "keep")
#: The group of pooled unlabelled neurons (``unlabelled="pool"``).
POOLED_LABEL = "unknown"


def is_unlabelled(values: Any) -> np.ndarray:
    """True where a label is missing or a placeholder of :data:`UNLABELLED_VALUES`.

    Examples
    --------
    >>> is_unlabelled(pd.Series(["KC", "unk", None, " Unknown ", "unk-AN"])).tolist()
    [False, True, True, True, False]
    """
    s = pd.Series(values).astype(object)
    missing = s.isna().to_numpy()
    text = s.where(~missing, "").astype(str).str.strip().str.lower()
    return missing | text.isin(UNLABELLED_VALUES).to_numpy()


def check_unlabelled(value: Any, parameter: str = "unlabelled") -> str | None:
    """``value`` if it is one of :data:`UNLABELLED_CHOICES` (or ``None``: the function's default).

    Examples
    --------
    >>> check_unlabelled("drop")
    'drop'
    >>> check_unlabelled("ignore")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: unlabelled must be one of 'pool', 'drop', 'keep', not 'ignore'
    """
    if value is None:
        return None
    if not isinstance(value, str) or value not in UNLABELLED_CHOICES:
        raise InputError(f"{parameter} must be one of {', '.join(repr(c) for c in UNLABELLED_CHOICES)}, "
                         f"not {value!r}", parameter)
    return value


@dataclass(frozen=True)
class LabelGroups:
    """The group of every neuron after :func:`group_by_label`.

    Attributes
    ----------
    groups : pandas.Series
        Object values, aligned with the labels given: the label, the pooled
        label, the root id as a string (``"keep"``) or ``None`` (``"drop"``).
    unlabelled : numpy.ndarray of bool
        Which neurons had no label.
    choice : str
        ``"pool"``, ``"drop"`` or ``"keep"``: what was done.
    meta : dict
        ``unlabelled``, ``unlabelled_neurons``, ``unlabelled_fraction`` (of the
        neurons given) and ``pooled_as`` (pooling only): merge into the result's metadata.
    warnings : list of str
        The message logged as a warning (a choice left unset with unlabelled
        neurons present): add to the result's ``warnings``.
    """

    groups: pd.Series
    unlabelled: np.ndarray
    choice: str
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def group_by_label(labels: Any, ids: Sequence[int] | np.ndarray, *, by: str, unlabelled: str | None = None,
                   default: str = "pool", pool_as: str = POOLED_LABEL, where: str = "", what: str = "neurons",
                   detail: str = "") -> LabelGroups:
    """Apply ``unlabelled`` to a label series, and say what was done.

    Parameters
    ----------
    labels : sequence or pandas.Series
        The ``by`` label of each neuron.
    ids : sequence of int
        The root id of each neuron (names the groups of ``"keep"``).
    by : str
        The label column (named in messages).
    unlabelled : {"pool", "drop", "keep"}, optional
        What neurons without a label become; ``None``: ``default``, said as a
        warning (log and ``warnings``) when any neuron has no label.
    default : {"pool", "drop", "keep"}
        The caller's default.
    pool_as : str
        The name of the pooled group.
    where : str
        The call, for messages (``"collapse"``, ``"partners"``, or with arguments:
        ``"null_graph(null='block')"``).
    what : str
        What the labels belong to, for messages (``"neurons"``, ``"partners"``).
    detail : str
        Extra words for the message (e.g. the share of synapses involved).

    Returns
    -------
    LabelGroups

    Raises
    ------
    InputError
        ``unlabelled`` is not one of :data:`UNLABELLED_CHOICES`.

    Examples
    --------
    >>> import pandas as pd
    >>> g = group_by_label(pd.Series(["KC", None, "MBON"]), [1, 2, 3], by="cell_type", where="collapse")
    >>> g.groups.tolist(), g.choice, g.meta["unlabelled_neurons"], round(g.meta["unlabelled_fraction"], 3)
    (['KC', 'unknown', 'MBON'], 'pool', 1, 0.333)
    >>> g.warnings
    ["collapse(by='cell_type'): 1 of 3 neurons (33.3%) have no cell_type label and were pooled into one group 'unknown'; pass unlabelled='drop' to leave them out, 'keep' to keep each as a group of its own, or 'pool' to accept this"]
    >>> group_by_label(pd.Series(["KC", None]), [1, 2], by="cell_type", unlabelled="drop").groups.tolist()
    ['KC', None]
    """
    explicit = check_unlabelled(unlabelled) is not None
    choice = unlabelled if explicit else check_unlabelled(default, "default")
    s = labels if isinstance(labels, pd.Series) else pd.Series(list(labels))
    s = s.astype(object)
    missing = is_unlabelled(s)
    ids = np.asarray(ids)
    if len(ids) != len(s):
        raise InputError(f"ids must have one entry per label ({len(s)}), not {len(ids)}", "ids")
    groups = s.where(~missing, None)
    n_missing, total = int(missing.sum()), int(len(s))
    if choice == "pool":
        groups = groups.where(~missing, pool_as)
    elif choice == "keep":
        groups = groups.copy()
        groups[missing] = [str(int(x)) for x in ids[missing]]
    meta: dict[str, Any] = {"unlabelled": choice, "unlabelled_neurons": n_missing,
                            "unlabelled_fraction": n_missing / total if total else 0.0}
    if choice == "pool":
        meta["pooled_as"] = pool_as
    warnings: list[str] = []
    if n_missing:
        done = {"pool": f"were pooled into one group {pool_as!r}",
                "drop": "were left out",
                "keep": "were kept, each as a group of its own (named by its root id)"}[choice]
        others = {"pool": "'drop' to leave them out, 'keep' to keep each as a group of its own",
                  "drop": "'pool' to pool them into one group, 'keep' to keep each as a group of its own",
                  "keep": "'pool' to pool them into one group, 'drop' to leave them out"}[choice]
        if where.endswith(")"):  # "motif_significance(null='block')" -> "...(null='block', by='cell_type')"
            head = f"{where[:-1]}, by={by!r})"
        else:
            head = f"{where}(by={by!r})" if where else f"by={by!r}"
        msg = (f"{head}: {n_missing:,} of {total:,} {what} ({100 * n_missing / total:.1f}%) have no {by} label "
               f"and {done}" + (f" ({detail})" if detail else ""))
        if explicit:
            logger.info("%s", msg)
        else:
            msg += f"; pass unlabelled={others}, or {choice!r} to accept this"
            logger.warning("%s", msg)
            warnings.append(msg)
    return LabelGroups(groups, missing, choice, meta, warnings)
