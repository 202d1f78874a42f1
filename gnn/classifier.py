"""A trained cell-type classifier: evaluate, predict, write predictions back, save and load.

A saved model is a folder:

- ``config.json`` — model name, its constructor arguments (``model_args``) and the
  training options, the feature spec (options, names, hash), the label mapping, the
  training dataset (name, version), the split, metrics and package versions;
- ``weights.pt`` — the ``state_dict`` (loaded with ``torch.load(weights_only=True)``);
- ``arrays.npz`` — feature means/stds and the root ids of the training,
  validation and test nodes with the training labels (numpy, no pickle).

Loading instantiates the saved class with the saved ``model_args`` and loads the
weights; the model itself knows what to do with labels (e.g. PartnerSAGE's profiles
and prediction reuse). Folders of format 1 (before models kept their arguments)
load too: their arguments are rebuilt from the training options, and their weights
are the same tensors. A saved model applied to another store recomputes the
features with the saved spec and refuses the store (:class:`~connectome.gnn.errors.FeatureMismatchError`) when the
feature names differ.

Examples
--------
>>> import tempfile, connectome as cx, gnn
>>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
>>> clf = gnn.train(c, "super_class", model="mlp", epochs=20, progress=False)
>>> path = clf.save(tempfile.mkdtemp() + "/worm-mlp")
>>> again = gnn.load_model(path)
>>> bool((again.predict(c)["predicted"] == clf.predict(c)["predicted"]).all())
True
>>> list(clf.predict(c, top_k=2).columns)
['root_id', 'predicted', 'probability', 'top2', 'top2_probability', 'split']
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import connectome
from connectome.errors import InputError
from connectome.schema import ID_DTYPE, ROOT_ID
from connectome.validate import check_int

from .data import GraphInputs, prepare
from .device import resolve_device
from .errors import FeatureMismatchError, ModelFileError
from .features import FeatureSpec
from .labels import LabelEncoding
from .metrics import Metrics, classification_metrics
from .models import model_args, model_class, operators
from .sparse import invariant_checks_off

if TYPE_CHECKING:  # pragma: no cover
    from connectome import Connectome

logger = logging.getLogger(__name__)

__all__ = ["CellTypeClassifier", "load_model", "MODEL_FORMAT", "MODEL_FORMAT_VERSION"]

MODEL_FORMAT = "connectome-gnn-model"
#: 2: ``config.json`` holds ``model_args`` (the model's constructor arguments; PartnerSAGE's
#: ``in_features`` counts wiring features only). 1: arguments rebuilt from ``train_config``.
MODEL_FORMAT_VERSION = 2
_PARTS = ("train", "val", "test")


class CellTypeClassifier:
    """A trained model with everything needed to apply it again (made by :func:`connectome.gnn.train`).

    Attributes
    ----------
    model : connectome.gnn.models.base.CellTypeModel
    model_args : dict
        The model's constructor arguments (what :meth:`load` instantiates it with).
    config : TrainConfig
    labels : LabelEncoding
    features : dict
        Feature spec, names and hash.
    metrics : dict
        ``{"val": {...}, "test": {...}, "warnings": [...]}``: scalar metrics at the end of
        training, each with the majority-class baseline (``majority_class``,
        ``majority_accuracy``, ``majority_macro_f1``), and the training warnings (classes
        too small to learn or score, accuracy not above the baseline; see :func:`connectome.gnn.train`).
    history : list of dict
        Loss, validation loss and macro-F1 per epoch.
    training : dict
        Best epoch, epochs run, seconds, device, split.
    dataset : dict
        Name and version of the training connectome.
    """

    def __init__(self, model: Any, *, config: Any, labels: LabelEncoding, features: dict[str, Any],
                 x_mean: np.ndarray, x_std: np.ndarray, split_ids: dict[str, np.ndarray], train_codes: np.ndarray,
                 dataset: dict[str, Any], training: dict[str, Any], history: list[dict[str, float]] | None = None,
                 metrics: dict[str, Any] | None = None, inputs: GraphInputs | None = None,
                 device: Any = "cpu", model_args: dict[str, Any] | None = None) -> None:
        self.model = model
        self.model_args = model_args if model_args is not None else _args_from_config(config, features, labels)
        self.config = config
        self.labels = labels
        self.features = features
        self.x_mean = np.asarray(x_mean, dtype=np.float32)
        self.x_std = np.asarray(x_std, dtype=np.float32)
        self.split_ids = {k: np.asarray(split_ids[k], dtype=ID_DTYPE) for k in _PARTS}
        self.train_codes = np.asarray(train_codes, dtype=np.int64)
        self.dataset = dataset
        self.training = training
        self.history = history or []
        self.metrics = metrics or {}
        self.device = device
        self._inputs = inputs
        self._ops: tuple[int, dict[str, Any]] | None = None

    # ------------------------------------------------------------------ inputs
    @property
    def label(self) -> str:
        """The label column this model predicts."""
        return self.labels.column

    @property
    def feature_spec(self) -> FeatureSpec:
        """The spec the features are computed with."""
        return FeatureSpec.from_dict(self.features["spec"])

    def _inputs_for(self, c: Connectome | GraphInputs | None) -> GraphInputs:
        if c is None:
            if self._inputs is None:
                raise InputError("pass the connectome to apply the model to (a loaded model keeps no graph)", "c")
            return self._inputs
        if isinstance(c, GraphInputs):
            g = c
        else:
            g = prepare(c, None, features=self.feature_spec)
            if self.label in c.label_columns:
                nodes = c.node_table([ROOT_ID, self.label])
                order = np.argsort(nodes[ROOT_ID].to_numpy(dtype=ID_DTYPE), kind="stable")
                g.y = self.labels.encode(nodes[self.label].iloc[order].reset_index(drop=True))
                g.labels = self.labels
        self._check_features(g)
        return g

    def _check_features(self, g: GraphInputs) -> None:
        want, have = list(self.features["names"]), list(g.features.names)
        if want == have and g.features.hash == self.features["hash"]:
            return
        missing = [n for n in want if n not in have]
        extra = [n for n in have if n not in want]
        detail = "; ".join(p for p in (
            f"missing {len(missing)}: {', '.join(missing[:6])}{' …' if len(missing) > 6 else ''}" if missing else "",
            f"unexpected {len(extra)}: {', '.join(extra[:6])}{' …' if len(extra) > 6 else ''}" if extra else "",
        ) if p) or "same names in another order"
        raise FeatureMismatchError(
            f"this store's wiring features do not match the model's (model feature hash {self.features['hash']}, "
            f"store {g.features.hash}; {detail}); apply the model to a store with the same edge columns "
            "(neuropils, transmitters, edge kinds) or train a new model on this store", "c")

    def _known(self, g: GraphInputs, known: str) -> np.ndarray:
        if known == "train":
            y = np.full(g.n_nodes, -1, dtype=np.int64)
            pos = g.index_of(self.split_ids["train"])
            ok = pos >= 0
            if ok.mean() < 0.5:
                logger.warning("only %d of %d training neurons are in this store: a model that reads partner labels "
                               "(partner_sage) sees few of them; consider known='labels'", int(ok.sum()), len(ok))
            y[pos[ok]] = self.train_codes[ok]
            return y
        if known == "labels":
            if g.y is None:
                raise InputError(f"known='labels' needs the label column {self.label!r} in the store", "known")
            return g.y.copy()
        raise InputError(f"known must be 'train' (the training labels) or 'labels' (every label in the store), "
                         f"not {known!r}", "known")

    def _operators(self, g: GraphInputs) -> dict[str, Any]:
        if self._ops is None or self._ops[0] != id(g):  # the module's attribute, per call: bench_gnn_speed swaps it
            self._ops = (id(g), operators.build_operators(g.adjacency, self.model.operators, self.device))
        return self._ops[1]

    def probabilities(self, c: Connectome | GraphInputs | None = None, *, known: str = "train") -> np.ndarray:
        """Class probabilities (nodes × classes) in root-id order.

        ``known`` chooses the labels a model may read (partner-type profiles):
        ``"train"`` (the training labels, default) or ``"labels"`` (every label in the store).
        """
        import torch

        g = self._inputs_for(c)
        y_known = torch.from_numpy(self._known(g, known)).to(self.device)
        x = torch.from_numpy((g.features.x - self.x_mean) / self.x_std).to(self.device)
        self.model.eval()
        with torch.no_grad(), invariant_checks_off():
            return torch.softmax(self.model(x, self._operators(g), y_known), dim=1).cpu().numpy()

    # ------------------------------------------------------------------ use
    @property
    def majority_class(self) -> str:
        """The most frequent class of the training labels (what the majority-class baseline predicts).

        Ties go to the class that sorts first.
        """
        return self.labels.classes[self._majority_code()]

    def _majority_code(self) -> int:
        return int(np.bincount(self.train_codes, minlength=self.labels.n_classes).argmax())

    def _split_positions(self, g: GraphInputs, split: str) -> np.ndarray:
        """Node positions of ``split`` in ``g`` (labelled or not)."""
        if split in _PARTS:
            pos = g.index_of(self.split_ids[split])
            return pos[pos >= 0]
        if split not in ("unseen", "new"):
            raise InputError(f"split must be one of 'train', 'val', 'test', 'unseen', 'new', not {split!r}", "split")
        inside = [g.index_of(self.split_ids[p]) for p in (_PARTS if split == "new" else ("train", "val"))]
        return np.setdiff1d(np.arange(g.n_nodes), np.concatenate(inside))

    def evaluate(self, c: Connectome | GraphInputs | None = None, split: str = "test", *,
                 known: str = "train") -> Metrics:
        """Metrics on the labelled nodes of a split, with the majority-class baseline beside them.

        Parameters
        ----------
        c : Connectome or GraphInputs, optional
            The store to score on; default the training graph.
        split : {"test", "val", "train", "new", "unseen"}
            ``"train"``, ``"val"``, ``"test"``: the model's own parts (by root id).
            ``"new"``: labelled nodes of the store in none of the model's parts (a
            node the model never saw). ``"unseen"``: ``"test"`` and ``"new"`` together,
            i.e. every labelled node used neither for training nor to pick the epoch:
            validation nodes chose the epoch, so their scores are optimistic and they
            are never part of ``"unseen"``. Unlabelled nodes never count.
        known : {"train", "labels"}
            Labels the model may read (see :meth:`probabilities`).

        Returns
        -------
        Metrics
            With ``majority_class`` / ``majority_accuracy`` / ``majority_macro_f1``: the
            scores of always predicting the training labels' majority class.

        Examples
        --------
        >>> import connectome as cx
        >>> from connectome import gnn
        >>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
        >>> clf = gnn.train(c, "super_class", model="mlp", epochs=5, progress=False)
        >>> m = clf.evaluate(split="test")
        >>> m.n == len(clf.split_ids["test"]), m.majority_class == clf.majority_class
        (True, True)
        >>> clf.evaluate(c, split="new")  # every neuron of c is in one of the model's parts
        Traceback (most recent call last):
        ...
        connectome.errors.InputError: no labelled new nodes of this model are in the store
        """
        g = self._inputs_for(c)
        if g.y is None:
            raise InputError(f"the store has no label column {self.label!r} to evaluate against", "c")
        pos = self._split_positions(g, split)
        pos = pos[g.y[pos] >= 0]
        if len(pos) == 0:
            raise InputError(f"no labelled {split} nodes of this model are in the store", "split")
        pred = self.probabilities(g, known=known).argmax(1)
        members = np.bincount(g.y[g.y >= 0], minlength=self.labels.n_classes)
        return classification_metrics(g.y[pos], pred[pos], self.labels.classes, class_members=members,
                                      majority=self._majority_code())

    def labelled_counts(self, c: Connectome | GraphInputs | None = None) -> dict[str, int]:
        """Labelled nodes of the store in each of the model's parts and outside them (``"new"``).

        Examples
        --------
        >>> import connectome as cx
        >>> from connectome import gnn
        >>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
        >>> clf = gnn.train(c, "super_class", model="mlp", epochs=5, progress=False)
        >>> n = clf.labelled_counts(c)
        >>> n["new"], n["test"] == len(clf.split_ids["test"])
        (0, True)
        """
        g = self._inputs_for(c)
        if g.y is None:
            return dict.fromkeys((*_PARTS, "new"), 0)
        return {p: int((g.y[self._split_positions(g, p)] >= 0).sum()) for p in (*_PARTS, "new")}

    def predict(self, c: Connectome | GraphInputs | None = None, *, top_k: int = 3, known: str = "train") -> pd.DataFrame:
        """Predicted cell type of every node.

        Returns
        -------
        pandas.DataFrame
            ``root_id``, ``predicted``, ``probability``, ``top2``, ``top2_probability``, …
            up to ``top_k``, and ``split`` (``"train"``, ``"val"``, ``"test"`` or
            ``""`` for nodes outside the training split, e.g. unlabelled ones).
        """
        check_int(top_k, "top_k", low=1, what="a positive integer")
        g = self._inputs_for(c)
        proba = self.probabilities(g, known=known)
        k = min(int(top_k), self.labels.n_classes)
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        names = np.asarray(self.labels.classes, dtype=object)
        out = pd.DataFrame({ROOT_ID: g.ids})
        for i in range(k):
            col = "predicted" if i == 0 else f"top{i + 1}"
            out[col] = names[order[:, i]]
            out["probability" if i == 0 else f"{col}_probability"] = proba[np.arange(len(g.ids)), order[:, i]]
        split = np.full(len(g.ids), "", dtype=object)
        for part in _PARTS:
            pos = g.index_of(self.split_ids[part])
            split[pos[pos >= 0]] = part
        out["split"] = split
        return out

    def annotate(self, c: Connectome, *, top_k: int = 1, known: str = "train", prefix: str | None = None,
                 overwrite: bool = False) -> Connectome:
        """``c`` with the predictions as node columns (``predicted_<label>``, ``…_probability``, …).

        Save the result with ``.save(path)`` to write the columns into a store.

        Examples
        --------
        >>> import connectome as cx
        >>> from connectome import gnn
        >>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
        >>> clf = gnn.train(c, "super_class", model="mlp", epochs=5, progress=False)
        >>> [x for x in clf.annotate(c).label_columns if x.startswith("predicted")]
        ['predicted_super_class', 'predicted_super_class_probability']
        """
        prefix = prefix if prefix is not None else f"predicted_{self.label}"
        df = self.predict(c, top_k=top_k, known=known).drop(columns=["split"])
        ren = {"predicted": prefix, "probability": f"{prefix}_probability"}
        ren.update({col: f"{prefix}_{col}" for col in df.columns if col.startswith("top")})
        return c.with_node_columns(df.rename(columns=ren), overwrite=overwrite)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the model folder (``config.json``, ``weights.pt``, ``arrays.npz``); returns its path."""
        import torch
        import torch_geometric

        path = Path(path)
        if path.exists() and not path.is_dir():
            raise InputError(f"path: {str(path)!r} is a file; give a folder for the model", "path")
        path.mkdir(parents=True, exist_ok=True)
        config = {
            "format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": self.config.model, "model_args": self.model_args, "train_config": self.config.to_dict(),
            "features": self.features, "labels": self.labels.to_dict(), "dataset": self.dataset,
            "training": self.training, "metrics": self.metrics, "history": self.history,
            "versions": {"torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
                         "connectome": connectome.__version__},
        }
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        torch.save(state, path / "weights.pt")
        np.savez(path / "arrays.npz", x_mean=self.x_mean, x_std=self.x_std, train_codes=self.train_codes,
                 **{f"{k}_ids": self.split_ids[k] for k in _PARTS})
        tmp = path / "config.json.tmp"
        tmp.write_text(json.dumps(config, indent=2, default=str))
        tmp.replace(path / "config.json")
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: Any = "cpu") -> CellTypeClassifier:
        """Read a model folder written by :meth:`save`."""
        import torch

        from .training import TrainConfig  # lazy: training imports this module

        path = Path(path)
        files = [path / n for n in ("config.json", "weights.pt", "arrays.npz")]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise ModelFileError(f"{str(path)!r} is not a saved model (missing {', '.join(missing)}); "
                                 "pass a folder written by CellTypeClassifier.save or `connectome train --out`")
        try:
            config = json.loads(files[0].read_text())
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"{files[0]}: not valid JSON ({exc})") from None
        if config.get("format") != MODEL_FORMAT or int(config.get("format_version", 0)) > MODEL_FORMAT_VERSION:
            raise ModelFileError(f"{path}: format {config.get('format')!r} v{config.get('format_version')} is not "
                                 f"readable by this version (reads {MODEL_FORMAT} v{MODEL_FORMAT_VERSION}); "
                                 "upgrade connectome-service")
        dev = resolve_device(device)
        # models saved before prediction reuse existed were trained and must be applied without it
        cfg = TrainConfig(**{"reuse": 0, **config["train_config"]})
        labels = LabelEncoding.from_dict(config["labels"])
        arrays = np.load(files[2], allow_pickle=False)
        if int(config.get("format_version", 1)) < 2:  # format 1 kept no model arguments: the training options hold them
            args = _args_from_config(cfg, config["features"], labels)
        elif isinstance(config.get("model_args"), dict):
            args = config["model_args"]
        else:
            raise ModelFileError(f"{files[0]}: format {MODEL_FORMAT_VERSION} without 'model_args'; the file was "
                                 "edited or cut short: save the model again (CellTypeClassifier.save)")
        module = model_class(config["model"])(**args)
        try:
            module.load_state_dict(torch.load(files[1], map_location=dev, weights_only=True))
        except RuntimeError as exc:
            first = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), str(exc))
            raise ModelFileError(f"{files[1]}: the weights do not fit {config['model']!r} with {args} ({first}); "
                                 "config.json and weights.pt come from different models: save the model again"
                                 ) from None
        module.to(dev).eval()
        return cls(module, model_args=args, config=cfg, labels=labels, features=config["features"],
                   x_mean=arrays["x_mean"], x_std=arrays["x_std"], split_ids={k: arrays[f"{k}_ids"] for k in _PARTS},
                   train_codes=arrays["train_codes"], dataset=config.get("dataset", {}),
                   training=config.get("training", {}), history=config.get("history", []),
                   metrics=config.get("metrics", {}), device=dev)

    def __repr__(self) -> str:
        test = self.metrics.get("test", {})
        score = f", test macro-F1 {test['macro_f1']:.3f}" if "macro_f1" in test else ""
        return (f"<CellTypeClassifier {self.config.model} for {self.label!r} "
                f"({self.labels.n_classes} classes, trained on {self.dataset.get('name', '?')}{score})>")


def _args_from_config(config: Any, features: dict[str, Any], labels: LabelEncoding) -> dict[str, Any]:
    """Model arguments as :func:`connectome.gnn.train` makes them, from the training options (format 1 folders)."""
    return model_args(model_class(config.model), in_features=len(features["names"]), n_classes=labels.n_classes,
                      options=config.to_dict())


def load_model(path: str | Path, *, device: Any = "cpu") -> CellTypeClassifier:
    """Load a model folder written by :meth:`CellTypeClassifier.save`.

    Examples
    --------
    >>> load_model("/nonexistent/model")
    Traceback (most recent call last):
    ...
    connectome.gnn.errors.ModelFileError: '/nonexistent/model' is not a saved model (missing config.json, weights.pt, arrays.npz); pass a folder written by CellTypeClassifier.save or `connectome train --out`
    """
    return CellTypeClassifier.load(path, device=device)
