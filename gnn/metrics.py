"""Classification metrics: accuracy, balanced accuracy, macro-F1, per-class report, confusion matrix.

Everything is computed from one confusion matrix (no warnings, no hidden
conventions). The classes that count are those present in the true labels
*or* the predictions of the evaluated nodes (scikit-learn's convention for
``f1_score(average="macro")``): a class predicted but absent scores F1 = 0.
Balanced accuracy is the mean recall over classes present in the true labels.
Rare classes (fewer than ``rare_below`` labelled members in the whole dataset,
default 10) get their own macro-F1. Given the majority class of the training
labels, the scores of always predicting it (the majority-class baseline) sit
beside accuracy and macro-F1: an accuracy below it means the model does worse
than a constant on this split's class mix.

Examples
--------
>>> m = classification_metrics([0, 0, 1, 2], [0, 1, 1, 2], ["a", "b", "c"], majority=0)
>>> round(m.accuracy, 3), round(m.macro_f1, 3), round(m.balanced_accuracy, 3)
(0.75, 0.778, 0.833)
>>> m.majority_class, m.majority_accuracy
('a', 0.5)
>>> m.per_class[["label", "support", "precision", "recall"]].to_dict("records")[0]
{'label': 'a', 'support': 2, 'precision': 1.0, 'recall': 0.5}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectome.errors import InputError

__all__ = ["Metrics", "classification_metrics", "RARE_BELOW"]

logger = logging.getLogger(__name__)

#: Classes with fewer labelled members than this are reported as rare.
RARE_BELOW = 10


@dataclass
class Metrics:
    """Scores of one set of predictions.

    Attributes
    ----------
    n : int
        Number of evaluated nodes.
    accuracy, balanced_accuracy, macro_f1 : float
    rare_macro_f1 : float or None
        Macro-F1 over the rare classes that count (``None`` if there are none).
    per_class : pandas.DataFrame
        ``label``, ``support``, ``predicted``, ``precision``, ``recall``, ``f1``, ``members``, ``rare``.
    confusion : numpy.ndarray
        ``confusion[i, j]`` = nodes of class ``labels[i]`` predicted as ``labels[j]``.
    labels : list of str
        Classes that count, in code order.
    majority_class : str or None
        The majority class of the training labels (``None`` when not given).
    majority_accuracy, majority_macro_f1 : float or None
        Accuracy and macro-F1 of always predicting ``majority_class`` on the same nodes
        (the majority-class baseline; macro-F1 over the classes present in the true labels
        and the majority class).
    """

    n: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    rare_macro_f1: float | None
    per_class: pd.DataFrame
    confusion: np.ndarray
    labels: list[str]
    majority_class: str | None = None
    majority_accuracy: float | None = None
    majority_macro_f1: float | None = None

    def to_dict(self, per_class: bool = False) -> dict[str, Any]:
        """Scalar scores (and optionally the per-class table and confusion matrix) as plain Python.

        Examples
        --------
        >>> classification_metrics([0, 1], [0, 1], ["a", "b"]).to_dict()["macro_f1"]
        1.0
        """
        d: dict[str, Any] = {"n": self.n, "accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
                             "macro_f1": self.macro_f1, "rare_macro_f1": self.rare_macro_f1,
                             "n_classes": len(self.labels)}
        if self.majority_class is not None:
            d.update(majority_class=self.majority_class, majority_accuracy=self.majority_accuracy,
                     majority_macro_f1=self.majority_macro_f1)
        if per_class:
            d["per_class"] = self.per_class.to_dict("records")
            d["confusion"] = {"labels": list(self.labels), "matrix": self.confusion.tolist()}
        return d

    def __str__(self) -> str:
        """One line of scores, with the majority-class baseline when known.

        Examples
        --------
        >>> print(classification_metrics([0, 0, 0, 1], [0, 0, 1, 1], ["a", "b"], majority=0))
        n=4  accuracy=0.750 (majority class 'a': 0.750)  balanced_accuracy=0.833  macro_f1=0.733 (majority class: 0.429)  rare_macro_f1=0.733  classes=2
        """
        rare = "n/a" if self.rare_macro_f1 is None else f"{self.rare_macro_f1:.3f}"
        base_acc = base_f1 = ""
        if self.majority_class is not None:
            base_acc = f" (majority class {self.majority_class!r}: {self.majority_accuracy:.3f})"
            base_f1 = f" (majority class: {self.majority_macro_f1:.3f})"
        return (f"n={self.n}  accuracy={self.accuracy:.3f}{base_acc}  balanced_accuracy={self.balanced_accuracy:.3f}  "
                f"macro_f1={self.macro_f1:.3f}{base_f1}  rare_macro_f1={rare}  classes={len(self.labels)}")

    def plot_confusion(self, path: str | Path, *, normalize: bool = True, title: str | None = None) -> Path:
        """Write the confusion matrix as a PNG (rows normalised to recall when ``normalize``).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> m = classification_metrics([0, 1, 1], [0, 1, 0], ["a", "b"])
        >>> p = m.plot_confusion(pathlib.Path(tempfile.mkdtemp()) / "cm.png")
        >>> p.read_bytes()[:4] == b"\\x89PNG"
        True
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cm = self.confusion.astype(float)
        if normalize:
            cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        k = len(self.labels)
        size = min(4 + 0.22 * k, 30)
        fig = Figure(figsize=(size, size * 0.9))
        ax = fig.subplots()
        im = ax.imshow(cm, cmap="viridis", vmin=0, vmax=1 if normalize else None)
        ax.set_xticks(range(k), self.labels, rotation=90, fontsize=max(4, 9 - k // 15))
        ax.set_yticks(range(k), self.labels, fontsize=max(4, 9 - k // 15))
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title or f"accuracy {self.accuracy:.3f}, macro-F1 {self.macro_f1:.3f} (n={self.n})")
        fig.colorbar(im, ax=ax, fraction=0.046, label="recall" if normalize else "nodes")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        return path


def classification_metrics(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                           classes: Sequence[str], *, class_members: np.ndarray | None = None,
                           rare_below: int = RARE_BELOW, majority: int | None = None) -> Metrics:
    """Scores of predicted class codes against true ones.

    Parameters
    ----------
    y_true, y_pred : array of int
        Class codes (``0 … len(classes) - 1``) of the evaluated nodes.
    classes : sequence of str
        Class name of each code.
    class_members : numpy.ndarray of int, optional
        Labelled members of each class in the whole dataset (defines rare
        classes); default: the support in ``y_true``.
    rare_below : int
        A class is rare with fewer members than this.
    majority : int, optional
        Code of the majority class of the training labels: adds the scores of always
        predicting it (``majority_class``, ``majority_accuracy``, ``majority_macro_f1``).

    Returns
    -------
    Metrics
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(classes)
    if y_true.shape != y_pred.shape:
        raise InputError(f"y_true and y_pred differ in length ({len(y_true)} vs {len(y_pred)})", "y_pred")
    full = np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k) if k else np.zeros((0, 0), int)
    support = full.sum(axis=1)
    predicted = full.sum(axis=0)
    present = np.flatnonzero((support > 0) | (predicted > 0))
    tp = np.diag(full).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    members = support if class_members is None else np.asarray(class_members)
    rare = members < rare_below
    per_class = pd.DataFrame({
        "label": [str(classes[i]) for i in present], "support": support[present].astype(int),
        "predicted": predicted[present].astype(int), "precision": precision[present],
        "recall": recall[present], "f1": f1[present], "members": members[present].astype(int),
        "rare": rare[present]})
    n = int(len(y_true))
    true_present = np.flatnonzero(support > 0)
    rare_present = present[rare[present]]
    base: dict[str, Any] = {}
    if majority is not None:
        if not 0 <= int(majority) < k:
            raise InputError(f"majority must be a class code in 0..{k - 1}, not {majority!r}", "majority")
        const = classification_metrics(y_true, np.full(n, int(majority)), classes, rare_below=rare_below)
        base = {"majority_class": str(classes[int(majority)]), "majority_accuracy": const.accuracy,
                "majority_macro_f1": const.macro_f1}
    return Metrics(
        n=n,
        accuracy=float(tp.sum() / n) if n else float("nan"),
        balanced_accuracy=float(recall[true_present].mean()) if len(true_present) else float("nan"),
        macro_f1=float(f1[present].mean()) if len(present) else float("nan"),
        rare_macro_f1=float(f1[rare_present].mean()) if len(rare_present) else None,
        per_class=per_class,
        confusion=full[np.ix_(present, present)],
        labels=[str(classes[i]) for i in present],
        **base,
    )
