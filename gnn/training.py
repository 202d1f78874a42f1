"""Full-batch training with early stopping and class weighting, for every model.

:func:`train` takes a ``Connectome`` and a label column and returns a
:class:`~connectome.gnn.classifier.CellTypeClassifier` with its validation and test
metrics. Every model, baselines included, trains the same way on the same
split: standardise the wiring features, fit with Adam and cross-entropy
weighted towards rare classes, keep the weights of the epoch with the best
validation macro-F1, stop after ``patience`` epochs without improvement, and
package the result. The loop knows no model: it builds the model's operators,
passes ``(x, ops, y)`` with the training labels only (``-1`` elsewhere) and asks
the model for each training step (:mod:`connectome.gnn.models.base`); what a model does with
labels (PartnerSAGE's profiles, prediction reuse, label trick) is the model's own.
Seeds fix the split, the initial weights, dropout and (optional) label-trick
masks; on CPU torch's deterministic algorithms are switched on while training,
so a seed gives the same model twice.

Examples
--------
>>> import connectome as cx
>>> from connectome import gnn
>>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
>>> clf = gnn.train(c, label="super_class", model="mlp", seed=0, epochs=30, progress=False)
>>> sorted(clf.metrics)
['test', 'val', 'warnings']
>>> 0.0 <= clf.metrics["test"]["macro_f1"] <= 1.0
True
>>> clf.metrics["test"]["majority_class"]  # the majority-class baseline sits beside every score
'motor'

Honest reporting: ``train`` logs a warning, and lists it in ``clf.metrics["warnings"]``,
when a class has fewer than ``min_class_size`` labelled members (default 5), when a
class has no node in the test split (the test scores say nothing about it), and when the
test accuracy does not beat always predicting the training labels' majority class.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from connectome.errors import InputError
from connectome.progress import progress_bar
from connectome.validate import check_int

from .classifier import CellTypeClassifier
from .data import GraphInputs, prepare
from .device import resolve_device
from .features import FeatureSpec
from .labels import UNLABELLED
from .metrics import classification_metrics
from .models import DEFAULT_MODEL, model_args, model_class, operators
from .profiles import check_label_options
from .sparse import invariant_checks_off
from .splits import DEFAULT_FRACTIONS, Split, kfold_splits, stratified_split

if TYPE_CHECKING:  # pragma: no cover
    from connectome import Connectome

    from .classifier import CellTypeClassifier

logger = logging.getLogger(__name__)

__all__ = ["TrainConfig", "train", "cross_validate", "class_weights", "class_warnings", "FLYWIRE_GNN_SETUP",
           "MIN_CLASS_SIZE"]

#: Classes with fewer labelled members than this get a warning from :func:`train`.
MIN_CLASS_SIZE = 5

#: Training options of the flywire-gnn 0.1.0 setup as we reconstruct it from its published
#: description (2 layers, hidden 128, full batch, Adam): plain cross-entropy (no class
#: weights), a fixed 200 epochs, and the epoch with the best validation accuracy.
FLYWIRE_GNN_SETUP: dict[str, Any] = {"hidden": 128, "layers": 2, "dropout": 0.5, "lr": 0.01,
                                     "weight_decay": 5e-4, "epochs": 200, "patience": 200,
                                     "class_weight": None, "select": "accuracy"}


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (saved with the model).

    Parameters
    ----------
    model : str
        Registered model name (:data:`connectome.gnn.models.MODELS`).
    hidden, layers, dropout : int, int, float
        Model size (flywire-gnn setup: hidden 128, 2 layers).
    lr, weight_decay : float
        Adam.
    epochs, patience : int
        At most ``epochs``; stop after ``patience`` epochs without a better validation macro-F1.
    class_weight : {"sqrt", "balanced", None}
        Loss weight of class ``c`` ∝ ``1 / sqrt(n_c)``, ``1 / n_c`` or 1 (``n_c``: training nodes).
    label_keep : float
        Option of the models that take it (``partner_sage``): share of training labels
        used as profile inputs in each epoch, the others carrying the loss (the label
        trick). ``1.0`` (default) switches the trick off: every training label is an
        input and every training node carries the loss.
    reuse : int
        Option of the models that take it (``partner_sage``): rounds in which the model's
        predictions for nodes without a training label (validation, test, unlabelled)
        feed back into the profiles (label reuse, default 2); 0 builds profiles from
        training labels only. Cannot be combined with ``label_keep < 1``.
    select : {"macro_f1", "accuracy"}
        Validation score that picks the epoch (and drives early stopping).
    seed : int
    """

    model: str = DEFAULT_MODEL
    hidden: int = 128
    layers: int = 2
    dropout: float = 0.5
    lr: float = 0.01
    weight_decay: float = 5e-4
    epochs: int = 500
    patience: int = 50
    class_weight: str | None = "sqrt"
    label_keep: float = 1.0
    reuse: int = 2
    select: str = "macro_f1"
    seed: int = 0

    def __post_init__(self) -> None:
        model_class(self.model)
        for name in ("hidden", "layers", "epochs", "patience"):
            v = getattr(self, name)
            check_int(v, name, low=1, what="a positive integer")
        if not 0 <= float(self.dropout) < 1:
            raise InputError(f"dropout must be in [0, 1), not {self.dropout!r}", "dropout")
        check_label_options(self.reuse, self.label_keep)
        if self.select not in ("macro_f1", "accuracy"):
            raise InputError(f"select must be 'macro_f1' or 'accuracy', not {self.select!r}", "select")
        if self.class_weight not in ("sqrt", "balanced", None):
            raise InputError(f"class_weight must be 'sqrt', 'balanced' or None, not {self.class_weight!r}",
                             "class_weight")
        if float(self.lr) <= 0:
            raise InputError(f"lr must be positive, not {self.lr!r}", "lr")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> TrainConfig:
        """A config from keyword arguments; unknown names are refused with the known ones listed.

        Examples
        --------
        >>> TrainConfig.from_kwargs(hiden=64)
        Traceback (most recent call last):
        ...
        connectome.errors.InputError: unknown training option(s) ['hiden']; known: class_weight, dropout, epochs, hidden, label_keep, layers, lr, model, patience, reuse, seed, select, weight_decay
        """
        known = {f.name for f in fields(cls)}
        bad = sorted(set(kwargs) - known)
        if bad:
            raise InputError(f"unknown training option(s) {bad}; known: {', '.join(sorted(known))}", bad[0])
        return cls(**kwargs)


