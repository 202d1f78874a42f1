"""One validator per rule: the argument checks every module shares.

Each check returns the value (as a plain Python ``int`` or ``float``) or raises
:class:`~connectome.errors.InputError` naming the parameter, in one wording:
``"<name> must be <what>, not <value!r>"``. Booleans are never numbers here
(``True`` is not a count), numpy integers and floats are.

Examples
--------
>>> check_int(3, "n", low=1)
3
>>> check_int(0, "n", low=1)
Traceback (most recent call last):
...
connectome.errors.InputError: n must be a positive integer, not 0
>>> check_int(True, "k", low=0)
Traceback (most recent call last):
...
connectome.errors.InputError: k must be a non-negative integer, not True
>>> check_number(0.5, "alpha", low=0, low_open=True)
0.5
>>> check_number(float("nan"), "threshold")
Traceback (most recent call last):
...
connectome.errors.InputError: threshold must be a finite number, not nan
>>> check_int(None, "limit", low=1, optional=True) is None
True
>>> check_number(10**400, "timeout", low=0, low_open=True, finite=False)   # beyond float range
inf
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InputError, PairBudgetError

__all__ = ["check_int", "check_number", "check_pair_budget", "is_int", "is_number"]


def is_int(value: Any) -> bool:
    """An integer (Python or numpy), not a boolean."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


def is_number(value: Any) -> bool:
    """An integer or a float (Python or numpy), not a boolean."""
    return is_int(value) or isinstance(value, (float, np.floating))


def _int_words(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"an integer from {low} to {high}"
    if low == 1:
        return "a positive integer"
    if low == 0:
        return "a non-negative integer"
    if low is not None:
        return f"an integer of at least {low}"
    if high is not None:
        return f"an integer of at most {high}"
    return "an integer"


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None, optional: bool = False,
              what: str | None = None) -> int | None:
    """``value`` as an ``int`` within ``[low, high]`` (``None`` passes when ``optional``).

    Parameters
    ----------
    value : Any
    name : str
        The parameter's name (the error's ``parameter``).
    low, high : int, optional
        Inclusive bounds.
    optional : bool
        Accept ``None`` (returned as is).
    what : str, optional
        Replaces the generated description in the message (e.g. ``"a positive number of samples"``).

    Raises
    ------
    InputError
    """
    if value is None and optional:
        return None
    if not is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        raise InputError(f"{name} must be {what or _int_words(low, high)}, not {value!r}", name)
    return int(value)


def check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, finite: bool = True, optional: bool = False,
                 what: str | None = None) -> float | None:
    """``value`` as a ``float`` (finite unless ``finite=False``) within the bounds.

    ``low`` is inclusive unless ``low_open`` (``low=0, low_open=True`` means
    positive); ``high`` is inclusive.

    Raises
    ------
    InputError
    """
    if value is None and optional:
        return None
    ok = is_number(value)
    v = math.nan
    if ok:
        try:
            v = float(value)
        except OverflowError:  # an int beyond float range: as big as a float gets
            v = math.inf if value > 0 else -math.inf
        ok = (not finite or math.isfinite(v)) and not math.isnan(v)
        if ok and low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v <= high
    if not ok:
        if what is None:
            if low == 0 and low_open and high is None:
                what = "a positive number"
            elif low == 0 and high is None:
                what = "a non-negative number"
            elif low is not None and high is not None:
                what = f"a number from {low:g} to {high:g}"
            else:
                what = "a finite number" if finite else "a number"
        raise InputError(f"{name} must be {what}, not {value!r}", name)
    return v


def check_pair_budget(n_rows: int, n_cols: int, limit: int, *, parameter: str, what: str, fix: str,
                      at_most: int | None = None, setting: str = "max_pairs") -> int:
    """Refuse a result that grows as the product of two sets before building it.

    The estimate is ``n_rows × n_cols`` pairs (or ``at_most``, when a tighter bound on the rows is
    known and smaller); above ``limit`` a :class:`~connectome.errors.PairBudgetError` names
    ``parameter``, gives the estimate, the limit (``setting``) and ``fix`` (what to do instead).
    One rule for every such request: influence (sources × targets), paths (sources × targets),
    similarity (queries × top_k), partners grouped ``by=`` (neurons × groups) and matching (set a ×
    set b).

    Parameters
    ----------
    n_rows, n_cols : int
        Sizes of the two sets.
    limit : int
        Largest number of pairs allowed.
    parameter : str
        The parameter to change (the error's ``parameter``).
    what : str
        The two sets in words, e.g. ``"1,000 sources x 127,218 targets"``.
    fix : str
        What to do instead, e.g. ``"give fewer sources or top"``.
    at_most : int, optional
        A known upper bound on the pairs, smaller than the product (e.g. the edges they come from).
    setting : str
        The name of the limit in the message.

    Returns
    -------
    int
        The estimate.

    Examples
    --------
    >>> check_pair_budget(10, 20, 1000, parameter="targets", what="10 sources x 20 targets", fix="give top")
    200
    >>> check_pair_budget(1000, 127218, 1_000_000, parameter="targets", what="1,000 sources x 127,218 targets",
    ...                   fix="give fewer sources, or top (the strongest targets per source)")
    Traceback (most recent call last):
    ...
    connectome.errors.PairBudgetError: targets: 1,000 sources x 127,218 targets = 127,218,000 pairs, above the limit of 1,000,000 (max_pairs); give fewer sources, or top (the strongest targets per source)
    """
    product = int(n_rows) * int(n_cols)
    estimate = product if at_most is None else min(product, int(at_most))
    if estimate > int(limit):
        said = f"{estimate:,} pairs" if estimate == product else f"{product:,}, at most {estimate:,} pairs"
        raise PairBudgetError(f"{parameter}: {what} = {said}, above the limit of {int(limit):,} ({setting}); {fix}",
                              parameter, estimate=estimate, limit=int(limit))
    return estimate
