"""Deterministic stratified splits of labelled nodes: train / validation / test, and k-fold.

Splits are made per class, so rare classes reach every part when they can: a
class with ``n`` members gets ``round(0.15 n)`` test and validation nodes (at
least one test node from 2 members, at least one validation node from 3) and
the rest for training. A class with a single member goes to training only.
Unlabelled nodes (code ``-1``) are in no part. The same ``seed`` gives the same
split on every machine (numpy ``default_rng``).

Examples
--------
>>> import numpy as np
>>> y = np.array([0] * 20 + [1] * 10 + [2] * 2 + [-1] * 5)
>>> s = stratified_split(y, seed=42)
>>> len(s.train), len(s.val), len(s.test)
(21, 5, 6)
>>> np.array_equal(s.test, stratified_split(y, seed=42).test)
True
>>> sorted(np.unique(y[s.test]).tolist())
[0, 1, 2]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from connectome.errors import InputError

from .errors import SplitError

logger = logging.getLogger(__name__)

__all__ = ["Split", "stratified_split", "kfold_splits", "DEFAULT_FRACTIONS"]

#: The flywire-gnn setup: 70 % train, 15 % validation, 15 % test.
DEFAULT_FRACTIONS: tuple[float, float, float] = (0.70, 0.15, 0.15)


@dataclass(frozen=True)
class Split:
    """Node indices of one split (positions in the node order of the graph).

    Attributes
    ----------
    train, val, test : numpy.ndarray of int64
        Sorted node indices of each part; disjoint.
    seed : int
        Seed that made the split.
    name : str
        ``"70/15/15"``, ``"fold 2/5"``, ...
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int = 0
    name: str = ""

    def masks(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boolean masks of length ``n`` (train, val, test).

        Examples
        --------
        >>> s = Split(np.array([0]), np.array([1]), np.array([3]))
        >>> [m.tolist() for m in s.masks(4)]
        [[True, False, False, False], [False, True, False, False], [False, False, False, True]]
        """
        out = []
        for part in (self.train, self.val, self.test):
            m = np.zeros(n, dtype=bool)
            m[part] = True
            out.append(m)
        return tuple(out)  # type: ignore[return-value]

    def part(self, name: str) -> np.ndarray:
        """Indices of ``"train"``, ``"val"`` or ``"test"``.

        Examples
        --------
        >>> Split(np.array([0]), np.array([1]), np.array([3])).part("test").tolist()
        [3]
        """
        if name not in ("train", "val", "test"):
            raise InputError(f"split must be 'train', 'val' or 'test', not {name!r}", "split")
        return getattr(self, name)


def _check_fractions(fractions: tuple[float, float, float]) -> tuple[float, float, float]:
    try:
        tr, va, te = (float(f) for f in fractions)
    except (TypeError, ValueError):
        raise SplitError(f"fractions must be three numbers (train, val, test), not {fractions!r}",
                         "fractions") from None
    if min(tr, va, te) <= 0 or abs(tr + va + te - 1.0) > 1e-6:
        raise SplitError(f"fractions must be three positive numbers summing to 1, e.g. (0.7, 0.15, 0.15); "
                         f"got {fractions!r}", "fractions")
    return tr, va, te


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def _require_labelled(y: np.ndarray, what: str, need: int) -> None:
    labelled = int((y >= 0).sum())
    if labelled < need:
        raise SplitError(f"{what} needs at least {need} labelled nodes, but the label has {labelled}; "
                         "label more nodes or choose a label column with more labelled nodes", "label")


def stratified_split(y: np.ndarray, *, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
                     seed: int = 0) -> Split:
    """A seeded, per-class stratified train / validation / test split.

    Parameters
    ----------
    y : numpy.ndarray of int
        Class code per node; ``-1`` for unlabelled nodes (left out of every part).
    fractions : (float, float, float)
        Train, validation and test fractions (default 0.70 / 0.15 / 0.15).
    seed : int
        Seed of the shuffle.

    Returns
    -------
    Split

    Raises
    ------
    SplitError
        If the labelled nodes cannot fill a training set with two classes, a
        validation set and a test set.

    Examples
    --------
    >>> import numpy as np
    >>> stratified_split(np.array([0, 1, -1]))
    Traceback (most recent call last):
    ...
    connectome.gnn.errors.SplitError: a train/validation/test split needs at least 4 labelled nodes, but the label has 2; label more nodes or choose a label column with more labelled nodes
    """
    _, f_val, f_test = _check_fractions(fractions)
    y = np.asarray(y, dtype=np.int64)
    _require_labelled(y, "a train/validation/test split", 4)
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for k in np.unique(y[y >= 0]):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        n = len(idx)
        n_test = max(_round(f_test * n), 1 if n >= 2 else 0)
        n_val = max(_round(f_val * n), 1 if n >= 3 else 0)
        n_train = n - n_test - n_val  # >= 1 for every n >= 1
        train.append(idx[:n_train])
        val.append(idx[n_train:n_train + n_val])
        test.append(idx[n_train + n_val:])
    s = Split(*(np.sort(np.concatenate(p)).astype(np.int64) for p in (train, val, test)), seed=seed,
              name="/".join(f"{round(100 * f)}" for f in fractions))
    if len(np.unique(y[s.train])) < 2 or len(s.val) == 0 or len(s.test) == 0:
        raise SplitError(
            f"the labelled nodes cannot fill a split: {len(s.train)} train ({len(np.unique(y[s.train]))} classes), "
            f"{len(s.val)} validation, {len(s.test)} test; classes need at least 3 members each to reach "
            "every part: label more nodes or merge rare classes", "label")
    return s


def kfold_splits(y: np.ndarray, k: int = 5, *, seed: int = 0) -> Iterator[Split]:
    """``k`` stratified folds: fold ``i`` tests, fold ``i + 1`` validates, the rest trains.

    Every labelled node is a test node exactly once. Members of each class are
    dealt to the folds in turn from a seeded random fold, so classes smaller
    than ``k`` are spread over different folds.

    Parameters
    ----------
    y : numpy.ndarray of int
        Class code per node, ``-1`` for unlabelled nodes.
    k : int
        Number of folds (at least 3: one tests, one validates, the rest train).
    seed : int
        Seed of the shuffle.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0] * 10 + [1] * 10)
    >>> folds = list(kfold_splits(y, k=5, seed=1))
    >>> sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(20))
    True
    >>> [len(f.train) for f in folds]
    [12, 12, 12, 12, 12]
    """
    if not isinstance(k, (int, np.integer)) or k < 3:
        raise SplitError(f"k must be an integer of at least 3 (test, validation and training folds), not {k!r}",
                         "k")
    y = np.asarray(y, dtype=np.int64)
    _require_labelled(y, f"{k}-fold cross-validation", k)
    rng = np.random.default_rng(seed)
    fold = np.full(len(y), -1, dtype=np.int64)
    for c in np.unique(y[y >= 0]):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        fold[idx] = (int(rng.integers(k)) + np.arange(len(idx))) % k
    for i in range(k):
        j = (i + 1) % k
        train = np.flatnonzero((fold >= 0) & (fold != i) & (fold != j))
        yield Split(train, np.flatnonzero(fold == j), np.flatnonzero(fold == i), seed=seed,
                    name=f"fold {i + 1}/{k}")
