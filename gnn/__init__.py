"""gnn — graph neural network cell-type classifiers over connectomes (torch-geometric).

Train, evaluate and apply cell-type classifiers on a :class:`connectome.Connectome`:

>>> import connectome as cx
>>> from connectome import gnn
>>> c = cx.select(cx.load("celegans_cook2019_herm"), cell_category="neuron")
>>> clf = gnn.train(c, label="super_class", model="dir_sage", seed=0, epochs=20, progress=False)
>>> clf.predict(c).columns[:3].tolist()
['root_id', 'predicted', 'probability']

``from connectome import gnn`` is cheap: torch and torch-geometric load on first use.
"""

from __future__ import annotations

from connectome.plugins import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, submodules=("errors",))