def class_weights(y_train: np.ndarray, n_classes: int, mode: str | None) -> np.ndarray:
    """Loss weight per class, normalised to mean 1 over training nodes.

    Examples
    --------
    >>> class_weights(np.array([0, 0, 0, 0, 1]), 2, "balanced").round(2).tolist()
    [0.62, 2.5]
    """
    counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
    if mode is None:
        w = np.ones(n_classes)
    else:
        safe = np.maximum(counts, 1)
        w = 1.0 / (safe if mode == "balanced" else np.sqrt(safe))
    return w / (w[y_train].mean() if len(y_train) else 1.0)


def _check_split(split: Split, y: np.ndarray) -> None:
    n = len(y)
    parts = {k: np.asarray(getattr(split, k), dtype=np.int64) for k in ("train", "val", "test")}
    for name, idx in parts.items():
        if len(idx) and (idx.min() < 0 or idx.max() >= n):
            raise InputError(f"split.{name} holds node indices outside 0..{n - 1}", "split")
        if (y[idx] < 0).any():
            raise InputError(f"split.{name} holds unlabelled nodes; splits may hold labelled nodes only", "split")
    if len(parts["train"]) == 0 or len(parts["val"]) == 0:
        raise InputError("split needs training and validation nodes", "split")
    if len(np.intersect1d(parts["train"], np.concatenate([parts["val"], parts["test"]]))):
        raise InputError("split: training nodes overlap validation/test nodes", "split")


def _listing(items: list[str], limit: int = 8) -> str:
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f", … {more} more" if more > 0 else "")


