"""Cell-type classifiers, one per file (as in torch-geometric).

``flywire-gnn`` setup baselines (2 layers, hidden 128, full batch, as published by
flywire-gnn 0.1.0; re-implemented here on torch-geometric's convolutions):

- ``"mlp"`` — :class:`~connectome.gnn.models.mlp.MLP` on wiring features, no graph;
- ``"gcn"`` — :class:`~connectome.gnn.models.gcn.GCN`, ``GCNConv`` on the undirected, unweighted graph;
- ``"sage"`` — :class:`~connectome.gnn.models.sage.GraphSAGE`, ``SAGEConv`` (mean) on the undirected, unweighted graph.

Ours, using what connectomes have and generic GNNs ignore:

- ``"dir_sage"`` — :class:`~connectome.gnn.models.dir_sage.DirSAGE`: separate in- and out-neighbour
  aggregation, weighted by synapse counts;
- ``"partner_sage"`` — :class:`~connectome.gnn.models.partner_sage.PartnerSAGE`: DirSAGE over wiring
  features plus partner-type profiles from training labels (the default).

Every model derives from :class:`~connectome.gnn.models.base.CellTypeModel` (its contract: ``operators``,
``forward(x, ops, y=None)``, ``training_step``); a new model is one file and one line in :data:`MODELS`.

Examples
--------
>>> sorted(MODELS)
['dir_sage', 'gcn', 'mlp', 'partner_sage', 'sage']
>>> model_class("sage").__name__
'GraphSAGE'
>>> model_args(model_class("mlp"), in_features=3, n_classes=2, options={"hidden": 16, "lr": 0.1, "reuse": 2})
{'in_features': 3, 'n_classes': 2, 'hidden': 16}
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from connectome.errors import InputError

__all__ = ["MODELS", "BASELINES", "DEFAULT_MODEL", "model_class", "model_args"]

#: Registry: name → "module:Class" (modules import torch, so they load on demand).
MODELS: dict[str, str] = {
    "mlp": "mlp:MLP",
    "gcn": "gcn:GCN",
    "sage": "sage:GraphSAGE",
    "dir_sage": "dir_sage:DirSAGE",
    "partner_sage": "partner_sage:PartnerSAGE",
}

#: The three flywire-gnn setup baselines.
BASELINES: tuple[str, ...] = ("mlp", "gcn", "sage")

#: The model ``gnn.train`` uses unless told otherwise.
DEFAULT_MODEL = "partner_sage"


def model_class(name: str) -> Any:
    """The model class registered as ``name``; unknown names list the known ones.

    Examples
    --------
    >>> model_class("transformer")
    Traceback (most recent call last):
    ...
    connectome.errors.InputError: model: unknown model 'transformer'; use one of dir_sage, gcn, mlp, partner_sage, sage
    """
    if name not in MODELS:
        raise InputError(f"model: unknown model {name!r}; use one of {', '.join(sorted(MODELS))}", "model")
    module, cls = MODELS[name].split(":")
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def model_args(cls: type, *, in_features: int, n_classes: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor arguments of model class ``cls``: the sizes plus the ``options`` its ``__init__`` names.

    Options the class does not take (``lr``; ``reuse`` for a model without profiles) are left out,
    so one :class:`connectome.gnn.TrainConfig` serves every model. The result is what a saved model records
    (``model_args`` in ``config.json``) and what :func:`connectome.gnn.load_model` instantiates the class with.
    """
    params = inspect.signature(cls.__init__).parameters
    args: dict[str, Any] = {"in_features": int(in_features), "n_classes": int(n_classes)}
    for k in params:
        if k in options and k not in args and k != "self":
            v = options[k]
            args[k] = v.item() if isinstance(v, np.generic) else v  # JSON-ready (numpy scalars are accepted)
    return args
