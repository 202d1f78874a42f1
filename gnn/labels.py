"""Label columns → integer class codes, with unlabelled nodes kept apart.

A node is *unlabelled* when its label is missing (NaN, None, ``pd.NA``) or one
of the placeholder strings in :data:`UNLABELLED` (compared case-insensitively
after stripping spaces), e.g. the larva's ``"unk"``. Unlabelled nodes stay in
the graph (they carry wiring) but get code ``-1``: they are never in the loss,
never in a split and never in the metrics. Values such as ``"unk-AN"`` are
real classes and are kept.

Examples
--------
>>> import pandas as pd
>>> codes, enc = encode_labels(pd.Series(["KC", "unk", None, "PN", "KC"]), column="merge_class")
>>> codes.tolist(), enc.classes
([0, -1, -1, 1, 0], ['KC', 'PN'])
>>> enc.decode([1, 0]).tolist()
['PN', 'KC']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from connectome.errors import ColumnError

from .errors import LabelError

logger = logging.getLogger(__name__)

__all__ = ["UNLABELLED", "LabelEncoding", "encode_labels", "label_codes"]

#: Label values that mean "no label" (case-insensitive), besides missing values.
UNLABELLED: tuple[str, ...] = ("", "unk", "unknown", "nan", "none", "na", "n/a", "?")


def _missing_mask(values: pd.Series, unlabelled: Iterable[str]) -> np.ndarray:
    tokens = {str(t).strip().lower() for t in unlabelled}
    na = values.isna().to_numpy()
    text = values.astype(object).where(~na, "").map(lambda v: str(v).strip().lower())
    return na | text.isin(tokens).to_numpy()


@dataclass(frozen=True)
class LabelEncoding:
    """The mapping between class names and integer codes of one label column.

    Attributes
    ----------
    column : str
        Node column the labels come from (e.g. ``"merge_class"``).
    classes : list of str
        Class names; code ``i`` is ``classes[i]``. Sorted.
    unlabelled : tuple of str
        Values treated as "no label" (besides missing values).
    """

    column: str
    classes: list[str]
    unlabelled: tuple[str, ...] = field(default=UNLABELLED)

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def encode(self, values: Sequence[Any] | pd.Series) -> np.ndarray:
        """Codes of ``values``: ``-1`` for unlabelled values and for classes this encoding lacks.

        Examples
        --------
        >>> LabelEncoding("c", ["a", "b"]).encode(["b", "unk", "zzz"]).tolist()
        [1, -1, -1]
        """
        s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        missing = _missing_mask(s, self.unlabelled)
        lut = {c: i for i, c in enumerate(self.classes)}
        text = s.astype(object).where(~missing, None)
        return np.array([-1 if v is None else lut.get(str(v), -1) for v in text], dtype=np.int64)

    def decode(self, codes: Sequence[int] | np.ndarray) -> np.ndarray:
        """Class names of ``codes`` (``-1`` → ``None``).

        Examples
        --------
        >>> LabelEncoding("c", ["a", "b"]).decode([1, -1]).tolist()
        ['b', None]
        """
        names = np.array(list(self.classes) + [None], dtype=object)
        codes = np.asarray(codes, dtype=np.int64)
        return names[np.where(codes < 0, len(self.classes), codes)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        return {"column": self.column, "classes": list(self.classes), "unlabelled": list(self.unlabelled)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelEncoding:
        """Inverse of :meth:`to_dict`.

        Examples
        --------
        >>> e = LabelEncoding("c", ["a", "b"])
        >>> LabelEncoding.from_dict(e.to_dict()) == e
        True
        """
        return cls(str(d["column"]), [str(c) for c in d["classes"]], tuple(d.get("unlabelled", UNLABELLED)))


def encode_labels(values: pd.Series, column: str, unlabelled: Iterable[str] = UNLABELLED,
                  min_classes: int = 2) -> tuple[np.ndarray, LabelEncoding]:
    """Integer codes (``-1`` = unlabelled) and the encoding of a label series.

    Parameters
    ----------
    values : pandas.Series
        One label per node.
    column : str
        Name of the label column (kept in the encoding and in error messages).
    unlabelled : iterable of str
        Values meaning "no label" (default :data:`UNLABELLED`).
    min_classes : int
        Fewer distinct labelled classes raise :class:`~connectome.gnn.errors.LabelError`.

    Examples
    --------
    >>> import pandas as pd
    >>> encode_labels(pd.Series(["a", "unk"]), "cell_type")
    Traceback (most recent call last):
    ...
    connectome.gnn.errors.LabelError: label 'cell_type' has 1 class among 1 labelled node(s) ('a'); a classifier needs at least 2 classes: choose another label column or label more nodes
    """
    unlabelled = tuple(str(u) for u in unlabelled)
    missing = _missing_mask(values, unlabelled)
    text = values.astype(object).where(~missing, None)
    classes = sorted({str(v) for v in text if v is not None})
    if len(classes) < min_classes:
        shown = ", ".join(repr(c) for c in classes[:5]) or "none"
        raise LabelError(
            f"label {column!r} has {len(classes)} class{'es' if len(classes) != 1 else ''} among "
            f"{int((~missing).sum())} labelled node(s) ({shown}); a classifier needs at least {min_classes} "
            "classes: choose another label column or label more nodes", "label")
    enc = LabelEncoding(column, classes, unlabelled)
    return enc.encode(text.map(lambda v: None if v is None else str(v))), enc


def label_codes(nodes: pd.DataFrame, column: str, unlabelled: Iterable[str] = UNLABELLED) -> tuple[np.ndarray, LabelEncoding]:
    """Codes and encoding of the node column ``column``; a missing column lists the ones that exist.

    Examples
    --------
    >>> import pandas as pd
    >>> nodes = pd.DataFrame({"root_id": [1, 2], "cell_type": ["a", "b"]})
    >>> label_codes(nodes, "celltype")
    Traceback (most recent call last):
    ...
    connectome.errors.ColumnError: column 'celltype' not found in nodes (columns: cell_type); did you mean 'cell_type'? Pass one of these as label=.
    """
    if column not in nodes.columns or column == "root_id":
        raise ColumnError("nodes", column, [c for c in nodes.columns if c != "root_id"],
                          "Pass one of these as label=.")
    return encode_labels(nodes[column], column, unlabelled)