def class_warnings(y: np.ndarray, split: Split, classes: list[str], *,
                   min_class_size: int = MIN_CLASS_SIZE) -> list[str]:
    """Warnings about classes too small to train on or absent from the test split.

    Parameters
    ----------
    y : numpy.ndarray of int
        Class codes of every node (``-1``: unlabelled).
    split : Split
    classes : list of str
        Class name of each code.
    min_class_size : int
        Classes with fewer labelled members than this are named.

    Returns
    -------
    list of str
        One message per problem (empty when there is none).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0] * 20 + [1] * 3 + [2] * 1)
    >>> s = Split(np.r_[0:14, 20, 21, 23], np.r_[14:17], np.r_[17:20, 22])
    >>> for w in class_warnings(y, s, ["big", "small", "single"]):
    ...     print(w)
    2 of 3 classes have fewer than 5 labelled members: single (1), small (3); too few to learn them from or to score them reliably
    1 of 3 classes has no node in the test split: single; the test scores say nothing about it
    """
    check_int(min_class_size, "min_class_size", low=0, what="a non-negative integer")
    k = len(classes)
    members = np.bincount(y[y >= 0], minlength=k)
    in_test = np.bincount(y[np.asarray(split.test, dtype=np.int64)], minlength=k)
    out = []
    small = [i for i in np.argsort(members, kind="stable") if members[i] < min_class_size]
    if small:
        n = len(small)
        out.append(f"{n} of {k} classes {'has' if n == 1 else 'have'} fewer than {min_class_size} labelled members: "
                   f"{_listing([f'{classes[i]} ({members[i]})' for i in small])}; too few to learn "
                   f"{'it' if n == 1 else 'them'} from or to score {'it' if n == 1 else 'them'} reliably")
    absent = [i for i in range(k) if in_test[i] == 0]
    if absent:
        n = len(absent)
        out.append(f"{n} of {k} classes {'has' if n == 1 else 'have'} no node in the test split: "
                   f"{_listing([classes[i] for i in absent])}; the test scores say nothing about "
                   f"{'it' if n == 1 else 'them'}")
    return out


def _baseline_warning(test: dict[str, Any]) -> str | None:
    """A warning when the test accuracy does not beat the majority-class baseline."""
    acc, base = test.get("accuracy"), test.get("majority_accuracy")
    if acc is None or base is None or not acc <= base:
        return None
    return (f"test accuracy {acc:.3f} is not above the majority-class baseline (always {test['majority_class']!r}: "
            f"{base:.3f}); judge the model by macro-F1 ({test['macro_f1']:.3f}, baseline "
            f"{test['majority_macro_f1']:.3f}) and balanced accuracy ({test['balanced_accuracy']:.3f})")


def _standardize(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean.astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32)


@contextmanager
def _torch_settings(dev: Any, threads: int | None) -> Iterator[None]:
    """Deterministic algorithms on CPU and ``threads`` torch threads while training; restored afterwards.

    Sparse invariant checks are explicitly off meanwhile (:func:`connectome.gnn.sparse.invariant_checks_off`), so
    that no sparse re-construction inside torch or torch-geometric warns about implicit checks.
    """
    import torch

    threads = check_int(threads, "threads", low=1, optional=True, what="a positive integer")
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with invariant_checks_off():
            yield
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def _labelled_inputs(c: Connectome | GraphInputs, label: str | None, features: FeatureSpec | dict | None,
                     unlabelled: Iterable[str]) -> GraphInputs:
    if isinstance(c, GraphInputs):
        inputs = c
        if label is not None and inputs.labels is not None and label != inputs.labels.column:
            raise InputError(f"label={label!r} but the inputs were prepared for {inputs.labels.column!r}", "label")
    else:
        if label is None:
            raise InputError("label is required: name the node column with the cell types", "label")
        inputs = prepare(c, label, features=features, unlabelled=unlabelled)
    if inputs.y is None or inputs.labels is None:
        raise InputError("label is required: prepare the inputs with a label column", "label")
    return inputs


