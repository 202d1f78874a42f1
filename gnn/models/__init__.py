"""Cell-type classifiers, one per file (as in torch-geometric).

``flywire-gnn`` setup baselines (2 layers, hidden 128, full batch, as published by
flywire-gnn 0.1.0; re-implemented here on torch-geometric's convolutions):

- ``"mlp"`` — :class:`~gnn.models.mlp.MLP` on wiring features, no graph;
- ``"gcn"`` — :class:`~gnn.models.gcn.GCN`, ``GCNConv`` on the undirected, unweighted graph;
- ``"sage"`` — :class:`~gnn.models.sage.GraphSAGE`, ``SAGEConv`` (mean) on the undirected, unweighted graph.

Ours, using what connectomes have and generic GNNs ignore:

- ``"dir_sage"`` — :class:`~gnn.models.dir_sage.DirSAGE`: separate in- and out-neighbour
  aggregation, weighted by synapse counts;
- ``"partner_sage"`` — :class:`~gnn.models.partner_sage.PartnerSAGE`: DirSAGE over wiring
  features plus partner-type profiles from training labels (the default).

Examples
--------
>>> sorted(MODELS)
['dir_sage', 'gcn', 'mlp', 'partner_sage', 'sage']
>>> model_class("sage").__name__
'GraphSAGE'
"""

from __future__ import annotations

import importlib
from typing import Any

from connectome.errors import InputError

__all__ = ["MODELS", "BASELINES", "DEFAULT_MODEL", "model_class"]

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
