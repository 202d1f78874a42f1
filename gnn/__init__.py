"""gnn — graph neural network cell-type classifiers over connectomes (torch-geometric).

Train, evaluate and apply cell-type classifiers on a :class:`connectome.Connectome`:

>>> import connectome as cx, gnn
>>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
>>> clf = gnn.train(c, label="super_class", model="dir_sage", seed=0, epochs=20, progress=False)
>>> clf.predict(c).columns[:3].tolist()
['root_id', 'predicted', 'probability']

``import gnn`` is cheap: torch and torch-geometric load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "train", "cross_validate", "TrainConfig", "FLYWIRE_GNN_SETUP",
    "CellTypeClassifier", "load_model",
    "prepare", "to_data", "GraphInputs",
    "FeatureSpec", "wiring_features",
    "stratified_split", "kfold_splits", "Split",
    "partner_type_profiles",
    "classification_metrics", "Metrics",
    "MODELS", "BASELINES", "DEFAULT_MODEL",
    "errors",
]

_EXPORTS = {
    "train": "training", "cross_validate": "training", "TrainConfig": "training", "FLYWIRE_GNN_SETUP": "training",
    "CellTypeClassifier": "classifier", "load_model": "classifier",
    "prepare": "data", "to_data": "data", "GraphInputs": "data",
    "FeatureSpec": "features", "wiring_features": "features",
    "stratified_split": "splits", "kfold_splits": "splits", "Split": "splits",
    "partner_type_profiles": "profiles",
    "classification_metrics": "metrics", "Metrics": "metrics",
    "MODELS": "models", "BASELINES": "models", "DEFAULT_MODEL": "models",
}


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module(".errors", __name__)
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'gnn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