def _fit(net: Any, x: Any, ops: dict[str, Any], y: np.ndarray, split: Split, classes: list[str],
         cfg: TrainConfig, progress: bool | None) -> tuple[dict[str, Any], list[dict[str, float]], float]:
    """Full-batch epochs until ``patience`` runs out; ``net`` ends with the best epoch's weights.

    Returns the best epoch (score, validation loss, index, weights), the history and the seconds of the loop.
    """
    import torch
    import torch.nn.functional as F

    dev = x.device
    y_t = torch.from_numpy(y).to(dev)
    train_idx = torch.from_numpy(np.asarray(split.train, dtype=np.int64)).to(dev)
    val_idx = np.asarray(split.val, dtype=np.int64)
    y_known = torch.full_like(y_t, -1)  # what a model may read: the training labels, never the others
    y_known[train_idx] = y_t[train_idx]
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    weight = torch.tensor(class_weights(y[split.train], len(classes), cfg.class_weight),
                          dtype=torch.float32, device=dev)
    best: dict[str, Any] = {"score": -1.0, "loss": float("inf"), "epoch": -1, "state": None}
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    with progress_bar(total=cfg.epochs, desc=f"train {cfg.model}", unit="epoch", progress=progress) as bar:
        for epoch in range(cfg.epochs):
            t_ep = time.perf_counter()
            net.train()
            out, target = net.training_step(x, ops, y_known, train_idx)
            loss = F.cross_entropy(out[target], y_t[target], weight=weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.eval()
            with torch.no_grad():
                logits = net(x, ops, y_known)
                val_loss = float(F.cross_entropy(logits[val_idx], y_t[val_idx]))
                pred = logits.argmax(1).cpu().numpy()
            vm = classification_metrics(y[val_idx], pred[val_idx], classes)
            score = vm.macro_f1 if cfg.select == "macro_f1" else vm.accuracy
            history.append({"epoch": epoch, "loss": float(loss.detach()), "val_loss": val_loss,
                            "val_macro_f1": vm.macro_f1, "val_accuracy": vm.accuracy,
                            "seconds": time.perf_counter() - t_ep})
            if score > best["score"] or (score == best["score"] and val_loss < best["loss"]):
                best = {"score": score, "loss": val_loss, "epoch": epoch, "state": copy.deepcopy(net.state_dict())}
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}", val_f1=f"{vm.macro_f1:.3f}")
            if epoch - best["epoch"] >= cfg.patience:
                break
    seconds = time.perf_counter() - t0
    net.load_state_dict(best["state"])
    net.eval()
    return best, history, seconds


