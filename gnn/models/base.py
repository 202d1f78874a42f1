"""What every cell-type model is: an ``nn.Module`` that maps node features, graph and known labels to logits.

The contract (what :func:`connectome.gnn.train` and :class:`connectome.gnn.CellTypeClassifier` rely on, and all they rely on):

- ``operators`` (class attribute): names of the graph operators ``forward`` reads
  (:func:`connectome.gnn.models.operators.build_operators` builds them once per graph and device);
- ``__init__(in_features, n_classes, ...)``: ``in_features`` counts the wiring features;
  further keyword arguments are model options, filled from :class:`connectome.gnn.TrainConfig`
  fields of the same name and saved with the model (:func:`connectome.gnn.models.model_args`);
- ``forward(x, ops, y=None)`` → logits (nodes × classes). ``y`` holds the class code of every
  node whose label the model may read as an input (the training nodes) and ``-1`` elsewhere:
  a validation, test or unlabelled node's label never reaches a model. Models that do not
  read labels ignore it;
- ``training_step(x, ops, y, train_idx)`` → ``(logits, loss_nodes)``: one training forward
  and the nodes whose loss counts. The default is ``forward`` and every training node; a
  model that feeds some training labels in as inputs (the label trick) leaves those out.

A model owns its behaviour: what it does with the labels (partner-type profiles, prediction
reuse, the label trick in :class:`~connectome.gnn.models.partner_sage.PartnerSAGE`) lives in the model,
never in the training loop or the classifier.

Examples
--------
>>> import torch
>>> from connectome.gnn.models.mlp import MLP
>>> net = MLP(in_features=3, n_classes=2)
>>> logits, nodes = net.training_step(torch.randn(4, 3), {}, torch.tensor([0, 1, -1, -1]), torch.tensor([0, 1]))
>>> logits.shape, nodes.tolist()
(torch.Size([4, 2]), [0, 1])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["CellTypeModel"]


class CellTypeModel(nn.Module):
    """Base class of the cell-type models (see the module docstring for the contract)."""

    operators: tuple[str, ...] = ()

    def forward(self, x: torch.Tensor, ops: dict[str, Any], y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (nodes × classes) from standardised features ``x``, operators ``ops`` and known labels ``y``."""
        raise NotImplementedError

    def training_step(self, x: torch.Tensor, ops: dict[str, Any], y: torch.Tensor,
                      train_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of one training forward pass and the nodes whose loss counts (default: every training node)."""
        return self(x, ops, y), train_idx