def train(c: Connectome | GraphInputs, label: str | None = None, model: str = DEFAULT_MODEL, *, seed: int = 0,
          device: Any = "cpu", split: Split | None = None,
          fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
          features: FeatureSpec | dict | None = None, unlabelled: Iterable[str] = UNLABELLED,
          threads: int | None = None, progress: bool | None = None, min_class_size: int = MIN_CLASS_SIZE,
          **options: Any) -> CellTypeClassifier:
    """Train a cell-type classifier on the labelled nodes of ``c``.

    Parameters
    ----------
    c : Connectome or GraphInputs
        The connectome (or inputs already made by :func:`connectome.gnn.prepare`, to share across runs).
    label : str
        Node column with the cell types (unlabelled values stay out of loss and metrics).
    model : str
        ``"partner_sage"`` (default), ``"dir_sage"``, or the flywire-gnn setup
        baselines ``"mlp"``, ``"gcn"``, ``"sage"``.
    seed : int
        Seed of the split (unless ``split`` is given), the weights, dropout and masks.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    split : Split, optional
        Explicit split (e.g. from :func:`connectome.gnn.kfold_splits`); default a
        :func:`connectome.gnn.stratified_split` with ``fractions`` and ``seed``.
    features : FeatureSpec or dict, optional
        Wiring features (default all the store supports).
    threads : int, optional
        torch CPU threads while training (restored afterwards); default: torch's setting.
        On a shared machine, 1 avoids oversubscribing the cores.
    progress : bool, optional
        Show a progress bar over epochs.
    min_class_size : int
        Warn about classes with fewer labelled members than this (default 5); the
        training itself does not change.
    **options
        :class:`TrainConfig` fields: ``hidden``, ``layers``, ``dropout``, ``lr``,
        ``weight_decay``, ``epochs``, ``patience``, ``class_weight``, ``label_keep``,
        ``reuse``, ``select``. ``**gnn.FLYWIRE_GNN_SETUP`` reproduces the flywire-gnn recipe.
        The model receives the fields its constructor names (:func:`connectome.gnn.models.model_args`).

    Returns
    -------
    CellTypeClassifier
        With ``.metrics`` (``"val"``, ``"test"``: scores with the majority-class baseline
        beside them; ``"warnings"``: what the scores cannot tell, also logged), ``.history``
        and ``.split``.

    Examples
    --------
    >>> import connectome as cx
    >>> from connectome import gnn
    >>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
    >>> clf = gnn.train(c, "cell_type", model="mlp", epochs=2, progress=False)  # mostly left/right pairs
    >>> print(clf.metrics["warnings"][0][:60])
    107 of 118 classes have fewer than 5 labelled members: ALA (
    """
    import torch

    cfg = TrainConfig.from_kwargs(model=model, seed=seed, **options)
    dev = resolve_device(device)
    inputs = _labelled_inputs(c, label, features, unlabelled)
    y, labels = inputs.y, inputs.labels
    split = split or stratified_split(y, fractions=fractions, seed=seed)
    _check_split(split, y)
    warned = class_warnings(y, split, labels.classes, min_class_size=min_class_size)
    for w in warned:  # before the training, which may be long
        logger.warning("%s/%s: %s", inputs.dataset.get("name"), labels.column, w)
    x_mean, x_std = _standardize(inputs.features.x)
    x = torch.from_numpy((inputs.features.x - x_mean) / x_std).to(dev)
    cls = model_class(cfg.model)
    args = model_args(cls, in_features=x.shape[1], n_classes=labels.n_classes, options=cfg.to_dict())
    with _torch_settings(dev, threads):
        torch.manual_seed(cfg.seed)
        # operators.build_operators, looked up per call: benchmarks/bench_gnn_speed.py swaps it
        ops = operators.build_operators(inputs.adjacency, cls.operators, dev)
        net = cls(**args).to(dev)
        best, history, seconds = _fit(net, x, ops, y, split, labels.classes, cfg, progress)
    logger.info("%s on %s/%s: best epoch %d of %d, val %s %.3f, %.1f s", cfg.model, inputs.dataset.get("name"),
                labels.column, best["epoch"], len(history), cfg.select, best["score"], seconds)
    clf = CellTypeClassifier(
        net, model_args=args, config=cfg, labels=labels, features=inputs.features.describe(),
        x_mean=x_mean, x_std=x_std,
        split_ids={k: inputs.ids[np.asarray(getattr(split, k), dtype=np.int64)] for k in ("train", "val", "test")},
        train_codes=y[split.train], dataset=inputs.dataset,
        training={"best_epoch": int(best["epoch"]), "epochs_run": len(history), "seconds": seconds,
                  "seconds_per_epoch": seconds / max(len(history), 1), "device": str(dev),
                  "split": split.name, "split_seed": int(split.seed)},
        history=history, inputs=inputs, device=dev)
    clf.metrics = {part: clf.evaluate(split=part).to_dict() for part in ("val", "test")}
    below = _baseline_warning(clf.metrics["test"])
    if below:
        logger.warning("%s/%s: %s", inputs.dataset.get("name"), labels.column, below)
        warned.append(below)
    clf.metrics["warnings"] = warned
    return clf


def cross_validate(c: Connectome | GraphInputs, label: str | None = None, model: str = DEFAULT_MODEL, *,
                   k: int = 5, seed: int = 0, device: Any = "cpu", features: FeatureSpec | dict | None = None,
                   threads: int | None = None, progress: bool | None = None, **options: Any) -> pd.DataFrame:
    """Stratified ``k``-fold cross-validation: one row of test metrics per fold.

    Examples
    --------
    >>> import connectome as cx
    >>> from connectome import gnn
    >>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
    >>> cv = gnn.cross_validate(c, "super_class", model="mlp", k=3, epochs=5, progress=False)
    >>> list(cv["fold"]), "macro_f1" in cv.columns
    ([1, 2, 3], True)
    """
    inputs = c if isinstance(c, GraphInputs) else prepare(c, label, features=features)
    if inputs.y is None:
        raise InputError("label is required: name the node column with the cell types", "label")
    rows = []
    for i, split in enumerate(kfold_splits(inputs.y, k=k, seed=seed), start=1):
        clf = train(inputs, label, model, seed=seed, device=device, split=split, threads=threads,
                    progress=progress, **options)
        rows.append({"fold": i, "model": model, **clf.metrics["test"]})
    return pd.DataFrame(rows)
